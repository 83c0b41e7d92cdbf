"""Read-only, column-tolerant statements over a process registry or trigger store file (deployment-stores §4).

Contract:
- :func:`open_reader` opens a file with ``connection.open_readonly`` (no byte written, no sidecar
  created), accepts the requested kind at any schema version (foreign ones included), and refuses
  a file of another kind with :class:`NotALashDatabase`. Driver errors become lashdb errors that
  name the file.
- A :class:`DeploymentFileReader` is the shared
  :class:`~lashdb.engine.sqlbase.inspect_deployment.DeploymentReader` (its statements and what they
  return) on the file's own tables, unscoped: a column or table the file's schema lacks is left
  out (or the read returns empty), never guessed. Unordered reads come in the file's row order.
- Identifiers in statements come from fixed lists, never from callers; values are bound.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TypeVar

import apsw

from lashdb.engine.sqlbase.dialect import Dialect
from lashdb.engine.sqlbase.inspect_deployment import DeploymentReader

from .connection import columns as table_columns
from .connection import open_readonly, translate, translated
from .schema import PROCESS_REGISTRY, TRIGGER_STORE, Classification, classify_connection, damage

KINDS = {"process_registry": PROCESS_REGISTRY, "trigger_store": TRIGGER_STORE}
T = TypeVar("T")
DIALECT = Dialect()  # ``?``, the tables' own names, no scope, BINARY text order, flags as 0/1


class FileReading:
    """``close`` and ``_execute`` of a reader on one read-only connection (driver errors name the file)."""

    conn: apsw.Connection
    path: str

    def close(self) -> None:
        """Close the read-only connection."""
        self.conn.close()

    def _execute(self, sql: str, params: tuple) -> list[tuple]:
        with translated(self.path):
            return list(self.conn.execute(sql, params))


class DeploymentFileReader(FileReading, DeploymentReader):
    """One open deployment store file, read-only: what its schema is and the rows the views need."""

    def __init__(self, conn: apsw.Connection, path: str, kind_name: str, schema_version: int,
                 supported_version: int, foreign: bool, columns: dict[str, frozenset[str]],
                 damaged: tuple[str, ...]) -> None:
        super().__init__(DIALECT, path, kind_name, schema_version, supported_version, foreign, columns, damaged)
        self.conn = conn


def open_classified(path: str, read: Callable[[apsw.Connection, Classification], T]
                    ) -> tuple[apsw.Connection, Classification, T]:
    """Open ``path`` read-only, classify it and run ``read`` on it; on any failure the connection is
    closed and a driver error comes out typed, naming the file."""
    conn = open_readonly(path)
    try:
        found = classify_connection(conn, path)
        return conn, found, read(conn, found)
    except apsw.Error as exc:
        conn.close()
        raise translate(exc, path) from exc
    except BaseException:
        conn.close()
        raise


def open_reader(path: str | os.PathLike[str], kind: str) -> DeploymentFileReader:
    """Open ``path`` read-only as a ``kind`` store (``process_registry`` or ``trigger_store``), any version."""
    schema_kind = KINDS[kind]
    path = os.fspath(path)

    def read(conn: apsw.Connection, found: Classification) -> tuple[dict[str, frozenset[str]], tuple[str, ...]]:
        if found.kind is not schema_kind:
            found.require(schema_kind)
        return {table: table_columns(conn, table) for table in found.tables}, damage(conn, found)

    conn, found, (columns, damaged) = open_classified(path, read)
    return DeploymentFileReader(conn, path, schema_kind.name, found.user_version, schema_kind.version,
                                found.foreign, columns, damaged)
