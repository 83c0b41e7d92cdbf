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
class RegistryRows(Protocol):
    """The process registry's statements (SPEC §3.2), run inside the backend's transaction.

    Records, events and grant descriptors travel as canonical JSON text; timestamps, sequences and
    fencing tokens as unsigned ints. ``*_process``/``*_grant`` writes never check a rule: the
    registry decides, in its transaction, what may be written.
    """

    def load_process(self, process_id: str) -> str | None:
        """The stored record JSON of a process, or None."""
        ...

    def insert_process(self, process_id: str, registration_hash: str, owner_scope_id: str,
                       created_at_ms: int, status: str, record_json: str) -> None:
        """Insert a new process row (created and updated at ``created_at_ms``)."""
        ...

    def save_process(self, process_id: str, updated_at_ms: int, status: str, record_json: str) -> None:
        """Overwrite a process row's record, status and update time."""
        ...

    def list_processes(self) -> list[str]:
        """Every record JSON, by process id."""
        ...

    def list_running(self) -> list[str]:
        """Record JSON of the processes whose status is ``running``, by process id."""
        ...

    def put_grant(self, session_id: str, scope_id: str, process_id: str, descriptor_json: str) -> None:
        """Insert or replace the grant of ``(scope_id, process_id)``."""
        ...

    def delete_grant(self, scope_id: str, process_id: str) -> bool:
        """Delete one grant; True when one existed."""
        ...

    def grant_descriptor(self, scope_id: str, process_id: str) -> str | None:
        """The descriptor JSON of one grant, or None."""
        ...

    def grants_for_scope(self, scope_id: str, running_only: bool) -> list[tuple[str, str, str]]:
        """``(process_id, descriptor_json, record_json)`` of a scope's grants, by process id."""
        ...

    def has_grant(self, scope_id: str, process_id: str) -> bool:
        """True when the scope holds a grant for an existing process."""
        ...

    def grants_for_process(self, process_id: str) -> list[tuple[str, str]]:
        """``(session_id, descriptor_json)`` of every grant of a process, by session then scope id."""
        ...

    def session_grants(self, session_id: str) -> list[tuple[str, str]]:
        """``(process_id, record_json)`` of every grant a session holds (any frame), by process id."""
        ...

    def delete_session_grants(self, session_id: str) -> int:
        """Delete every grant a session holds; how many were deleted."""
        ...

    def count_grants(self, process_id: str) -> int:
        """How many grants (any scope) a process has."""
        ...

    def event_by_key(self, process_id: str, replay_key: str) -> tuple[str, str] | None:
        """``(payload_hash, event_json)`` of the event stored under a replay key, or None."""
        ...

    def next_sequence(self, process_id: str) -> int:
        """One more than the process's highest event sequence (1 for none)."""
        ...

    def insert_event(self, process_id: str, sequence: int, event_type: str, payload_hash: str,
                     replay_key: str | None, occurred_at_ms: int, event_json: str) -> None:
        """Append one event row."""
        ...

    def events_after(self, process_id: str, after_sequence: int) -> list[str]:
        """Event JSON with sequence > ``after_sequence``, ascending."""
        ...

    def count_events_through(self, process_id: str, event_type: str, up_to_sequence: int) -> int:
        """How many events of ``event_type`` have sequence <= ``up_to_sequence``."""
        ...

    def recent_events(self, process_id: str, limit: int) -> list[str]:
        """Event JSON of the last ``limit`` events, ascending."""
        ...

    def find_event_after(self, process_id: str, event_type: str, after_sequence: int) -> str | None:
        """Event JSON of the first ``event_type`` event after the cursor, or None."""
        ...

    def wake_acks(self, process_id: str) -> set[int]:
        """Sequences of the process's acknowledged wake events."""
        ...

    def add_wake_ack(self, process_id: str, sequence: int) -> bool:
        """Record a wake acknowledgement; True when it was new (a duplicate is ignored)."""
        ...

    def lease(self, process_id: str) -> tuple[str | None, str | None, int, int, int] | None:
        """``(owner_id, token, fencing, claimed_at_ms, expires_at_ms)`` of the lease row, or None."""
        ...

    def put_lease(self, process_id: str, owner_id: str, token: str, fencing: int, claimed_at_ms: int,
                  expires_at_ms: int) -> None:
        """Insert or overwrite the process's lease row."""
        ...

    def extend_lease(self, process_id: str, token: str, expires_at_ms: int) -> bool:
        """Move the expiry of the lease carrying ``token``; True when it matched."""
        ...

    def release_lease(self, process_id: str, token: str) -> bool:
        """Clear the lease carrying ``token``, keeping the fencing counter; True when it matched."""
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
