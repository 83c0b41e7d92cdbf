"""Health reads of one SQLite database file for ``doctor`` and maintenance (read-only).

Contract (implements :class:`lashdb.engine.ops.ports.Health`):
- One read-only connection per file, opened on first use (``immutable=1`` without a ``-wal``; a
  ``-wal`` without its ``-shm`` is read from a private copy), closed by :meth:`SqliteHealth.close`.
  Nothing is written, checkpointed or created.
- Answers are plain values: kinds as the backend's schema kind (``name``/``version``/``marker_tables``),
  differences as ``(name, sentence)`` pairs, ``quick_check`` lines as text. Driver errors become
  typed lashdb errors naming the file.
"""

from __future__ import annotations

import os
from typing import Any

import apsw

from .connection import open_readonly, translated
from .inspect_session import SqliteSessionReader
from .schema import SESSION, Classification, SchemaKind, check_openable, claimed_kind, schema_differences, \
    singleton_problems

__all__ = ["SqliteHealth", "open_health", "require_session_file"]


class SqliteHealth:
    """The health reads of one database file (see the module contract)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self._conn: apsw.Connection | None = None

    @property
    def connection(self) -> Any:
        """The shared read-only connection (opened on first use), for session functions that take one."""
        if self._conn is None:
            self._conn = open_readonly(self.path)
        return self._conn

    def reader(self) -> SqliteSessionReader:
        """A session reader over the shared connection."""
        return SqliteSessionReader(self.connection)

    def claimed_kind(self) -> SchemaKind | None:
        """The lash kind a file that lost an identifying table still belongs to, or ``None``."""
        with translated(self.path):
            return claimed_kind(self.connection)

    def schema_differences(self, kind: SchemaKind) -> list[tuple[str, str]]:
        """(object name, sentence) for each way the file's schema differs from ``kind``'s."""
        with translated(self.path):
            return [(d.name, str(d)) for d in schema_differences(self.connection, kind)]

    def singleton_problems(self, kind: SchemaKind) -> list[tuple[str, str]]:
        """(table, sentence) for each singleton table holding a row other than its one."""
        with translated(self.path):
            return singleton_problems(self.connection, kind)

    def quick_check(self, max_lines: int) -> list[str]:
        """SQLite's integrity quick check: one sentence per problem (at most ``max_lines``), ``[]`` when sound."""
        with translated(self.path):
            lines = [str(r[0]) for r in self.connection.execute(f"PRAGMA quick_check({int(max_lines)})")]
        return [] if lines == ["ok"] else [f"PRAGMA quick_check: {line}" for line in lines]

    def close(self) -> None:
        """Close the connection if one was opened."""
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()


def open_health(path: str | os.PathLike[str]) -> SqliteHealth:
    """Health reads of ``path`` (nothing is opened until a read needs it)."""
    return SqliteHealth(path)


def require_session_file(classification: Classification, path: str | os.PathLike[str]) -> None:
    """Raise the refusal a writing command gives unless ``path`` is a sound session at its version."""
    classification.require(SESSION)  # another kind: NotALashDatabase; foreign: the cutover error
    check_openable(path, SESSION)
