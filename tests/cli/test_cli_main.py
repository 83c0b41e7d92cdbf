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
            table[name] = module.__name__.rpartition(".")[2]
    assert table == main.COMMAND_MODULES
    assert [m.__name__ for m in main.MODULES] == [f"lashdb.cli.commands.{n}" for n in main.MODULE_NAMES]


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
    assert main.app_for(["sessions"]) is main.app  # no words from the shell: the whole tree


@pytest.mark.parametrize("env, words", [
    ({"COMP_WORDS": "lashdb --root /r sessions show ab", "COMP_CWORD": "5"}, ["--root", "/r", "sessions", "show"]),
    ({"COMP_WORDS": "lashdb sess", "COMP_CWORD": "1"}, []),
    ({"COMP_WORDS": "lashdb sessions ", "COMP_CWORD": "2"}, ["sessions"]),
    ({"_TYPER_COMPLETE_ARGS": "lashdb --store 'a b' blob cat 0a"}, ["--store", "a b", "blob", "cat"]),
    ({"_TYPER_COMPLETE_ARGS": "lashdb blob "}, ["blob"]),
    ({"_TYPER_COMPLETE_ARGS": "lashdb blob"}, []),  # still typing the command name
    ({"_TYPER_COMPLETE_ARGS": "lashdb sessions show 'ab"}, ["sessions", "show"]),  # an open quote
    ({}, []),
])
def test_completion_reads_the_finished_words_from_the_shell(env, words):
    assert main._completed_words(env) == words


def test_completion_builds_only_the_command_being_completed(monkeypatch):
    monkeypatch.setenv("_LASHDB_COMPLETE", "complete_bash")
    monkeypatch.setenv("COMP_WORDS", "lashdb --root /r sessions show ab")
    monkeypatch.setenv("COMP_CWORD", "5")
    one = main.app_for([])
    assert one is not main.app and {g.name for g in one.registered_groups} == {"sessions"}
    monkeypatch.setenv("COMP_WORDS", "lashdb sess")
    monkeypatch.setenv("COMP_CWORD", "1")
    assert main.app_for([]) is main.app  # completing the command name: every command


def test_one_command_app_gives_the_same_output_as_the_whole(tmp_path):
    root = build_demo(tmp_path / "root").root
    runner = CliRunner()
    for args in (["sessions", "list", "--json"], ["sessions", "show", "nosuch"], ["gc", "--all", "--dry-run", "--json"]):
        argv = ["--root", str(root), *args]
        whole = runner.invoke(main.app, argv)
        alone = runner.invoke(main.app_for(argv), argv)
        assert (alone.exit_code, alone.stdout, alone.stderr) == (whole.exit_code, whole.stdout, whole.stderr)
