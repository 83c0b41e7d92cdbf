"""SQLite's online backup of one database file (``lashdb sessions backup``; the contract lives in ``ops/backup.py``).

Contract:
- :func:`backup_file` copies the committed state of ``source`` into a NEW file ``dest`` (which must
  not exist) through SQLite's online backup API, in one step, so the copy is one consistent
  snapshot even while another process commits.
- The source is read through :func:`connection.open_readonly` and nothing else: it never writes a
  byte, creates a ``-wal``/``-shm`` or takes a write lock, so a running runtime never waits on a
  backup. With a ``-wal`` beside it (a writer may be live) the read is a WAL read transaction, which
  sees one commit and nothing after it. Without one the open is ``immutable``: SQLite then takes no
  lock at all, so the file's identity, size and modification time are compared before and after the
  copy and the copy is taken again when they moved (a writer that appeared meanwhile checkpointed
  into it); after :data:`ATTEMPTS` moving copies it fails with :class:`DatabaseBusy`.
- The copy is written through its own plain connection and closed before returning; nothing is
  left beside it (no ``-journal``, ``-wal`` or ``-shm``).
"""

from __future__ import annotations

import os

import apsw

from lashdb.engine.base.errors import DatabaseBusy, DatabaseError, FileUnreadable
from lashdb.engine.base.files import os_reason

from .connection import file_problem, open_readonly, translate

ATTEMPTS = 5


def _state(path: str) -> tuple[int, int, int, int, bool]:
    try:
        st = os.stat(path)
    except OSError as exc:
        raise file_problem(path) or FileUnreadable(path, os_reason(exc)) from exc
    return st.st_ino, st.st_dev, st.st_size, st.st_mtime_ns, os.path.exists(path + "-wal")


def _copy_once(source: str, dest: str) -> None:
    src = open_readonly(source)
    try:
        out = apsw.Connection(dest, flags=apsw.SQLITE_OPEN_READWRITE | apsw.SQLITE_OPEN_CREATE)
        try:
            with out.backup("main", src, "main") as step:
                step.step(-1)  # every page in one step: one read transaction on the source
        except apsw.Error as exc:
            raise translate(exc, dest if isinstance(exc, (apsw.FullError, apsw.IOError)) else source) from exc
        finally:
            out.close()
    finally:
        src.close()


def backup_file(source: str | os.PathLike[str], dest: str | os.PathLike[str]) -> int:
    """Copy ``source``'s committed state into the new file ``dest``; its size in bytes."""
    source, dest = os.fspath(source), os.fspath(dest)
    if os.path.lexists(dest):
        raise DatabaseError(dest, f"{dest}: already exists; a backup is written only into a new file",
                            hint="remove it or choose another name")
    for _attempt in range(ATTEMPTS):
        before = _state(source)
        try:
            _copy_once(source, dest)
        except BaseException:
            _discard(dest)
            raise
        if before[4] or _state(source)[:4] == before[:4]:
            return os.path.getsize(dest)
        _discard(dest)  # written to while read without a lock: take it again
    raise DatabaseBusy(f"{source}: the file changed during each of {ATTEMPTS} backup attempts", path=source)


def _discard(path: str) -> None:
    for suffix in ("", "-journal", "-wal", "-shm"):
        try:
            os.unlink(path + suffix)
        except FileNotFoundError:
            pass
