"""The PostgreSQL schema cutover on a real server (postgres.md §2): create once, repair, refuse foreign schemas.
(Eight first openers in eight processes: tests/system/test_first_open_crossprocess.py, on both backends.)
"""

from __future__ import annotations

import pytest

from lashdb.engine.base.errors import (
    SchemaVersionError,
    UnrecognisedSchema,
)
from lashdb.engine.postgres import schema
from lashdb.engine.postgres.connection import PgDatabase
from lashdb.engine.postgres.url import describe


def _tables(url: str) -> set[str]:
    import psycopg

    with psycopg.connect(url) as conn:
        return {r[0] for r in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'").fetchall()}


def _versions(url: str) -> dict[str, int]:
    import psycopg

    with psycopg.connect(url) as conn:
        return dict(conn.execute("SELECT component, version FROM lash_schema_versions").fetchall())


def _sql(url: str, *statements: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        for s in statements:
            conn.execute(s)



# --- cutover (postgres.md §2) ------------------------------------------------------------------


def test_a_fresh_database_gets_the_schema_and_one_version_row(pg_url):
    PgDatabase.open(pg_url).close()
    assert set(schema.TABLES) <= _tables(pg_url)
    assert _versions(pg_url) == {"lashdb": schema.VERSION}
    before = _tables(pg_url)
    PgDatabase.open(pg_url).close()  # a second open changes nothing
    assert _tables(pg_url) == before and _versions(pg_url) == {"lashdb": schema.VERSION}


def test_a_missing_table_is_created_again_at_version_1(pg_url):
    PgDatabase.open(pg_url).close()
    _sql(pg_url, "DROP TABLE lash_artifact_refs")
    PgDatabase.open(pg_url).close()
    assert "lash_artifact_refs" in _tables(pg_url)


@pytest.mark.parametrize("setup, error, words", [
    (["CREATE TABLE lash_schema_versions (component TEXT PRIMARY KEY, version INTEGER NOT NULL)",
      "INSERT INTO lash_schema_versions VALUES ('lash-postgres-store', 3)",
      "CREATE TABLE lash_blobs (hash TEXT PRIMARY KEY, content BYTEA NOT NULL)"],
     UnrecognisedSchema, "lash-postgres-store"),
    (["CREATE TABLE lash_schema_versions (component TEXT PRIMARY KEY, version INTEGER NOT NULL)",
      "INSERT INTO lash_schema_versions VALUES ('lashdb', 99)"],
     SchemaVersionError, "version 99"),
    (["CREATE TABLE lash_sessions (session_id TEXT PRIMARY KEY)"],
     UnrecognisedSchema, "no lashdb version row"),
])
def test_a_foreign_schema_is_refused_and_left_unchanged(pg_url, setup, error, words):
    _sql(pg_url, *setup)
    before = _tables(pg_url)
    with pytest.raises(error) as caught:
        PgDatabase.open(pg_url)
    assert words in str(caught.value)
    assert describe(pg_url) in str(caught.value)
    assert _tables(pg_url) == before
    with pytest.raises(error):
        PgDatabase.open(pg_url, readonly=True)


# --- transactions, locks and typed errors (postgres.md §3) -------------------------------------
