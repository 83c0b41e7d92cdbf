"""`lashdb sessions backup` / `sessions restore` (issue 14) through the Typer app and once as a real
process, on a directory and on PostgreSQL: JSON keys, table and totals, exit codes, --dry-run,
--force asking first, a refused restore naming the command that replaces.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import console_script, snapshot_dir
from lashdb.cli.main import app
from lashdb.engine.ops.backend import open_backend
from lashdb.engine.ops.demo import build_demo
from lashdb.engine.ops.migrate import migrate_stores

runner = CliRunner()
KEYS = {"command", "store", "dest", "dry_run", "force", "sessions", "total"}
SESSION_KEYS = {"session_id", "source", "target", "status", "files", "bytes", "blobs", "reason"}
TOTAL_KEYS = {"sessions", "copied", "restored", "refused", "failed", "files", "bytes"}


@pytest.fixture
def demo(tmp_path: Path) -> Path:
    root = tmp_path / "demo"
    build_demo(root, 2)
    return root


@pytest.fixture(params=["directory", "postgres"])
def store(request, demo) -> str:
    """The demo's sessions on a directory, or migrated into the test's PostgreSQL database."""
    if request.param == "directory":
        return str(demo)
    url = request.getfixturevalue("pg_url")
    assert migrate_stores(open_backend(demo), open_backend(url)).ok
    return url


def run(*args: str):
    result = runner.invoke(app, list(args))
    assert "Traceback" not in result.output, result.output
    return result


def test_backup_all_json_then_restore_refused_then_forced(store, demo, tmp_path):
    out = tmp_path / "bk"
    result = run("--store", store, "sessions", "backup", "--all", "-o", str(out), "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert set(doc) == KEYS and set(doc["total"]) == TOTAL_KEYS and doc["command"] == "backup"
    assert all(set(s) == SESSION_KEYS for s in doc["sessions"])
    assert doc["total"]["copied"] == 3 and doc["total"]["files"] == 6 and doc["dest"] == str(out)
    assert sorted(os.listdir(out)) == sorted(os.listdir(demo))
    assert doc["total"]["bytes"] == sum(os.path.getsize(out / n) for n in os.listdir(out))

    refused = run("--store", store, "sessions", "restore", str(out))
    assert refused.exit_code == 1
    assert refused.stderr.count("lashdb: error: session ") == 3 and "pass --force" in refused.stderr
    assert "0 restored, 3 refused, 0 failed" in refused.stdout

    no_yes = run("--store", store, "sessions", "restore", str(out), "--force")
    assert no_yes.exit_code == 2 and "without --yes" in no_yes.stderr

    forced = run("--store", store, "sessions", "restore", str(out), "--force", "--yes", "--json")
    assert forced.exit_code == 0, forced.output
    assert [s["status"] for s in json.loads(forced.stdout)["sessions"]] == ["restored"] * 3


def test_backup_of_one_session_as_a_table_and_dry_run(store, tmp_path):
    listed = json.loads(run("--store", store, "sessions", "list", "--json").stdout)
    sid = sorted(d["session_id"] for d in listed)[0]
    dry = run("--store", store, "sessions", "backup", sid[:8], "-o", str(tmp_path / "bk"), "--dry-run")
    assert dry.exit_code == 0 and not (tmp_path / "bk").exists()
    assert "1 would back up, 0 refused, 0 failed" in dry.stdout
    result = run("--store", store, "sessions", "backup", sid[:8], "-o", str(tmp_path / "bk"))
    assert result.exit_code == 0, result.output
    assert sid in result.stdout and "copied" in result.stdout and "1 backed up" in result.stdout
    assert [n for n in os.listdir(tmp_path / "bk") if n.startswith(sid)] != []


def test_backup_needs_a_session_or_all_and_an_output(demo, tmp_path):
    none = run("--root", str(demo), "sessions", "backup", "-o", str(tmp_path / "bk"))
    assert none.exit_code == 2 and "name a SESSION" in none.stderr
    no_out = run("--root", str(demo), "sessions", "backup", "--all")
    assert no_out.exit_code == 2 and "--output" in no_out.output


def test_restore_into_an_empty_root_and_a_damaged_backup_fails(demo, tmp_path):
    out = tmp_path / "bk"
    assert run("--root", str(demo), "sessions", "backup", "--all", "-o", str(out)).exit_code == 0
    fresh = tmp_path / "fresh"
    dry = run("--root", str(fresh), "sessions", "restore", str(out), "--dry-run")
    assert dry.exit_code == 0 and "3 would restore" in dry.stdout and not fresh.exists()
    done = run("--root", str(fresh), "sessions", "restore", str(out))
    assert done.exit_code == 0 and "3 restored" in done.stdout
    assert sorted(os.listdir(fresh)) == sorted(os.listdir(demo))
    bogus = tmp_path / "bogus.db"
    bogus.write_bytes(b"not a database at all" * 100)
    failed = run("--root", str(tmp_path / "other"), "sessions", "restore", str(bogus))
    assert failed.exit_code == 3 and "failed verification" in failed.stderr


def test_a_real_process_backs_up_and_leaves_the_root_unchanged(demo, tmp_path):
    before = snapshot_dir(demo)
    proc = subprocess.run([console_script(), "--root", str(demo), "sessions", "backup", "--all", "-o",
                           str(tmp_path / "bk"), "--json"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["total"]["copied"] == 3 and proc.stderr == ""
    assert snapshot_dir(demo) == before
