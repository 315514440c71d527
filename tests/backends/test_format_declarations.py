"""Every registered backend's option declarations are usable by the CLI and model.export:
names that do not shadow a shared option, a default its own check accepts, one flag per name."""
from __future__ import annotations

import pytest

from poseexport.contract import FormatOption
from poseexport.contract.registry import get_backend, registered
from poseexport.export.options import CORE_OPTIONS


@pytest.mark.parametrize("name", list(registered()))
def test_declarations_fit_the_core(name):
    backend = get_backend(name)
    names = [o.name for o in backend.options]
    assert len(names) == len(set(names)), names
    for option in backend.options:
        assert isinstance(option, FormatOption)
        assert option.name not in CORE_OPTIONS, f"{name}.{option.name} shadows a shared option"
        assert option.problem(option.default) is None, option
        assert option.help, f"{name}.{option.name} has no help for convert --help"


def test_a_flag_means_one_option_across_formats():
    flags: dict[str, tuple] = {}
    for name in registered():
        for option in get_backend(name).options:
            seen = flags.setdefault(option.cli_flag, (option.name, option.type, option.default))
            assert seen == (option.name, option.type, option.default), (name, option.cli_flag)
    assert {"--opset", "--no-simplify", "--mobile"} <= set(flags)
