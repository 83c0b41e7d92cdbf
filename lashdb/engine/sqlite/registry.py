"""The process registry's statements on SQLite (SPEC §3.2): :class:`SqliteRegistryRows`.

Contract: implements :class:`~lashdb.engine.deployment.ports.RegistryRows` on one apsw connection,
inside whatever transaction the backend opened: the shared
:class:`~lashdb.engine.sqlbase.registry.RegistryStatements` (what each method runs and returns) on
the file's own tables, unscoped. Every rule lives in
:mod:`lashdb.engine.deployment.process_registry`.
"""

from __future__ import annotations

import apsw

from lashdb.engine.sqlbase.registry import RegistryStatements

from .inspect_deployment import DIALECT

__all__ = ["SqliteRegistryRows"]


class SqliteRegistryRows(RegistryStatements):
    """The registry's statements, bound to one connection (and the transaction it is in)."""

    def __init__(self, conn: apsw.Connection) -> None:
        super().__init__(DIALECT)
        self.conn = conn

    def _all(self, sql: str, params: tuple) -> list[tuple]:
        return [tuple(row) for row in self.conn.execute(sql, params)]

    def _changed(self, sql: str, params: tuple) -> int:
        self.conn.execute(sql, params)
        return self.conn.changes()
