"""Installed package versions (read from package metadata, never by importing the package) and
a tiny version-range check, e.g. `satisfies("1.32.0", ">=1.20,<2")`.

Enough of PEP 440 for runtime requirements: release numbers compared numerically (missing parts
are 0), a pre-release or dev version (`1.20.0rc1`, `2.1.0.dev3`) just below its release, the
local part (`2.13.0+cpu`) ignored; clauses `>= > <= < == !=` joined by commas; "" is any version.
"""
from __future__ import annotations

import importlib.util
import re
from functools import cache
from importlib import metadata

_CLAUSE = re.compile(r"^\s*(>=|<=|==|!=|>|<)\s*([0-9][0-9A-Za-z.+!-]*)\s*$")
_RELEASE = re.compile(r"^(\d+(?:\.\d+)*)(.*)$")  # no epochs ("1!2.0"): runtimes do not use them


def installed_version(distribution: str) -> str | None:
    """The installed version of `distribution` ("onnxruntime"), or of the distribution that
    provides the module of that name instead (onnxruntime-gpu provides onnxruntime); None if absent."""
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        pass
    for provider in _top_modules().get(distribution.replace("-", "_"), []):
        try:
            return metadata.version(provider)
        except metadata.PackageNotFoundError:
            continue
    return None


def module_version(module: str) -> str | None:
    """The version of the distribution that provides the top-level `module` ("yaml" -> pyyaml's),
    None when it is not installed, "unknown" when it is importable but no package metadata names
    it (a vendored copy)."""
    for dist in _distributions_of(module):
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return "unknown" if importlib.util.find_spec(module) is not None else None


@cache
def _distributions_of(top_module: str) -> tuple[str, ...]:
    """Distributions that install `top_module` (its own name first: onnxruntime, not a fork)."""
    found = _top_modules().get(top_module, [])
    return tuple(sorted(set(found), key=lambda d: (_canonical(d) != _canonical(top_module), d)))


@cache
def _top_modules() -> dict[str, list[str]]:
    return metadata.packages_distributions()  # scans site-packages once per process


def _canonical(name: str) -> str:
    return name.lower().replace("-", "_").replace(".", "_")


def release_of(version: str) -> str:
    """'2.13.0+cpu' -> '2.13.0': the version a lower bound names."""
    return version.split("+", 1)[0].strip()


def parse_version(text: str) -> tuple[tuple[int, ...], int]:
    """'1.20.0rc1' -> ((1, 20, 0), -1): the release numbers and 0 for a final release, -1 for a
    pre-release or dev one. Refuses text that does not start with a release number."""
    match = _RELEASE.match(release_of(text).lower().lstrip("v"))
    if not match:
        raise ValueError(f"'{text}' is not a version number")
    release = tuple(int(p) for p in match.group(1).split("."))
    tail = match.group(2).lstrip(".-_")
    final = tail == "" or tail.startswith("post")
    return release, 0 if final else -1


def compare(a: str, b: str) -> int:
    """-1, 0 or 1 as version a is older than, equal to or newer than version b."""
    (ra, fa), (rb, fb) = parse_version(a), parse_version(b)
    width = max(len(ra), len(rb))
    ka, kb = (ra + (0,) * (width - len(ra)), fa), (rb + (0,) * (width - len(rb)), fb)
    return (ka > kb) - (ka < kb)


def check_range(spec: str) -> None:
    """Refuse a range this module cannot read (ValueError naming the clause)."""
    for clause in filter(None, (c.strip() for c in spec.split(","))):
        match = _CLAUSE.match(clause)
        if not match:
            raise ValueError(f"'{clause}' is not a version clause (use >=, >, <=, <, == or != and a version)")
        parse_version(match.group(2))


def satisfies(version: str, spec: str) -> bool:
    """Does `version` meet every clause of `spec` (">=1.20,<2"; "" meets anything)?"""
    check_range(spec)
    tests = {">=": lambda c: c >= 0, ">": lambda c: c > 0, "<=": lambda c: c <= 0, "<": lambda c: c < 0,
             "==": lambda c: c == 0, "!=": lambda c: c != 0}
    for clause in filter(None, (c.strip() for c in spec.split(","))):
        op, bound = _CLAUSE.match(clause).groups()
        if not tests[op](compare(version, bound)):
            return False
    return True
