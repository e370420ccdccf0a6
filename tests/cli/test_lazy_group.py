"""LazyGroup: a command whose module is missing or broken is listed as unavailable, not a crash."""

from __future__ import annotations

import sys

import click
from click.testing import CliRunner

from tierctl.cli import main
from tierctl.cli.lazy_group import LazyGroup


@click.group(cls=LazyGroup, lazy_commands={
    "gone": "tierctl_no_such_module_anywhere:command",
    "present": "tierctl.cli.schema_cmd:schema",
})
def group() -> None:
    """A group with one missing command module."""


def test_help_lists_a_command_whose_module_is_missing_as_unavailable() -> None:
    result = CliRunner().invoke(group, ["--help"])
    assert result.exit_code == 0, result.output
    assert "gone" in result.output
    assert "(unavailable: ModuleNotFoundError: No module named 'tierctl_no_such_module_anywhere')" in \
        " ".join(result.output.split())
    assert "present" in result.output and "Print the JSON Schema" in result.output


def test_running_an_unavailable_command_is_an_error_naming_the_module(capsys, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "tierctl.cli.fake_cmd", None)  # importing it raises ImportError
    main_group = main.__globals__["cli"]
    monkeypatch.setitem(main_group.lazy_commands, "fake", "tierctl.cli.fake_cmd:fake")
    try:
        main(["fake", "--some-option", "arg"])
    except SystemExit as exc:
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2
    assert "tierctl: error: the command 'fake' is unavailable: its module tierctl.cli.fake_cmd:fake cannot be " \
           "imported" in err
    assert "Traceback" not in err
