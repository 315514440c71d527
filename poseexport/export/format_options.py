"""Format options checked against the chosen format's declarations (`Backend.options`).

Refused before any work: an option the format does not declare (the message names the
format's own options and which formats take it), and a value of the wrong type or outside
the declared choices. Messages spell options the way the user gave them: `--opset` on the
command line, `opset` for `model.export`.
"""
from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from typing import Any

from ..contract.format_option import FormatOption
from ..errors import UnsupportedOptionError


def declared(backend) -> dict[str, FormatOption]:
    """The format's own declarations by name."""
    return {option.name: option for option in backend.options}


def declaration(format_name: str, name: str) -> FormatOption | None:
    """The declaration of `name` by the format `format_name` (an upstream stage of a chain has
    its own format: export/pipeline.py upstream_options)."""
    from ..contract.registry import get_backend

    return declared(get_backend(format_name)).get(name)


def check_given(backend, given: Mapping[str, Any], core: Iterable[str], cli: bool = False) -> None:
    """Refuse options `backend` does not declare, then values its declarations do not allow."""
    own = declared(backend)
    unknown = [name for name in given if name not in own]
    if unknown:
        raise undeclared_error(backend, unknown, list(core), cli)
    for name, value in given.items():
        problem = own[name].problem(value)
        if problem:
            option = own[name]
            shown = option.cli_flag if cli else f"{name}={value!r}"
            raise UnsupportedOptionError(
                f"{backend.title} option {shown} is not valid", problem,
                f"pass a valid value ({option.help})" if option.help else "pass a valid value",
                context=[f"{backend.name} takes: {_listed(backend.options, cli)}"])


def undeclared_error(backend, names: list[str], core: list[str], cli: bool) -> UnsupportedOptionError:
    """What to say about options the chosen format does not declare."""
    spelled = ", ".join(_spell(name, cli) for name in names)
    the = "" if cli else "the option " if len(names) == 1 else "the options "
    takes = f"{backend.name} takes: {_listed(backend.options, cli)}"
    users = sorted({fmt for name in names for fmt in formats_declaring(name)} - {backend.name})
    if users:
        return UnsupportedOptionError(
            f"{backend.title} export does not use {the}{spelled}",
            f"{'that option is' if len(names) == 1 else 'those options are'} for {' or '.join(users)} only",
            f"drop it, or export to {' or '.join(users)}", context=[takes])
    everything = core + sorted({o.name for b in _backends() for o in b.options})
    close = [m for name in names for m in difflib.get_close_matches(name, everything, n=2)]
    return UnsupportedOptionError(
        f"Unknown export option{'s' if len(names) > 1 else ''} {spelled}",
        "it is neither an option every format takes nor one that a registered format declares",
        "use one of the options listed below",
        context=[f"did you mean: {', '.join(close)}" if close else "", takes, f"every format takes: {', '.join(core)}"])


def formats_declaring(name: str) -> list[str]:
    """The registered formats that declare the option `name` themselves."""
    return [b.name for b in _backends() if name in declared(b)]


def formats_running_on(kind: str) -> list[str]:
    """The registered formats whose artifacts run on the device kind ("cpu", "cuda")."""
    return [b.name for b in _backends() if kind in b.capabilities.devices]


def _backends() -> list:
    """Every registered backend that imports (a broken plugin cannot be suggested)."""
    from ..contract.registry import get_backend, registered

    found = []
    for name in registered():
        try:
            found.append(get_backend(name))
        except (ImportError, AttributeError):
            continue
    return found


def _spell(name: str, cli: bool) -> str:
    if not cli:
        return f"'{name}'"
    for backend in _backends():
        if name in declared(backend):
            return declared(backend)[name].cli_flag
    return f"--{name.replace('_', '-')}"


def _listed(options: tuple[FormatOption, ...], cli: bool) -> str:
    return ", ".join(o.cli_flag if cli else o.name for o in options) or "no format-specific options"
