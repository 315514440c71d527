"""No import cycle between poseexport's packages.

The graph is read from the source with `ast` (imports at module level AND inside functions:
a lazy import still ties two packages together), at package granularity: poseexport.export,
poseexport.validate, ..., one node per top-level module (poseexport.runtime), and the plugins
(backends/, installed as poseexport.backends) as one node. A cycle between packages means
neither can be understood, tested or shipped without the other.
"""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PLUGINS = "poseexport.backends"
# Package edges known to close a cycle and not yet broken; each is left out of the graph, so any
# OTHER cycle still fails. Issue 11 (the layering of the core) removes both.
ALLOWED: dict[tuple[str, str], str] = {
    # PoseModel is the facade: PoseModel.train() builds the Trainer (train/trainer.py, train/options.py),
    # while the trainer needs PoseModel back (train/transfer.py builds the pretrained model to copy
    # weights from; train/trainer.py uses model.parse_device). Breaking it means moving the
    # facade's train() binding out of model.py: a change of the public class, not a move.
    ("poseexport.model", "poseexport.train"): "PoseModel.train() facade",
    # `torchrun -m poseexport.train.ddp_entry ARGS` (README, docs/train.md) runs the CLI's
    # `train` command on each rank; moving the entry into cli/ changes that documented command.
    ("poseexport.train", "poseexport.cli"): "torchrun entry point runs the CLI",
}


def source_modules(root: Path = ROOT) -> dict[str, Path]:
    """Every module of the project -> its file (backends/X.py is poseexport.backends.X)."""
    found = {}
    for top, name in (("poseexport", "poseexport"), ("backends", PLUGINS)):
        for path in sorted((root / top).rglob("*.py")):
            parts = list(path.relative_to(root / top).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join([name, *parts])] = path
    return found


def imported_modules(module: str, source: str, is_package: bool, known: set[str]) -> set[str]:
    """The project modules that `source` (the text of `module`) imports, anywhere in it."""
    package = module if is_package else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:  # `from pkg import submodule` imports the submodule
                sub = f"{target}.{alias.name}"
                found.add(sub if sub in known else target)
    return {m for m in found if m == "poseexport" or m.startswith("poseexport.")}


def package_of(module: str) -> str:
    """The node a module belongs to: poseexport.backends for any plugin, else the first two parts."""
    if module == PLUGINS or module.startswith(PLUGINS + "."):
        return PLUGINS
    return ".".join(module.split(".")[:2])


def package_graph(root: Path = ROOT) -> dict[str, set[str]]:
    modules = source_modules(root)
    known = set(modules)
    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        here = package_of(module)
        targets = imported_modules(module, path.read_text(), path.name == "__init__.py", known)
        graph.setdefault(here, set()).update(package_of(t) for t in targets if package_of(t) != here)
    return graph


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle (a -> b -> ... -> a) for every strongly connected group of more than one node."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[set[str]] = []

    def visit(node: str) -> None:  # Tarjan; the graphs here have a few dozen nodes
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.add(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(group)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return [_cycle_in(group, graph) for group in groups]


def _cycle_in(group: set[str], graph: dict[str, set[str]]) -> list[str]:
    """A concrete cycle through the group's first node (breadth-first, so the shortest)."""
    start = min(group)
    paths = {start: [start]}
    queue = [start]
    while queue:
        node = queue.pop(0)
        for nxt in sorted(graph.get(node, ()) & group):
            if nxt == start:
                return paths[node] + [start]
            if nxt not in paths:
                paths[nxt] = paths[node] + [nxt]
                queue.append(nxt)
    raise AssertionError(f"{group} is not strongly connected")


def test_the_detector_finds_a_cycle_and_prints_it():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set(), "e": {"a"}}
    assert find_cycles(graph) == [["a", "b", "c", "a"]]
    assert find_cycles({"a": {"b"}, "b": {"c"}, "c": set()}) == []


def test_lazy_and_relative_imports_are_edges():
    known = {"poseexport.export.options", "poseexport.export", "poseexport.validate.parity"}
    source = "from .options import X\ndef f():\n    from ..validate.parity import y\n    import poseexport.backends.onnx\n"
    assert imported_modules("poseexport.export.pipeline", source, False, known) == {
        "poseexport.export.options", "poseexport.validate.parity", "poseexport.backends.onnx"}
    assert package_of("poseexport.backends.onnx") == PLUGINS
    assert package_of("poseexport.export.options") == "poseexport.export"


def test_the_graph_sees_the_real_packages():
    graph = package_graph()
    assert {"poseexport.export", "poseexport.validate", "poseexport.predict", PLUGINS} <= set(graph)
    assert "poseexport.errors" in graph[PLUGINS]  # plugins raise the core's errors


def without(graph: dict[str, set[str]], edges) -> dict[str, set[str]]:
    return {node: {t for t in targets if (node, t) not in edges} for node, targets in graph.items()}


def test_the_allowed_edges_are_real_and_each_closes_a_cycle():
    graph = package_graph()
    for edge in ALLOWED:  # an allowed edge that no longer exists, or breaks no cycle, must go
        assert edge[1] in graph.get(edge[0], set()), f"{edge} is allowed but no longer imported: remove it"
        assert find_cycles(without(graph, set(ALLOWED) - {edge})), f"{edge} closes no cycle: remove it"


def test_no_import_cycle_between_packages():
    cycles = find_cycles(without(package_graph(), ALLOWED))
    assert not cycles, "import cycles between packages:\n" + "\n".join(" -> ".join(c) for c in cycles)
