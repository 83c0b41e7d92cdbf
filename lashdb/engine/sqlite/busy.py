"""The busy handler of a writable SQLite connection: wait for the lock, and say who holds it (issue 14).

Contract:
- :class:`BusyWait` keeps SQLite's own busy-timeout semantics: one wait for a lock lasts at most
  ``timeout_ms`` in all (then SQLite returns SQLITE_BUSY, which becomes ``DatabaseBusy``), sleeping
  in SQLite's steps (1, 2, 5, 10, 15, 20, 25, 25, 25, 50, 50, then 100 ms).
- When one wait has lasted :data:`~lashdb.engine.base.lockwait.NOTICE_AFTER_MS` and a lock-wait hook
  is installed, it is told once, with what is known of the holder: the session's live execution
  lease (owner, session, expiry) read through a separate read-only open (the waiting connection
  itself is in use), else just "another process". Finding the holder never writes a byte and never
  fails the wait: a file it cannot read names no lease.
"""

from __future__ import annotations

import time

import apsw

from lashdb.engine.base import lockwait
from lashdb.engine.base.errors import LashdbError
from lashdb.engine.base.timing import iso_ms, wall_clock_ms

# SQLite's sqliteDefaultBusyCallback steps (ms), then the last one repeats.
_DELAYS_MS = (1, 2, 5, 10, 15, 20, 25, 25, 25, 50, 50, 100)


class BusyWait:
    """A busy handler for ``conn.set_busy_handler``: SQLite's timeout, plus one notice per long wait."""

    def __init__(self, path: str, timeout_ms: int) -> None:
        self.path = path
        self.timeout_ms = timeout_ms
        self._started = 0.0
        self._told = False

    def __call__(self, count: int) -> bool:
        """Sleep before retry ``count`` of this wait (0 starts a wait); False gives up (SQLITE_BUSY)."""
        now = time.monotonic()
        if count == 0:
            self._started, self._told = now, False
        waited_ms = (now - self._started) * 1000
        if waited_ms >= self.timeout_ms:
            return False
        if not self._told and waited_ms >= lockwait.NOTICE_AFTER_MS and lockwait.wanted():
            self._told = True
            lockwait.notify(lockwait.LockWait(self.path, holder(self.path), self.timeout_ms, int(waited_ms)))
        delay = _DELAYS_MS[min(count, len(_DELAYS_MS) - 1)]
        time.sleep(min(delay, self.timeout_ms - waited_ms) / 1000)
        return True


def holder(path: str) -> str:
    """Who holds the write lock of ``path``, as far as the file tells: a live execution lease, or not."""
    lease = _live_lease(path)
    if lease is None:
        return "another process"
    session_id, owner, expires = lease
    return (f"another process (session `{session_id}` is leased to `{owner}` until "
            f"{iso_ms(int(expires))})")


def _live_lease(path: str) -> tuple | None:
    from .connection import columns, open_readonly, query_one

    try:
        conn = open_readonly(path)
    except LashdbError:
        return None  # unreadable just now: the notice names no lease
    try:
        if not {"session_id", "lease_owner_id", "lease_token", "lease_expires_at_ms"} <= columns(
                conn, "session_execution_leases"):
            return None
        return query_one(conn, "SELECT session_id, lease_owner_id, lease_expires_at_ms FROM session_execution_leases "
                               "WHERE lease_token IS NOT NULL AND lease_expires_at_ms > ? "
                               "ORDER BY lease_expires_at_ms DESC LIMIT 1", (wall_clock_ms(),))
    except apsw.Error:
        return None  # the holder rewrote it under us: no lease to name
    finally:
        conn.close()
