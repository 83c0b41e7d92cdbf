"""SQLite connections (SPEC §2).

Contract:
- A writable file connection installs a 15 s busy timeout first, switches to WAL (retrying the
  switch by hand, because SQLite does not run the busy handler for it), then sets
  ``synchronous=NORMAL``, ``foreign_keys=ON`` and ``cache_size=-2000``.
- An in-memory connection gets the same pragmas minus WAL.
- A read-only connection never writes a byte or creates a sidecar: with no ``-wal`` beside the
  database it opens with ``immutable=1``; with one (a writer may be live) it opens ``mode=ro``
  with the ``-shm`` read-only (``readonly_shm=1``), so not even SQLite's read marks are written.
- :func:`write_transaction` is the only way to write: ``BEGIN IMMEDIATE``, commit on success,
  roll back on any exception, and turn SQLite failures into typed lashdb errors.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import shutil
import tempfile
import time
import urllib.parse
import weakref
from collections.abc import Iterator
from typing import Any

import apsw

from .errors import (
    BackendError,
    DatabaseBusy,
    DatabaseError,
    DatabaseNotFound,
    LashdbError,
    NotALashDatabase,
    SchemaDamaged,
)

BUSY_TIMEOUT_MS = 15_000
READONLY_BUSY_TIMEOUT_MS = 1_000
_WRITE_FLAGS = apsw.SQLITE_OPEN_READWRITE | apsw.SQLITE_OPEN_CREATE | apsw.SQLITE_OPEN_URI
_READ_FLAGS = apsw.SQLITE_OPEN_READONLY | apsw.SQLITE_OPEN_URI

Connection = apsw.Connection


def sidecar(path: str | os.PathLike[str], suffix: str) -> str:
    """Return ``path`` with ``suffix`` appended to the file name (``-wal``, ``-shm``, …)."""
    return os.fspath(path) + suffix


_URI_SAFE = re.compile(r"[A-Za-z0-9_.~/-]*")


def _uri(path: str | os.PathLike[str], params: dict[str, str]) -> str:
    # os.fsencode keeps non-UTF-8 file names intact; quote() makes '?' and '#' in names safe.
    absolute = os.path.abspath(os.fspath(path))
    # quote() leaves exactly these characters as they are; most paths have no other, and skipping
    # it saves ~40 µs an open (`sessions list` opens every file under the root).
    plain_path = isinstance(absolute, str) and _URI_SAFE.fullmatch(absolute)
    quoted = absolute if plain_path else urllib.parse.quote(os.fsencode(absolute))
    return f"file:{quoted}" + _query(tuple(params.items()))


@functools.lru_cache(maxsize=32)
def _query(params: tuple[tuple[str, str], ...]) -> str:
    # Every open passes one of a handful of fixed parameter sets; each is encoded once.
    plain = all(_URI_SAFE.fullmatch(k + v) and "/" not in k + v for k, v in params)
    query = "&".join(f"{k}={v}" for k, v in params) if plain else urllib.parse.urlencode(params)
    return f"?{query}" if query else ""


def translate(exc: BaseException, path: str | None = None) -> LashdbError:
    """Map an apsw exception to the typed lashdb error that names ``path``."""
    if isinstance(exc, LashdbError):
        return exc
    message = str(exc)
    if isinstance(exc, (apsw.BusyError, apsw.LockedError)):
        where = f"{path}: " if path else ""
        return DatabaseBusy(f"{where}{message}", path=path)
    if isinstance(exc, apsw.NotADBError):
        return NotALashDatabase(path or ":memory:", message)
    if isinstance(exc, apsw.CantOpenError):
        return DatabaseError(path, f"{path}: cannot open database ({message})",
                             hint="check that the file exists, is a file, and is readable")
    if isinstance(exc, apsw.SQLError) and message.startswith(_MISSING_OBJECT):
        # lashdb's statements name only its schema's tables and columns: one missing is damage.
        return SchemaDamaged(path, None, (message,))
    return BackendError(message, path=path)


_MISSING_OBJECT = ("no such table:", "no such column:", "no such index:")


def _pragmas(conn: apsw.Connection) -> None:
    conn.execute("PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; PRAGMA cache_size = -2000;")


def _set_wal(conn: apsw.Connection, path: str) -> None:
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    backoff = 0.001
    while True:
        try:
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchall()[0][0]
        except (apsw.BusyError, apsw.LockedError):
            if time.monotonic() >= deadline:
                raise
            time.sleep(backoff)
            backoff = min(backoff * 2, 0.05)
            continue
        if str(mode).lower() != "wal":
            raise BackendError(f"{path}: could not switch to WAL journal mode (got {mode!r})", path=path)
        return


def open_write(path: str | os.PathLike[str]) -> apsw.Connection:
    """Open (creating if absent) a file database for writing, WAL mode, standard pragmas."""
    path = os.fspath(path)
    if os.path.isdir(path):
        raise DatabaseError(path, f"{path}: is a directory, not a database file",
                            hint="name a database file inside it")
    conn = None
    try:
        conn = apsw.Connection(_uri(path, {}), flags=_WRITE_FLAGS)
        conn.set_busy_timeout(BUSY_TIMEOUT_MS)
        _set_wal(conn, path)
        _pragmas(conn)
        return conn
    except BaseException as exc:
        if conn is not None:
            conn.close()
        if isinstance(exc, apsw.Error):
            raise translate(exc, path) from exc
        raise


def open_memory() -> apsw.Connection:
    """Open a private in-memory database with the standard pragmas (no WAL)."""
    conn = apsw.Connection(":memory:")
    conn.set_busy_timeout(BUSY_TIMEOUT_MS)
    _pragmas(conn)
    return conn


def open_readonly(path: str | os.PathLike[str]) -> apsw.Connection:
    """Open a file database for inspection without changing any byte on disk or adding a file."""
    path = os.fspath(path)
    has_wal = os.path.exists(sidecar(path, "-wal"))
    if has_wal and not os.path.exists(sidecar(path, "-shm")):
        _diagnose_unopenable(path)
        return _open_readonly_copy(path)
    # readonly_shm: a plain mode=ro reader still writes its read marks into the -shm; with the
    # -shm opened read-only SQLite reads the WAL without writing a byte (a live writer's commits
    # stay visible).
    params = {"mode": "ro", "readonly_shm": "1"} if has_wal else {"immutable": "1"}
    conn = None
    try:
        conn = apsw.Connection(_uri(path, params), flags=_READ_FLAGS)
        conn.set_busy_timeout(READONLY_BUSY_TIMEOUT_MS)
        # Touch the schema now so a file that is not SQLite fails here, with its name.
        conn.execute("SELECT count(*) FROM sqlite_master").fetchall()
        return conn
    except BaseException as exc:
        if conn is not None:
            conn.close()
        if isinstance(exc, apsw.Error):
            # The file is examined only once SQLite has refused it: `sessions list` opens every
            # file under the root, and checking each one first cost three system calls apiece.
            _diagnose_unopenable(path)
            raise translate(exc, path) from exc
        raise


def _diagnose_unopenable(path: str) -> None:
    """Raise the precise error for a path that is missing, a directory or unreadable; else return."""
    if not os.path.lexists(path):
        raise DatabaseNotFound(path)
    if os.path.isdir(path):
        raise DatabaseError(path, f"{path}: is a directory, not a database file",
                            hint="name a database file inside it")
    try:
        with open(path, "rb"):
            pass
    except OSError as exc:
        raise DatabaseError(path, f"{path}: cannot read ({exc.strerror})",
                            hint="check the file's permissions") from exc


def _open_readonly_copy(path: str) -> apsw.Connection:
    """Read a database whose ``-wal`` has no ``-shm`` from a private copy.

    SQLite would create the missing ``-shm`` even for a read-only open; no writer can be live
    without one, so a copy of the database and its WAL shows exactly what is on disk.
    """
    tmpdir = tempfile.mkdtemp(prefix="lashdb-ro-")
    copy = os.path.join(tmpdir, "copy.db")
    try:
        shutil.copyfile(path, copy)
        shutil.copyfile(sidecar(path, "-wal"), sidecar(copy, "-wal"))
        conn = apsw.Connection(_uri(copy, {"mode": "ro"}), flags=_READ_FLAGS)
        conn.execute("SELECT count(*) FROM sqlite_master").fetchall()
    except OSError as exc:
        shutil.rmtree(tmpdir, ignore_errors=True)
        raise DatabaseError(path, f"{path}: cannot copy for a read-only look ({exc.strerror})",
                            hint="free space in the temporary directory") from exc
    except apsw.Error as exc:
        shutil.rmtree(tmpdir, ignore_errors=True)
        raise translate(exc, path) from exc
    # The copy lives exactly as long as the connection.
    weakref.finalize(conn, shutil.rmtree, tmpdir, True)
    return conn


@contextlib.contextmanager
def _transaction(conn: apsw.Connection, begin: str, path: str | None) -> Iterator[apsw.Connection]:
    try:
        conn.execute(begin)
    except apsw.Error as exc:
        raise translate(exc, path) from exc
    try:
        yield conn
    except BaseException as exc:
        with contextlib.suppress(apsw.Error):
            # The rollback can only fail when SQLite already rolled back (e.g. on SQLITE_FULL);
            # the original error is the one worth reporting.
            conn.execute("ROLLBACK")
        if isinstance(exc, apsw.Error):
            raise translate(exc, path) from exc
        raise
    try:
        conn.execute("COMMIT")
    except apsw.Error as exc:
        with contextlib.suppress(apsw.Error):
            conn.execute("ROLLBACK")
        raise translate(exc, path) from exc


def write_transaction(conn: apsw.Connection, path: str | None = None) -> contextlib.AbstractContextManager:
    """Run the body in ``BEGIN IMMEDIATE``; commit on success, roll back on any exception."""
    return _transaction(conn, "BEGIN IMMEDIATE", path)


@contextlib.contextmanager
def read_snapshot(conn: apsw.Connection, path: str | None = None) -> Iterator[apsw.Connection]:
    """Run several reads in one deferred transaction so they see one consistent state."""
    if not conn.get_autocommit():
        # Already inside a transaction (e.g. a read helper called from a write): reuse it.
        yield conn
        return
    with _transaction(conn, "BEGIN", path):
        yield conn


def query_one(conn: apsw.Connection, sql: str, params: Any = ()) -> tuple | None:
    """Return the first row of a query, or ``None``."""
    for row in conn.execute(sql, params):
        return row
    return None
