"""Lifecycle shared by the deployment stores (process registry, trigger store): open, close, clock.

Contract:
- :meth:`StoreOwner.open` opens (creating if absent) the store's database through the backend
  registered as :attr:`StoreOwner.BACKEND`; a foreign or other-kind file is refused untouched by
  that backend. :meth:`StoreOwner.memory` gives a private in-memory store with the same schema.
- The clock is injectable (epoch ms); :meth:`now_ms` is the store's one clock.
- ``_conn`` is the SQLite backend's connection, kept for tests and SQLite-only tooling.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from lashdb.engine.base import backends
from lashdb.engine.base.timing import wall_clock_ms

from .ports import DeploymentBackend


class StoreOwner:
    """Base of the deployment store classes: holds the backend, the lock and the clock."""

    BACKEND: str  # the registered opener, e.g. "sqlite.process_registry"

    def __init__(self, backend: DeploymentBackend, clock: Any = None) -> None:
        self._backend = backend
        self.path = backend.path
        self._clock = clock or wall_clock_ms
        self._lock = threading.RLock()

    @classmethod
    def open(cls, path: str | os.PathLike[str], *, clock: Any = None):  # noqa: ANN206 - the subclass
        """Open or create the store at ``path``; refuse a foreign or other-kind file untouched."""
        return cls(backends.open_with(cls.BACKEND, os.fspath(path)), clock)

    @classmethod
    def memory(cls, *, clock: Any = None):  # noqa: ANN206 - the subclass
        """A private in-memory store (no WAL), same schema and behaviour."""
        return cls(backends.open_with(cls.BACKEND, None), clock)

    @property
    def _conn(self) -> Any:
        return self._backend.conn

    def close(self) -> None:
        """Close the database; the store cannot be used afterwards."""
        with self._lock:
            self._backend.close()

    def __enter__(self):  # noqa: ANN204 - returns the subclass
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def now_ms(self) -> int:
        """The store's clock (epoch ms)."""
        return int(self._clock())
