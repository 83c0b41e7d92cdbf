"""The SQLite form of a session database: one file (or a private in-memory database) per session.

Contract:
- :func:`open_session` opens for writing (creating if absent) only after the read-only cutover
  check of ``schema.open_for_kind``; ``readonly=True`` opens for inspection (no write, no sidecar,
  foreign versions allowed, other kinds refused); a path of ``None`` is a private in-memory
  database with the session schema.
- :meth:`SqliteSessionBackend.write` is ``BEGIN IMMEDIATE`` … ``COMMIT`` (rollback on any
  exception), :meth:`read` one read snapshot; both hand ``fn`` a :class:`SqliteSessionTx` whose
  concern rows objects are built on first use; in a write transaction its change marker reads
  ``PRAGMA data_version`` once (no other connection can commit while the write lock is held).
  Every SQLite failure comes out typed, naming the file.
- ``raw_read``/``raw_write`` hand ``fn`` the apsw connection (``Store.read``/``Store.write``).
- While a batched GC runs (:meth:`gc_batches`), its commits never checkpoint: :meth:`after_gc_batch`
  does, passively and outside the lock; the connection's settings are restored afterwards.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

import apsw

from lashdb.engine.base.errors import SchemaVersionError

from . import schema
from .attachments import SqliteAttachmentRows
from .blobs import SqliteBlobRows
from .connection import open_memory, open_readonly, read_snapshot, sidecar, translate, translated, write_transaction
from .graph import SqliteGraphRows
from .leases import SqliteLeaseRows
from .queued_work import SqliteQueueRows
from .session_rows import SqliteSessionRows

T = TypeVar("T")


class SqliteSessionTx:
    """:class:`~lashdb.engine.session.ports.SessionTx` over one apsw connection inside a transaction."""

    def __init__(self, conn: apsw.Connection, *, writing: bool = False) -> None:
        self.conn = conn
        self._made: dict[str, Any] = {}
        self._writing = writing
        self._data_version: int | None = None

    def _get(self, name: str, cls: type) -> Any:
        found = self._made.get(name)
        if found is None:
            found = self._made[name] = cls(self.conn)
        return found

    @property
    def rows(self) -> SqliteSessionRows:
        return self._get("rows", SqliteSessionRows)

    @property
    def graph(self) -> SqliteGraphRows:
        return self._get("graph", SqliteGraphRows)

    @property
    def blobs(self) -> SqliteBlobRows:
        return self._get("blobs", SqliteBlobRows)

    @property
    def leases(self) -> SqliteLeaseRows:
        return self._get("leases", SqliteLeaseRows)

    @property
    def queue(self) -> SqliteQueueRows:
        return self._get("queue", SqliteQueueRows)

    @property
    def attachments(self) -> SqliteAttachmentRows:
        return self._get("attachments", SqliteAttachmentRows)

    def change_marker(self) -> tuple[int, int]:
        """(``PRAGMA data_version``, ``total_changes``): equal again only if no connection changed a row."""
        version = self._data_version
        if version is None:
            version = self.conn.execute("PRAGMA data_version").fetchall()[0][0]
            if self._writing:
                # BEGIN IMMEDIATE holds the write lock: no other connection can commit before our
                # COMMIT, and our own commits never move data_version, so one read serves the
                # whole transaction (the commit path asks twice).
                self._data_version = version
        return version, self.conn.total_changes()


def _reason(exc: apsw.Error, path: str | None) -> str:
    failed = translate(exc, path)
    text = getattr(failed, "message", None) or str(failed)
    # The compaction report already names the file; the reason is what went wrong with it.
    return text.removeprefix(f"{path}: ") if path else text


def _vacuum_failure(exc: apsw.Error, path: str | None) -> tuple[str, str]:
    """Why ``VACUUM`` failed and what to do (it rolled back; the removal before it stays committed)."""
    if isinstance(exc, apsw.FullError):
        return ("VACUUM ran out of disk space (it needs free space about the size of the database, for its "
                "temporary copy and the -wal)", "free disk space in the database's directory and the temporary "
                "directory, then run `lashdb vacuum --compact` again; the nodes it removed stay removed")
    if isinstance(exc, (apsw.BusyError, apsw.LockedError)):
        return ("VACUUM could not take the write lock: another connection is writing",
                "run `lashdb vacuum --compact` again when no runtime is writing the session")
    return f"VACUUM failed: {_reason(exc, path)}", "run `lashdb doctor` on the session, then `lashdb vacuum " \
        "--compact` again; the nodes it removed stay removed"


GC_MMAP_BYTES = 1 << 30  # address space only: pages are mapped as they are read
GC_CHECKPOINT_PAGES = 500  # half SQLite's auto-checkpoint threshold: a committer's commit never crosses it on GC pages


class SqliteSessionBackend:
    """:class:`~lashdb.engine.session.ports.SessionBackend`: one session file or in-memory database."""

    def __init__(self, conn: apsw.Connection, path: str | None, *, readonly: bool = False,
                 classification: schema.Classification | None = None) -> None:
        self.conn = conn
        self.path = path
        self.readonly = readonly
        self.classification = classification
        self._lock = threading.RLock()
        self._wal_pages = 0

    def write(self, fn: Callable[[SqliteSessionTx], T]) -> T:
        """``fn(tx)`` in one ``BEGIN IMMEDIATE`` transaction."""
        with self._lock, write_transaction(self.conn, self.path) as conn:
            return fn(SqliteSessionTx(conn, writing=True))

    def read(self, fn: Callable[[SqliteSessionTx], T]) -> T:
        """``fn(tx)`` in one read snapshot."""
        with self._lock, read_snapshot(self.conn, self.path) as conn:
            return fn(SqliteSessionTx(conn))

    def read_iter(self, fn: Callable[[SqliteSessionTx], Iterable[T]]) -> Iterator[T]:
        """Yield what ``fn(tx)`` yields inside one read snapshot."""
        with self._lock, read_snapshot(self.conn, self.path) as conn:
            yield from fn(SqliteSessionTx(conn))

    def raw_write(self, fn: Callable[[apsw.Connection], T]) -> T:
        """``fn(connection)`` in one ``BEGIN IMMEDIATE`` transaction."""
        with self._lock, write_transaction(self.conn, self.path) as conn:
            return fn(conn)

    def raw_read(self, fn: Callable[[apsw.Connection], T]) -> T:
        """``fn(connection)`` in one read snapshot."""
        with self._lock, read_snapshot(self.conn, self.path) as conn:
            return fn(conn)

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self.conn.close()

    def size_on_disk(self) -> int:
        """Bytes of the database file plus its ``-wal`` (0 in memory)."""
        if self.path is None:
            return 0
        total = 0
        for name in (self.path, sidecar(self.path, "-wal")):
            try:
                total += os.path.getsize(name)
            except FileNotFoundError:
                pass
        return total

    def compact(self) -> tuple[str, str] | None:
        """``VACUUM`` then ``wal_checkpoint(TRUNCATE)``; ``None`` when both finished, else (reason, hint)."""
        with self._lock:
            failure = None
            try:
                self.conn.execute("VACUUM")
            except apsw.Error as exc:
                failure = _vacuum_failure(exc, self.path)
            if self.path is None:
                return failure
            # Also after a failed VACUUM: the checkpoint gives back the -wal space the attempt took.
            try:
                busy = self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()[0][0]
                stuck = "another connection kept the -wal busy (a reader or a writer)" if busy else None
            except apsw.Error as exc:
                stuck = f"failed ({_reason(exc, self.path)})"
            if stuck is None:
                return failure
            if failure is not None:
                return f"{failure[0]}; the -wal could not be truncated afterwards either: {stuck}", failure[1]
            return (f"the final checkpoint could not finish: {stuck}; the compacted pages stay in the -wal "
                    "until a later checkpoint", "run `lashdb vacuum --compact` again when no runtime is using "
                    "the session; the nodes it removed stay removed")

    @contextlib.contextmanager
    def gc_batches(self) -> Iterator[None]:
        """No checkpoint inside a batch's commit (:meth:`after_gc_batch` runs it, outside the lock,
        once the ``-wal`` holds :data:`GC_CHECKPOINT_PAGES`), and the file memory-mapped, so each
        batch's scan of ``artifact_refs`` reads no page through a system call (another writer's
        commit empties SQLite's page cache before every batch)."""
        if self.path is None or self.readonly:
            yield
            return
        with self._lock, translated(self.path):
            auto = int(self.conn.execute("PRAGMA wal_autocheckpoint").fetchall()[0][0])
            mmap = int(self.conn.execute("PRAGMA mmap_size").fetchall()[0][0])
            self.conn.execute(f"PRAGMA mmap_size = {GC_MMAP_BYTES}").fetchall()
            self.conn.set_wal_hook(self._count_wal_pages)  # replaces the auto-checkpoint hook
        try:
            yield
        finally:
            with self._lock, translated(self.path):
                self.conn.set_wal_hook(None)
                # One statement per call: apsw runs a second statement only as the rows are read.
                self.conn.execute(f"PRAGMA wal_autocheckpoint = {auto}").fetchall()
                self.conn.execute(f"PRAGMA mmap_size = {mmap}").fetchall()
                self._wal_pages = 0

    def _count_wal_pages(self, _conn: apsw.Connection, _name: str, pages: int) -> int:
        self._wal_pages = pages
        return 0  # SQLITE_OK

    def after_gc_batch(self) -> None:
        """Copy the ``-wal`` into the file once it holds :data:`GC_CHECKPOINT_PAGES` (passive: no write lock)."""
        # Left to SQLite's auto-checkpoint, the next commit past 1,000 -wal pages copies them, and
        # after a GC batch that is the committer waiting behind it: its commit would pay for ours.
        if self.path is not None and not self.readonly and self._wal_pages >= GC_CHECKPOINT_PAGES:
            with self._lock, translated(self.path):
                self.conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            self._wal_pages = 0

    def wrong_version(self) -> SchemaVersionError:
        """The error for a read-only file at another session schema version."""
        found = self.classification
        return SchemaVersionError(schema.SESSION.name, schema.SESSION.version,
                                  found.user_version if found else None, self.path)


def open_session(path: str | os.PathLike[str] | None, *, readonly: bool = False) -> SqliteSessionBackend:
    """Open the session database at ``path`` (``None``: a private in-memory one)."""
    if path is None:
        conn = open_memory()
        schema.ensure_schema(conn, schema.SESSION)
        return SqliteSessionBackend(conn, None)
    path = os.fspath(path)
    if not readonly:
        # Classifies an existing file read-only first: a foreign file is refused byte-for-byte intact.
        return SqliteSessionBackend(schema.open_for_kind(path, schema.SESSION), path)
    conn = open_readonly(path)
    try:
        found = schema.classify_connection(conn, path)
    except apsw.Error as exc:
        conn.close()
        raise translate(exc, path) from exc
    if found.kind is not schema.SESSION:
        conn.close()
        found.require(schema.SESSION)
    return SqliteSessionBackend(conn, path, readonly=True, classification=found)


def session_tx(conn: apsw.Connection) -> SqliteSessionTx:
    """A :class:`SqliteSessionTx` over a connection the caller already holds in a transaction."""
    return SqliteSessionTx(conn)
