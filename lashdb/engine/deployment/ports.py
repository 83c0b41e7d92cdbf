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


class TriggerRows(Protocol):
    """The trigger store's statements (one database, or one root session's scope on PostgreSQL).

    Rows are plain values: subscription rows as ``(subscription_id, record_json)`` (plus
    ``enabled`` where named), occurrence rows as their text columns. Times are epoch ms (u64).
    Decoding, dedupe, idempotency and filtering by session stay in ``TriggerStore``.
    """

    def next_subscription_number(self) -> int:
        """Take the next number of the never-reused subscription sequence."""
        ...

    def insert_subscription(self, subscription_id: str, registrant_scope_id: str, handle: str,
                            source_type: str, source_key: str, enabled: bool, created_at_ms: int,
                            updated_at_ms: int, record_json: str) -> None:
        """Store a new subscription row."""
        ...

    def list_subscriptions(self, handle: str | None = None, source_type: str | None = None,
                           source_key: str | None = None,
                           enabled: bool | None = None) -> list[tuple[str, str]]:
        """``(subscription_id, record_json)`` of rows equal on every given column, by scope then handle."""
        ...

    def every_subscription(self) -> list[tuple[str, str]]:
        """``(subscription_id, record_json)`` of every subscription row, in no promised order."""
        ...

    def by_handle(self, handle: str) -> list[tuple[str, bool, str]]:
        """``(subscription_id, enabled, record_json)`` of every row with this handle (any scope)."""
        ...

    def update_subscription(self, subscription_id: str, handle: str, enabled: bool, updated_at_ms: int,
                            record_json: str) -> None:
        """Rewrite one subscription's enabled flag, update time and JSON."""
        ...

    def delete_subscription(self, subscription_id: str) -> bool:
        """Delete one subscription (its deliveries go with it); True if a row was deleted."""
        ...

    def occurrence_by_key(self, idempotency_key: str) -> tuple[str, str] | None:
        """``(request_hash, record_json)`` of the occurrence under this idempotency key, or None."""
        ...

    def insert_occurrence(self, occurrence_id: str, idempotency_key: str, request_hash: str,
                          source_type: str, source_key: str, occurred_at_ms: int, record_json: str) -> None:
        """Store a new occurrence row."""
        ...

    def occurrence_by_id(self, occurrence_id: str) -> str | None:
        """The occurrence's ``record_json``, or None."""
        ...

    def matching(self, source_type: str, source_key: str) -> list[tuple[str, str]]:
        """``(subscription_id, record_json)`` of enabled subscriptions of this source, by scope then handle."""
        ...

    def insert_delivery(self, occurrence_id: str, subscription_id: str, process_id: str,
                        created_at_ms: int) -> bool:
        """Reserve a delivery unless one exists for the pair; True if this call inserted it."""
        ...
