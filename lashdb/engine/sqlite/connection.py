"""SQLite connections (SPEC §2).

Contract:
- A writable file connection installs a 15 s busy timeout first (:class:`~.busy.BusyWait`: polling
  every 1–5 ms, and one notice to the lock-wait hook naming the holder after a second), switches to
  WAL (retrying the switch by hand, because SQLite does not run the busy handler for it), then sets
  ``synchronous=NORMAL``, ``foreign_keys=ON`` and ``cache_size=-2000``.
- An in-memory connection gets the same pragmas minus WAL.
- A read-only connection never writes a byte or creates a sidecar: with no ``-wal`` beside the
  database it opens with ``immutable=1``; with one (a writer may be live) it opens ``mode=ro``
  with the ``-shm`` read-only (``readonly_shm=1``), so not even SQLite's read marks are written.
  A ``-wal`` without a ``-shm`` is read from a private copy in :func:`private_copy_root` whose name
  holds the owner's pid; copies of processes that died are removed by the next process's first
  read-only open (:func:`clean_stale_private_copies`), except while a report lists them
  (:func:`stale_private_copies_kept`, for ``doctor``, whose ``--fix`` removes them).
- :func:`translate` turns SQLite's file errors into typed errors naming the file and the remedy:
  full → :class:`DiskFull`, malformed → :class:`DatabaseCorrupt`, I/O → :class:`DatabaseIOError`,
  read-only/permission → :class:`DatabaseReadOnly`, busy → :class:`DatabaseBusy`.
- Before SQLite sees a path, the database and its ``-wal``/``-shm`` are checked to be regular files
  (a symlink to one is fine): a FIFO would block the open forever, a directory or a symlink loop
  cannot be read. Such a file is refused with :class:`NotARegularFile` or :class:`FileUnreadable`
  naming the database and the OS's reason, before any open.
- :func:`write_transaction` is the only way to write: ``BEGIN IMMEDIATE``, commit on success,
  roll back on any exception, and turn SQLite failures into typed lashdb errors.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import shutil
import stat
import tempfile
import time
import urllib.parse
import weakref
from collections.abc import Iterator
from typing import Any

import apsw

from .busy import BusyWait
from lashdb.engine.base.files import file_type, os_reason, sidecar
from lashdb.engine.base.timing import iso_ms, wall_clock_ms
from lashdb.engine.base.errors import (
    BackendError,
    DatabaseBusy,
    DatabaseCorrupt,
    DatabaseError,
    DatabaseIOError,
    DatabaseNotFound,
    DatabaseReadOnly,
    DiskFull,
    FileUnreadable,
    LashdbError,
    NotALashDatabase,
    NotARegularFile,
    SchemaDamaged,
    UnstorableValue,
)

BUSY_TIMEOUT_MS = 15_000
READONLY_BUSY_TIMEOUT_MS = 1_000
_WRITE_FLAGS = apsw.SQLITE_OPEN_READWRITE | apsw.SQLITE_OPEN_CREATE | apsw.SQLITE_OPEN_URI
_READ_FLAGS = apsw.SQLITE_OPEN_READONLY | apsw.SQLITE_OPEN_URI

Connection = apsw.Connection


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
    for kind, error in _FILE_ERRORS:
        if isinstance(exc, kind):
            return error(path, message)
    if isinstance(exc, apsw.SQLError) and message.startswith(_MISSING_OBJECT):
        # lashdb's statements name only its schema's tables and columns: one missing is damage.
        return SchemaDamaged(path, None, (message,))
    return BackendError(message, path=path)


_MISSING_OBJECT = ("no such table:", "no such column:", "no such index:")

# SQLite result codes that are about the file rather than the statement: each names the file and
# says what to do. Others (constraints, SQL errors) keep SQLite's text, which upstream shows as is.
_FILE_ERRORS: tuple[tuple[type[apsw.Error], type[BackendError]], ...] = (
    (apsw.FullError, DiskFull),
    (apsw.CorruptError, DatabaseCorrupt),
    (apsw.IOError, DatabaseIOError),
    (apsw.ReadOnlyError, DatabaseReadOnly),
    (apsw.PermissionsError, DatabaseReadOnly),
)


def file_problem(path: str | os.PathLike[str]) -> LashdbError | None:
    """Why ``path`` cannot be opened as a database, found without opening it; ``None`` for a regular
    file or a symlink to one. Missing: :class:`DatabaseNotFound` (a dangling symlink: unreadable)."""
    path = os.fspath(path)
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return FileUnreadable(path, "dangling symlink") if os.path.islink(path) else DatabaseNotFound(path)
    except OSError as exc:
        return FileUnreadable(path, os_reason(exc))
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return DatabaseError(path, f"{path}: is a directory, not a database file", hint="name a database file inside it")
    return NotARegularFile(path, file_type(mode))


def _sidecar_exists(path: str, suffix: str) -> bool:
    """True when the database's ``suffix`` sidecar is a regular file, False when absent (or a dangling
    symlink, which SQLite never reads); unreadable or not a regular file raises FileUnreadable naming
    the database, so that no open blocks on a FIFO ``-shm`` or reads past a looping ``-wal``."""
    side = sidecar(path, suffix)
    try:
        mode = os.stat(side).st_mode
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise FileUnreadable(path, f"{os.path.basename(side)}: {os_reason(exc)}") from exc
    if not stat.S_ISREG(mode):
        raise FileUnreadable(path, f"{os.path.basename(side)}: not a regular file: {file_type(mode)}")
    return True


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
    problem = file_problem(path)
    if problem is not None and not isinstance(problem, DatabaseNotFound):
        raise problem
    _sidecar_exists(path, "-wal")
    _sidecar_exists(path, "-shm")
    conn = None
    try:
        conn = apsw.Connection(_uri(path, {}), flags=_WRITE_FLAGS)
        # A 15 s wait polling every 1-5 ms (see busy.py), plus one notice to the lock-wait hook when it is long.
        conn.set_busy_handler(BusyWait(path, BUSY_TIMEOUT_MS, lock_holder))
        _set_wal(conn, path)
        _pragmas(conn)
        return conn
    except BaseException as exc:
        if conn is not None:
            conn.close()
        if isinstance(exc, apsw.Error):
            raise translate(exc, path) from exc
        raise


def lock_holder(path: str) -> str:
    """Who holds the write lock of ``path``, as far as the file tells (a live execution lease, else
    just "another process"); read-only, and a file it cannot read names no lease."""
    lease = None
    try:
        conn = open_readonly(path)
    except LashdbError:
        return "another process"
    try:
        if {"session_id", "lease_owner_id", "lease_token", "lease_expires_at_ms"} <= columns(
                conn, "session_execution_leases"):
            lease = query_one(conn, "SELECT session_id, lease_owner_id, lease_expires_at_ms "
                                    "FROM session_execution_leases WHERE lease_token IS NOT NULL "
                                    "AND lease_expires_at_ms > ? ORDER BY lease_expires_at_ms DESC LIMIT 1",
                              (wall_clock_ms(),))
    except apsw.Error:
        pass  # rewritten under us (a checkpoint racing the copy): no lease to name
    finally:
        conn.close()
    if lease is None:
        return "another process"
    session_id, owner, expires = lease
    return f"another process (session `{session_id}` is leased to `{owner}` until {iso_ms(int(expires))})"


def open_memory() -> apsw.Connection:
    """Open a private in-memory database with the standard pragmas (no WAL)."""
    conn = apsw.Connection(":memory:")
    conn.set_busy_timeout(BUSY_TIMEOUT_MS)
    _pragmas(conn)
    return conn


def open_readonly(path: str | os.PathLike[str], *, checked: bool = False) -> apsw.Connection:
    """Open a file database for inspection without changing any byte on disk or adding a file.
    ``checked``: the caller has just found ``path`` to be a regular file with no ``-wal`` beside it
    (``sessions list`` stats each file and has its directory's names), so those system calls and
    the schema read that makes a non-SQLite file fail here are left out: the caller's first
    statement fails instead."""
    path = os.fspath(path)
    if not checked:
        problem = file_problem(path)
        if problem is not None:
            raise problem
    if not _swept and not _kept:
        # Once a process: copies left by killed inspections go on the next run, whatever it opens.
        clean_stale_private_copies()
    if checked:
        return _open_immutable(path, touch=False)
    has_wal = _sidecar_exists(path, "-wal")
    if has_wal and not _sidecar_exists(path, "-shm"):
        _diagnose_unopenable(path)
        return _open_readonly_copy(path)
    # readonly_shm: a plain mode=ro reader still writes its read marks into the -shm; with the
    # -shm opened read-only SQLite reads the WAL without writing a byte (a live writer's commits
    # stay visible).
    return _open_immutable(path) if not has_wal else _open_ro(path, _RO_PARAMS, touch=True)


_RO_PARAMS = {"mode": "ro", "readonly_shm": "1"}
_IMMUTABLE_PARAMS = {"immutable": "1"}


def _open_immutable(path: str, touch: bool = True) -> apsw.Connection:
    return _open_ro(path, _IMMUTABLE_PARAMS, touch)


def _open_ro(path: str, params: dict[str, str], touch: bool) -> apsw.Connection:
    conn = None
    try:
        conn = apsw.Connection(_uri(path, params), flags=_READ_FLAGS)
        conn.set_busy_timeout(READONLY_BUSY_TIMEOUT_MS)
        if touch:
            # Touch the schema now so a file that is not SQLite fails here, with its name.
            conn.execute("SELECT count(*) FROM sqlite_master").fetchall()
        return conn
    except BaseException as exc:
        if conn is not None:
            conn.close()
        if isinstance(exc, apsw.Error):
            raise unopenable(exc, path) from exc
        raise


def unopenable(exc: apsw.Error, path: str) -> LashdbError:
    """The typed error for SQLite refusing to read ``path`` at all: :class:`FileUnreadable` when the
    file or a sidecar cannot be opened for reading (raised), else :func:`translate`'s."""
    # Whether the file can be read at all is examined only once SQLite has refused it: `sessions
    # list` opens every file under the root, and each system call adds up.
    _diagnose_unopenable(path)
    return translate(exc, path)


def _diagnose_unopenable(path: str) -> None:
    """Raise FileUnreadable when the database, or its ``-wal``/``-shm``, cannot be opened for reading; else return."""
    for suffix in ("", "-wal", "-shm"):
        try:
            with open(path + suffix, "rb"):
                pass
        except FileNotFoundError:
            if not suffix:
                raise DatabaseNotFound(path) from None  # removed since it was looked at
        except OSError as exc:
            where = f"{os.path.basename(path + suffix)}: " if suffix else ""
            raise FileUnreadable(path, where + os_reason(exc)) from exc


def _open_readonly_copy(path: str) -> apsw.Connection:
    """Read a database whose ``-wal`` has no ``-shm`` from a private copy.

    SQLite would create the missing ``-shm`` even for a read-only open (``readonly_shm`` then fails
    with SQLITE_CANTOPEN, and ``immutable`` ignores the WAL and its committed rows). Without a lock
    SQLite keeps the wal-index in memory, but then a writer starting meanwhile could rewrite the WAL
    under the reader; no writer can be live without a ``-shm``, so a copy of the database and its
    WAL shows exactly what is on disk and nothing can change it afterwards.
    """
    if not _kept:
        clean_stale_private_copies()
    try:
        tmpdir = tempfile.mkdtemp(prefix=f"{os.getpid()}-{_start_time(os.getpid()) or 0}-",
                                  dir=_private_copy_root(create=True))
    except OSError as exc:
        raise DatabaseError(path, f"{path}: cannot make a private copy for a read-only look ({exc})",
                            hint="check the temporary directory (TMPDIR) is writable") from exc
    copy = os.path.join(tmpdir, "copy.db")
    try:
        shutil.copyfile(path, copy)
        shutil.copyfile(sidecar(path, "-wal"), sidecar(copy, "-wal"))
        conn = apsw.Connection(_uri(copy, {"mode": "ro"}), flags=_READ_FLAGS)
        conn.execute("SELECT count(*) FROM sqlite_master").fetchall()
    except OSError as exc:
        shutil.rmtree(tmpdir, ignore_errors=True)
        raise DatabaseError(path, f"{path}: cannot copy for a read-only look ({exc.strerror})",
                            hint=f"free space in {os.path.dirname(tmpdir)} (or point TMPDIR elsewhere)") from exc
    except apsw.Error as exc:
        shutil.rmtree(tmpdir, ignore_errors=True)
        raise translate(exc, path) from exc
    # The copy lives exactly as long as the connection (or the process: finalize runs at exit). A
    # killed process leaves it behind; its name holds the owner's pid, so the next run removes it.
    weakref.finalize(conn, shutil.rmtree, tmpdir, True)
    return conn


# --- private copies left by killed processes ----------------------------------------------------------

_COPY_NAME = re.compile(r"(\d+)-(\d+)-[^/]+")
_swept = False
_kept = 0  # > 0 while a report (doctor) lists the stale copies: this process's opens leave them


def private_copy_root() -> str:
    """The directory (under the temporary directory, which the OS cleans) holding this user's copies."""
    uid = os.getuid() if hasattr(os, "getuid") else 0
    return os.path.join(tempfile.gettempdir(), f"lashdb-ro-copies-{uid}")


def _private_copy_root(*, create: bool) -> str:
    root = private_copy_root()
    if create:
        with contextlib.suppress(FileExistsError):
            os.mkdir(root, 0o700)
    # In a shared /tmp another user could have made this name first (or a symlink to elsewhere):
    # copies of session databases go only into a private directory of our own.
    st = os.lstat(root)
    if not stat.S_ISDIR(st.st_mode) or (hasattr(os, "getuid") and st.st_uid != os.getuid()) \
            or st.st_mode & 0o077:
        raise DatabaseError(root, f"{root}: not a private directory of this user",
                            hint="remove it (or point TMPDIR elsewhere) and retry")
    return root


def _proc_stat(pid: int) -> list[bytes] | None:
    """The fields of ``/proc/PID/stat`` after the command name (Linux), or None."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().rsplit(b")", 1)[1].split()
    except (OSError, IndexError):
        return None


def _start_time(pid: int) -> str | None:
    """The kernel's start time of ``pid``, so a reused pid is not taken for a copy's owner."""
    fields = _proc_stat(pid)
    return fields[19].decode() if fields and len(fields) > 19 else None


def _owner_alive(pid: int, start: str) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    fields = _proc_stat(pid)
    if fields is None:
        return True  # no /proc: the pid exists, so take it for the owner
    if fields[0] in (b"Z", b"X"):
        return False  # killed, not yet reaped by its parent
    return start == "0" or len(fields) <= 19 or fields[19].decode() == start


def stale_private_copies() -> list[str]:
    """Private copies (directories) whose owning process is gone; read-only, removes nothing."""
    root = private_copy_root()
    try:
        names = os.listdir(root)
    except OSError:
        return []
    stale = []
    for name in sorted(names):
        match = _COPY_NAME.fullmatch(name)
        if match and not _owner_alive(int(match.group(1)), match.group(2)):
            stale.append(os.path.join(root, name))
    return stale


def clean_stale_private_copies() -> list[str]:
    """Remove the private copies of processes that died holding one; return what was removed."""
    global _swept
    _swept = True
    removed = []
    for path in stale_private_copies():
        shutil.rmtree(path, ignore_errors=True)
        if not os.path.exists(path):
            removed.append(path)
    return removed


@contextlib.contextmanager
def stale_private_copies_kept() -> Iterator[list[str]]:
    """Yield the stale private copies as they are before any open, and keep this process's read-only
    opens from sweeping them until the block ends (``doctor`` reports them; ``--fix`` removes them)."""
    global _kept, _swept
    _kept += 1
    _swept = True  # listed for a report: the once-a-process sweep leaves them to the remedy
    try:
        yield stale_private_copies()
    finally:
        _kept -= 1


def remove_stale_private_copy(path: str, *, dry_run: bool = False) -> str:
    """Remove ``path`` if it is (still) a stale private copy; say what was done (``removed``,
    ``would remove``, ``already gone``); a copy whose owner lives, or no copy, is refused."""
    if not os.path.lexists(path):
        return "already gone"
    if path not in stale_private_copies():
        raise DatabaseError(path, f"{path}: not a private copy of a process that is gone",
                            hint="only stale copies under " + private_copy_root() + " are removed")
    if not dry_run:
        shutil.rmtree(path)
    return "would remove" if dry_run else "removed"


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
        if isinstance(exc, UnicodeEncodeError):
            # apsw binding a text parameter with a lone surrogate; the entry points check their
            # fields up front, this names what any other statement was handed.
            raise UnstorableValue("a text parameter", f"{exc.object[exc.start:exc.end]!r} is a lone "
                                  "surrogate (not valid UTF-8)") from exc
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
    with translated(path):  # a closed connection fails here, before BEGIN: name the file too
        nested = not conn.get_autocommit()
    if nested:
        # Already inside a transaction (e.g. a read helper called from a write): reuse it.
        yield conn
        return
    with _transaction(conn, "BEGIN", path):
        yield conn


def columns(conn: apsw.Connection, table: str) -> frozenset[str]:
    """Column names of ``table`` (empty when the table does not exist)."""
    return frozenset(row[1] for row in conn.execute('PRAGMA table_info("' + table.replace('"', '""') + '")'))


@contextlib.contextmanager
def translated(path: str | None) -> Iterator[None]:
    """Turn a SQLite failure inside the block into the typed lashdb error naming ``path``."""
    try:
        yield
    except apsw.Error as exc:
        raise translate(exc, path) from exc


def query_one(conn: apsw.Connection, sql: str, params: Any = ()) -> tuple | None:
    """Return the first row of a query, or ``None``."""
    for row in conn.execute(sql, params):
        return row
    return None
