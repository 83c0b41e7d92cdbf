"""Connections to a PostgreSQL store: pool, timeouts, locks, snapshots and typed errors (postgres.md §3).

Contract:
- :meth:`PgDatabase.open` loads psycopg (a missing driver is :class:`MissingExtra` naming
  ``lashdb[postgres]``), connects once to surface a bad URL or a down server as a typed error
  naming host and database (never the password), applies the cutover rule
  (:func:`~.schema.ensure_schema`; with ``readonly`` it only reads and refuses), and keeps one
  ``psycopg_pool.ConnectionPool`` (max 16 by default). A process that forked gets its own pool.
- Every connection sets ``lock_timeout`` (10 s), ``statement_timeout`` (30 s) and connects with a
  10 s timeout, all settable through :class:`PgSettings`; a read-only database also sets
  ``default_transaction_read_only = on``, so a look never writes.
- :meth:`PgDatabase.write` runs ``fn(conn)`` in one transaction whose first statement is
  ``pg_advisory_xact_lock(key(scope))``: writers of one scope (a session, or a root session's
  deployment stores) serialise, writers of different scopes never wait on each other. With a
  lock-wait hook installed (:mod:`~lashdb.engine.base.lockwait`) it first tries the lock, waits one
  second for it, then reports the holder (pid, application, client from ``pg_locks``) and waits the
  rest of ``lock_timeout``; the whole wait is the same ``lock_timeout`` either way.
  :meth:`PgDatabase.read` runs ``fn(conn)`` in one ``REPEATABLE READ READ ONLY`` transaction.
- :meth:`PgDatabase.clock_ms` is the database's clock (``clock_timestamp()``): inside a
  ``write``/``read`` on the same thread it reads on that transaction's connection (a store reads
  its clock inside its transaction, and must not wait on the pool for a second connection).
- :func:`translate` maps driver failures: SQLSTATE 40001/40P01/55P03 → :class:`DatabaseBusy`,
  57014 → :class:`StatementTimeout`, a lost or refused connection → :class:`BackendUnavailable`;
  anything else → :class:`BackendError`. A failed transaction has rolled back.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from lashdb.engine.base import lockwait
from lashdb.engine.base.errors import (
    BackendError,
    BackendUnavailable,
    DatabaseBusy,
    LashdbError,
    MissingExtra,
    StatementTimeout,
)

from . import schema
from .url import describe, redact

T = TypeVar("T")

BUSY_STATES = {"40001", "40P01", "55P03"}
TIMEOUT_STATE = "57014"
LOCK_NOT_AVAILABLE = "55P03"
# Connection-level SQLSTATE classes and admin shutdowns: the server or the link went away.
GONE_STATES = {"57P01", "57P02", "57P03"}


def load_driver() -> tuple[Any, Any]:
    """``(psycopg, psycopg_pool)``, or :class:`MissingExtra` naming the extra to install."""
    try:
        import psycopg
        import psycopg_pool
    except ImportError as exc:
        raise MissingExtra("postgres", "a postgresql:// store") from exc
    return psycopg, psycopg_pool


@dataclass(frozen=True)
class PgSettings:
    """Per-connection limits and pool size of a PostgreSQL store."""

    lock_timeout_ms: int = 10_000
    statement_timeout_ms: int = 30_000
    connect_timeout_s: int = 10
    pool_max: int = 16


def advisory_key(scope: str) -> int:
    """The signed 64-bit advisory-lock key of a scope (a session id or a root session id)."""
    return int.from_bytes(hashlib.sha256(f"lashdb:{scope}".encode()).digest()[:8], "big", signed=True)


def translate(exc: BaseException, where: str) -> LashdbError:
    """A typed lashdb error for a psycopg failure at ``where`` (``host:port/db``; no password)."""
    if isinstance(exc, LashdbError):
        return exc
    psycopg, psycopg_pool = load_driver()
    sqlstate = getattr(exc, "sqlstate", None)
    diag = getattr(exc, "diag", None)
    text = (getattr(diag, "message_primary", None) or str(exc) or type(exc).__name__).strip()
    text = " ".join(text.split())
    if sqlstate in BUSY_STATES:
        return DatabaseBusy(f"{where}: {text}", path=where)
    if sqlstate == TIMEOUT_STATE:
        return StatementTimeout(f"{where}: {text}", path=where)
    gone = (sqlstate in GONE_STATES or (sqlstate or "").startswith("08")
            or isinstance(exc, psycopg_pool.PoolTimeout)
            or (isinstance(exc, psycopg.OperationalError) and sqlstate is None))
    if gone:
        return BackendUnavailable(where, text)
    return BackendError(f"{where}: {text}", path=where)


class PgDatabase:
    """One PostgreSQL store (a whole database): the pool and the transaction primitives."""

    def __init__(self, url: str, settings: PgSettings, readonly: bool) -> None:
        self.url = url
        self.settings = settings
        self.readonly = readonly
        self.where = describe(url)
        self.display = redact(url)
        self._pool: Any = None
        self._pid = os.getpid()
        self._lock = threading.Lock()
        # The connection of the transaction this thread is running, so a clock reading taken inside
        # it (W19) uses that connection instead of waiting on the pool for a second one.
        self._local = threading.local()
        self.closed = False

    @classmethod
    def open(cls, url: str, *, readonly: bool = False, settings: PgSettings | None = None) -> PgDatabase:
        """Connect, apply (or, read-only, check) the cutover rule, and return the store's database."""
        psycopg, _ = load_driver()
        db = cls(url, settings or PgSettings(), readonly)
        with db._direct() as conn:
            try:
                if readonly:
                    problem = schema.inspect_schema(conn, db.where)[2]
                    if problem is not None:
                        raise problem
                else:
                    schema.ensure_schema(conn, db.where)
            except psycopg.Error as exc:
                raise translate(exc, db.where) from exc
        return db

    # --- connections ------------------------------------------------------------------------------

    def _kwargs(self) -> dict[str, Any]:
        return {"connect_timeout": self.settings.connect_timeout_s}

    def _configure(self, conn: Any) -> None:
        conn.execute(f"SET lock_timeout = {int(self.settings.lock_timeout_ms)}")
        conn.execute(f"SET statement_timeout = {int(self.settings.statement_timeout_ms)}")
        if self.readonly:
            conn.execute("SET default_transaction_read_only = on")
        conn.commit()

    def _direct(self) -> Any:
        """One unpooled connection, configured (used to open and by tests)."""
        psycopg, _ = load_driver()
        try:
            conn = psycopg.connect(self.url, **self._kwargs())
        except psycopg.Error as exc:
            raise translate(exc, self.where) from exc
        try:
            self._configure(conn)
        except psycopg.Error as exc:
            conn.close()  # a half-configured connection must not leak
            raise translate(exc, self.where) from exc
        return conn

    def pool(self) -> Any:
        """This process's connection pool (a forked child opens its own on first use)."""
        with self._lock:
            if self.closed:
                raise BackendError(f"{self.where}: the store was closed", path=self.where)
            if self._pool is None or self._pid != os.getpid():
                _, psycopg_pool = load_driver()
                self._pid = os.getpid()
                self._pool = psycopg_pool.ConnectionPool(
                    self.url, min_size=1, max_size=self.settings.pool_max, kwargs=self._kwargs(),
                    configure=self._configure, open=True, timeout=self.settings.connect_timeout_s,
                    name=f"lashdb {self.where}")
            return self._pool

    def _run(self, fn: Callable[[Any], T], *, lock_scope: str | None, write: bool) -> T:
        psycopg, psycopg_pool = load_driver()
        try:
            with self.pool().connection() as conn, conn.transaction():
                if write:
                    if self.readonly:
                        raise BackendError(f"{self.where}: the store was opened read-only", path=self.where)
                    if lock_scope is not None:
                        self._advisory_lock(conn, lock_scope)
                else:
                    conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                outer = getattr(self._local, "conn", None)
                self._local.conn = conn
                try:
                    return fn(conn)
                finally:
                    self._local.conn = outer
        except (psycopg.Error, psycopg_pool.PoolTimeout) as exc:
            # Only the driver's failures are translated; the rules' own exceptions pass unchanged.
            raise translate(exc, self.where) from exc

    def _advisory_lock(self, conn: Any, scope: str) -> None:
        """Take ``scope``'s advisory lock; with a lock-wait hook, a wait past a second is reported once."""
        key = advisory_key(scope)
        timeout = int(self.settings.lock_timeout_ms)
        if not lockwait.wanted() or 0 < timeout <= lockwait.NOTICE_AFTER_MS:
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (key,))
            return
        if conn.execute("SELECT pg_try_advisory_xact_lock(%s)", (key,)).fetchone()[0]:
            return
        psycopg, _ = load_driver()
        started = time.monotonic()
        try:
            with conn.transaction():  # a savepoint: the timed-out try leaves the transaction usable
                conn.execute("SELECT set_config('lock_timeout', %s, true)", (f"{lockwait.NOTICE_AFTER_MS}ms",))
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (key,))
            conn.execute("SELECT set_config('lock_timeout', %s, true)", (f"{timeout}ms",))
            return
        except psycopg.Error as exc:
            if getattr(exc, "sqlstate", None) != LOCK_NOT_AVAILABLE:
                raise
        waited = int((time.monotonic() - started) * 1000)
        lockwait.notify(lockwait.LockWait(f"`{scope}` in {self.display}", self._holder(conn, key), timeout, waited))
        # The rest of the configured wait (0: PostgreSQL's "no limit"), then the configured value again.
        rest = max(timeout - waited, 1) if timeout else 0
        conn.execute("SELECT set_config('lock_timeout', %s, true)", (f"{rest}ms",))
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (key,))
        conn.execute("SELECT set_config('lock_timeout', %s, true)", (f"{timeout}ms",))

    @staticmethod
    def _holder(conn: Any, key: int) -> str:
        """The backend holding advisory lock ``key`` (pid, application, client), from pg_locks."""
        row = conn.execute(
            "SELECT a.pid, a.application_name, host(a.client_addr), a.client_port FROM pg_locks l "
            "JOIN pg_stat_activity a ON a.pid = l.pid JOIN pg_database d ON d.oid = l.database "
            "WHERE l.locktype = 'advisory' AND l.granted AND d.datname = current_database() "
            "AND l.classid::bigint = %s AND l.objid::bigint = %s AND l.objsubid = 1 LIMIT 1",
            ((key >> 32) & 0xFFFFFFFF, key & 0xFFFFFFFF)).fetchone()
        if row is None:
            return "another connection (gone by the time it was looked up)"
        pid, app, addr, port = row
        where = f"{addr}:{port}" if addr and port and port > 0 else (addr or "a local socket")
        return f"PostgreSQL backend pid {pid}" + (f" ({app})" if app else "") + f" from {where}"

    def write(self, scope: str | None, fn: Callable[[Any], T]) -> T:
        """``fn(conn)`` in one transaction holding ``scope``'s advisory lock; rollback on any exception."""
        return self._run(fn, lock_scope=scope, write=True)

    def read(self, fn: Callable[[Any], T]) -> T:
        """``fn(conn)`` in one repeatable-read, read-only snapshot."""
        return self._run(fn, lock_scope=None, write=False)

    def now_ms(self, conn: Any) -> int:
        """The database's clock in epoch ms (one read per transaction: hosts with skewed clocks agree)."""
        return int(conn.execute(
            "SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint").fetchone()[0])

    def clock_ms(self) -> int:
        """The database's clock: read in this thread's running transaction if any, else in a read of its own."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            return self.now_ms(conn)
        return self.read(self.now_ms)

    def close(self) -> None:
        """Close the pool; the database object cannot be used afterwards."""
        with self._lock:
            self.closed = True
            if self._pool is not None and self._pid == os.getpid():
                self._pool.close()
            self._pool = None
