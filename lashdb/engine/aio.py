"""Old home of the asyncio helpers, kept for outside callers (issue 11 split it).

The facade itself is :mod:`lashdb.engine.base.aio`; the ``open_*``/``memory_*`` helpers live beside
what they open (:mod:`~lashdb.engine.store_aio`, :mod:`~lashdb.engine.deployment_aio`). This module
only re-exports them: patch the home module, not this one.
"""

from __future__ import annotations

from .base.aio import ITER_CHUNK, AsyncFacade, WorkerIterator  # noqa: F401
from lashdb.engine.deployment.aio import (  # noqa: F401
    memory_effect_host,
    memory_process_registry,
    memory_trigger_store,
    open_effect_host,
    open_process_registry,
    open_trigger_store,
)
from lashdb.engine.session.aio import memory_store, open_store  # noqa: F401
