"""Inspection never writes; the installed console script works; start-up stays light."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import FIXTURES_DIR, console_script
from lashdb.cli.main import app
from lashdb.engine.ops.demo import build_demo

V38 = FIXTURES_DIR
runner = CliRunner()


def snapshot(root: Path) -> dict[str, tuple[bytes, int]]:
    """Every file under root: its bytes and mtime."""
    return {str(p.relative_to(root)): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def root(tmp_path):
    """A copy of a demo root plus a foreign session and files that are not sessions."""
    build_demo(tmp_path / "build")
    dest = tmp_path / "root"
    shutil.copytree(tmp_path / "build", dest)
    shutil.copy(V38 / "durable-core.db", dest / "upstream-v38.db")
    shutil.copy(V38 / "effects.db", dest / "upstream-v38.db.effects.db")
    (dest / "noise.db").write_bytes(os.urandom(3000))
    (dest / "empty.db").write_bytes(b"")
    (dest / "readme.db").write_text("not a database\n")
    return dest


def _sessions(root: Path) -> list[str]:
    return [r["path"] for r in json.loads(runner.invoke(app, ["--root", str(root), "sessions", "list", "--json"]).stdout)]


def test_every_inspection_command_leaves_the_root_untouched(root):
    before = snapshot(root)
    paths = _sessions(root)
    assert len(paths) == 6
    commands = [["sessions", "list"], ["sessions", "list", "--all"], ["sessions", "list", "--json", "--all"],
                ["sessions", "list", "--sort", "size", "--limit", "2"]]
    for path in paths + [str(root / "noise.db"), str(root / "empty.db"), str(root / "readme.db")]:
        commands += [
            ["sessions", "show", path], ["sessions", "show", path, "--json"],
            ["head", "dump", path], ["head", "dump", path, "--checkpoint"],
            ["graph", "show", path], ["graph", "show", path, "--tombstoned", "--json"],
            ["graph", "show", path, "--active-path"], ["graph", "show", path, "--limit", "2"],
            ["sessions", "delete", path, "--dry-run"],
        ]
    codes = []
    for command in commands:
        result = runner.invoke(app, ["--root", str(root), *command])
        assert "Traceback" not in result.output, (command, result.output)
        codes.append(result.exit_code)
    # The three files that are not databases fail with 3 on each of their 9 commands; all else succeeds.
    assert codes.count(3) == 3 * 9 and codes.count(0) == len(codes) - 27
    assert snapshot(root) == before


def test_the_fixture_directory_is_read_in_place(tmp_path):
    before = snapshot(V38)
    for command in (["sessions", "show", str(V38 / "durable-core.db"), "--json"],
                    ["head", "dump", str(V38 / "durable-core.db"), "--checkpoint"],
                    ["graph", "show", str(V38 / "durable-core.db"), "--tombstoned"]):
        assert runner.invoke(app, ["--root", str(V38), *command]).exit_code == 0
    assert runner.invoke(app, ["--root", str(V38), "sessions", "list", "--all", "--json"]).exit_code == 0
    assert snapshot(V38) == before


def test_read_only_directory(root):
    before = snapshot(root)
    root.chmod(0o555)
    try:
        for path in _sessions(root)[:2]:
            assert runner.invoke(app, ["--root", str(root), "sessions", "show", path, "--json"]).exit_code == 0
            assert runner.invoke(app, ["--root", str(root), "graph", "show", path]).exit_code == 0
    finally:
        root.chmod(0o755)
    assert snapshot(root) == before


def test_installed_console_script_demo_then_list(tmp_path):
    exe = console_script()
    demo = subprocess.run([exe, "demo", str(tmp_path / "d"), "--sessions", "2"], capture_output=True, text=True,
                          check=False)
    assert demo.returncode == 0, demo.stderr
    assert "Try next:" in demo.stdout
    listed = subprocess.run([exe, "--root", str(tmp_path / "d"), "sessions", "list", "--json"], capture_output=True,
                            text=True, check=False)
    assert listed.returncode == 0 and listed.stderr == ""
    rows = json.loads(listed.stdout)
    assert sorted(r["session_name"] for r in rows) == ["Fix the flaky parser test", "Release notes for 0.4",
                                                       "Sub-agent: shuffle test inputs"]
    missing = subprocess.run([exe, "--root", str(tmp_path / "d"), "sessions", "show", "zzzzzz"],
                             capture_output=True, text=True, check=False)
    assert missing.returncode == 3 and missing.stdout == ""
    assert missing.stderr.startswith("lashdb: error: no session `zzzzzz`") and missing.stderr.count("\n") == 1


def test_import_of_the_cli_stays_light():
    code = ("import sys, lashdb.cli.main\n"
            "heavy = ('apsw', 'rich', 'cbor2', 'zlib_ng', 'msgpack')\n"
            "print('\\n'.join(sorted(m for m in sys.modules if m.split('.')[0] in heavy\n"
            "                        or m == 'lashdb.engine' or m.startswith('lashdb.engine.'))))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ""


def test_inspection_beside_a_live_writer_changes_neither_db_nor_wal(tmp_path):
    summary = build_demo(tmp_path / "r", 1)
    from lashdb.engine import Store

    path = summary.sessions[0].path
    with Store.open(path) as writer:
        writer.put_blob(b"written by a live writer" * 10)  # stays in the -wal while the writer is open
        wal = Path(str(path) + "-wal")
        assert wal.stat().st_size > 0
        names = sorted(p.name for p in path.parent.iterdir())
        db_before, wal_before = path.read_bytes(), wal.read_bytes()
        for command in (["sessions", "show", str(path), "--json"], ["head", "dump", str(path), "--checkpoint"],
                        ["graph", "show", str(path)], ["sessions", "list", "--all"]):
            assert runner.invoke(app, ["--root", str(path.parent), *command]).exit_code == 0
        shown = json.loads(runner.invoke(app, ["--root", str(path.parent), "sessions", "show", str(path),
                                               "--json"]).stdout)
        assert shown["blobs"]["count"] == 13  # the reader sees the committed row still in the -wal
        assert shown["files"]["wal_bytes"] == len(wal_before)
        assert path.read_bytes() == db_before and wal.read_bytes() == wal_before
        assert sorted(p.name for p in path.parent.iterdir()) == names
