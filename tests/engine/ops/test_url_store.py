"""UrlStore: a postgresql:// store's read side resolves SESSION by id and unique prefix, never shows
the password, and refuses what only names files."""

from __future__ import annotations

import pytest

from lashdb.engine import open_backend
from lashdb.engine.base.errors import LookupFailed, UsageError
from lashdb.engine.base.locator import SessionLocation
from lashdb.engine.ops.url_store import UrlStore
from lashdb.engine.session.factory import SessionStoreCreateRequest


@pytest.fixture
def store(pg_url):
    secret = pg_url.replace("postgresql://postgres@", "postgresql://postgres:pw-xyz@")
    with open_backend(secret) as backend:
        for sid in ("sess-aaaa-1", "sess-aaaa-2", "sess-bbbb-1"):
            backend.factory().create_store(SessionStoreCreateRequest(sid, "m")).close()
        yield backend


def test_open_backend_wraps_the_postgres_backend(store):
    assert isinstance(store, UrlStore) and "pw-xyz" not in store.target and "***" in store.target
    assert store.location("x") == SessionLocation("postgres", store.url, "x")


def test_resolve_by_id_and_unique_prefix_and_name_the_ambiguous_ones(store):
    assert store.resolve("sess-aaaa-1").session_id == "sess-aaaa-1"
    assert store.resolve("sess-b").session_id == "sess-bbbb-1"
    with pytest.raises(LookupFailed) as caught:
        store.resolve("sess-aaaa")
    assert "matches 2 sessions" in str(caught.value) and caught.value.candidates == ("sess-aaaa-1", "sess-aaaa-2")
    with pytest.raises(LookupFailed, match="no session `ses`"):
        store.resolve("ses")  # shorter than a prefix may be
    assert "pw-xyz" not in str(caught.value)


def test_resolve_takes_back_the_located_name_json_prints(store):
    printed = str(store.location("sess-bbbb-1"))  # `<store>#<id>`, password redacted
    assert store.resolve(printed).session_id == "sess-bbbb-1"
    assert store.resolve(str(store.location("sess-b"))).session_id == "sess-bbbb-1"  # a prefix too
    with pytest.raises(LookupFailed, match="no session"):
        store.resolve("postgresql://elsewhere/db#sess-bbbb-1")  # another store's name is not this one's


def test_discover_and_listing_and_deployment_scopes(store):
    found = store.discover()
    assert [f.path.session_id for f in found] == ["sess-aaaa-1", "sess-aaaa-2", "sess-bbbb-1"]
    assert all(f.is_session and f.sidecars == {} for f in found)
    assert [r.session_id for r in store.list_sessions(sort="name", limit=1)] == ["sess-aaaa-1"]
    with pytest.raises(LookupFailed, match="no process registry rows"):
        store.deployment_store("processes")
    assert store.deployment_store("triggers", store.location("sess-bbbb-1")).session_id == "sess-bbbb-1"
    with pytest.raises(UsageError, match="--db names a store file"):
        store.require_kind("x.db", "processes")


def test_sessions_list_is_one_statement_whatever_the_number_of_sessions(pg_url, monkeypatch):
    import psycopg

    from lashdb.engine.postgres.catalog import PgCatalog
    from lashdb.engine.session import store as store_module

    with psycopg.connect(pg_url) as conn:  # 2,000 sessions, written in bulk (their rows are what is listed)
        with open_backend(pg_url) as backend:
            backend.factory().create_store(SessionStoreCreateRequest("seed", "m")).close()
        conn.execute("INSERT INTO lash_sessions (session_id, session_name, head_revision, created_at_ms, "
                     "updated_at_ms) SELECT 'bulk-' || lpad(i::text, 5, '0'), 'n' || i, i, i, i "
                     "FROM generate_series(1, 2000) AS i")
    statements = []
    original = PgCatalog._rows
    monkeypatch.setattr(PgCatalog, "_rows", lambda self, sql, params=(): statements.append(sql) or
                        original(self, sql, params))
    monkeypatch.setattr(store_module.Store, "open_readonly",
                        classmethod(lambda cls, *a, **k: pytest.fail("sessions list opened a session store")))
    with open_backend(pg_url) as backend:
        rows = backend.list_sessions(sort="modified", limit=20)
    assert len(statements) == 1 and "LIMIT %s" in statements[0]
    assert [r.session_id for r in rows][:2] == ["seed", "bulk-02000"] and len(rows) == 20
    assert [r.session_name for r in rows][1:4] == ["n2000", "n1999", "n1998"]
