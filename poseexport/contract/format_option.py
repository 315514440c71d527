"""An option that belongs to one format, declared by its backend (`Backend.options`).

The CLI builds its flags from these declarations and `model.export` checks its keywords
against them, so a new format adds options without touching the core. The core's own
options (those every format shares) stay in `poseexport.export.options.ExportOptions`.
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

# the value types a declaration may have (what a command-line flag can carry)
OPTION_TYPES = (bool, int, float, str)


@dataclass(frozen=True)
class FormatOption:
    """`name` is the `model.export` keyword; `default` None means "the format decides" (help
    says what that is); `flag` is the CLI spelling (derived from name and a bool's default)."""

    name: str
    type: type
    default: Any
    help: str
    choices: tuple[Any, ...] | None = None
    flag: str | None = None

    def __post_init__(self) -> None:
        if self.type not in OPTION_TYPES:
            raise TypeError(f"format option {self.name}: type must be one of bool, int, float, str")
        if self.type is bool and not isinstance(self.default, bool):
            raise TypeError(f"format option {self.name}: a bool option needs a True or False default")

    @property
    def cli_flag(self) -> str:
        """--name, or --no-name for a bool that is on by default."""
        if self.flag:
            return self.flag
        spelled = self.name.replace("_", "-")
        return f"--no-{spelled}" if self.type is bool and self.default else f"--{spelled}"

    def problem(self, value: Any) -> str | None:
        """Why `value` is not a valid value of this option, or None when it is."""
        if value is None and self.default is None:  # None asks for the format's default
            return None
        if self.type is bool:
            ok = isinstance(value, bool)
        elif self.type is float:
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        else:
            ok = isinstance(value, self.type) and not isinstance(value, bool)
        if not ok:
            return f"it must be {_A[self.type]}, not {type(value).__name__} {value!r}"
        if self.choices is not None and value not in self.choices:
            return f"it must be one of {', '.join(map(str, self.choices))}"
        return None


_A = {bool: "True or False", int: "an integer", float: "a number", str: "a string"}


class OptionValues(Mapping):
    """The format options a user gave (name -> value): read-only and hashable, so
    ExportOptions stays a frozen, hashable value."""

    def __init__(self, values: Mapping[str, Any] | None = None):
        self._values = dict(values or {})

    def __getitem__(self, name: str) -> Any:
        return self._values[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __hash__(self) -> int:
        return hash(tuple(sorted(self._values.items())))

    def __repr__(self) -> str:
        return repr(self._values)
