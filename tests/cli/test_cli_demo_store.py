"""`lashdb --store URL demo`: the demo built into a PostgreSQL store from the CLI (issue 13)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from lashdb.cli.main import app
from lashdb.engine.ops.backend import redact_target


@pytest.fixture(autouse=True)
def _close_shared_readonly_pools():
    # The refusal check reads through the process's shared read-only pool (postgres.session_backend);
    # its threads would make later tests' workers fork a threaded process.
    yield
    from lashdb.engine.postgres.session_backend import close_readonly

    close_readonly()


def _with_password(url: str) -> str:
    # The demo must never print the password; give the URL one so the tests can tell.
    return url.replace("postgresql://postgres@", "postgresql://postgres:s3cret@", 1)


def test_cli_demo_into_a_store_url(pg_url, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a stray lashdb-demo directory would show here
    url = _with_password(pg_url)
    result = CliRunner().invoke(app, ["--store", url, "demo", "--sessions", "1", "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert set(doc) == {"root", "sessions", "deployment", "runtime"}
    assert doc["root"] == redact_target(url) and "s3cret" not in result.stdout
    assert [s["path"] for s in doc["sessions"]] == [f"{redact_target(url)}#{s['session_id']}" for s in doc["sessions"]]
    assert doc["runtime"]["effects"] == doc["sessions"][0]["path"]
    assert list(tmp_path.iterdir()) == []

    again = CliRunner().invoke(app, ["--store", url, "demo", "--sessions", "1"])
    assert again.exit_code == 3 and "already holds demo session" in again.output


def test_cli_demo_prints_store_commands_without_the_password(pg_url):
    url = _with_password(pg_url)
    result = CliRunner().invoke(app, ["--store", url, "demo", "--sessions", "1"])
    assert result.exit_code == 0, result.output
    tries = [line.strip() for line in result.stdout.splitlines() if line.startswith("  lashdb ")]
    assert tries and all(line.startswith(f"lashdb --store {pg_url} ") for line in tries)
    assert "s3cret" not in result.stdout
