"""The PostgreSQL form of a session database: one session's scope in a shared store (postgres.md §2–§3).

Contract:
- :class:`PgSessionBackend` is :class:`~lashdb.engine.session.ports.SessionBackend` for one
  session id in one :class:`~.connection.PgDatabase`. ``write(fn)`` is
  ``PgDatabase.write(session_id, …)``: one transaction under the session's advisory lock (writers
  of one session serialise, of different sessions never wait), rolled back on any exception; the
  session row's head and graph columns that ``fn`` changed are written by one ``UPDATE`` after
  ``fn`` returns, before the commit (``session_rows.SessionRow``); ``read``/``read_iter`` run in one ``REPEATABLE READ READ ONLY`` snapshot. Both hand ``fn`` a
  :class:`PgSessionTx` whose rows objects scope every statement by the session id.
- The session's ``lash_sessions`` row is created (``ON CONFLICT DO NOTHING``) inside the first
  write of each backend object, before ``fn`` runs, so meta/head/graph writes always find it.
- ``raw_read(fn)`` hands ``fn`` the :class:`PgSessionTx` of one read snapshot (its
  ``backend_name`` tells ``ops`` which inspection reader to build); ``raw_write`` raises
  :class:`BackendError`: there is no session file connection to hand out. ``change_marker()`` is ``None`` (cannot tell), so callers
  never trust a cached read across transactions.
- ``size_on_disk()`` is the sum of the stored sizes (``pg_column_size``) of the session's rows in
  every ``lash_*`` table it owns, not pages on disk: a shared database has no per-session file.
- ``compact()`` returns ``None`` without doing anything: ``VACUUM`` works on whole tables (every
  session's rows) and cannot run in a transaction; the space of deleted rows is reused by the
  table and reclaimed by autovacuum.
- Driver failures come out typed (:func:`~.connection.translate`), naming host and database.
"""

from __future__ import annotations

import atexit
import contextlib
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

from lashdb.engine.base.locator import LocatedClassification
from lashdb.engine.base.errors import BackendError, SchemaVersionError

from . import schema
from .connection import PgDatabase, load_driver, translate
from .session_blobs import PgBlobRows
from .session_rows import NOW_MS, PgGraphRows, PgSessionRows, SessionRow, one
from .session_work import PgAttachmentRows, PgLeaseRows, PgQueueRows, Scope

T = TypeVar("T")

# The per-session tables and the bytes one session's rows take in each (size_on_disk).
_SESSION_TABLES = ("lash_sessions", "lash_blobs", "lash_graph_nodes", "lash_usage_deltas",
                   "lash_runtime_turn_commits", "lash_session_execution_leases", "lash_queued_work_batches",
                   "lash_queued_work_items", "lash_attachment_manifest", "lash_artifact_refs")
_SIZE = " + ".join(f"(SELECT coalesce(sum(pg_column_size(t.*)), 0) FROM {name} t WHERE t.session_id = %(s)s)"
                   for name in _SESSION_TABLES)


class PgSessionTx:
    """:class:`~lashdb.engine.session.ports.SessionTx` over one connection inside a transaction."""

    backend_name = "postgres"
    """Which backend's readers ``ops`` builds over this transaction (``ops.ports.session_reader``)."""

    def __init__(self, conn: Any, session_id: str, *, writing: bool) -> None:
        self.conn = conn
        self.session_id = session_id
        self.scope = Scope(conn, session_id, writing)
        self.row = SessionRow(conn, session_id)
        self.rows = PgSessionRows(conn, session_id, self.row)
        self.graph = PgGraphRows(conn, session_id, self.row)
        self.blobs = PgBlobRows(conn, session_id)
        self.leases = PgLeaseRows(self.scope)
        self.queue = PgQueueRows(self.scope)
        self.attachments = PgAttachmentRows(self.scope)

    def delete_session_rows(self) -> int:
        """Delete every row of this session from the session tables (deployment scopes are kept); rows removed."""
        removed = 0
        # Queued-work items cascade from their batches; lash_sessions goes last.
        for table in (*_SESSION_TABLES[1:], _SESSION_TABLES[0]):
            removed += self.conn.execute(f"DELETE FROM {table} WHERE session_id = %s", (self.session_id,)).rowcount
        self.row.forget()
        return removed

    def change_marker(self) -> None:
        """``None``: other hosts write the same tables, and nothing cheap tells this transaction so."""
        return None


class PgSessionBackend:
    """:class:`~lashdb.engine.session.ports.SessionBackend`: one session's scope in a PostgreSQL store."""

    def __init__(self, db: PgDatabase, session_id: str, *, readonly: bool = False, owns_db: bool = False) -> None:
        if not isinstance(session_id, str) or not session_id:
            raise BackendError(f"{db.where}: a PostgreSQL session store needs a session id", path=db.where)
        self.db = db
        self.session_id = session_id
        self.readonly = readonly or db.readonly
        self.path = f"{db.display}#{session_id}"
        # Read-only opens say what they opened, as SQLite's do; writers have no classification.
        self.classification = LocatedClassification(self.path) if self.readonly else None
        self._owns_db = owns_db
        self._row_ready = False
        self._gc_thread = threading.local()  # set while this thread runs GC batches (gc_batches)

    def _ensure_row(self, conn: Any) -> None:
        conn.execute(f"INSERT INTO lash_sessions (session_id, created_at_ms, updated_at_ms) "
                     f"VALUES (%s, {NOW_MS}, {NOW_MS}) ON CONFLICT (session_id) DO NOTHING", (self.session_id,))

    def write(self, fn: Callable[[PgSessionTx], T]) -> T:
        """``fn(tx)`` in one transaction under the session's advisory lock."""
        if self.readonly:
            raise BackendError(f"{self.db.where}: the store was opened read-only", path=self.db.where)
        ready = self._row_ready

        gc_batch = getattr(self._gc_thread, "active", False)

        def run(conn: Any) -> T:
            if gc_batch:
                # A GC batch's commit need not wait for its WAL to reach the disk: a crash can only
                # lose deletions of garbage (the next GC makes them again), and any later durable
                # commit flushes the WAL through this one. The flush was the batch's longest stall
                # beside a committer (121 ms of one batch on this machine's disk).
                conn.execute("SET LOCAL synchronous_commit = off")
            if not ready:
                self._ensure_row(conn)
            tx = PgSessionTx(conn, self.session_id, writing=True)
            result = fn(tx)
            tx.row.flush()  # the transaction's one update of the session row
            return result

        result = self.db.write(self.session_id, run)
        self._row_ready = True
        return result

    def read(self, fn: Callable[[PgSessionTx], T]) -> T:
        """``fn(tx)`` in one repeatable-read, read-only snapshot."""
        return self.db.read(lambda conn: fn(PgSessionTx(conn, self.session_id, writing=False)))

    def read_iter(self, fn: Callable[[PgSessionTx], Iterable[T]]) -> Iterator[T]:
        """Yield what ``fn(tx)`` yields inside one read snapshot (the connection is held until done)."""
        psycopg, psycopg_pool = load_driver()
        try:
            with self.db.pool().connection() as conn, conn.transaction():
                conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                yield from fn(PgSessionTx(conn, self.session_id, writing=False))
        except (psycopg.Error, psycopg_pool.PoolTimeout) as exc:
            raise translate(exc, self.db.where) from exc

    def _sqlite_only(self, what: str) -> BackendError:
        return BackendError(f"{self.db.where}: {what} hands out a SQLite connection; a PostgreSQL session "
                            f"store has none", path=self.db.where,
                            hint="use the Store's methods, which work on both backends")

    def raw_read(self, fn: Callable[[Any], T]) -> T:
        """``fn(tx)`` in one read snapshot: the :class:`PgSessionTx` stands where SQLite hands its connection."""
        return self.read(fn)

    def raw_write(self, fn: Callable[[Any], T]) -> T:
        """SQLite-only: raises :class:`BackendError`."""
        raise self._sqlite_only("Store.write")

    def close(self) -> None:
        """Close the database's pool when this backend opened it (a shared one stays open)."""
        if self._owns_db:
            self.db.close()

    def size_on_disk(self) -> int:
        """Bytes the session's rows take (``pg_column_size`` summed over its tables), not file pages."""
        return int(self.db.read(lambda conn: one(conn, f"SELECT {_SIZE}", {"s": self.session_id})[0]))

    def compact(self) -> None:
        """Nothing to do per session: ``VACUUM`` is table-wide; autovacuum reclaims the deleted rows."""
        return None

    @contextlib.contextmanager
    def gc_batches(self) -> Iterator[None]:
        """This thread's write transactions (GC's batches) commit without waiting for the WAL flush;
        other threads' commits through this backend keep ``synchronous_commit`` as the server has it."""
        self._gc_thread.active = True
        try:
            yield
        finally:
            self._gc_thread.active = False

    def after_gc_batch(self) -> None:
        """Nothing: each batch's commit is the whole of its work."""
        return None

    def wrong_version(self) -> SchemaVersionError:
        """The error for a store at another schema version (read-only opens refuse those already)."""
        return SchemaVersionError(schema.KIND, schema.VERSION, None, self.db.where)


_READONLY: dict[str, PgDatabase] = {}
_READONLY_LOCK = threading.Lock()


def shared_readonly(url: str) -> PgDatabase:
    """This process's read-only database for ``url`` (one pool for every inspected session of a run)."""
    with _READONLY_LOCK:
        db = _READONLY.get(url)
        if db is None or db.closed:
            db = _READONLY[url] = PgDatabase.open(url, readonly=True)
            if len(_READONLY) == 1:
                atexit.register(close_readonly)
        return db


def close_readonly() -> None:
    """Close every shared read-only database (at exit, and by tests)."""
    with _READONLY_LOCK:
        for db in _READONLY.values():
            db.close()
        _READONLY.clear()


def open_catalog(url: str) -> Any:
    """The store-wide lookups of ``url`` on its shared read-only database."""
    from .catalog import PgCatalog

    return PgCatalog(shared_readonly(url))


def open_readonly_session(url: str, session_id: str) -> PgSessionBackend:
    """A read-only backend of ``session_id`` on the shared read-only database of ``url``."""
    return PgSessionBackend(shared_readonly(url), session_id, readonly=True)


def open_session(url_or_db: str | PgDatabase, session_id: str, *, readonly: bool = False) -> PgSessionBackend:
    """A session backend for ``session_id`` on a URL (opening, and later closing, its own pool) or a database."""
    if isinstance(url_or_db, PgDatabase):
        return PgSessionBackend(url_or_db, session_id, readonly=readonly)
    db = PgDatabase.open(url_or_db, readonly=readonly)
    try:
        return PgSessionBackend(db, session_id, readonly=readonly, owns_db=True)
    except BaseException:
        db.close()
        raise
