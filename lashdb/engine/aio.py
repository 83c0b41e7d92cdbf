"""asyncio facade over the synchronous stores.

Contract: every wrapped object gets one worker thread of its own; each ``await facade.method(...)``
runs ``method`` on that thread, in call order, so the event loop is never blocked by SQLite and
a store never sees two of its calls at once. Results and exceptions are those of the sync method.
Closing the facade closes the wrapped object on its thread and stops the thread.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import os
from collections.abc import Callable
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class AsyncFacade(Generic[T]):
    """Run the public methods of ``target`` on a dedicated thread, awaitable from asyncio."""

    def __init__(self, target: T, executor: concurrent.futures.ThreadPoolExecutor) -> None:
        self._target = target
        self._executor = executor

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

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        attr = getattr(self._target, name)
        if not callable(attr):
            return attr

        async def call(*args: Any, **kwargs: Any) -> Any:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._executor, functools.partial(attr, *args, **kwargs))

        call.__name__ = name
        call.__doc__ = getattr(attr, "__doc__", None)
        return call

    async def close(self) -> None:
        """Close the wrapped object (if it has ``close``) on its thread, then stop the thread."""
        closer = getattr(self._target, "close", None)
        try:
            if closer is not None:
                loop = asyncio.get_running_loop()
                await loop.run_in_executor(self._executor, closer)
        finally:
            self._executor.shutdown(wait=True)

    async def __aenter__(self) -> AsyncFacade[T]:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


async def open_store(path: str | os.PathLike[str], options: Any = None) -> AsyncFacade[Any]:
    """Open a session store behind an asyncio facade."""
    from .store import Store, StoreOptions

    return await AsyncFacade.create(Store.open_with_options, path, options or StoreOptions())


async def memory_store(options: Any = None) -> AsyncFacade[Any]:
    """An in-memory session store behind an asyncio facade."""
    from .store import Store

    return await AsyncFacade.create(Store.memory, options)


async def open_process_registry(path: str | os.PathLike[str], *, clock: Any = None) -> AsyncFacade[Any]:
    """Open a process registry behind an asyncio facade whose waits do not block its thread."""
    from .process_registry import AsyncProcessRegistry, ProcessRegistry

    return await AsyncProcessRegistry.create(ProcessRegistry.open, path, clock=clock)


async def memory_process_registry(*, clock: Any = None) -> AsyncFacade[Any]:
    """An in-memory process registry behind an asyncio facade."""
    from .process_registry import AsyncProcessRegistry, ProcessRegistry

    return await AsyncProcessRegistry.create(ProcessRegistry.memory, clock=clock)


async def open_trigger_store(path: str | os.PathLike[str], *, clock: Any = None) -> AsyncFacade[Any]:
    """Open a trigger store behind an asyncio facade."""
    from .triggers import TriggerStore

    return await AsyncFacade.create(TriggerStore.open, path, clock=clock)


async def memory_trigger_store(*, clock: Any = None) -> AsyncFacade[Any]:
    """An in-memory trigger store behind an asyncio facade."""
    from .triggers import TriggerStore

    return await AsyncFacade.create(TriggerStore.memory, clock=clock)


async def open_effect_host(path: str | os.PathLike[str] | None = None, options: Any = None, *,
                           clock: Any = None) -> AsyncFacade[Any]:
    """Open an effect replay host (in memory when ``path`` is None); its effects run concurrently."""
    from .effects import AsyncEffectHost, EffectHost

    if path is None:
        return await AsyncEffectHost.create(EffectHost.memory, options, clock=clock)
    return await AsyncEffectHost.create(EffectHost.open, path, options, clock=clock)


async def memory_effect_host(options: Any = None, *, clock: Any = None) -> AsyncFacade[Any]:
    """An in-memory effect replay host behind an asyncio facade; its effects run concurrently."""
    from .effects import AsyncEffectHost, EffectHost

    return await AsyncEffectHost.create(EffectHost.memory, options, clock=clock)
