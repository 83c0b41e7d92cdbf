"""One session-contract test body, two stores (postgres.md §6): the ``store_on`` fixture's factory.

``store_on.open(session_id="root", clock=None, **options)`` opens a :class:`Store` on the test's
backend: SQLite, one file per session id under ``tmp_path``; PostgreSQL, ``postgres.session``
scoped to that session id in the test's own fresh schema (``fresh_schema``: one
database serves the run, each test's tables live in a schema of their own, which is much cheaper
than a database per test and as isolated, since every lashdb table is created in
``current_schema()``). Opening the same session id again
reopens the same rows. Every store opened is closed at teardown.

``store_on.sql(store, sqlite, postgres, params)`` runs raw SQL beside the public API, for tests
that damage or inspect rows (the PostgreSQL text names the ``lash_*`` tables and filters by
session itself); it returns the fetched rows, or ``[]``.
"""

from __future__ import annotations

import contextlib
import urllib.parse
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path

from lashdb.engine import Store, StoreOptions
from runtime_support import table_counts

BACKENDS = ("sqlite", "postgres")
PG_TABLES = ("lash_sessions", "lash_blobs", "lash_graph_nodes", "lash_usage_deltas", "lash_runtime_turn_commits",
             "lash_session_execution_leases", "lash_queued_work_batches", "lash_queued_work_items",
             "lash_attachment_manifest", "lash_artifact_refs")


@contextlib.contextmanager
def fresh_schema(db_url: str) -> Iterator[str]:
    """``db_url`` with ``search_path`` set to a new empty schema (dropped, with its tables, afterwards)."""
    import psycopg

    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{name}"')
    parts = urllib.parse.urlsplit(db_url)
    query = urllib.parse.urlencode({"options": f"-csearch_path={name}"})
    try:
        yield urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))
    finally:
        with psycopg.connect(db_url, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{name}" CASCADE')


class StoreOn:
    """Opens stores of one backend for one test and closes them all afterwards."""

    def __init__(self, name: str, tmp_path: Path, pg_url: str | None) -> None:
        self.name = name
        self.tmp_path = tmp_path
        self.pg_url = pg_url
        self._opened: list[Store] = []

    @property
    def is_sqlite(self) -> bool:
        return self.name == "sqlite"

    def open(self, session_id: str = "root", clock=None, **options) -> Store:
        """A store for ``session_id`` on this backend, optionally on an injected clock."""
        store_options = StoreOptions(clock=clock, **options)
        if self.is_sqlite:
            store = Store.open_with_options(self.tmp_path / f"{session_id}.db", store_options)
        else:
            from lashdb.engine.base import backends

            store = Store(backends.open_with("postgres.session", self.pg_url, session_id), store_options)
        self._opened.append(store)
        return store

    def sql(self, store: Store, sqlite: str, postgres: str, params: Sequence = ()) -> list[tuple]:
        """Run one raw statement of this backend (``?`` for SQLite, ``%s`` for PostgreSQL); its rows."""
        if self.is_sqlite:
            return store.write(lambda c: c.execute(sqlite, tuple(params)).fetchall())
        import psycopg

        with psycopg.connect(self.pg_url) as conn:
            cursor = conn.execute(postgres, tuple(params))
            return [tuple(row) for row in cursor.fetchall()] if cursor.description else []

    def footprint(self, store: Store) -> dict[str, object]:
        """Row count of every session table plus ``writes``, which changes with any write: SQLite's
        ``total_changes`` of this connection, or PostgreSQL's row versions (``xmin``) in the test's database."""
        if self.is_sqlite:
            counts = table_counts(store)
            counts["writes"] = counts.pop("total_changes")
            return counts
        import psycopg

        counts: dict[str, object] = {}
        versions = []
        with psycopg.connect(self.pg_url) as conn:
            for table in PG_TABLES:
                rows = conn.execute(f"SELECT xmin::text FROM {table} ORDER BY xmin::text").fetchall()
                counts[table] = len(rows)
                versions.append((table, [r[0] for r in rows]))
        counts["writes"] = versions
        return counts

    def close_all(self) -> None:
        for store in self._opened:
            store.close()
