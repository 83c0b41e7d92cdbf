"""The SQLite form of a deployment database: one sidecar file (registry, triggers, effect journal).

Contract:
- :func:`open_deployment` opens the file for ``kind`` (creating it if absent) only after checking,
  read-only, that it is empty or of that kind at the supported version (the cutover rule); a path
  of ``None`` is a private in-memory database with the same schema.
- :meth:`SqliteDeploymentBackend.write` is ``BEGIN IMMEDIATE`` … ``COMMIT`` (rollback on any
  exception); :meth:`read` one read snapshot; both hand ``fn`` the concern's rows object built on
  the connection. Every SQLite failure, including one raised before a transaction began (a closed
  connection), comes out as a typed :class:`BackendError` whose cause is the driver's error.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import apsw

from lashdb.engine.base.errors import BackendError, LashdbError

from . import schema
from .connection import open_memory, read_snapshot, translate, write_transaction

T = TypeVar("T")


def _identity(conn: apsw.Connection) -> apsw.Connection:
    return conn


class SqliteDeploymentBackend:
    """One deployment sidecar file (or in-memory database) and the rows object of its concern."""

    def __init__(self, conn: apsw.Connection, path: str | None,
                 rows: Callable[[apsw.Connection], Any] = _identity) -> None:
        self.conn = conn
        self.path = path
        self._rows = rows
        self._lock = threading.RLock()
        self.closed = False

    def _check_open(self) -> None:
        if self.closed:
            # apsw's own text ("The connection has been closed") names no file.
            raise BackendError(f"{self.path or 'the in-memory database'}: the store was closed",
                               path=self.path, hint="open the store again; a closed store cannot be used")

    def _run(self, scope: Any, fn: Callable[[Any], T]) -> T:
        self._check_open()
        try:
            with self._lock, scope(self.conn, self.path) as conn:
                return fn(self._rows(conn))
        except LashdbError:
            raise
        except apsw.Error as exc:  # raised before a transaction began (a closed connection)
            raise translate(exc, self.path) from exc

    def write(self, fn: Callable[[Any], T]) -> T:
        """``fn(rows)`` in one ``BEGIN IMMEDIATE`` transaction."""
        return self._run(write_transaction, fn)

    def read(self, fn: Callable[[Any], T]) -> T:
        """``fn(rows)`` in one read snapshot."""
        return self._run(read_snapshot, fn)

    def autocommit(self, fn: Callable[[Any], T]) -> T:
        """``fn(rows)`` with no explicit transaction (each statement commits on its own)."""
        self._check_open()
        try:
            with self._lock:
                return fn(self._rows(self.conn))
        except LashdbError:
            raise
        except apsw.Error as exc:
            raise translate(exc, self.path) from exc

    def close(self) -> None:
        """Close the connection; later use raises a typed error naming the file."""
        with self._lock:
            self.closed = True
            self.conn.close()


def open_deployment(kind: schema.SchemaKind, path: str | os.PathLike[str] | None,
                    rows: Callable[[apsw.Connection], Any] = _identity) -> SqliteDeploymentBackend:
    """Open (creating if absent) the ``kind`` file at ``path``, or an in-memory one for ``None``."""
    if path is None:
        conn = open_memory()
        schema.ensure_schema(conn, kind)
        return SqliteDeploymentBackend(conn, None, rows)
    path = os.fspath(path)
    return SqliteDeploymentBackend(schema.open_for_kind(path, kind), path, rows)


def open_process_registry(path: str | None) -> SqliteDeploymentBackend:
    """The process-registry sidecar at ``path`` (``None``: in memory)."""
    from .registry import SqliteRegistryRows
    return open_deployment(schema.PROCESS_REGISTRY, path, SqliteRegistryRows)


def open_trigger_store(path: str | None) -> SqliteDeploymentBackend:
    """The trigger-store sidecar at ``path`` (``None``: in memory)."""
    from .triggers import SqliteTriggerRows

    return open_deployment(schema.TRIGGER_STORE, path, SqliteTriggerRows)
