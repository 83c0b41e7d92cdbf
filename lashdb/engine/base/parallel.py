"""Fan a function over many independent items in forked worker processes.

Contract: :func:`fork_map` returns ``[fn(item) for item in items]``, in order, whatever it decides.
It forks only where that is safe and pays off: on Linux, from a process that runs one Python
thread (forking a threaded process can copy a held lock), with ``jobs`` > 1 and at least
``min_items`` items; otherwise it runs in the calling process. ``fn`` must be a module-level
function; items and results cross the process boundary by pickle. An exception ``fn`` raises
reaches the caller; a worker that dies (killed, out of memory) raises :class:`WorkerFailed`.

Why processes and not threads: each item here is a few short SQLite calls separated by Python
work. apsw releases the GIL around every call, but two threads then spend their time handing the
GIL back and forth: measured on 2 cores, two threads listed 2,000 sessions 20% *slower* than one,
while two forked processes took half the time.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable, Sequence
from typing import TypeVar

from .errors import WorkerFailed

T = TypeVar("T")
R = TypeVar("R")

DEFAULT_JOBS = max(1, min(os.cpu_count() or 1, 4))
"""Worker processes a caller gets unless it asks otherwise: the cores, at most 4."""

MIN_ITEMS = 100
"""Below this many items forking costs more than it saves (a fork is ~5 ms; an item ~0.5 ms)."""


def can_fork() -> bool:
    """True where :func:`fork_map` may fork: Linux, and this process runs a single Python thread."""
    return sys.platform.startswith("linux") and hasattr(os, "fork") and threading.active_count() == 1


def _run_chunk(fn: Callable[[T], R], chunk: Sequence[T]) -> list[R]:
    return [fn(item) for item in chunk]


def fork_map(fn: Callable[[T], R], items: Sequence[T], *, jobs: int = DEFAULT_JOBS, min_items: int | None = None,
             what: str = "work", advance: Callable[[int], None] | None = None) -> list[R]:
    """``[fn(x) for x in items]`` in order, spread over up to ``jobs`` forked processes when it pays
    (``min_items`` defaults to :data:`MIN_ITEMS`); ``advance(n)`` hears of each n items done."""
    if jobs < 1:
        raise ValueError(f"jobs must be at least 1 (got {jobs})")
    items = list(items)
    if jobs == 1 or len(items) < max(MIN_ITEMS if min_items is None else min_items, 2) or not can_fork():
        if advance is None:
            return _run_chunk(fn, items)
        out = []
        for item in items:
            out.append(fn(item))
            advance(1)
        return out
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    # A few chunks per worker even out files of different sizes without paying a round trip per item.
    chunks = jobs * 4
    size = -(-len(items) // chunks)
    parts = [items[i:i + size] for i in range(0, len(items), size)]
    try:
        with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("fork")) as pool:
            futures = [pool.submit(_run_chunk, fn, part) for part in parts]
            if advance is not None:
                from concurrent.futures import as_completed

                sizes = {future: len(part) for future, part in zip(futures, parts)}
                for future in as_completed(futures):
                    advance(sizes[future])
            return [result for future in futures for result in future.result()]
    except BrokenProcessPool as exc:
        raise WorkerFailed(what, str(exc) or "a worker process ended abruptly") from exc
