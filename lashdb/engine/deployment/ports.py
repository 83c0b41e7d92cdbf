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


class EffectJournalRows(Protocol):
    """The statements of an effect journal: one row per (scope id, replay key), never deleted.

    The replay states, the lease TTL, takeover and the error codes are the controller's; this only
    reads and writes rows. The lease guard of :meth:`renew`, :meth:`finalize` and :meth:`release`
    matches only the row still held by ``owner_id``/``lease_token`` for ``envelope_hash``, in
    progress, whose lease has not expired at ``now_ms``; each returns whether it matched. Clearing
    a lease sets owner and token to None and its expiry to 0.
    """

    def get(self, scope_id: str, replay_key: str) -> tuple[Any, Any, Any, Any, Any, Any] | None:
        """``(envelope_hash, status, outcome_json, error_json, lease_expires_at_ms, due_at_ms)``, or None."""
        ...

    def insert(self, scope_id: str, replay_key: str, envelope_hash: str, status: str, owner_id: str,
               lease_token: str, lease_expires_at_ms: int, due_at_ms: int | None, now_ms: int) -> None:
        """Add the row (no outcome, no error) leased to ``owner_id``/``lease_token``."""
        ...

    def claim(self, scope_id: str, replay_key: str, owner_id: str, lease_token: str, lease_expires_at_ms: int,
              due_at_ms: int | None, now_ms: int) -> None:
        """Hand an existing row's lease to ``owner_id``/``lease_token`` (the caller decided it may)."""
        ...

    def renew(self, scope_id: str, replay_key: str, envelope_hash: str, owner_id: str, lease_token: str,
              lease_expires_at_ms: int, now_ms: int) -> bool:
        """Move the guarded lease's expiry to ``lease_expires_at_ms``."""
        ...

    def finalize(self, scope_id: str, replay_key: str, envelope_hash: str, owner_id: str, lease_token: str,
                 status: str, outcome_json: str | None, error_json: str | None, now_ms: int) -> bool:
        """Record the result (``status`` and outcome or error) and clear the guarded lease."""
        ...

    def release(self, scope_id: str, replay_key: str, envelope_hash: str, owner_id: str, lease_token: str,
                now_ms: int) -> bool:
        """Clear the guarded lease, leaving the row in progress."""
        ...
