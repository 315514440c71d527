"""The core never imports a format plugin: plugins (backends/, installed as
poseexport.backends) import the core's contract, and the core reaches them only through the
registry's "module:Class" strings (poseexport/contract/registry.py), by name, at run time.

Two proofs: every core module imports in a fresh interpreter where poseexport.backends cannot
be imported at all, and no core source names poseexport.backends in an import statement
(module level or inside a function) or in a literal `importlib.import_module("...")`.
"""
from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PLUGINS = "poseexport.backends"
NOT_CORE = (PLUGINS, "poseexport.model_zoo")
# importing it runs the CLI (`python -m poseexport`)
RUNS_ON_IMPORT = {"poseexport.__main__"}

BLOCKED_IMPORT = f"""
import importlib, json, pkgutil, sys

class BlockPlugins:  # any import of the plugin package fails, as if it were not installed
    def find_spec(self, name, path=None, target=None):
        if name == {PLUGINS!r} or name.startswith({PLUGINS!r} + "."):
            raise ImportError(f"{{name}} is blocked: the core must not import a plugin")
        return None

sys.meta_path.insert(0, BlockPlugins())
import poseexport

skip = {NOT_CORE!r}
names, failed = [], {{}}
for info in pkgutil.walk_packages(poseexport.__path__, "poseexport.", onerror=lambda name: None):
    name = info.name
    if name.startswith(skip) or name in {sorted(RUNS_ON_IMPORT)!r}:
        continue
    names.append(name)
    try:
        importlib.import_module(name)
    except Exception as err:
        failed[name] = f"{{type(err).__name__}}: {{err}}"
try:
    import poseexport.backends.onnx
    blocker = "not active"
except ImportError:
    blocker = "active"
print(json.dumps({{"names": names, "failed": failed, "blocker": blocker,
                  "loaded_plugins": [m for m in sys.modules if m.startswith({PLUGINS!r})]}}))
"""


def plugin_imports(module: str, source: str, is_package: bool = False) -> list[str]:
    """Where `source` (the text of core module `module`) imports a plugin: 'line N: name'."""
    package = module if is_package else module.rpartition(".")[0]
    hits = []
    for node in ast.walk(ast.parse(source)):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            names = [base] + [f"{base}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Call) and _called_name(node.func) in ("import_module", "__import__"):
            # a literal name is a static import in disguise; the registry passes a variable
            names = [arg.value for arg in node.args[:1] if isinstance(arg, ast.Constant) and isinstance(arg.value, str)]
        hits += [f"line {node.lineno}: {n}" for n in names if n == PLUGINS or n.startswith(PLUGINS + ".")][:1]
    return hits


def _called_name(func: ast.expr) -> str:
    return func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""


def core_sources() -> dict[str, Path]:
    found = {}
    for path in sorted((ROOT / "poseexport").rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def test_the_checker_catches_a_plugin_import():
    assert plugin_imports("poseexport.export.pipeline", "from poseexport.backends.onnx import X\n") == [
        "line 1: poseexport.backends.onnx"]
    inside = "def f():\n    import poseexport.backends.onnx as onnx\n    return onnx\n"
    assert plugin_imports("poseexport.runtime", inside) == ["line 2: poseexport.backends.onnx"]
    assert plugin_imports("poseexport.export.pipeline", "from ..backends import onnx\n") == [
        "line 1: poseexport.backends"]
    assert plugin_imports("poseexport.cli", "from ..backends.base import Runner\n", is_package=True) == [
        "line 1: poseexport.backends.base"]
    literal = "import importlib\nmod = importlib.import_module('poseexport.backends.onnx')\n"
    assert plugin_imports("poseexport.runtime", literal) == ["line 2: poseexport.backends.onnx"]


def test_the_checker_passes_the_contract_and_the_registry_lookup():
    fine = ("from poseexport.contract.registry import get_backend\nfrom ..contract import Runner\n"
            "import importlib\nBUILTIN = {'onnx': 'poseexport.backends.onnx:OnnxBackend'}\n"
            "def get(name):\n    module, _, cls = BUILTIN[name].partition(':')\n"
            "    return getattr(importlib.import_module(module), cls)\n")
    assert plugin_imports("poseexport.export.options", fine) == []


def test_no_core_module_imports_a_plugin():
    sources = core_sources()
    assert {"poseexport.runtime", "poseexport.contract.registry", "poseexport.selftest"} <= set(sources)
    hits = {m: h for m, p in sources.items() if (h := plugin_imports(m, p.read_text(), p.name == "__init__.py"))}
    assert hits == {}, f"core modules import a plugin (use poseexport.contract.registry): {hits}"


def test_the_registry_reaches_the_built_in_plugins_by_name_only():
    from poseexport.contract.registry import BUILTIN, ENTRY_POINT_GROUP

    assert ENTRY_POINT_GROUP == PLUGINS
    assert all(target.startswith(PLUGINS + ".") and ":" in target for target in BUILTIN.values())


def test_every_core_module_imports_without_the_plugins():
    proc = subprocess.run([sys.executable, "-c", BLOCKED_IMPORT], capture_output=True, text=True,
                          check=False, cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["blocker"] == "active" and result["loaded_plugins"] == []
    expected = set(core_sources()) - {"poseexport"} - RUNS_ON_IMPORT
    assert set(result["names"]) == expected  # every core module was tried, none skipped by accident
    assert result["failed"] == {}, result["failed"]
