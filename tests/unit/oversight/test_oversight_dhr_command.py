"""`dhr` is the one command for people: its help names every command a newcomer needs, and each
command's own help answers."""

from __future__ import annotations

import pytest

from dhr_oversight import cli

COMMANDS = ("run", "token", "history", "export", "verify", "import", "rebuild")


def test_the_help_lists_every_command_and_the_first_steps(capsys: pytest.CaptureFixture[str]
                                                          ) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(["--help"])

    text = capsys.readouterr().out
    assert exited.value.code == 0
    for command in COMMANDS:
        assert f"    {command}" in text, command
    assert "first steps:" in text and "dhr run" in text and "dhr verify" in text


@pytest.mark.parametrize("command", COMMANDS)
def test_each_command_has_its_own_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main([command, "--help"])

    assert exited.value.code == 0
    assert capsys.readouterr().out.startswith("usage: dhr ")


def test_import_dhrd_is_still_understood(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["import-dhrd", "--help"])

    assert "DHRD" in capsys.readouterr().out
