"""The busy handler of a writable SQLite connection: wait for the lock, and say who holds it (issue 14).

Contract:
- :class:`BusyWait` keeps SQLite's own busy-timeout semantics: one wait for a lock lasts at most
  ``timeout_ms`` in all (then SQLite returns SQLITE_BUSY, which becomes ``DatabaseBusy``), sleeping
  in SQLite's steps (1, 2, 5, 10, 15, 20, 25, 25, 25, 50, 50, then 100 ms).
- When one wait has lasted :data:`~lashdb.engine.base.lockwait.NOTICE_AFTER_MS` and a lock-wait hook
  is installed, it is told once, with what ``holder(path)`` says of the holder
  (``connection.lock_holder``: the session's live execution lease, read through a separate
  read-only open because the waiting connection itself is in use). Without a hook nothing is looked up.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from lashdb.engine.base import lockwait

# SQLite's sqliteDefaultBusyCallback steps (ms), then the last one repeats.
_DELAYS_MS = (1, 2, 5, 10, 15, 20, 25, 25, 25, 50, 50, 100)


class BusyWait:
    """A busy handler for ``conn.set_busy_handler``: SQLite's timeout, plus one notice per long wait."""

    def __init__(self, path: str, timeout_ms: int, holder: Callable[[str], str]) -> None:
        self.path = path
        self.timeout_ms = timeout_ms
        self.holder = holder
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
            lockwait.notify(lockwait.LockWait(self.path, self.holder(self.path), self.timeout_ms, int(waited_ms)))
        delay = _DELAYS_MS[min(count, len(_DELAYS_MS) - 1)]
        time.sleep(min(delay, self.timeout_ms - waited_ms) / 1000)
        return True
