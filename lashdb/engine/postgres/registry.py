"""The process registry's statements on PostgreSQL (SPEC §3.2): :class:`PgRegistryRows`.

Contract: implements :class:`~lashdb.engine.deployment.ports.RegistryRows` on one psycopg
connection inside the transaction its backend opened: the shared
:class:`~lashdb.engine.sqlbase.registry.RegistryStatements` over the ``lash_*`` tables with every
statement scoped by ``root_session_id`` (the scope one SQLite sidecar file has). It returns
exactly what :class:`~lashdb.engine.sqlite.registry.SqliteRegistryRows` returns: u64 values are
stored as the signed cast in BIGINT and read back unsigned; text is ordered bytewise
(``COLLATE "C"``, SQLite's BINARY) so both backends list in the same order.
"""

from __future__ import annotations

from typing import Any

from lashdb.engine.sqlbase.registry import RegistryStatements

from .inspect_deployment import DIALECT

__all__ = ["PgRegistryRows"]


class PgRegistryRows(RegistryStatements):
    """The registry's statements, bound to one connection and one root session."""

    def __init__(self, conn: Any, root_session_id: str) -> None:
        super().__init__(DIALECT.scoped(root_session_id))
        self.conn = conn
        self.root = root_session_id

    def _all(self, sql: str, params: tuple) -> list[tuple]:
        return [tuple(row) for row in self.conn.execute(sql, params).fetchall()]

    def _changed(self, sql: str, params: tuple) -> int:
        return self.conn.execute(sql, params).rowcount
