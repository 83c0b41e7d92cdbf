"""Event log entries, wake deliveries, leases, delete reports and list filters (§1.3–§1.4).

Contract: a ``ProcessEvent`` is one append-only log entry with its materialised semantics and
upstream's SystemTime ``occurred_at``; a ``ProcessWakeDelivery`` is handed to the runtime, never
stored by the registry; ``ProcessLease`` carries the fencing token a worker must present.
``to_json()`` is upstream's document; invalid values raise :class:`InvalidDeploymentValue`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .inputs import _state
from .records import ProcessAwaitOutput, ProcessRecord
from .scope import (
    LIFECYCLE_STATUSES,
    PROCESS_LEASE_SCHEMA_VERSION,
    InvalidDeploymentValue,
    SessionScope,
    _check_str,
    _free,
    _obj,
    _scope,
    _str,
    _u64,
)


# --- events -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TerminalSemantics:
    """Materialised terminal semantics of a stored event."""

    state: str
    await_output: ProcessAwaitOutput

    def to_json(self) -> dict[str, Any]:
        return {"state": self.state, "await_output": self.await_output.to_json()}


@dataclass(frozen=True)
class WakeSemantics:
    """Materialised wake of a stored event: the wake input text and its dedupe key."""

    input: str
    dedupe_key: str

    def to_json(self) -> dict[str, Any]:
        return {"input": self.input, "dedupe_key": self.dedupe_key}


@dataclass(frozen=True)
class EventSemantics:
    """What a stored event means: terminal and/or wake, or nothing (``{}``)."""

    terminal: TerminalSemantics | None = None
    wake: WakeSemantics | None = None

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {}
        if self.terminal is not None:
            doc["terminal"] = self.terminal.to_json()
        if self.wake is not None:
            doc["wake"] = self.wake.to_json()
        return doc

    @classmethod
    def from_json(cls, doc: Any) -> EventSemantics:
        doc = _obj(doc, "event semantics")
        terminal = wake = None
        if doc.get("terminal") is not None:
            t = _obj(doc["terminal"], "terminal semantics")
            if "await_output" not in t:
                raise InvalidDeploymentValue("terminal semantics: missing field `await_output`")
            terminal = TerminalSemantics(_state(t.get("state"), "terminal semantics state"),
                                         ProcessAwaitOutput.from_json(t["await_output"]))
        if doc.get("wake") is not None:
            w = _obj(doc["wake"], "wake semantics")
            wake = WakeSemantics(_str(w, "input", "wake semantics"), _str(w, "dedupe_key", "wake semantics"))
        return cls(terminal, wake)


def occurred_at_json(ms: int) -> dict[str, int]:
    """Upstream's SystemTime form of an epoch-ms instant."""
    return {"secs_since_epoch": ms // 1000, "nanos_since_epoch": (ms % 1000) * 1_000_000}


def occurred_at_ms_from_json(doc: Any) -> int:
    """Epoch ms of an upstream SystemTime document."""
    doc = _obj(doc, "occurred_at")
    secs = _u64(doc, "secs_since_epoch", "occurred_at")
    return secs * 1000 + _u64(doc, "nanos_since_epoch", "occurred_at") // 1_000_000


def process_event_invocation(process_id: str, sequence: int, event_type: str,
                             replay_key: str | None) -> dict[str, Any]:
    """The invocation stamped on an appended event (runtime scope, process cause)."""
    doc: dict[str, Any] = {
        "scope": {"session_id": "runtime"},
        "subject": {"type": "process_event", "process_id": process_id, "sequence": sequence,
                    "event_type": event_type},
        "caused_by": {"type": "process", "process_id": process_id},
    }
    if replay_key is not None:
        doc["replay"] = {"key": replay_key}
    return doc


@dataclass(frozen=True)
class ProcessEvent:
    """One entry of a process's append-only event log."""

    process_id: str
    sequence: int
    event_type: str
    payload: Any
    invocation: dict[str, Any]
    semantics: EventSemantics
    occurred_at_ms: int

    @property
    def replay_key(self) -> str | None:
        """The replay (idempotency) key the event was appended with, or None."""
        replay = self.invocation.get("replay")
        if isinstance(replay, dict) and isinstance(replay.get("key"), str):
            return replay["key"]
        return None

    def to_json(self) -> dict[str, Any]:
        return {"process_id": self.process_id, "sequence": self.sequence, "event_type": self.event_type,
                "payload": self.payload, "invocation": self.invocation,
                "semantics": self.semantics.to_json(), "occurred_at": occurred_at_json(self.occurred_at_ms)}

    @classmethod
    def from_json(cls, doc: Any) -> ProcessEvent:
        doc = _obj(doc, "process event")
        for name in ("payload", "invocation", "semantics", "occurred_at"):
            if name not in doc:
                raise InvalidDeploymentValue(f"process event: missing field `{name}`")
        return cls(_str(doc, "process_id", "process event"), _u64(doc, "sequence", "process event"),
                   _str(doc, "event_type", "process event"), doc["payload"],
                   _obj(doc["invocation"], "process event invocation"),
                   EventSemantics.from_json(doc["semantics"]), occurred_at_ms_from_json(doc["occurred_at"]))


@dataclass(frozen=True)
class ProcessEventAppendRequest:
    """An event to append; a ``replay_key`` makes the append idempotent."""

    event_type: str
    payload: Any = None
    replay_key: str | None = None
    wake_target_scope: SessionScope | None = None

    def __post_init__(self) -> None:
        _check_str(self.event_type, "event type")
        _check_str(self.replay_key, "replay key", optional=True)
        object.__setattr__(self, "payload", _free(self.payload, "event payload"))
        object.__setattr__(self, "wake_target_scope", _scope(self.wake_target_scope))

    @classmethod
    def cancel_requested(cls, process_id: str, reason: str | None = None) -> ProcessEventAppendRequest:
        """Upstream's cancel request: payload ``{"reason": …}`` under its deterministic key."""
        from lashdb.engine.base.canonical import sha256_hex

        payload = {"reason": reason}
        digest = sha256_hex(["process.cancel_requested", payload])
        return cls("process.cancel_requested", payload, f"process:{process_id}:cancel_requested:{digest}")


@dataclass(frozen=True)
class ProcessWakeDelivery:
    """A wake the runtime must queue in the target session (never stored by the registry)."""

    wake_id: str
    target_session_id: str
    target_scope_id: str
    process_id: str
    sequence: int
    event_type: str
    event_invocation: dict[str, Any]
    dedupe_key: str
    input: str
    created_at_ms: int
    process_caused_by: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "wake_id": self.wake_id, "target_session_id": self.target_session_id,
            "target_scope_id": self.target_scope_id, "process_id": self.process_id,
            "sequence": self.sequence, "event_type": self.event_type,
            "event_invocation": self.event_invocation,
        }
        if self.process_caused_by is not None:
            doc["process_caused_by"] = self.process_caused_by
        doc.update({"dedupe_key": self.dedupe_key, "input": self.input, "created_at_ms": self.created_at_ms})
        return doc


@dataclass(frozen=True)
class ProcessEventAppendResult:
    """The stored (or replayed) event and the wake it produced, if any."""

    event: ProcessEvent
    wake_delivery: ProcessWakeDelivery | None = None

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"event": self.event.to_json()}
        if self.wake_delivery is not None:
            doc["wake_delivery"] = self.wake_delivery.to_json()
        return doc


# --- leases, reports, filters -------------------------------------------------------------------------


@dataclass(frozen=True)
class ProcessLease:
    """A worker's fenced right to execute a process until ``expires_at_epoch_ms``."""

    process_id: str
    owner_id: str
    lease_token: str
    fencing_token: int
    claimed_at_epoch_ms: int
    expires_at_epoch_ms: int
    schema_version: int = PROCESS_LEASE_SCHEMA_VERSION

    def to_json(self) -> dict[str, Any]:
        return {"schema_version": self.schema_version, "process_id": self.process_id,
                "owner_id": self.owner_id, "lease_token": self.lease_token,
                "fencing_token": self.fencing_token, "claimed_at_epoch_ms": self.claimed_at_epoch_ms,
                "expires_at_epoch_ms": self.expires_at_epoch_ms}


@dataclass(frozen=True)
class ProcessLeaseCompletion:
    """Releases the lease that carries ``lease_token`` (a stale token releases nothing)."""

    process_id: str
    lease_token: str

    @classmethod
    def from_lease(cls, lease: ProcessLease) -> ProcessLeaseCompletion:
        """The completion that releases ``lease``."""
        return cls(lease.process_id, lease.lease_token)


@dataclass(frozen=True)
class ProcessSessionDeleteReport:
    """What deleting a session's process state did."""

    session_id: str
    revoked_handle_count: int
    deleted_wake_count: int
    orphaned_process_ids: tuple[str, ...]
    preserved_process_ids: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {"session_id": self.session_id, "revoked_handle_count": self.revoked_handle_count,
                "deleted_wake_count": self.deleted_wake_count,
                "orphaned_process_ids": list(self.orphaned_process_ids),
                "preserved_process_ids": list(self.preserved_process_ids)}


@dataclass(frozen=True)
class ProcessListFilter:
    """Status (``running`` by default, or a terminal label, or ``any``), definition, waiting."""

    status: str = "running"
    definition: Any = None
    waiting: bool | None = None

    def __post_init__(self) -> None:
        if self.status not in LIFECYCLE_STATUSES + ("any",):
            raise InvalidDeploymentValue(
                f"process list status must be `running`, `completed`, `failed`, `cancelled`, or `any`, "
                f"got `{self.status}`")
        object.__setattr__(self, "definition", _free(self.definition, "definition filter"))

    def matches(self, record: ProcessRecord) -> bool:
        """True when the record passes every given criterion."""
        from lashdb.engine.base.canonical import json_equal

        if self.status != "any" and record.status != self.status:
            return False
        if self.definition is not None and not (
                record.identity.definition is not None
                and json_equal(record.identity.definition, self.definition)):
            return False
        return self.waiting is None or (record.wait is not None) == self.waiting
