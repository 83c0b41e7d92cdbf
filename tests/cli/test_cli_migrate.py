"""`lashdb migrate SOURCE DEST` through the Typer app and once as a real process (postgres.md §5):
JSON keys, table and per-session lines, confirmation, exit codes, a URL's password never printed.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import FIXTURES_DIR, console_script, snapshot_dir
from lashdb.cli.main import app
from lashdb.engine.base.timing import wall_clock_ms
from lashdb.engine.ops.demo import build_demo

runner = CliRunner()
KEYS = {"source", "dest", "dry_run", "force", "sessions", "total"}
SESSION_KEYS = {"session_id", "source", "status", "rows", "bytes", "reason"}
TOTAL_KEYS = {"sessions", "copied", "skipped", "conflict", "refused", "failed", "rows", "bytes"}
PASSWORD = "s3cret-Pw"


def with_password(url: str) -> str:
    """The test server trusts every login; a password in the URL must still never be printed."""
    return url.replace("postgres@", f"postgres:{PASSWORD}@", 1)


@pytest.fixture
def demo(tmp_path: Path) -> Path:
    root = tmp_path / "demo"
    build_demo(root, 2)
    return root


def migrate(*args: str):
    result = runner.invoke(app, ["migrate", *args])
    assert "Traceback" not in result.output, result.output
    return result


def test_json_report_into_postgres_and_rerun(demo, pg_url):
    url = with_password(pg_url)
    result = migrate(str(demo), url, "--yes", "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert set(doc) == KEYS and set(doc["total"]) == TOTAL_KEYS
    assert all(set(s) == SESSION_KEYS for s in doc["sessions"])
    assert [s["status"] for s in doc["sessions"]] == ["copied"] * 3
    assert doc["total"]["copied"] == 3 and doc["total"]["rows"] > 0 and doc["total"]["bytes"] > 0
    assert PASSWORD not in result.output and PASSWORD not in result.stderr
    assert doc["dest"] == pg_url.replace("postgres@", "postgres:***@", 1)
    again = migrate(str(demo), url, "--yes", "--json")
    assert again.exit_code == 0
    assert json.loads(again.stdout)["total"]["skipped"] == 3


def test_table_lines_and_dry_run(demo, tmp_path):
    dest = tmp_path / "copy"
    dry = migrate(str(demo), str(dest), "--dry-run")  # a dry run needs no --yes
    assert dry.exit_code == 0, dry.output
    assert "3 would copy" in dry.stdout and not dest.exists()
    result = migrate(str(demo), str(dest), "--yes", "-s", sorted(p.name for p in demo.glob("*.db"))[0][:8])
    assert result.exit_code == 0, result.output
    assert "copied" in result.stdout and "1 session(s): 1 copied" in result.stdout
    assert result.stderr.startswith("[1/1] copied ")


def test_confirmation_is_required_without_yes(demo, tmp_path):
    result = migrate(str(demo), str(tmp_path / "copy"))
    assert result.exit_code == 2 and "without --yes" in result.stderr
    assert not (tmp_path / "copy").exists()


def test_exit_codes_conflict_refused_and_foreign(demo, tmp_path):
    dest = tmp_path / "copy"
    assert migrate(str(demo), str(dest), "--yes").exit_code == 0
    import apsw

    target = sorted(dest.glob("*.db"))[0]
    conn = apsw.Connection(str(target))
    conn.execute("UPDATE session_head SET head_revision = head_revision + 1")
    conn.close()
    conflict = migrate(str(demo), str(dest), "--yes", "--json")
    assert conflict.exit_code == 1
    assert [s["status"] for s in json.loads(conflict.stdout)["sessions"]].count("conflict") == 1

    before = snapshot_dir(FIXTURES_DIR)
    foreign = migrate(str(FIXTURES_DIR), str(tmp_path / "other"), "--yes", "--json")
    assert foreign.exit_code == 3 and "version 38" in foreign.stderr
    assert json.loads(foreign.stdout)["sessions"][0]["status"] == "refused"
    assert snapshot_dir(FIXTURES_DIR) == before

    live_root = tmp_path / "live"
    build_demo(live_root, 1, clock=lambda: wall_clock_ms() // 1000 * 1000)
    refused = migrate(str(live_root), str(tmp_path / "live-copy"), "--yes", "--json")
    assert refused.exit_code == 1 and "execution lease" in refused.stderr and "--force" in refused.stderr
    forced = migrate(str(live_root), str(tmp_path / "live-copy"), "--yes", "--json", "--force")
    assert forced.exit_code == 0 and json.loads(forced.stdout)["total"]["copied"] == 1


def test_usage_and_unusable_targets(demo, tmp_path):
    assert migrate(str(demo), "mysql://nope/db", "--yes").exit_code == 2
    unknown = migrate(str(demo), str(tmp_path / "x"), "--yes", "-s", "no-such-session")
    assert unknown.exit_code == 3 and "no-such-session" in unknown.stderr
    down = migrate(str(demo), f"postgresql://postgres:{PASSWORD}@127.0.0.1:1/nothing", "--yes")
    assert down.exit_code == 3 and PASSWORD not in down.output and PASSWORD not in down.stderr


def test_real_process_pg_to_directory(demo, tmp_path, pg_url):
    assert migrate(str(demo), pg_url, "--yes").exit_code == 0
    out = tmp_path / "back"
    proc = subprocess.run([console_script(), "migrate", with_password(pg_url), str(out), "--yes",
                           "--json"], capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert [s["status"] for s in doc["sessions"]] == ["copied"] * 3
    assert PASSWORD not in proc.stdout + proc.stderr
    assert sorted(p.name for p in out.glob("*.db") if p.name.count(".db") == 1) == \
        sorted(p.name for p in demo.glob("*.db") if p.name.count(".db") == 1)


def test_a_session_not_migrated_is_a_problem_not_an_unusable_store():
    from lashdb.cli import common
    from lashdb.engine.errors import SessionNotMigrated

    assert common.exit_code(SessionNotMigrated("s", "s: verification after copying failed")) == common.EXIT_PROBLEMS
