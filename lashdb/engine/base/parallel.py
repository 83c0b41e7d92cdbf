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

Why plain ``fork`` and pipes and not a ``ProcessPoolExecutor``: the pool cost ~45 ms to import and
15-25 ms a call (a manager thread, queues, a pickle per task) against a whole `sessions list` of
2,000 files taking ~300 ms; and its parent sat idle. Here the calling process takes the first share
of the items itself and ``jobs - 1`` forked children take the others, each sending its results back
in one pickle over its own pipe (and, when the caller wants progress, a count as it goes).
"""

from __future__ import annotations

import os
import pickle
import select
import struct
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

_HEADER = struct.Struct("<cQ")  # frame: kind (b"p" progress count, b"r" results, b"e" exception), length
_PROGRESS_EVERY = 16


def can_fork() -> bool:
    """True where :func:`fork_map` may fork: Linux, and this process runs a single Python thread."""
    return sys.platform.startswith("linux") and hasattr(os, "fork") and threading.active_count() == 1


def _run_chunk(fn: Callable[[T], R], chunk: Sequence[T]) -> list[R]:
    return [fn(item) for item in chunk]


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _frame(fd: int, kind: bytes, payload: bytes) -> None:
    _write_all(fd, _HEADER.pack(kind, len(payload)) + payload)


def _child(fn: Callable[[T], R], chunk: Sequence[T], fd: int, report: bool) -> None:
    """Run in a forked child: send ``fn`` over the chunk (or the exception it raised), then leave
    without running the parent's exit handlers or flushing its copied stdio buffers."""
    code = 0
    try:
        try:
            out = []
            for i, item in enumerate(chunk, 1):
                out.append(fn(item))
                if report and i % _PROGRESS_EVERY == 0:
                    _frame(fd, b"p", b"%d" % _PROGRESS_EVERY)
            if report and len(chunk) % _PROGRESS_EVERY:
                _frame(fd, b"p", b"%d" % (len(chunk) % _PROGRESS_EVERY))
            payload = b"r" + pickle.dumps(out, pickle.HIGHEST_PROTOCOL)
        except BaseException as exc:  # noqa: BLE001 - every failure is sent to the parent, which raises it
            try:
                payload = b"e" + pickle.dumps(exc, pickle.HIGHEST_PROTOCOL)
            except Exception:  # an exception that does not pickle still reaches the parent, as text
                payload = b"e" + pickle.dumps(RuntimeError(f"{type(exc).__name__}: {exc}"))
        _frame(fd, payload[:1], payload[1:])
    except BaseException:  # noqa: BLE001 - the parent sees the pipe close without results: WorkerFailed
        code = 1
    finally:
        os._exit(code)


class _Worker:
    """The parent's end of one child: its pid, pipe and what has arrived so far."""

    def __init__(self, pid: int, fd: int) -> None:
        self.pid, self.fd = pid, fd
        self.buffer = bytearray()
        self.result: tuple[bytes, bytes] | None = None
        self.closed = False

    def read(self, advance: Callable[[int], None] | None) -> None:
        """Read what the pipe holds now (one read), handing progress frames to ``advance``."""
        data = os.read(self.fd, 1 << 20)
        if not data:
            self.closed = True
            return
        self.buffer += data
        while len(self.buffer) >= _HEADER.size:
            kind, size = _HEADER.unpack_from(self.buffer)
            if len(self.buffer) < _HEADER.size + size:
                break
            payload = bytes(self.buffer[_HEADER.size:_HEADER.size + size])
            del self.buffer[:_HEADER.size + size]
            if kind == b"p":
                if advance is not None:
                    advance(int(payload))
            else:
                self.result = (kind, payload)


def _drain(workers: list[_Worker], advance: Callable[[int], None] | None, timeout: float | None) -> None:
    """Read from every child whose pipe has data within ``timeout`` (``None``: wait for one)."""
    open_ = {w.fd: w for w in workers if not w.closed}
    if not open_:
        return
    ready, _w, _x = select.select(list(open_), [], [], timeout)
    for fd in ready:
        open_[fd].read(advance)


def fork_map(fn: Callable[[T], R], items: Sequence[T], *, jobs: int = DEFAULT_JOBS, min_items: int | None = None,
             what: str = "work", advance: Callable[[int], None] | None = None) -> list[R]:
    """``[fn(x) for x in items]`` in order, spread over up to ``jobs`` processes (this one and
    ``jobs - 1`` forked children) when it pays (``min_items`` defaults to :data:`MIN_ITEMS`);
    ``advance(n)`` hears of each n items done."""
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
    size = -(-len(items) // jobs)
    parts = [items[i:i + size] for i in range(0, len(items), size)]
    workers: list[_Worker] = []
    try:
        sys.stdout.flush()
        sys.stderr.flush()
        for part in parts[1:]:
            read_fd, write_fd = os.pipe()
            pid = os.fork()
            if pid == 0:
                os.close(read_fd)
                for w in workers:
                    os.close(w.fd)
                _child(fn, part, write_fd, advance is not None)
            os.close(write_fd)
            workers.append(_Worker(pid, read_fd))
        mine = []
        for i, item in enumerate(parts[0], 1):
            mine.append(fn(item))
            if advance is not None:
                advance(1)
                if i % _PROGRESS_EVERY == 0:
                    _drain(workers, advance, 0)
        while any(not w.closed for w in workers):
            _drain(workers, advance, None)
        out = mine
        for w in workers:
            _reap(w, what)
            assert w.result is not None
            kind, payload = w.result
            value = pickle.loads(payload)
            if kind == b"e":
                raise value
            out.extend(value)
        return out
    finally:
        for w in workers:
            os.close(w.fd)
            if w.pid:
                _kill_and_reap(w.pid)


def _reap(worker: _Worker, what: str) -> None:
    """Wait for a child whose pipe has closed; WorkerFailed unless it sent its results and exited 0."""
    _pid, status = os.waitpid(worker.pid, 0)
    worker.pid = 0
    if worker.result is None or not os.WIFEXITED(status) or os.WEXITSTATUS(status) != 0:
        if os.WIFSIGNALED(status):
            reason = f"killed by signal {os.WTERMSIG(status)}"
        elif os.WIFEXITED(status) and os.WEXITSTATUS(status) != 0:
            reason = f"exited with status {os.WEXITSTATUS(status)}"
        else:
            reason = "it ended without answering"
        raise WorkerFailed(what, f"a worker process ended abruptly: {reason}")


def _kill_and_reap(pid: int) -> None:
    """A child still running when the parent gives up (an error, Ctrl-C): end it and collect it."""
    import signal

    try:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    except (ProcessLookupError, ChildProcessError):
        pass
