"""What the read-only deployment store views return, and the inspector base they share (deployment-stores §4).

Contract:
- Every result is a frozen dataclass whose ``to_json()`` has stable keys; times are raw epoch
  milliseconds (callers add ISO strings). Stored JSON is decoded leniently for display: a row that
  does not decode is still listed, with ``decode_error`` set, never skipped.
- An inspector reads through a column-tolerant reader the storage backend registers as
  ``"sqlite.inspect_deployment"`` (:mod:`lashdb.engine.base.backends`); it accepts files of its
  kind at any schema version (a foreign one is flagged in :attr:`StoreInfo.foreign`, the values its
  schema lacks come back None and are named in ``unavailable``) and never writes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from lashdb.engine.base import backends
from .ports import reader_opener
from lashdb.engine.base.jsonread import get_path, text_or_none
from lashdb.engine.base.timing import wall_clock_ms
from lashdb.engine.deployment.process_model import TERMINAL_STATES

# Inputs a worker executes (and so should hold a lease while running); external ones are
# completed from outside and normally hold none.
WORKER_INPUT_TYPES = ("tool_call", "engine", "session_turn")


# --- lenient JSON access ------------------------------------------------------------------------------


def _scope_id(scope: Any) -> str | None:
    session = text_or_none(get_path(scope, "session_id"))
    if session is None:
        return None
    frame = text_or_none(get_path(scope, "agent_frame_id"))
    return f"session:{session}/frame:{frame}" if frame else f"session:{session}"


def _originator_scope_id(originator: Any) -> str | None:
    kind = get_path(originator, "type")
    if kind == "host":
        return "host"
    if kind == "session":
        # lashdb/upstream-v7 nest the scope; newer upstream writes the session id inline.
        return _scope_id(get_path(originator, "scope")) or _scope_id(originator)
    return None


def _status_label(status: Any) -> str | None:
    if isinstance(status, str):
        return status
    return text_or_none(get_path(status, "state"))


# --- results ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StoreInfo:
    """What file was opened: its kind, schema version, and what its schema cannot show."""

    path: str
    kind: str
    schema_version: int
    supported_version: int
    foreign: bool
    unavailable: tuple[str, ...] = ()
    damaged: tuple[str, ...] = ()
    """At the supported version: each difference from the kind's schema (reads show what is left)."""

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "kind": self.kind, "schema_version": self.schema_version,
                "supported_version": self.supported_version, "foreign": self.foreign,
                "unavailable": list(self.unavailable), "damaged": list(self.damaged)}


@dataclass(frozen=True)
class LeaseInfo:
    """One ``process_leases`` row; ``state`` is live, expired (unreleased) or released."""

    process_id: str
    owner_id: str | None
    lease_token: str | None
    fencing_token: int
    claimed_at_ms: int
    expires_at_ms: int
    state: str
    process_status: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"process_id": self.process_id, "owner_id": self.owner_id, "lease_token": self.lease_token,
                "fencing_token": self.fencing_token, "claimed_at_ms": self.claimed_at_ms,
                "expires_at_ms": self.expires_at_ms, "state": self.state,
                "process_status": self.process_status}


@dataclass(frozen=True)
class ProcessSummary:
    """One process as ``processes list`` shows it."""

    process_id: str
    status: str
    record_status: str | None
    identity_kind: str | None
    identity_label: str | None
    input_type: str | None
    originator_scope_id: str | None
    wake_target_scope_id: str | None
    env_ref: str | None
    created_at_ms: int | None
    updated_at_ms: int | None
    event_count: int
    last_event_type: str | None
    last_event_at_ms: int | None
    waiting: bool
    wait_signal: str | None
    wait_since_ms: int | None
    lease: LeaseInfo | None
    grant_count: int | None
    external_ref: str | None
    decode_error: str | None = None

    @property
    def terminal(self) -> bool:
        """True for the terminal status labels."""
        return self.status in TERMINAL_STATES

    def to_json(self) -> dict[str, Any]:
        return {
            "process_id": self.process_id, "status": self.status, "record_status": self.record_status,
            "identity_kind": self.identity_kind, "identity_label": self.identity_label,
            "input_type": self.input_type, "originator_scope_id": self.originator_scope_id,
            "wake_target_scope_id": self.wake_target_scope_id, "env_ref": self.env_ref,
            "created_at_ms": self.created_at_ms, "updated_at_ms": self.updated_at_ms,
            "event_count": self.event_count, "last_event_type": self.last_event_type,
            "last_event_at_ms": self.last_event_at_ms, "waiting": self.waiting,
            "wait_signal": self.wait_signal, "wait_since_ms": self.wait_since_ms,
            "lease": None if self.lease is None else self.lease.to_json(),
            "grant_count": self.grant_count, "external_ref": self.external_ref,
            "decode_error": self.decode_error,
        }


@dataclass(frozen=True)
class GrantInfo:
    """One handle grant: which session scope may address which process, and how it is shown."""

    session_id: str
    scope_id: str
    process_id: str
    descriptor_kind: str | None
    descriptor_label: str | None

    def to_json(self) -> dict[str, Any]:
        return {"session_id": self.session_id, "scope_id": self.scope_id, "process_id": self.process_id,
                "descriptor_kind": self.descriptor_kind, "descriptor_label": self.descriptor_label}


@dataclass(frozen=True)
class EventInfo:
    """One event of a process log, with its semantics and whether its wake was acknowledged."""

    process_id: str
    sequence: int
    event_type: str
    occurred_at_ms: int
    replay_key: str | None
    payload: Any
    payload_hash: str | None
    terminal_state: str | None
    wake_input: str | None
    wake_dedupe_key: str | None
    acked: bool | None
    decode_error: str | None = None

    @property
    def is_wake(self) -> bool:
        """True when the event carries wake semantics."""
        return self.wake_input is not None

    def to_json(self) -> dict[str, Any]:
        return {"process_id": self.process_id, "sequence": self.sequence, "event_type": self.event_type,
                "occurred_at_ms": self.occurred_at_ms, "replay_key": self.replay_key, "payload": self.payload,
                "payload_hash": self.payload_hash, "terminal_state": self.terminal_state,
                "wake_input": self.wake_input, "wake_dedupe_key": self.wake_dedupe_key,
                "acked": self.acked, "decode_error": self.decode_error}


@dataclass(frozen=True)
class ProcessDetail:
    """Everything ``processes show`` prints about one process."""

    summary: ProcessSummary
    record: Any
    caused_by: Any
    await_output: Any
    wait: Any
    grants: tuple[GrantInfo, ...] | None
    events: tuple[EventInfo, ...]
    unacked_wake_sequences: tuple[int, ...] | None

    def to_json(self) -> dict[str, Any]:
        return {"summary": self.summary.to_json(), "record": self.record, "caused_by": self.caused_by,
                "await_output": self.await_output, "wait": self.wait,
                "grants": None if self.grants is None else [g.to_json() for g in self.grants],
                "events": [e.to_json() for e in self.events],
                "unacked_wake_sequences": None if self.unacked_wake_sequences is None
                else list(self.unacked_wake_sequences)}


@dataclass(frozen=True)
class StuckProcess:
    """A non-terminal process that nobody seems to be moving forward, and why."""

    process_id: str
    status: str
    reasons: tuple[str, ...]
    detail: str
    updated_at_ms: int | None

    def to_json(self) -> dict[str, Any]:
        return {"process_id": self.process_id, "status": self.status, "reasons": list(self.reasons),
                "detail": self.detail, "updated_at_ms": self.updated_at_ms}


@dataclass(frozen=True)
class SubscriptionSummary:
    """One trigger subscription as ``triggers list`` shows it."""

    subscription_id: str
    handle: str | None
    registrant_scope_id: str | None
    name: str | None
    source_type: str
    source_key: str
    enabled: bool
    target_kind: str | None
    target_label: str | None
    wake_target_scope_id: str | None
    created_at_ms: int | None
    updated_at_ms: int | None
    delivery_count: int
    decode_error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"subscription_id": self.subscription_id, "handle": self.handle,
                "registrant_scope_id": self.registrant_scope_id, "name": self.name,
                "source_type": self.source_type, "source_key": self.source_key, "enabled": self.enabled,
                "target_kind": self.target_kind, "target_label": self.target_label,
                "wake_target_scope_id": self.wake_target_scope_id, "created_at_ms": self.created_at_ms,
                "updated_at_ms": self.updated_at_ms, "delivery_count": self.delivery_count,
                "decode_error": self.decode_error}


@dataclass(frozen=True)
class OccurrenceSummary:
    """One trigger occurrence as ``triggers occurrences`` shows it."""

    occurrence_id: str
    occurred_at_ms: int
    source_type: str
    source_key: str
    idempotency_key: str
    payload: Any
    request_hash: str | None
    delivery_count: int
    decode_error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"occurrence_id": self.occurrence_id, "occurred_at_ms": self.occurred_at_ms,
                "source_type": self.source_type, "source_key": self.source_key,
                "idempotency_key": self.idempotency_key, "payload": self.payload,
                "request_hash": self.request_hash, "delivery_count": self.delivery_count,
                "decode_error": self.decode_error}


@dataclass(frozen=True)
class DeliveryInfo:
    """One delivery reservation: the process started for an occurrence and a subscription."""

    occurrence_id: str
    subscription_id: str
    handle: str | None
    process_id: str
    created_at_ms: int

    def to_json(self) -> dict[str, Any]:
        return {"occurrence_id": self.occurrence_id, "subscription_id": self.subscription_id,
                "handle": self.handle, "process_id": self.process_id, "created_at_ms": self.created_at_ms}


@dataclass(frozen=True)
class OccurrenceDetail:
    """One occurrence with its stored record and its deliveries."""

    summary: OccurrenceSummary
    record: Any
    deliveries: tuple[DeliveryInfo, ...]

    def to_json(self) -> dict[str, Any]:
        return {"summary": self.summary.to_json(), "record": self.record,
                "deliveries": [d.to_json() for d in self.deliveries]}


# --- shared opening ---------------------------------------------------------------------------------


class _Inspector:
    kind: str  # the reader's store kind: "process_registry" or "trigger_store"

    def __init__(self, reader: Any, info: StoreInfo) -> None:
        self._reader = reader
        self.info = info

    @classmethod
    def _features(cls, columns: dict[str, frozenset[str]]) -> tuple[str, ...]:
        raise NotImplementedError

    @classmethod
    def open(cls, path: str | os.PathLike[str]):  # noqa: ANN206 - the subclass
        """Open read-only; accepts foreign versions of this kind, refuses other kinds."""
        reader = backends.open_with(reader_opener(path, "sqlite.inspect_deployment"), path, cls.kind)
        info = StoreInfo(reader.path, reader.kind_name, reader.schema_version, reader.supported_version,
                         reader.foreign, cls._features(reader.columns), reader.damaged)
        return cls(reader, info)

    @property
    def _conn(self) -> Any:
        # the SQLite reader's connection, for SQLite-only tooling and tests
        return self._reader.conn

    def close(self) -> None:
        """Close the read-only connection."""
        self._reader.close()

    def __enter__(self):  # noqa: ANN204 - returns the subclass
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _has(self, table: str, *columns: str) -> bool:
        return self._reader.has(table, *columns)


def _now(now_ms: int | None) -> int:
    return wall_clock_ms() if now_ms is None else int(now_ms)
