"""Wait and notify for the process registry: blocking waits, change listeners, the asyncio facade.

Contract:
- A waking write of a registry bumps its change generation and calls every listener on the
  writing thread (:class:`ChangeNotifier`). A blocking wait re-runs its check when woken and
  otherwise polls with a backoff from 2 ms capped at 50 ms, so writes by other processes or
  connections to the same file are seen too.
- A wait given a ``timeout`` (seconds) that runs out raises :class:`ProcessWaitTimeout`
  (``timed out waiting for <what>``); without one it waits until the check answers.
- :class:`AsyncProcessRegistry` waits on the event loop, never occupying the registry's worker
  thread; each check runs on that thread.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any

from lashdb.engine.base.aio import AsyncFacade
from lashdb.engine.base.errors import ProcessRegistryError

from .process_model import ProcessAwaitOutput, ProcessEvent

__all__ = ["AsyncProcessRegistry", "ChangeNotifier", "ProcessWaitTimeout"]

# Waiters re-check at least this often so writes from other connections are noticed.
_POLL_MIN_S = 0.002
_POLL_MAX_S = 0.05


class ProcessWaitTimeout(ProcessRegistryError):
    """A blocking wait given a ``timeout`` ran out before its answer existed."""

    hint = "the process has not reached the awaited state yet; wait longer or inspect it"


class ChangeNotifier:
    """The change generation, listeners and blocking wait of a registry (mixed into it)."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._generation = 0
        self._listeners: list[Callable[[], None]] = []

    def _notify(self) -> None:
        with self._changed:
            self._generation += 1
            self._changed.notify_all()
            listeners = list(self._listeners)
        for listener in listeners:
            listener()

    @property
    def change_generation(self) -> int:
        """A counter bumped by every write of this instance that wakes waiters."""
        with self._changed:
            return self._generation

    def add_change_listener(self, listener: Callable[[], None]) -> None:
        """Call ``listener()`` (on the writing thread) after every waking write; must not raise."""
        with self._changed:
            self._listeners.append(listener)

    def remove_change_listener(self, listener: Callable[[], None]) -> None:
        """Stop calling a listener added with :meth:`add_change_listener`."""
        with self._changed:
            if listener in self._listeners:
                self._listeners.remove(listener)

    def _wait_change(self, generation: int, timeout: float) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: self._generation != generation, timeout)

    def _block_until(self, check: Callable[[], Any], timeout: float | None, what: str) -> Any:
        deadline = None if timeout is None else time.monotonic() + timeout
        delay = _POLL_MIN_S
        while True:
            generation = self.change_generation
            result = check()
            if result is not None:
                return result
            wait = delay
            if deadline is not None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise ProcessWaitTimeout(f"timed out waiting for {what}")
                wait = min(wait, remaining)
            changed = self._wait_change(generation, wait)
            delay = _POLL_MIN_S if changed else min(delay * 2, _POLL_MAX_S)


class AsyncProcessRegistry(AsyncFacade[Any]):
    """asyncio facade whose waits never occupy the registry's worker thread."""

    async def _wait(self, check: Callable[[], Any], timeout: float | None, what: str) -> Any:
        registry = self.sync
        loop = asyncio.get_running_loop()
        changed = asyncio.Event()

        def on_change() -> None:
            try:
                loop.call_soon_threadsafe(changed.set)
            except RuntimeError:
                # The loop is closed, so this waiter no longer exists: there is no one to wake.
                pass

        registry.add_change_listener(on_change)
        try:
            deadline = None if timeout is None else loop.time() + timeout
            delay = _POLL_MIN_S
            while True:
                changed.clear()
                result = await self._submit(check)
                if result is not None:
                    return result
                wait = delay
                if deadline is not None:
                    remaining = deadline - loop.time()
                    if remaining <= 0:
                        raise ProcessWaitTimeout(f"timed out waiting for {what}")
                    wait = min(wait, remaining)
                try:
                    await asyncio.wait_for(changed.wait(), wait)
                    delay = _POLL_MIN_S
                except TimeoutError:
                    delay = min(delay * 2, _POLL_MAX_S)
        finally:
            registry.remove_change_listener(on_change)

    async def await_process(self, process_id: str, *, timeout: float | None = None) -> ProcessAwaitOutput:
        """Wait for the process to be terminal and return its await output."""
        registry = self.sync
        return await self._wait(lambda: registry.poll_await_process(process_id), timeout,
                                f"process `{process_id}` to finish")

    async def wait_event_after(self, process_id: str, event_type: str, after_sequence: int, *,
                               timeout: float | None = None) -> ProcessEvent:
        """Wait for the first event of ``event_type`` after the cursor."""
        registry = self.sync
        return await self._wait(lambda: registry.find_event_after(process_id, event_type, after_sequence),
                                timeout, f"a `{event_type}` event of process `{process_id}`")
