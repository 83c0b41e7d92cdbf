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
