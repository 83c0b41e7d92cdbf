"""Every session command on both stores (issue 13): ``--root DIR`` and ``--store postgresql://…`` give
the same JSON documents apart from paths and times, the same exit codes, and a URL's password is
never printed.

The content is written once per store through the same backend API (``open_backend(target)``:
factory, commits on an injected clock), so any difference is the read side's.
"""

from __future__ import annotations

import json
import os
import subprocess

import pytest
from typer.testing import CliRunner

from lashdb.cli.main import app
from lashdb.engine import GraphDelta, GraphNode, open_backend
from lashdb.engine.session.factory import SessionStoreCreateRequest
from conftest import console_script
from runtime_support import commit_for

runner = CliRunner()
SESSIONS = ("alpha-0001", "alpha-0002", "beta-0003")
VOLATILE = {"path", "file", "created_at", "created_at_epoch_ms", "modified_at", "modified_at_epoch_ms", "cwd",
            "size_bytes", "db_bytes", "wal_bytes", "shm_bytes", "sidecars", "files", "error", "expires_at",
            "expires_at_epoch_ms", "created_at_raw", "removed", "db", "compression", "stored_bytes",
            "last_committed_at", "last_committed_at_epoch_ms",
            # A SQLite head carries lashdb's list summary (session/list_summary.py); PostgreSQL keeps none.
            "lashdb_list_summary"}


def build(target) -> None:
    """Three sessions (one with garbage) written through the backend API of ``target``."""
    backend = open_backend(target)
    try:
        factory = backend.factory()
        for i, sid in enumerate(SESSIONS):
            with factory.create_store(SessionStoreCreateRequest(sid, "model-x")) as store:
                fence = store.try_claim_session_execution_lease(sid, "builder", 60_000).fence()
                for turn in range(i + 1):
                    parent = None if turn == 0 else f"n{turn - 1}"
                    node = GraphNode.message(f"n{turn}", "User", f"hello {sid} {turn}",
                                             timestamp="2026-01-01T00:00:00Z", parent_node_id=parent)
                    commit = commit_for(sid, expected_head_revision=turn, session_execution_lease=fence,
                                        graph=GraphDelta.append([node], f"n{turn}"))
                    store.commit_runtime_state(commit.stamped(f"turn-{turn}"))
                store.release_session_execution_lease(fence)
    finally:
        backend.close()


@pytest.fixture(params=["directory", "postgres"])
def store_args(request, tmp_path):
    """Root options naming a built store of each kind."""
    if request.param == "directory":
        root = tmp_path / "root"
        build(root)
        return ["--root", str(root)]
    url = request.getfixturevalue("pg_url")
    build(url)
    return ["--store", url]


def run(args, *command):
    result = runner.invoke(app, [*args, *command])
    return result


def strip(doc):
    """``doc`` without the values that name the store or depend on the clock and the disk."""
    if isinstance(doc, dict):
        return {k: strip(v) for k, v in doc.items() if k not in VOLATILE}
    if isinstance(doc, list):
        return [strip(v) for v in doc]
    return doc


@pytest.fixture(scope="module")
def expected(tmp_path_factory):
    """The directory store's documents: what the PostgreSQL store must match."""
    root = tmp_path_factory.mktemp("expected") / "root"
    build(root)
    args = ["--root", str(root)]
    docs = {}
    for name, command in COMMANDS.items():
        result = run(args, *command)
        assert result.exit_code == 0, (name, result.output)
        docs[name] = strip(json.loads(result.stdout))
    return docs


COMMANDS = {
    "list": ("sessions", "list", "--json", "--sort", "name"),
    "show": ("sessions", "show", "alpha-0002", "--json"),
    "head": ("head", "dump", "beta-0003", "--checkpoint", "--json"),
    "graph": ("graph", "show", "beta", "--json"),
    "blob-ls": ("blob", "ls", "beta-0003", "--json"),
    "verify": ("blob", "verify", "--all", "--json"),
    "gc": ("gc", "--all", "--dry-run", "--json"),
}


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_each_read_command_gives_the_directory_document(name, store_args, expected):
    result = run(store_args, *COMMANDS[name])
    assert result.exit_code == 0, result.output
    assert strip(json.loads(result.stdout)) == expected[name]


def test_a_url_store_names_sessions_by_url_and_id_without_the_password(pg_url):
    build(pg_url)
    secret = pg_url.replace("postgresql://postgres@", "postgresql://postgres:not-the-password@")
    result = run(["--store", secret], "sessions", "list", "--json", "--limit", "2", "--sort", "name")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [r["session_id"] for r in rows] == ["alpha-0001", "alpha-0002"]  # --limit in SQL, in order
    assert rows[0]["path"] == pg_url.replace("postgresql://postgres@", "postgresql://postgres:***@") + "#alpha-0001"
    assert rows[0]["file"] == "alpha-0001" and "not-the-password" not in result.output


def test_session_prefixes_resolve_through_the_index_and_ambiguity_is_exit_2_or_3(store_args):
    assert json.loads(run(store_args, "head", "dump", "beta", "--json").stdout)["head_revision"] == 3
    ambiguous = run(store_args, "head", "dump", "alph")
    assert ambiguous.exit_code == 3 and "matches 2 sessions" in ambiguous.output
    assert "alpha-0001" in ambiguous.output and "Traceback" not in ambiguous.output
    missing = run(store_args, "head", "dump", "zzzz-none")
    assert missing.exit_code == 3 and "no session `zzzz-none`" in missing.output


def test_vacuum_gc_and_delete_write_on_both_stores(store_args):
    gc = json.loads(run(store_args, "gc", "--all", "--json").stdout)
    assert [(s["session_id"], s["outcome"], s["deleted_blob_count"]) for s in gc["sessions"]] == \
        [(sid, "collected", 0) for sid in SESSIONS]
    vacuum = run(store_args, "vacuum", "--all", "--json")
    assert vacuum.exit_code == 0, vacuum.output
    assert sorted(s["session_id"] for s in json.loads(vacuum.stdout)["sessions"]) == list(SESSIONS)
    deleted = run(store_args, "sessions", "delete", "alpha-0001", "--yes", "--json")
    assert deleted.exit_code == 0, deleted.output
    doc = json.loads(deleted.stdout)
    assert doc["session_id"] == "alpha-0001" and len(doc["removed"]) >= 1
    listed = json.loads(run(store_args, "sessions", "list", "--json").stdout)
    assert sorted(r["session_id"] for r in listed) == ["alpha-0002", "beta-0003"]


def test_a_live_lease_refuses_delete_on_both_stores(store_args):
    target = store_args[1]
    backend = open_backend(target)
    try:
        with backend.session_store("beta-0003") as store:
            assert store.try_claim_session_execution_lease("beta-0003", "runtime", 3_600_000) is not None
    finally:
        backend.close()
    refused = run(store_args, "sessions", "delete", "beta-0003", "--yes")
    assert refused.exit_code == 3 and "beta-0003" in refused.output and "runtime" in refused.output
    assert json.loads(run(store_args, "head", "dump", "beta-0003", "--json").stdout)["head_revision"] == 3


def test_store_and_root_together_is_a_usage_error(tmp_path):
    result = run(["--store", str(tmp_path), "--root", str(tmp_path)], "sessions", "list")
    assert result.exit_code == 2 and "--store or --root" in result.output


def test_lashdb_store_environment_variable_names_the_store(pg_url):
    build(pg_url)
    out = subprocess.run([console_script(), "sessions", "list", "--json", "--sort", "name"],
                         capture_output=True, text=True, env={**os.environ, "LASHDB_STORE": pg_url},
                         check=False)
    assert out.returncode == 0, out.stderr
    assert [r["session_id"] for r in json.loads(out.stdout)] == list(SESSIONS)


# --- a look never writes; a store that cannot be used is exit 3 with one line ------------------------

INSPECTIONS = [("sessions", "list", "--json"), ("sessions", "show", "alpha-0002", "--json"),
               ("head", "dump", "beta-0003", "--checkpoint", "--json"), ("graph", "show", "beta-0003", "--json"),
               ("blob", "ls", "beta-0003", "--json"), ("blob", "verify", "--all", "--json"),
               ("gc", "--all", "--dry-run", "--json")]


@pytest.fixture
def select_only_url(pg_url):
    """``pg_url`` as a login role granted only ``SELECT`` on the lash tables, with a password."""
    import psycopg

    build(pg_url)
    role = "lashdb_ro_" + pg_url.rsplit("_", 1)[-1]
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {role} LOGIN PASSWORD 'ro-secret-pw'")
        conn.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}")
    try:
        yield pg_url.replace("postgresql://postgres@", f"postgresql://{role}:ro-secret-pw@")
    finally:
        from lashdb.engine.postgres.session_backend import close_readonly

        close_readonly()
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute(f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {role}")
            conn.execute(f"DROP OWNED BY {role}")
        admin = pg_url.rsplit("/", 1)[0] + "/postgres"
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f"DROP ROLE {role}")


@pytest.mark.parametrize("command", INSPECTIONS, ids=lambda c: "-".join(c[:2]))
def test_a_select_only_role_runs_every_inspection(select_only_url, command):
    result = run(["--store", select_only_url], *command)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) and "ro-secret-pw" not in result.output


def test_a_select_only_role_that_tries_to_write_gets_one_line_exit_3(select_only_url):
    result = run(["--store", select_only_url], "sessions", "delete", "alpha-0001", "--yes")
    assert result.exit_code == 3 and "Traceback" not in result.output
    assert "permission denied" in result.output and "ro-secret-pw" not in result.output


@pytest.mark.parametrize("change, named", [
    (lambda url: url.rsplit(":", 1)[0].rsplit("@", 1)[0] + "@127.0.0.1:1/nowhere", "127.0.0.1:1/nowhere"),
    (lambda url: url.rsplit("/", 1)[0] + "/no_such_database_here", "no_such_database_here"),
    (lambda url: url.replace("postgresql://postgres@", "postgresql://no_such_role_here:pw-123@"), "no_such_role_here"),
], ids=["closed-port", "wrong-database", "unknown-role"])
def test_an_unusable_url_is_exit_3_with_one_line_naming_it(pg_url, change, named):
    url = change(pg_url).replace("postgresql://postgres@", "postgresql://postgres:pw-123@")
    result = subprocess.run([console_script(), "--store", url, "sessions", "list"], capture_output=True, text=True,
                            check=False)
    assert result.returncode == 3 and result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lashdb: error: ") and named in lines[0]
    assert "pw-123" not in result.stderr and "Traceback" not in result.stderr
