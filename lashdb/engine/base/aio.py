"""asyncio facade over the synchronous stores.

Contract: every wrapped object gets one worker thread of its own; each ``await facade.method(...)``
runs ``method`` on that thread, in call order, so the event loop is never blocked by SQLite and
a store never sees two of its calls at once. Results and exceptions are those of the sync method,
except that a method returning an iterator (a generator such as ``Store.iter_blob_rows``) returns a
:class:`WorkerIterator` instead: an async iterator whose rows are pulled on the worker thread in
chunks, so no store code ever runs on the event loop. Closing the facade closes the wrapped object
on its thread and stops the thread; any call after that raises :class:`StoreClosed`.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import functools
import weakref
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

from .errors import StoreClosed

T = TypeVar("T")

# Rows fetched per trip to the worker thread: few enough to keep memory small for large blobs,
# enough that the hop between threads is not paid per row.
ITER_CHUNK = 64


class AsyncFacade(Generic[T]):
    """Run the public methods of ``target`` on a dedicated thread, awaitable from asyncio."""

    def __init__(self, target: T, executor: concurrent.futures.ThreadPoolExecutor) -> None:
        self._target = target
        self._executor = executor
        self._closed = False
        # Iterators whose generator may be suspended inside the store (holding its lock and a read
        # transaction). Touched only on the worker thread.
        self._open_iterators: weakref.WeakSet[WorkerIterator] = weakref.WeakSet()

    @classmethod
    async def create(cls, factory: Callable[..., T], *args: Any, **kwargs: Any) -> AsyncFacade[T]:
        """Build the target with ``factory(*args, **kwargs)`` on the new worker thread."""
        executor = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="lashdb-aio")
        loop = asyncio.get_running_loop()
        try:
            target = await loop.run_in_executor(executor, functools.partial(factory, *args, **kwargs))
        except BaseException:
            executor.shutdown(wait=False)
            raise
        return cls(target, executor)

    @property
    def sync(self) -> T:
        """The wrapped object (only call it from the facade's thread, or after closing)."""
        return self._target

    @property
    def closed(self) -> bool:
        """True once :meth:`close` has begun; every call then raises :class:`StoreClosed`."""
        return self._closed

    def _closed_error(self) -> StoreClosed:
        return StoreClosed(getattr(self._target, "path", None), type(self._target).__name__)

    async def _submit(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` on the worker thread; :class:`StoreClosed` once the facade is closed."""
        if self._closed:
            raise self._closed_error()
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, fn)

    def _settle_iterators(self, keep: WorkerIterator | None = None) -> None:
        # Worker thread only. A suspended generator holds the store's lock and read transaction;
        # any other call would run inside that transaction (a write would fail to BEGIN), so the
        # rest of its rows are read now, into its buffer, and the transaction ends.
        for iterator in list(self._open_iterators):
            if iterator is not keep:
                iterator._drain()

    def _wrap(self, fn: Callable[[], Any]) -> Callable[[], Any]:
        def work() -> Any:
            self._settle_iterators()
            result = fn()
            if isinstance(result, Iterator):
                result = WorkerIterator(self, result)
                self._open_iterators.add(result)
            return result

        return work

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        attr = getattr(self._target, name)
        if not callable(attr):
            return attr

        async def call(*args: Any, **kwargs: Any) -> Any:
            return await self._submit(self._wrap(functools.partial(attr, *args, **kwargs)))

        call.__name__ = name
        call.__doc__ = getattr(attr, "__doc__", None)
        return call

    async def close(self) -> None:
        """Close the wrapped object (if it has ``close``) on its thread, then stop the thread."""
        if self._closed:
            return
        self._closed = True
        closer = getattr(self._target, "close", None)

        def shut() -> None:
            # Generators left open are closed here, on the thread that suspended them.
            for iterator in list(self._open_iterators):
                iterator._close_source()
                iterator._cut = True
            if closer is not None:
                closer()

        try:
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(self._executor, shut)
        finally:
            self._executor.shutdown(wait=True)

    async def __aenter__(self) -> AsyncFacade[T]:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


def _close_on(executor: concurrent.futures.ThreadPoolExecutor, source: Iterator[Any]) -> None:
    # An abandoned iterator: its generator must be closed on the worker thread that suspended it
    # (it releases the store's lock there). A stopped executor already closed it with the store.
    close = getattr(source, "close", None)
    if close is not None:
        try:
            executor.submit(close)
        except RuntimeError:
            pass


class WorkerIterator:
    """Async iterator over what a facade method yields; every row is produced on the worker thread.

    Rows come in chunks of :data:`ITER_CHUNK`. Another call on the same facade first reads the rest
    of the rows into memory (the store's read transaction must end before it runs), so the rows still
    come from one consistent snapshot. ``aclose()`` (or leaving ``async for`` via
    ``contextlib.aclosing``) ends the read early.
    """

    def __init__(self, facade: AsyncFacade[Any], source: Iterator[Any]) -> None:
        self._facade = facade
        self._source: Iterator[Any] | None = source
        self._buffer: collections.deque[Any] = collections.deque()
        self._error: BaseException | None = None
        self._cut = False  # the facade closed before every row was read
        self._finalizer = weakref.finalize(self, _close_on, facade._executor, source)
        self._finalizer.atexit = False

    def __aiter__(self) -> WorkerIterator:
        return self

    async def __anext__(self) -> Any:
        if not self._buffer and self._source is not None:
            await self._facade._submit(self._fill)
        if self._buffer:
            return self._buffer.popleft()
        if self._error is not None:
            error, self._error = self._error, None
            raise error
        if self._cut:
            raise self._facade._closed_error()
        raise StopAsyncIteration

    async def collect(self) -> list[Any]:
        """Every remaining row, as a list."""
        return [row async for row in self]

    async def aclose(self) -> None:
        """Stop early: close the generator on the worker thread (releasing the store)."""
        if self._source is not None and not self._facade.closed:
            await self._facade._submit(self._close_source)
        self._buffer.clear()

    # --- worker thread only --------------------------------------------------------------------------

    def _fill(self) -> None:
        self._facade._settle_iterators(keep=self)
        self._pull(ITER_CHUNK)

    def _drain(self) -> None:
        self._pull(None)

    def _pull(self, count: int | None) -> None:
        source = self._source
        if source is None:
            return
        try:
            while count is None or len(self._buffer) < count:
                self._buffer.append(next(source))
        except StopIteration:
            self._finish()
        except Exception as exc:  # delivered after the rows read before it, like the sync loop
            self._error = exc
            self._finish()

    def _close_source(self) -> None:
        source = self._source
        self._finish()
        close = getattr(source, "close", None)
        if close is not None:
            close()

    def _finish(self) -> None:
        self._source = None
        self._finalizer.detach()
        self._facade._open_iterators.discard(self)
