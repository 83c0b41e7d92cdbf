"""Conventions: TAB completes real ids through the completion protocol, -h and help COMMAND, one-line
usage errors with the valid choices (exit 2), a "no" at a prompt is exit 0, the man page is current."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from lashdb.cli.main import app
from lashdb.engine.ops.demo import build_demo

REPO = Path(__file__).resolve().parents[2]
runner = CliRunner()


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    return build_demo(tmp_path_factory.mktemp("conventions") / "root")


def tab(root: Path, line: str) -> list[str]:
    """What bash gets for TAB at the end of ``line``, through click's completion protocol."""
    words = f"lashdb --root {root} {line}"
    cword = len(words.split()) - (0 if line.endswith(" ") else 1)
    result = runner.invoke(app, [], prog_name="lashdb", env={
        "_LASHDB_COMPLETE": "complete_bash", "COMP_WORDS": words, "COMP_CWORD": str(cword)})
    assert result.exit_code == 0, result.output
    return result.stdout.split()


def cli(root: Path, *args: str, **kw):
    return runner.invoke(app, ["--root", str(root), *args], prog_name="lashdb", **kw)


def test_tab_completes_session_ids_short_forms_first(demo):
    ids = {s.session_id for s in demo.sessions}
    got = tab(demo.root, "sessions show ")
    assert set(got[:len(ids)]) == {i[:8] for i in ids} and set(got[len(ids):]) == ids
    one = sorted(ids)[0]
    assert tab(demo.root, f"sessions show {one[:9]}") == [one]
    assert set(tab(demo.root, "gc -s ")) == set(got)  # --session completes the same ids
    assert set(tab(demo.root, "doctor ")) == set(got)


def test_tab_completes_blob_hashes_process_ids_and_scopes(demo):
    session = demo.sessions[0]
    listed = json.loads(cli(demo.root, "blob", "ls", session.session_id, "--json").stdout)
    hashes = sorted(b["hash"] for b in listed)
    got = tab(demo.root, f"blob cat -s {session.session_id} ")
    assert got[len(hashes):] == hashes and all(h.startswith(s) for s, h in zip(got, hashes))
    processes = {p["process_id"] for p in json.loads(cli(demo.root, "processes", "list", "--json").stdout)}
    completed = tab(demo.root, "processes show ")
    assert processes and processes <= set(completed)
    rows = json.loads(cli(demo.root, "effects", "list", "--json").stdout)
    scopes = list(dict.fromkeys(r["scope_id"] for r in rows))
    assert tab(demo.root, "effects replay --scope ") == scopes
    assert tab(demo.root, "blob ls --kind Tool") == ["ToolState"]


def test_tab_on_a_missing_root_completes_nothing(tmp_path):
    assert tab(tmp_path / "none", "sessions show ") == []


def test_minus_h_and_help_command_print_the_commands_help(demo):
    short = cli(demo.root, "sessions", "list", "-h")
    assert short.exit_code == 0 and short.stdout.startswith("Usage: lashdb sessions list [OPTIONS]")
    assert cli(demo.root, "help", "sessions", "list").stdout == short.stdout
    assert cli(demo.root, "sessions", "list", "--help").stdout == short.stdout
    top = cli(demo.root, "help").stdout
    commands = [line.split()[0] for line in top.split("Commands:")[1].splitlines() if line.strip()]
    assert [c for c in commands if c in ("sessions", "blob", "gc", "demo", "help")] == [
        "sessions", "blob", "gc", "demo", "help"]
    bad = cli(demo.root, "help", "nope")
    assert bad.exit_code == 2 and bad.stderr.startswith("lashdb: error: no command `nope` (commands: sessions, ")


def _leaf_commands(group, ctx, path):
    for name in group.list_commands(ctx):
        sub = group.get_command(ctx, name)
        sub_ctx = sub.make_context(name, [], parent=ctx, resilient_parsing=True)
        if hasattr(sub, "list_commands"):
            yield from _leaf_commands(sub, sub_ctx, path + [name])
        else:
            yield path + [name], sub.get_help(sub_ctx)


def test_every_command_has_examples_and_reads_its_metavars_plainly():
    group = typer.main.get_command(app)
    ctx = group.make_context("lashdb", [], resilient_parsing=True)
    helps = dict((" ".join(p), h) for p, h in _leaf_commands(group, ctx, []))
    assert {"sessions list", "blob cat", "gc", "doctor", "help"} <= set(helps)
    for name, text in helps.items():
        assert "Examples:" in text and f"lashdb {name}".split()[0] in text.split("Examples:")[1], name
        assert "[[" not in text and "]..." not in text and "{" not in text.split("\n")[0], name
        assert "<list[" not in text and "<str>" not in text and "<int" not in text, name
    assert "Usage: lashdb gc [OPTIONS] [SESSION…]" in helps["gc"]
    assert "Usage: lashdb sessions show [OPTIONS] SESSION\n" in helps["sessions show"]


@pytest.mark.parametrize(("args", "wanted"), [
    (["sessions", "list", "--sort", "bogus"],
     "lashdb: error: lashdb sessions list: Invalid value for '--sort': 'bogus' is not one of 'modified', "
     "'created', 'size', 'name'."),
    (["blob", "ls", "x", "--kind", "Nope"],
     "lashdb: error: --kind: unknown blob kind `Nope` (kinds: GenericBlob, CheckpointManifest, ToolState, "
     "PluginSessionSnapshot, ExecutionStateSnapshot, LashlangModule, ProcessExecutionEnv)"),
    (["sessions", "show"], "lashdb: error: lashdb sessions show: Missing argument 'SESSION'."),
    (["--bogus"], "lashdb: error: No such option: --bogus"),
    (["nope"], "lashdb: error: No such command 'nope'."),
    (["effects", "list", "--status", "x"], "lashdb: error: lashdb effects list: Invalid value for '--status': "
     "'x' is not one of 'in_progress', 'completed', 'failed'."),
])
def test_usage_errors_are_one_line_with_the_choices_and_exit_2(demo, args, wanted):
    result = cli(demo.root, *args)
    lines = result.stderr.splitlines()
    assert result.exit_code == 2 and result.stdout == "" and len(lines) == 1, result.stderr
    assert lines[0].startswith(wanted), lines[0]


def test_blob_ls_takes_one_session_and_its_help_no_longer_says_repeatable(demo):
    help_text = cli(demo.root, "blob", "ls", "-h").stdout
    assert "repeatable" not in help_text and "-s, --session SESSION" in help_text
    first, second = demo.sessions[0].session_id, demo.sessions[1].session_id
    assert cli(demo.root, "blob", "ls", "-s", first).exit_code == 0
    twice = cli(demo.root, "blob", "ls", first, "-s", second)
    assert twice.exit_code == 2 and twice.stderr.startswith("lashdb: error: name exactly one SESSION")


def test_no_at_the_prompt_is_exit_0_and_nothing_done(demo, tmp_path, monkeypatch):
    import shutil

    root = tmp_path / "root"
    shutil.copytree(demo.root, root)
    before = sorted(p.name for p in root.iterdir())
    monkeypatch.setattr(typer.testing._NamedTextIOWrapper, "isatty", lambda self: True, raising=False)
    result = cli(root, "sessions", "delete", demo.sessions[0].session_id, input="n\n")
    assert result.exit_code == 0 and "deleted" not in result.stdout
    assert result.stderr.rstrip().endswith("? [y/N]:lashdb: cancelled; nothing done")
    assert sorted(p.name for p in root.iterdir()) == before


def test_the_man_page_is_current():
    spec = importlib.util.spec_from_file_location("gen_man", REPO / "scripts" / "gen_man.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    page = (REPO / "man" / "lashdb.1").read_text()
    assert page == module.generate(), "man/lashdb.1 is stale: run `python scripts/gen_man.py`"
    assert page.startswith(".TH LASHDB 1") and '.SS "lashdb sessions list"' in page and ".SH EXIT STATUS" in page


def test_man_check_mode_passes_on_the_repository():
    done = subprocess.run([sys.executable, str(REPO / "scripts" / "gen_man.py"), "--check"],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr


def test_tab_completes_ids_from_a_postgresql_store(pg_url):
    summary = build_demo(pg_url)
    ids = {s.session_id for s in summary.sessions}
    words = f"lashdb --store {pg_url} sessions show "
    result = runner.invoke(app, [], prog_name="lashdb", env={
        "_LASHDB_COMPLETE": "complete_bash", "COMP_WORDS": words, "COMP_CWORD": str(len(words.split()))})
    got = result.stdout.split()
    assert result.exit_code == 0 and set(got[:len(ids)]) == {i[:8] for i in ids} and set(got[len(ids):]) == ids
    words = f"lashdb --store {pg_url} effects replay --scope "
    result = runner.invoke(app, [], prog_name="lashdb", env={
        "_LASHDB_COMPLETE": "complete_bash", "COMP_WORDS": words, "COMP_CWORD": str(len(words.split()))})
    rows = json.loads(runner.invoke(app, ["--store", pg_url, "effects", "list", "--json"]).stdout)
    scopes = list(dict.fromkeys(r["scope_id"] for r in rows))
    assert scopes and result.stdout.split() == scopes
