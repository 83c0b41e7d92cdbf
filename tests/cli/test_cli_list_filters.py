"""``sessions list`` filters on both stores (issue 14): each filter returns exactly the expected session
ids from one test body, ``--limit`` counts after filtering, and on PostgreSQL the listing stays one
statement with the filters in its ``WHERE``.

The sessions are written through the same backend API; their modified times are then set where each
store keeps them (the file's mtime, the row's ``updated_at_ms``), relative to the store's own clock.
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timezone

import pytest
from typer.testing import CliRunner

from lashdb.cli.main import app
from lashdb.engine import GraphDelta, GraphNode, open_backend
from lashdb.engine.session.factory import SessionStoreCreateRequest
from lashdb.engine.session.model import SessionMeta, SessionRelation
from runtime_support import commit_for

runner = CliRunner()
HOUR = 3_600_000
# id: (name, model, cwd, parent, first user message, age of the last write)
SESSIONS = {
    "alpha-0001": ("Alpha deploy", "m-a", "/work/a", None, "hello, fix the build", 1 * HOUR),
    "beta-0002": ("Beta", "m-b", "/work/a/sub", None, "Please DEPLOY to prod", 5 * HOUR),
    "gamma-0003": ("Gamma", "m-a", "/work/ab", "alpha-0001", "look at the logs", 72 * HOUR),
    "delta-0004": ("Delta", "m-b", "/other", "alpha-0001", "nothing here", 240 * HOUR),
}


def build(target) -> int:
    """The four sessions, one user turn each; returns the store's clock used for their ages."""
    backend = open_backend(target)
    try:
        factory = backend.factory()
        for sid, (name, model, cwd, parent, text, _age) in SESSIONS.items():
            relation = SessionRelation.child(parent) if parent else SessionRelation.root()
            with factory.create_store(SessionStoreCreateRequest(sid, model, relation)) as store:
                store.save_session_meta(SessionMeta(sid, name, "unix:1767225600", model, cwd, relation))
                fence = store.try_claim_session_execution_lease(sid, "builder", 60_000).fence()
                node = GraphNode.message("n0", "User", text, timestamp="2026-01-01T00:00:00Z")
                store.commit_runtime_state(commit_for(sid, expected_head_revision=0, session_execution_lease=fence,
                                                      graph=GraphDelta.append([node], "n0")).stamped("turn-0"))
                store.release_session_execution_lease(fence)
        return backend.now_ms()
    finally:
        backend.close()


def age(target, now_ms: int) -> None:
    """Set each session's last write to ``now_ms`` minus its age, where the store keeps it."""
    if isinstance(target, os.PathLike):
        for sid, spec in SESSIONS.items():
            when = (now_ms - spec[5]) / 1000
            path = open_backend(target).path_for_session(sid)
            for name in (path, f"{path}-wal"):
                if os.path.exists(name):
                    os.utime(name, (when, when))
        return
    import psycopg

    with psycopg.connect(target) as conn:
        for sid, spec in SESSIONS.items():
            conn.execute("UPDATE lash_sessions SET updated_at_ms = %s WHERE session_id = %s", (now_ms - spec[5], sid))


@pytest.fixture(params=["directory", "postgres"])
def store(request, tmp_path):
    """(root options, now) of a built and aged store of each kind."""
    target = tmp_path / "root" if request.param == "directory" else request.getfixturevalue("pg_url")
    now = build(target)
    age(target, now)
    return (["--root", str(target)] if request.param == "directory" else ["--store", target]), now


def ids(args, *options):
    result = runner.invoke(app, [*args, "sessions", "list", "--json", "--sort", "name", *options])
    assert result.exit_code == 0, result.output
    return [row["session_id"] for row in json.loads(result.stdout)]


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_each_filter_returns_exactly_its_sessions(store):
    args, now = store
    assert ids(args) == ["alpha-0001", "beta-0002", "delta-0004", "gamma-0003"]
    assert ids(args, "--since", "2h") == ["alpha-0001"]
    assert ids(args, "--since", "4d", "--until", "2h") == ["beta-0002", "gamma-0003"]
    assert ids(args, "--until", iso(now - 48 * HOUR)) == ["delta-0004", "gamma-0003"]
    # a date alone is its midnight UTC: at most a day before now-100h, long after now-240h
    assert ids(args, "--since", iso(now - 100 * HOUR)[:10]) == ["alpha-0001", "beta-0002", "gamma-0003"]
    assert ids(args, "--model", "m-a") == ["alpha-0001", "gamma-0003"]
    assert ids(args, "--model", "m-") == []  # exact, not a prefix
    assert ids(args, "--cwd", "/work/a") == ["alpha-0001", "beta-0002"]  # beneath, not /work/ab
    assert ids(args, "--cwd", "/work/a/") == ["alpha-0001", "beta-0002"]
    assert ids(args, "--cwd", "/work") == ["alpha-0001", "beta-0002", "gamma-0003"]
    assert ids(args, "--parent", "alpha-0001") == ["delta-0004", "gamma-0003"]
    assert ids(args, "--parent", "alph") == ["delta-0004", "gamma-0003"]
    assert ids(args, "--parent", "beta-0002") == []
    assert ids(args, "--children") == ["delta-0004", "gamma-0003"]
    assert ids(args, "--no-children") == ["alpha-0001", "beta-0002"]
    assert ids(args, "--grep", "deploy") == ["alpha-0001", "beta-0002"]  # the name; the first message
    assert ids(args, "--grep", "LOGS") == ["gamma-0003"]
    assert ids(args, "--status", "ok") == ["alpha-0001", "beta-0002", "delta-0004", "gamma-0003"]
    assert ids(args, "--status", "FOREIGN") == []
    assert ids(args, "--model", "m-b", "--children") == ["delta-0004"]
    assert ids(args, "--children", "--since", "4d") == ["gamma-0003"]


def test_limit_counts_after_filtering(store):
    args, _ = store
    assert ids(args, "--model", "m-b", "--limit", "1") == ["beta-0002"]
    result = runner.invoke(app, [*args, "sessions", "list", "--json", "--children", "--limit", "1"])
    assert [r["session_id"] for r in json.loads(result.stdout)] == ["gamma-0003"]  # newest child first
    result = runner.invoke(app, [*args, "sessions", "list", "--json", "--grep", "o", "--sort", "size", "--limit", "3"])
    assert len(json.loads(result.stdout)) == 3


def test_bad_filters_are_usage_errors_and_no_match_says_so(store):
    args, _ = store
    result = runner.invoke(app, [*args, "sessions", "list", "--since", "yesterday"])
    assert result.exit_code == 2 and "--since 'yesterday': not a time" in result.output
    result = runner.invoke(app, [*args, "sessions", "list", "--status", "bogus"])
    assert result.exit_code == 2 and "ok, foreign, unreadable, damaged" in result.output
    result = runner.invoke(app, [*args, "sessions", "list", "--model", "nope"])
    assert result.exit_code == 0 and "match the filters" in result.output


def test_a_directory_drops_files_by_mtime_before_opening_them(tmp_path, monkeypatch):
    from lashdb.engine.base.listing import ListingFilter
    from lashdb.engine.ops import sessions

    root = tmp_path / "root"
    age(root, build(root))
    opened = []
    original = sessions.open_session_file
    monkeypatch.setattr(sessions, "open_session_file", lambda p, **kw: opened.append(p.name) or original(p, **kw))
    rows = sessions.list_sessions(root, filters=ListingFilter(since_ms=open_backend(root).now_ms() - 2 * HOUR))
    assert [r.session_id for r in rows] == ["alpha-0001"] and opened == [open_backend(root).path_for_session("alpha-0001").name]


def test_postgres_listing_stays_one_statement_with_the_filters_in_sql(pg_url, monkeypatch):
    from lashdb.engine.base.listing import ListingFilter
    from lashdb.engine.postgres.catalog import PgCatalog

    age(pg_url, build(pg_url))
    statements = []
    original = PgCatalog._rows
    monkeypatch.setattr(PgCatalog, "_rows", lambda self, sql, params=(): statements.append((sql, params)) or
                        original(self, sql, params))
    with open_backend(pg_url) as backend:
        rows = backend.list_sessions(sort="modified", limit=1,
                                     filters=ListingFilter(model="m-b", grep="deploy", cwd="/work"))
    assert [r.session_id for r in rows] == ["beta-0002"]
    assert len(statements) == 1
    sql, params = statements[0]
    assert "s.model = %s" in sql and "LIMIT %s" in sql and list(params)[-1] == 1 and "m-b" in params
