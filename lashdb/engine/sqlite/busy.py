"""The busy handler of a writable SQLite connection: wait for the lock, and say who holds it (issue 14).

Contract:
- :class:`BusyWait` keeps SQLite's own busy-timeout semantics: one wait for a lock lasts at most
  ``timeout_ms`` in all (then SQLite returns SQLITE_BUSY, which becomes ``DatabaseBusy``), but
  polls every 1 ms for the first 100 tries, then 2, 3, 4 and at most 5 ms — not SQLite's steps up
  to 100 ms: a writer waiting behind a GC batch (~15 ms) takes the lock as the batch ends instead
  of sleeping through the GC's next batches.
- When one wait has lasted :data:`~lashdb.engine.base.lockwait.NOTICE_AFTER_MS` and a lock-wait hook
  is installed, it is told once, with what ``holder(path)`` says of the holder
  (``connection.lock_holder``: the session's live execution lease, read through a separate
  read-only open because the waiting connection itself is in use). Without a hook nothing is looked up.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from lashdb.engine.base import lockwait

POLL_MAX_MS = 5
"""The longest sleep between two tries (SQLite's own default back-off reaches 100 ms)."""


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
        delay = min(1 + count // 100, POLL_MAX_MS)
        time.sleep(min(delay, self.timeout_ms - waited_ms) / 1000)
        return True
