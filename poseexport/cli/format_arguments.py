"""`convert`'s format flags, built from the registered backends' declarations (`Backend.options`).

One argument group per format ("ONNX options", ...), so `--help` shows which flag belongs to
which format. Every flag defaults to argparse.SUPPRESS: only the options the user really gave
reach ExportOptions.format_options, and one the chosen format does not declare is refused
there (naming the format's own options), never silently dropped.
"""
from __future__ import annotations

import argparse
import textwrap
from typing import Any

DEST_PREFIX = "format_option:"  # argparse dest of a format flag: prefix + the option's name


def add_format_arguments(parser: argparse.ArgumentParser) -> None:
    """A group per registered format; a flag several formats declare is added once, in the
    group of the first, and its help names them all."""
    backends = _importable_backends()
    users: dict[str, list[str]] = {}
    choices: dict[str, tuple | None] = {}  # a shared flag takes every format's choices (each checks its own)
    for backend in backends:
        for option in backend.options:
            users.setdefault(option.cli_flag, []).append(backend.name)
            known = choices.get(option.cli_flag, ())
            choices[option.cli_flag] = (None if known is None or option.choices is None
                                        else tuple(dict.fromkeys((*known, *option.choices))))
    added: dict[str, str] = {}  # flag -> the format whose group holds it
    for backend in backends:
        group = parser.add_argument_group(f"{backend.title} options (--format {backend.name})")
        elsewhere = []
        for option in backend.options:
            flag = option.cli_flag
            if flag in added:
                elsewhere.append(f"{flag} (listed under {added[flag]}): {option.help}")
                continue
            added[flag] = backend.title
            shared = users[flag]
            note = f" [{', '.join(shared)}]" if len(shared) > 1 else ""
            _add(group, option, flag, option.help + note, choices[flag])
        if elsewhere:
            group.description = textwrap.fill(f"also takes {'; '.join(elsewhere)}", 76)  # convert's help is raw
        elif not backend.options:
            group.description = "no options of its own"


def given_format_options(args: argparse.Namespace) -> dict[str, Any]:
    """The format options given on the command line: name -> value."""
    return {key[len(DEST_PREFIX):]: value for key, value in vars(args).items() if key.startswith(DEST_PREFIX)}


def _add(group, option, flag: str, help_text: str, choices: tuple | None) -> None:
    dest = DEST_PREFIX + option.name
    if option.type is bool:
        action = "store_false" if option.default else "store_true"
        group.add_argument(flag, dest=dest, action=action, default=argparse.SUPPRESS, help=help_text)
        return
    group.add_argument(flag, dest=dest, type=option.type, choices=choices, default=argparse.SUPPRESS,
                       metavar=option.name.upper() if choices is None else None, help=help_text)


def _importable_backends() -> list:
    """Every registered backend whose plugin imports. Building the parser must not fail on a
    broken plugin or a malformed POSEEXPORT_EXTRA_BACKENDS: `convert --format NAME` and
    `poseexport formats` report those with the reason."""
    from ..contract.registry import get_backend, registered

    try:
        names = list(registered())
    except Exception:  # noqa: BLE001 - reported by the command that uses the registry
        return []
    found = []
    for name in names:
        try:
            found.append(get_backend(name))
        except Exception:  # noqa: BLE001 - same
            continue
    return found
