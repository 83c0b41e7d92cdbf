"""``lashdb stats`` on both stores through the CLI: the table names each total, ``--json`` the documented
keys, a named SESSION counts alone, an unknown one exits 3; one real console-script run."""

from __future__ import annotations

import json
import subprocess

import pytest
from typer.testing import CliRunner

from lashdb.cli.main import app
from lashdb.engine.ops.demo import build_demo
from conftest import console_script, snapshot_dir

runner = CliRunner()
CLOCK = 1_796_000_000_000
KEYS = ["store", "kind", "sessions", "live_nodes", "tombstoned_nodes", "blobs", "stored_bytes", "logical_bytes",
        "size_bytes", "gc_freeable_bytes", "gc_busy_sessions", "compact_reclaimable_bytes", "compact_note",
        "largest", "skipped"]


@pytest.fixture(params=["directory", "postgres"])
def store_args(request, tmp_path):
    if request.param == "directory":
        root = tmp_path / "root"
        build_demo(root, clock=lambda: CLOCK)
        return ["--root", str(root)]
    url = request.getfixturevalue("pg_url")
    build_demo(url, clock=lambda: CLOCK)
    return ["--store", url]


def test_json_and_table_on_both_stores(store_args):
    result = runner.invoke(app, [*store_args, "stats", "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert list(doc) == KEYS
    assert (doc["sessions"], doc["live_nodes"], doc["blobs"], doc["gc_freeable_bytes"]) == (5, 31, 43, 12129)
    assert [set(r) for r in doc["largest"]] == [{"session_id", "session_name", "path", "size_bytes"}] * 5
    table = runner.invoke(app, [*store_args, "stats"])
    assert table.exit_code == 0, table.output
    for label in ("sessions", "31 live, 2 tombstoned", "gc would free", "vacuum --compact would return",
                  "largest sessions", doc["largest"][0]["session_id"]):
        assert label in table.stdout
    if store_args[0] == "--store":
        assert "not measured on PostgreSQL" in table.stdout and doc["compact_reclaimable_bytes"] is None


def test_named_session_and_unknown_session(store_args):
    listed = json.loads(runner.invoke(app, [*store_args, "sessions", "list", "--json", "--sort", "name"]).stdout)
    first = listed[0]["session_id"]
    doc = json.loads(runner.invoke(app, [*store_args, "stats", first[:8], "--json"]).stdout)
    assert doc["sessions"] == 1 and doc["largest"][0]["session_id"] == first
    assert doc["live_nodes"] == listed[0]["live_nodes"]
    result = runner.invoke(app, [*store_args, "stats", "zzzz-nope"])
    assert result.exit_code == 3 and "zzzz-nope" in result.output


def test_console_script_leaves_the_root_byte_identical(tmp_path):
    root = tmp_path / "root"
    build_demo(root, clock=lambda: CLOCK)
    before = snapshot_dir(root)
    proc = subprocess.run([console_script(), "--root", str(root), "stats", "--json"], capture_output=True,
                          text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["sessions"] == 5 and snapshot_dir(root) == before
