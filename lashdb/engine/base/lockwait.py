"""Telling the caller that a write is waiting on another writer's lock (issue 14).

Contract:
- The engine never prints. A caller that wants to say "waiting for …" installs one process-wide
  hook with :func:`set_lock_wait_hook`; a backend calls :func:`notify` once per wait, when a write
  has waited :data:`NOTICE_AFTER_MS` for its write lock (SQLite's ``BEGIN IMMEDIATE`` busy wait,
  PostgreSQL's advisory lock), with a :class:`LockWait` saying on what, who holds it as far as the
  backend can tell, and how long the write waits in all before it fails with ``DatabaseBusy``.
- Without a hook nothing is looked up: :func:`wanted` is False and backends skip the holder query.
- A hook that raises does not turn a wait into a failure: its exception is dropped, because the
  write it reports on is still going and will succeed or fail on its own terms.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

NOTICE_AFTER_MS = 1_000
"""How long a write waits for its lock before the hook hears of it."""


@dataclass(frozen=True)
class LockWait:
    """One write waiting for its lock: ``what`` it waits on (a database file, or a store and a scope),
    ``holder`` as the backend describes it, ``timeout_ms`` the whole wait before it gives up (0: no
    limit), and ``waited_ms`` so far."""

    what: str
    holder: str
    timeout_ms: int
    waited_ms: int

    def describe(self) -> str:
        """One line: ``waiting for the write lock on WHAT, held by HOLDER (waiting up to N s)``."""
        limit = f"up to {self.timeout_ms / 1000:g} s in all" if self.timeout_ms > 0 else "with no limit"
        return (f"waiting for the write lock on {self.what}, held by {self.holder} "
                f"(waited {self.waited_ms / 1000:.1f} s; waiting {limit})")


LockWaitHook = Callable[[LockWait], None]
_hook: LockWaitHook | None = None
_lock = threading.Lock()


def set_lock_wait_hook(hook: LockWaitHook | None) -> LockWaitHook | None:
    """Install ``hook`` (None removes it) for every write of this process; return the one it replaces."""
    global _hook
    with _lock:
        old, _hook = _hook, hook
    return old


def wanted() -> bool:
    """True when a hook is installed (backends look the holder up only then)."""
    return _hook is not None


def notify(wait: LockWait) -> None:
    """Tell the installed hook about ``wait`` (nothing without one; its own failure is dropped)."""
    hook = _hook
    if hook is None:
        return
    try:
        hook(wait)
    except Exception:  # noqa: BLE001 - a report of a wait must never fail the write that waits
        return
