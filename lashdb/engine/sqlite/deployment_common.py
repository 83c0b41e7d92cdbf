"""Plumbing shared by the two deployment stores (process registry, trigger store).

Contract:
- :func:`open_deployment_file` opens a registry/trigger file for writing only after checking,
  read-only, that it is empty or of the right kind at the supported version. A foreign or
  other-kind file is refused with :class:`SchemaVersionError`/:class:`NotALashDatabase` before
  anything (journal mode included) is changed, so a newer upstream file is never modified.
- :func:`to_i64`/:func:`from_i64` store unsigned 64-bit values the way upstream does (a plain
  signed cast) and read them back; :data:`I64_MAX` bounds query cursors.
- :func:`driver_message` is the SQLite driver's own text of a translated backend error.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import apsw

from . import schema
from .connection import open_memory
from lashdb.engine.base.errors import BackendError
from lashdb.engine.base.ints import (  # noqa: F401  (re-exported)
    I64_MAX,
    U64_MAX,
    clamp_cursor,
    from_i64,
    to_i64,
)
from .schema import SchemaKind
from lashdb.engine.base.timing import (  # noqa: F401  (re-exported to the deployment stores)
    DURABLE,
    Clock,
    wall_clock_ms,
)



def driver_message(exc: BackendError) -> str:
    """The SQLite driver's own message behind a translated backend error."""
    cause = exc.__cause__
    if isinstance(cause, apsw.Error):
        return str(cause)
    return exc.message


def open_deployment_file(path: str | os.PathLike[str], kind: SchemaKind) -> apsw.Connection:
    """Open (creating if absent) a deployment store file, refusing foreign files untouched."""
    # The one shared open-for-writing path of every store kind (the session store uses it too).
    return schema.open_for_kind(path, kind)


class ConnectionOwner:
    """Lifecycle shared by the deployment stores: open, close, context manager, the injected clock.

    Subclasses name their schema ``KIND``, take ``(conn, path, clock)`` in ``__init__`` and set
    ``_conn`` (an apsw connection), ``_lock`` (an RLock) and ``_clock`` (ms).
    """

    KIND: Any
    _conn: Any
    _lock: Any
    _clock: Any

    @classmethod
    def open(cls, path: str | os.PathLike[str], *, clock: Any = None):  # noqa: ANN206 - the subclass
        """Open or create the store at ``path``; refuse a foreign or other-kind file untouched."""
        path = os.fspath(path)
        return cls(open_deployment_file(path, cls.KIND), path, clock)

    @classmethod
    def memory(cls, *, clock: Any = None):  # noqa: ANN206 - the subclass
        """A private in-memory store (no WAL), same schema and behaviour."""
        conn = open_memory()
        schema.ensure_schema(conn, cls.KIND)
        return cls(conn, None, clock)

    def close(self) -> None:
        """Close the connection; the store cannot be used afterwards."""
        with self._lock:
            self._conn.close()

    def __enter__(self):  # noqa: ANN204 - returns the subclass
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def now_ms(self) -> int:
        """The store's clock (epoch ms)."""
        return int(self._clock())
