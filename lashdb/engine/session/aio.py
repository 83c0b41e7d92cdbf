"""asyncio entry points of the session store (each store on its own worker thread; see :mod:`.aio`)."""

from __future__ import annotations

import os
from typing import Any

from lashdb.engine.base.aio import AsyncFacade
from .store import Store, StoreOptions

__all__ = ["memory_store", "open_store"]


async def open_store(path: str | os.PathLike[str], options: Any = None) -> AsyncFacade[Any]:
    """Open a session store behind an asyncio facade."""
    return await AsyncFacade.create(Store.open_with_options, path, options or StoreOptions())


async def memory_store(options: Any = None) -> AsyncFacade[Any]:
    """An in-memory session store behind an asyncio facade."""
    return await AsyncFacade.create(Store.memory, options)
