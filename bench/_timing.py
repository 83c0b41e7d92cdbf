"""Timing helpers the benchmarks share: one clock, Python's cyclic GC paused inside a timed step."""

from __future__ import annotations

import gc
import statistics
import time


def timed(fn) -> float:
    """Seconds ``fn()`` took, with the cyclic GC paused (as ``timeit`` does)."""
    gc.disable()
    try:
        t0 = time.perf_counter()
        fn()
        return time.perf_counter() - t0
    finally:
        gc.enable()


def median_time(fn, repeat: int) -> float:
    """Median seconds of ``repeat`` calls of ``fn()``."""
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples)
