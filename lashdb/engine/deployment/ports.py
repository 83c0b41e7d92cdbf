"""What the deployment stores need from storage (the seam; ``sqlite/`` and later ``postgres/`` implement it).

Contract:
- A :class:`DeploymentBackend` is one deployment database: a SQLite sidecar file, or one root
  session's scope in a PostgreSQL store. ``write(fn)`` runs ``fn(rows)`` in one exclusive write
  transaction (``BEGIN IMMEDIATE``; on PostgreSQL the scope's advisory lock) that commits on return
  and rolls back on any exception; ``read(fn)`` runs ``fn(rows)`` in one consistent read snapshot.
- Driver failures come out as :class:`~lashdb.engine.base.errors.BackendError` (or a subclass),
  with the driver's text in ``driver_message``; the rules above never see a driver exception.
- ``rows`` is the concern's statement object (registry, trigger or effect-journal rows): it runs
  statements and returns plain values (tuples of str/int/bytes/None). The rules (idempotency,
  compare-and-set, fencing, dedupe, replay states) live in the store classes, once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, TypeVar

T = TypeVar("T")


class DeploymentBackend(Protocol):
    """One deployment database, as the registry, trigger store and effect journal see it."""

    path: str | None

    def write(self, fn: Callable[[Any], T]) -> T:
        """Run ``fn(rows)`` in one exclusive write transaction; roll back on any exception."""
        ...

    def read(self, fn: Callable[[Any], T]) -> T:
        """Run ``fn(rows)`` in one consistent read snapshot."""
        ...

    def autocommit(self, fn: Callable[[Any], T]) -> T:
        """Run ``fn(rows)`` outside an explicit transaction (one statement, its own commit)."""
        ...

    def close(self) -> None:
        """Release the connection(s); the backend cannot be used afterwards."""
        ...
