"""Issue 11, CLI layout: command functions at module level under lashdb/cli/commands, one error edge
(LashdbGroup.main), and per-session failures reported through common.report_failures."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest
import typer

from lashdb.cli import common, main
from lashdb.engine.errors import Cancelled, LashdbError, UsageError

CLI = Path(main.__file__).parent


def _commands(group, prefix: str = ""):
    if hasattr(group, "commands"):
        for name, sub in group.commands.items():
            yield from _commands(sub, f"{prefix} {name}".strip())
    else:
        yield prefix, group


def test_every_command_is_a_module_level_function_of_its_module():
    seen = []
    for module in main.MODULES:
        assert module.__name__.startswith("lashdb.cli.commands."), module.__name__
        for name, command in _commands(typer.main.get_command(main.build_app((module,)))):
            callback = inspect.unwrap(command.callback)  # Typer wraps the function it registered
            assert getattr(module, callback.__name__) is callback, (module.__name__, name)
            assert "<locals>" not in callback.__qualname__, (module.__name__, name)
            seen.append(name)
    assert {"blob verify", "gc", "vacuum", "sessions delete", "processes show", "triggers occurrences",
            "effects replay", "doctor", "demo", "head dump", "graph show"} <= set(seen)


def test_only_the_edge_and_report_failures_write_the_error_line():
    writers = {}
    for path in sorted(CLI.rglob("*.py")):
        tree = ast.parse(path.read_text())
        calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call)
                 and getattr(n.func, "attr", getattr(n.func, "id", None)) == "error_line"]
        literal = [n for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)
                   and n.value.startswith("lashdb: error:")]
        if calls or literal:
            writers[path.relative_to(CLI).as_posix()] = (len(calls), len(literal))
    # main.py: the edge (a lashdb error, a click error); common.py: report_failures and the formatter itself.
    assert writers == {"main.py": (2, 0), "common.py": (1, 1)}, writers
    assert not hasattr(common, "fail")


def test_edge_turns_a_lashdb_error_into_one_line_and_its_code(tmp_path, capsys):
    group = typer.main.get_command(main.app)
    code = group.main(["--root", str(tmp_path), "blob", "ls"], prog_name="lashdb", standalone_mode=False)
    assert code == common.EXIT_USAGE
    assert capsys.readouterr().err == "lashdb: error: name exactly one SESSION (or --session ID)\n"
    with pytest.raises(SystemExit) as exit_:
        group.main(["--root", str(tmp_path / "none"), "sessions", "list"], prog_name="lashdb")
    assert exit_.value.code == common.EXIT_UNUSABLE
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith(f"lashdb: error: {tmp_path / 'none'}: sessions root does not exist")


def test_cancelled_is_exit_1_with_the_cancelled_line():
    assert common.exit_code(Cancelled("cancelled")) == common.EXIT_PROBLEMS
    assert common.error_line(Cancelled("cancelled")) == "lashdb: error: cancelled"
    assert common.exit_code(UsageError("x")) == common.EXIT_USAGE
    assert common.exit_code(LashdbError("x")) == common.EXIT_UNUSABLE


def test_report_failures_writes_each_line_then_the_document_then_exits_with_the_worst_code(capsys):
    shown = []

    def show():
        shown.append(capsys.readouterr().err)  # the lines are out before the document
        print("doc")

    with pytest.raises(typer.Exit) as exit_:
        common.report_failures([(UsageError("bad\ninput"), None),
                                (LashdbError("own text", hint="do x"), "given  text")],
                               code=common.EXIT_PROBLEMS, show=show)
    assert exit_.value.exit_code == common.EXIT_UNUSABLE
    assert shown == ["lashdb: error: bad input\nlashdb: error: given text (do x)\n"]
    assert capsys.readouterr().out == "doc\n"

    with pytest.raises(typer.Exit) as exit_:
        common.report_failures([], code=common.EXIT_PROBLEMS)
    assert exit_.value.exit_code == common.EXIT_PROBLEMS
    common.report_failures([], show=lambda: print("ok"))  # nothing failed, code 0: no exit
    assert capsys.readouterr() == ("ok\n", "")
