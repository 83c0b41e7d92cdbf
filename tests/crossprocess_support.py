"""One store "target" per backend for the cross-process races (postgres.md §6): the same test body
runs on a SQLite file and on a fresh PostgreSQL database.

A :class:`Target` is picklable (kind + file path or URL), so a spawned worker opens its own store
from it. Reading rows back is the one place the backends differ: :meth:`Target.rows` asks SQLite's
``<table>`` or PostgreSQL's ``lash_<table>`` (the same column names; the test database holds one
root's rows only), and :meth:`Target.write_mark` is a value that changes whenever anything is
written (SQLite's ``total_changes`` of the store's connection; every PostgreSQL row with its
``xmin``, which a rewrite of identical values changes too).
"""

from __future__ import annotations

import dataclasses

from lashdb.engine import Store, StoreOptions
from lashdb.engine.base import backends
from lashdb.engine.deployment.process_registry import ProcessRegistry
from lashdb.engine.deployment.triggers import TriggerStore

BACKENDS = ("sqlite", "postgres")


@dataclasses.dataclass(frozen=True)
class Target:
    """Where one race's store lives: ``kind`` is ``"sqlite"`` (``where`` is a file) or
    ``"postgres"`` (``where`` is a database URL); ``root`` is the session / root session id."""

    kind: str
    where: str
    root: str = "root"

    def session(self, clock=None) -> Store:
        """The writable session store of ``root`` (on ``clock`` when given)."""
        options = StoreOptions(clock=clock)
        if self.kind == "sqlite":
            return Store.open_with_options(self.where, options)
        return Store(backends.open_with("postgres.session", self.where, self.root), options)

    def process_registry(self) -> ProcessRegistry:
        """The process registry of ``root``."""
        if self.kind == "sqlite":
            return ProcessRegistry.open(self.where)
        return ProcessRegistry(backends.open_with("postgres.process_registry", self.where, self.root))

    def trigger_store(self) -> TriggerStore:
        """The trigger store of ``root``."""
        if self.kind == "sqlite":
            return TriggerStore.open(self.where)
        return TriggerStore(backends.open_with("postgres.trigger_store", self.where, self.root))

    def rows(self, table: str, columns: str, where: str = "", params: tuple = ()) -> list[tuple]:
        """``SELECT columns FROM table [WHERE where]`` (``?`` placeholders), sorted."""
        clause = f" WHERE {where}" if where else ""
        if self.kind == "sqlite":
            from lashdb.engine.sqlite import connection

            conn = connection.open_readonly(self.where)
            try:
                found = conn.execute(f"SELECT {columns} FROM {table}{clause}", params).fetchall()
            finally:
                conn.close()
        else:
            import psycopg

            with psycopg.connect(self.where) as conn:
                found = conn.execute(f"SELECT {columns} FROM lash_{table}{clause.replace('?', '%s')}",
                                     params).fetchall()
        return sorted(tuple(row) for row in found)

    def write_mark(self, store: Store) -> object:
        """A value equal to an earlier one exactly when nothing was written in between."""
        if self.kind == "sqlite":
            return store.read(lambda c: c.total_changes())
        return self.footprint()

    def footprint(self) -> dict[str, list]:
        """Every row of every table (with its ``xmin`` on PostgreSQL), by table."""
        if self.kind == "sqlite":
            from lashdb.engine.sqlite import connection, schema

            conn = connection.open_readonly(self.where)
            try:
                return {t: sorted(map(repr, conn.execute(f"SELECT * FROM {t}").fetchall()))
                        for t in schema.table_names(conn)}
            finally:
                conn.close()
        import psycopg

        from lashdb.engine.postgres import schema

        with psycopg.connect(self.where) as conn:
            return {t: sorted(map(repr, conn.execute(f"SELECT xmin::text, {t}::text FROM {t}").fetchall()))
                    for t in schema.TABLES}


def target_for(request, tmp_path, name: str) -> Target:
    """The target of ``request.param``: file ``<name>.db`` under ``tmp_path``, or the test's fresh
    PostgreSQL database (the ``pg_url`` fixture; skipped, or failed under CI, without a server)."""
    if request.param == "sqlite":
        return Target("sqlite", str(tmp_path / f"{name}.db"))
    return Target("postgres", request.getfixturevalue("pg_url"))

