"""The console script builds only the command it runs (main.app_for); the table it uses must match
what the command modules register, and a one-command app must behave like the whole one."""

from __future__ import annotations

import pytest
import typer
from typer.testing import CliRunner

from lashdb.cli import main
from lashdb.engine.ops.demo import build_demo


def _registered(module) -> set[str]:
    probe = typer.Typer()
    module.register(probe)
    return {c.name for c in probe.registered_commands} | {g.name for g in probe.registered_groups}


def test_command_table_matches_what_the_modules_register():
    table: dict[str, object] = {}
    for module in main.MODULES:
        for name in _registered(module):
            assert name not in table, f"{name} registered twice"
            table[name] = module
    assert table == main.COMMAND_MODULES


@pytest.mark.parametrize("args, name", [
    (["sessions", "list"], "sessions"),
    (["--root", "/x", "gc", "--all"], "gc"),
    (["--root=/x", "--recursive", "-q", "blob", "cat", "abc"], "blob"),
    (["--quiet", "--root", "sessions", "demo"], "demo"),  # "sessions" is --root's value here
    (["--help"], None), (["--version"], None), (["-x", "sessions"], None), ([], None), (["--root"], None),
])
def test_command_name(args, name):
    assert main._command_name(args) == name


def test_app_for_builds_one_command_or_all(monkeypatch):
    monkeypatch.delenv("_LASHDB_COMPLETE", raising=False)
    assert main.app_for(["--help"]) is main.app
    assert main.app_for(["nosuch"]) is main.app
    one = main.app_for(["--root", "/x", "sessions", "list"])
    assert one is not main.app
    assert {g.name for g in one.registered_groups} == {"sessions"} and not one.registered_commands
    monkeypatch.setenv("_LASHDB_COMPLETE", "complete_bash")
    assert main.app_for(["sessions"]) is main.app


def test_one_command_app_gives_the_same_output_as_the_whole(tmp_path):
    root = build_demo(tmp_path / "root").root
    runner = CliRunner()
    for args in (["sessions", "list", "--json"], ["sessions", "show", "nosuch"], ["gc", "--all", "--dry-run", "--json"]):
        argv = ["--root", str(root), *args]
        whole = runner.invoke(main.app, argv)
        alone = runner.invoke(main.app_for(argv), argv)
        assert (alone.exit_code, alone.stdout, alone.stderr) == (whole.exit_code, whole.stdout, whole.stderr)
