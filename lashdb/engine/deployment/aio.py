"""asyncio entry points of the deployment stores: process registry, trigger store, effect host."""

from __future__ import annotations

import os
from typing import Any

from lashdb.engine.base.aio import AsyncFacade
from .effects import AsyncEffectHost, EffectHost
from .process_registry import AsyncProcessRegistry, ProcessRegistry
from .triggers import TriggerStore

__all__ = ["memory_effect_host", "memory_process_registry", "memory_trigger_store", "open_effect_host",
           "open_process_registry", "open_trigger_store"]


async def open_process_registry(path: str | os.PathLike[str], *, clock: Any = None) -> AsyncFacade[Any]:
    """Open a process registry behind an asyncio facade whose waits do not block its thread."""
    return await AsyncProcessRegistry.create(ProcessRegistry.open, path, clock=clock)


async def memory_process_registry(*, clock: Any = None) -> AsyncFacade[Any]:
    """An in-memory process registry behind an asyncio facade."""
    return await AsyncProcessRegistry.create(ProcessRegistry.memory, clock=clock)


async def open_trigger_store(path: str | os.PathLike[str], *, clock: Any = None) -> AsyncFacade[Any]:
    """Open a trigger store behind an asyncio facade."""
    return await AsyncFacade.create(TriggerStore.open, path, clock=clock)


async def memory_trigger_store(*, clock: Any = None) -> AsyncFacade[Any]:
    """An in-memory trigger store behind an asyncio facade."""
    return await AsyncFacade.create(TriggerStore.memory, clock=clock)


async def open_effect_host(path: str | os.PathLike[str] | None = None, options: Any = None, *,
                           clock: Any = None) -> AsyncFacade[Any]:
    """Open an effect replay host (in memory when ``path`` is None); its effects run concurrently."""
    if path is None:
        return await AsyncEffectHost.create(EffectHost.memory, options, clock=clock)
    return await AsyncEffectHost.create(EffectHost.open, path, options, clock=clock)


async def memory_effect_host(options: Any = None, *, clock: Any = None) -> AsyncFacade[Any]:
    """An in-memory effect replay host behind an asyncio facade; its effects run concurrently."""
    return await AsyncEffectHost.create(EffectHost.memory, options, clock=clock)
