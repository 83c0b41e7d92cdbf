"""The PostgreSQL catalog: store-wide lookups in one statement each, read-only, by index."""

from __future__ import annotations

import psycopg
import pytest

from lashdb.engine.base.errors import BackendError
from lashdb.engine.postgres.catalog import PgCatalog, like_prefix
from lashdb.engine.postgres.connection import PgDatabase
from lashdb.engine.session.factory import SessionStoreCreateRequest
from lashdb.engine.session.model import SessionRelation
from lashdb.engine import open_backend


@pytest.fixture
def catalog(pg_url):
    with open_backend(pg_url) as backend:
        for sid, relation in [("a_b%-1", SessionRelation.root()), ("aXb%-2", SessionRelation.root()),
                              ("child-1", SessionRelation.child("a_b%-1"))]:
            backend.factory().create_store(SessionStoreCreateRequest(sid, "m", relation)).close()
    db = PgDatabase.open(pg_url, readonly=True)
    yield PgCatalog(db)
    db.close()


def test_prefix_wildcards_match_only_themselves(catalog):
    assert like_prefix("a_b%\\") == "a\\_b\\%\\\\%"
    assert catalog.ids_with_prefix("a_b%", 10) == ["a_b%-1"]  # `_` and `%` are not wildcards
    assert catalog.ids_with_prefix("a", 1) == ["aXb%-2"]  # byte order ("C"), as SQLite's BINARY and catalog.ids_with_prefix("zz", 5) == []
    assert catalog.exists("child-1") and not catalog.exists("child")


def test_listing_sorts_and_limits_in_sql_and_children_follow_the_parent_column(catalog):
    rows = catalog.listing(sort="name", limit=2)
    assert [r[0] for r in rows] == ["a_b%-1", "aXb%-2"]  # by lower(name): "a_b" < "axb" and len(rows[0]) == 16 + 3 + 3
    assert [r[0] for r in catalog.listing(sort="name", session_ids=["child-1"])] == ["child-1"]
    assert catalog.children("a_b%-1") == ["child-1"] and catalog.children("aXb%-2") == []
    assert catalog.session_ids() == ["aXb%-2", "a_b%-1", "child-1"]
    assert catalog.scope_rows("processes", "a_b%-1") == 0 and catalog.scopes("effects") == []
    size, modified = catalog.size_and_modified("a_b%-1")
    assert size == 0 and modified > 0 and catalog.size_and_modified("none") == (0, None)


def test_the_catalog_reads_in_read_only_transactions(catalog, pg_url):
    with pytest.raises(BackendError):
        catalog.db.write(None, lambda conn: conn.execute("DELETE FROM lash_sessions"))
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT count(*) FROM lash_sessions").fetchone()[0] == 3
