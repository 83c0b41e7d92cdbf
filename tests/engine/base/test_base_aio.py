"""The asyncio facade: one worker thread per object, calls in order, iterators pulled on the worker
in chunks, StoreClosed after close. The target is a plain recording object (the facade is generic;
store-level async behaviour is covered in tests/engine/session/test_aio.py)."""

from __future__ import annotations

import asyncio
import contextlib
import threading

import pytest

from lashdb.engine.base import aio
from lashdb.engine.base.errors import StoreClosed


class Target:
    path = "/d/x.db"
    label = "a value, not a method"

    def __init__(self, fail: bool = False) -> None:
        if fail:
            raise ValueError("cannot build")
        self.threads: set[int] = {threading.get_ident()}
        self.calls: list[str] = []
        self.closed_on: int | None = None
        self.generator_closed = False

    def add(self, a, b=0):
        self.threads.add(threading.get_ident())
        self.calls.append(f"add {a} {b}")
        return a + b

    def boom(self):
        raise KeyError("nope")

    def rows(self, n, fail_at=None):
        try:
            for i in range(n):
                self.threads.add(threading.get_ident())
                if i == fail_at:
                    raise RuntimeError(f"row {i} broke")
                yield i
        finally:
            self.generator_closed = True

    def close(self):
        self.closed_on = threading.get_ident()


def run(coro):
    return asyncio.run(coro)


def test_calls_run_on_one_worker_thread_in_order():
    async def main():
        async with await aio.AsyncFacade.create(Target) as facade:
            results = await asyncio.gather(*(facade.add(i, b=1) for i in range(5)))
            return facade.sync, results
    target, results = run(main())
    assert results == [1, 2, 3, 4, 5]
    assert target.calls == [f"add {i} 1" for i in range(5)]
    assert len(target.threads) == 1 and threading.get_ident() not in target.threads
    assert target.closed_on in target.threads


def test_exceptions_attributes_and_private_names():
    async def main():
        async with await aio.AsyncFacade.create(Target) as facade:
            with pytest.raises(KeyError, match="nope"):
                await facade.boom()
            assert facade.label == "a value, not a method"
            assert facade.add.__name__ == "add"
            with pytest.raises(AttributeError):
                facade._secret
            assert not facade.closed
    run(main())


def test_a_failing_factory_raises_its_error():
    with pytest.raises(ValueError, match="cannot build"):
        run(aio.AsyncFacade.create(Target, fail=True))


def test_calls_after_close_raise_store_closed_naming_the_object():
    async def main():
        facade = await aio.AsyncFacade.create(Target)
        await facade.close()
        await facade.close()  # idempotent
        assert facade.closed
        with pytest.raises(StoreClosed) as caught:
            await facade.add(1)
        return caught.value
    exc = run(main())
    assert str(exc) == "/d/x.db: the Target is closed"


def test_iterators_come_back_as_worker_iterators_read_on_the_worker():
    async def main():
        async with await aio.AsyncFacade.create(Target) as facade:
            it = await facade.rows(aio.ITER_CHUNK * 2 + 3)
            assert isinstance(it, aio.WorkerIterator)
            first = await it.__anext__()
            assert len(it._buffer) == aio.ITER_CHUNK - 1  # one chunk per trip
            rest = await it.collect()
            return facade.sync, [first, *rest]
    target, rows = run(main())
    assert rows == list(range(aio.ITER_CHUNK * 2 + 3))
    assert len(target.threads) == 1 and target.generator_closed


def test_an_error_arrives_after_the_rows_before_it():
    async def main():
        async with await aio.AsyncFacade.create(Target) as facade:
            it = await facade.rows(10, fail_at=3)
            got = []
            with pytest.raises(RuntimeError, match="row 3 broke"):
                async for row in it:
                    got.append(row)
            return got
    assert run(main()) == [0, 1, 2]


def test_another_call_drains_an_open_iterator_first():
    async def main():
        async with await aio.AsyncFacade.create(Target) as facade:
            it = await facade.rows(aio.ITER_CHUNK + 10)
            await it.__anext__()
            assert not facade.sync.generator_closed
            await facade.add(1)
            assert facade.sync.generator_closed  # the rest was read into the buffer
            return len(await it.collect())
    assert run(main()) == aio.ITER_CHUNK + 9


def test_aclose_ends_the_read_early():
    async def main():
        async with await aio.AsyncFacade.create(Target) as facade:
            it = await facade.rows(1000)
            async with contextlib.aclosing(it):
                async for row in it:
                    if row == 2:
                        break
            assert facade.sync.generator_closed
            with pytest.raises(StopAsyncIteration):
                await it.__anext__()
    run(main())


def test_closing_the_facade_cuts_an_unfinished_iterator():
    async def main():
        facade = await aio.AsyncFacade.create(Target)
        it = await facade.rows(1000)
        await it.__anext__()
        await facade.close()
        assert facade.sync.generator_closed
        remaining = [row async for row in _until_error(it)]
        return remaining
    rows = run(main())
    assert rows[:-1] == list(range(1, aio.ITER_CHUNK)) and rows[-1] == "StoreClosed"


async def _until_error(it):
    try:
        async for row in it:
            yield row
    except StoreClosed:
        yield "StoreClosed"
