"""Read-only inspection of process registries and trigger stores (deployment-stores §4).

Contract:
- :class:`ProcessRegistryInspector` and :class:`TriggerStoreInspector` open a file with
  ``connection.open_readonly`` (no byte written, no sidecar created) and never write. They accept
  files of the right kind at any schema version: a foreign file (e.g. written by a newer
  upstream) is flagged in :attr:`info` (``foreign``) and read "where its columns allow" —
  values whose table or column is missing come back as None and are named in
  ``info.unavailable``. A file of another kind raises :class:`NotALashDatabase`.
- Stored JSON is decoded leniently for display: a row that does not decode is still listed,
  with ``decode_error`` set, never skipped.
- Every result is a frozen dataclass whose ``to_json()`` has stable keys; times are raw epoch
  milliseconds (callers add ISO strings). "now" for lease states is a parameter (default: the
  wall clock).
- Module functions (:func:`list_processes`, :func:`show_process`, :func:`expired_process_leases`,
  :func:`stuck_processes`, :func:`list_subscriptions`, :func:`list_occurrences`,
  :func:`show_occurrence`) open, read and close in one call.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any

import apsw

from lashdb.engine.sqlite.connection import columns as table_columns
from lashdb.engine.sqlite.connection import open_readonly, translate
from lashdb.engine.sqlite.deployment_common import from_i64, wall_clock_ms
from lashdb.engine.base.errors import LookupFailed
from lashdb.engine.base.jsonread import get_path, int_or_none, lenient_loads, text_or_none
from lashdb.engine.deployment.process_model import TERMINAL_STATES
from lashdb.engine.sqlite.schema import (
    PROCESS_REGISTRY,
    TRIGGER_STORE,
    SchemaKind,
    classify_connection,
    damage,
)

__all__ = [
    "DeliveryInfo", "EventInfo", "GrantInfo", "LeaseInfo", "OccurrenceDetail", "OccurrenceSummary",
    "ProcessDetail", "ProcessRegistryInspector", "ProcessSummary", "StoreInfo", "StuckProcess",
    "SubscriptionSummary", "TriggerStoreInspector", "WORKER_INPUT_TYPES", "expired_process_leases",
    "list_occurrences", "list_processes", "list_subscriptions", "show_occurrence", "show_process",
    "stuck_processes",
]

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
    kind: SchemaKind

    def __init__(self, conn: apsw.Connection, info: StoreInfo, columns: dict[str, frozenset[str]]) -> None:
        self._conn = conn
        self.info = info
        self._columns = columns

    @classmethod
    def _features(cls, columns: dict[str, frozenset[str]]) -> tuple[str, ...]:
        raise NotImplementedError

    @classmethod
    def open(cls, path: str | os.PathLike[str]):
        """Open read-only; accepts foreign versions of this kind, refuses other kinds."""
        path = os.fspath(path)
        conn = open_readonly(path)
        try:
            found = classify_connection(conn, path)
            if found.kind is not cls.kind:
                found.require(cls.kind)
            columns = {table: table_columns(conn, table) for table in found.tables}
            damaged = damage(conn, found)
        except apsw.Error as exc:
            conn.close()
            raise translate(exc, path) from exc
        except BaseException:
            conn.close()
            raise
        info = StoreInfo(path, cls.kind.name, found.user_version, cls.kind.version, found.foreign,
                         cls._features(columns), damaged)
        return cls(conn, info, columns)

    def close(self) -> None:
        """Close the read-only connection."""
        self._conn.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _has(self, table: str, *columns: str) -> bool:
        present = self._columns.get(table)
        return present is not None and all(c in present for c in columns)

    def _rows(self, sql: str, params: tuple = ()) -> list[tuple]:
        try:
            return list(self._conn.execute(sql, params))
        except apsw.Error as exc:
            raise translate(exc, self.info.path) from exc

    def _select(self, table: str, wanted: tuple[str, ...], tail: str = "", params: tuple = ()) -> list[dict]:
        # Identifiers come from this module's fixed lists, never from callers; values are bound.
        present = [c for c in wanted if self._has(table, c)]
        if not present:
            return []
        sql = f'SELECT {", ".join(present)} FROM "{table}" {tail}'
        return [dict(zip(present, row)) for row in self._rows(sql, params)]


def _now(now_ms: int | None) -> int:
    return wall_clock_ms() if now_ms is None else int(now_ms)


# --- process registry -------------------------------------------------------------------------------


class ProcessRegistryInspector(_Inspector):
    """Read-only views of a process registry file (any schema version of that kind)."""

    kind = PROCESS_REGISTRY

    @classmethod
    def _features(cls, columns: dict[str, frozenset[str]]) -> tuple[str, ...]:
        missing = []
        for feature, table, column in (
                ("grants", "process_handle_grants", None), ("wake_acks", "process_wake_acks", None),
                ("leases", "process_leases", None), ("registration_hash", "processes", "registration_hash"),
                ("payload_hash", "process_events", "payload_hash"),
                ("owner_scope_id", "processes", "owner_scope_id")):
            if table not in columns or (column is not None and column not in columns[table]):
                missing.append(feature)
        return tuple(missing)

    # -- building blocks --

    def _leases(self, now: int, statuses: dict[str, str]) -> dict[str, LeaseInfo]:
        leases = {}
        for row in self._select("process_leases", ("process_id", "lease_owner_id", "lease_token",
                                                   "lease_fencing_token", "lease_claimed_at_ms",
                                                   "lease_expires_at_ms")):
            owner, token = row.get("lease_owner_id"), row.get("lease_token")
            expires = from_i64(row.get("lease_expires_at_ms") or 0)
            if owner is None or token is None:
                state = "released"
            else:
                state = "live" if expires > now else "expired"
            pid = row["process_id"]
            leases[pid] = LeaseInfo(pid, owner, token, from_i64(row.get("lease_fencing_token") or 0),
                                    from_i64(row.get("lease_claimed_at_ms") or 0), expires, state,
                                    statuses.get(pid))
        return leases

    def _event_stats(self) -> dict[str, tuple[int, str | None, int | None]]:
        if not self._has("process_events", "process_id", "sequence", "event_type"):
            return {}
        stats = {}
        occurred = "e.occurred_at_ms" if self._has("process_events", "occurred_at_ms") else "NULL"
        for pid, count, event_type, at in self._rows(
                f"SELECT e.process_id, m.n, e.event_type, {occurred} FROM process_events e JOIN "
                "(SELECT process_id, COUNT(*) AS n, MAX(sequence) AS s FROM process_events GROUP BY process_id) m "
                "ON e.process_id = m.process_id AND e.sequence = m.s"):
            stats[pid] = (count, event_type, None if at is None else from_i64(at))
        return stats

    def _grant_counts(self) -> dict[str, int] | None:
        if not self._has("process_handle_grants", "process_id"):
            return None
        return dict(self._rows("SELECT process_id, COUNT(*) FROM process_handle_grants GROUP BY process_id"))

    def _process_rows(self, tail: str = "", params: tuple = ()) -> list[dict]:
        return self._select("processes", ("process_id", "status", "owner_scope_id", "created_at_ms",
                                          "updated_at_ms", "record_json"), tail, params)

    def _summary(self, row: dict, stats: dict, leases: dict, grants: dict | None) -> ProcessSummary:
        pid = row["process_id"]
        record, error = lenient_loads(row.get("record_json"))
        if error is None and not isinstance(record, dict):
            error, record = "record_json is not a JSON object", None
        wait = get_path(record, "wait")
        external = get_path(record, "external_ref")
        backend, ext_id = text_or_none(get_path(external, "backend")), text_or_none(get_path(external, "id"))
        count, last_type, last_at = stats.get(pid, (0, None, None))
        created, updated = row.get("created_at_ms"), row.get("updated_at_ms")
        return ProcessSummary(
            process_id=pid,
            status=text_or_none(row.get("status")) or _status_label(get_path(record, "status")) or "unknown",
            record_status=_status_label(get_path(record, "status")),
            identity_kind=text_or_none(get_path(record, "identity", "kind")),
            identity_label=text_or_none(get_path(record, "identity", "label")),
            input_type=text_or_none(get_path(record, "input", "type")),
            originator_scope_id=(row.get("owner_scope_id")
                                 or _originator_scope_id(get_path(record, "provenance", "originator"))),
            wake_target_scope_id=_scope_id(get_path(record, "wake_target")),
            env_ref=text_or_none(get_path(record, "env_ref")),
            created_at_ms=None if created is None else from_i64(created),
            updated_at_ms=None if updated is None else from_i64(updated),
            event_count=count, last_event_type=last_type, last_event_at_ms=last_at,
            waiting=wait is not None,
            wait_signal=text_or_none(get_path(wait, "kind", "name")),
            wait_since_ms=int_or_none(get_path(wait, "since_ms")),
            lease=leases.get(pid),
            grant_count=None if grants is None else grants.get(pid, 0),
            external_ref=f"{backend}:{ext_id}" if backend is not None and ext_id is not None else None,
            decode_error=error,
        )

    def _statuses(self) -> dict[str, str]:
        return {r["process_id"]: r.get("status") for r in self._select("processes", ("process_id", "status"))}

    # -- public views --

    def list_processes(self, *, status: str = "any", session_id: str | None = None, limit: int | None = None,
                       now_ms: int | None = None) -> list[ProcessSummary]:
        """Processes by id; ``status`` is a status label or ``any``; ``session_id`` keeps processes
        that session (any frame) holds a grant for (none when the schema has no grants)."""
        now = _now(now_ms)
        clauses, params = [], []
        # Without a status column the label comes from the record, so filter after decoding.
        filter_late = status != "any" and not self._has("processes", "status")
        if status != "any" and not filter_late:
            clauses.append("status = ?")
            params.append(status)
        if session_id is not None:
            if not self._has("process_handle_grants", "session_id", "process_id"):
                return []
            clauses.append("process_id IN (SELECT process_id FROM process_handle_grants WHERE session_id = ?)")
            params.append(session_id)
        tail = (" WHERE " + " AND ".join(clauses) if clauses else "") + " ORDER BY process_id ASC"
        if limit is not None and not filter_late:
            tail += " LIMIT ?"
            params.append(max(int(limit), 0))
        rows = self._process_rows(tail, tuple(params))
        stats, grants = self._event_stats(), self._grant_counts()
        leases = self._leases(now, {r["process_id"]: r.get("status") for r in rows})
        summaries = [self._summary(r, stats, leases, grants) for r in rows]
        if filter_late:
            summaries = [s for s in summaries if s.status == status]
            if limit is not None:
                summaries = summaries[:max(int(limit), 0)]
        return summaries

    def events(self, process_id: str, *, limit: int | None = None) -> list[EventInfo]:
        """The process's events in sequence order (the last ``limit`` when given)."""
        acked = None
        if self._has("process_wake_acks", "process_id", "sequence"):
            acked = {r[0] for r in self._rows("SELECT sequence FROM process_wake_acks WHERE process_id = ?",
                                              (process_id,))}
        tail, params = "WHERE process_id = ? ORDER BY sequence DESC", [process_id]
        if limit is not None:
            tail += " LIMIT ?"
            params.append(max(int(limit), 0))
        rows = self._select("process_events", ("process_id", "sequence", "event_type", "payload_hash",
                                               "idempotency_key", "occurred_at_ms", "event_json"),
                            tail, tuple(params))
        events = []
        for row in reversed(rows):
            doc, error = lenient_loads(row.get("event_json"))
            terminal = get_path(doc, "semantics", "terminal")
            wake = get_path(doc, "semantics", "wake")
            seq = row["sequence"]
            events.append(EventInfo(
                process_id=process_id, sequence=seq, event_type=row["event_type"],
                occurred_at_ms=from_i64(row.get("occurred_at_ms") or 0), replay_key=row.get("idempotency_key"),
                payload=get_path(doc, "payload"), payload_hash=row.get("payload_hash"),
                terminal_state=text_or_none(get_path(terminal, "state")) if terminal is not None else None,
                wake_input=text_or_none(get_path(wake, "input")) if wake is not None else None,
                wake_dedupe_key=text_or_none(get_path(wake, "dedupe_key")) if wake is not None else None,
                acked=None if acked is None else seq in acked, decode_error=error))
        return events

    def grants(self, *, process_id: str | None = None, session_id: str | None = None) -> list[GrantInfo] | None:
        """Grants by session id then scope id then process (None when the schema has none)."""
        if not self._has("process_handle_grants", "session_id", "scope_id", "process_id", "descriptor_json"):
            return None
        clauses, params = [], []
        if process_id is not None:
            clauses.append("process_id = ?")
            params.append(process_id)
        if session_id is not None:
            clauses.append("session_id = ?")
            params.append(session_id)
        where = " WHERE " + " AND ".join(clauses) if clauses else ""
        out = []
        for sid, scope, pid, descriptor in self._rows(
                "SELECT session_id, scope_id, process_id, descriptor_json FROM process_handle_grants"
                f"{where} ORDER BY session_id ASC, scope_id ASC, process_id ASC", tuple(params)):
            doc, _ = lenient_loads(descriptor)
            out.append(GrantInfo(sid, scope, pid, text_or_none(get_path(doc, "kind")), text_or_none(get_path(doc, "label"))))
        return out

    def show_process(self, process_id: str, *, event_limit: int | None = 20,
                     now_ms: int | None = None) -> ProcessDetail:
        """One process: record, status and output, grants, lease, last events, unacked wakes."""
        rows = self._process_rows("WHERE process_id = ?", (process_id,))
        if not rows:
            raise LookupFailed(process_id, f"{self.info.path}: no process `{process_id}`",
                               hint="list processes with `lashdb processes list`")
        row = rows[0]
        leases = self._leases(_now(now_ms), {process_id: row.get("status")})
        summary = self._summary(row, self._event_stats(), leases, self._grant_counts())
        record, _ = lenient_loads(row.get("record_json"))
        all_events = self.events(process_id)
        unacked = None
        if self._has("process_wake_acks", "process_id", "sequence"):
            unacked = tuple(e.sequence for e in all_events if e.is_wake and not e.acked)
        shown = all_events if event_limit is None else all_events[max(len(all_events) - max(event_limit, 0), 0):]
        status = get_path(record, "status")
        return ProcessDetail(summary, record, get_path(record, "provenance", "caused_by"),
                             get_path(status, "await_output"), get_path(record, "wait"),
                             None if (g := self.grants(process_id=process_id)) is None else tuple(g),
                             tuple(shown), unacked)

    def leases(self, *, now_ms: int | None = None) -> list[LeaseInfo]:
        """Every lease row by process id, with its state at ``now_ms``."""
        leases = self._leases(_now(now_ms), self._statuses())
        return [leases[pid] for pid in sorted(leases)]

    def expired_leases(self, *, now_ms: int | None = None) -> list[LeaseInfo]:
        """Unreleased leases whose expiry has passed (a worker died holding them)."""
        return [lease for lease in self.leases(now_ms=now_ms) if lease.state == "expired"]

    def stuck_processes(self, *, now_ms: int | None = None, idle_after_ms: int | None = None) -> list[StuckProcess]:
        """Non-terminal processes that look stuck: a terminal event never projected onto the
        status, an expired unreleased lease, a worker-executed process with no live lease, or
        (with ``idle_after_ms``) no update for that long."""
        now = _now(now_ms)
        stuck = []
        for summary in self.list_processes(now_ms=now):
            if summary.terminal:
                continue
            reasons, details = [], []
            terminal_events = [e for e in self.events(summary.process_id) if e.terminal_state is not None]
            if terminal_events:
                first = terminal_events[0]
                reasons.append("terminal_event_not_projected")
                details.append(f"event {first.sequence} `{first.event_type}` is terminal "
                               f"({first.terminal_state}) but the status is {summary.status}")
            lease = summary.lease
            if lease is not None and lease.state == "expired":
                reasons.append("lease_expired")
                details.append(f"lease of `{lease.owner_id}` expired at {lease.expires_at_ms} and was never released")
            elif summary.input_type in WORKER_INPUT_TYPES and (lease is None or lease.state != "live"):
                reasons.append("no_live_lease")
                details.append(f"{summary.input_type} process with no live lease: no worker is executing it")
            if (idle_after_ms is not None and summary.updated_at_ms is not None
                    and now - summary.updated_at_ms >= idle_after_ms):
                reasons.append("idle")
                details.append(f"no update for {now - summary.updated_at_ms} ms")
            if summary.waiting and reasons:
                details.append(f"waiting on signal `{summary.wait_signal}`")
            if reasons:
                stuck.append(StuckProcess(summary.process_id, summary.status, tuple(reasons), "; ".join(details),
                                          summary.updated_at_ms))
        return stuck


# --- trigger store ----------------------------------------------------------------------------------

_NUMERIC_HANDLE = re.compile(r"trigger:(\d+)")


def _handle_order(summary: SubscriptionSummary) -> tuple:
    match = _NUMERIC_HANDLE.fullmatch(summary.handle or "")
    if match:
        return (0, int(match.group(1)), "", "")
    return (1, 0, summary.registrant_scope_id or "", summary.handle or summary.subscription_id)


def _delivery_order(delivery: DeliveryInfo) -> tuple:
    match = _NUMERIC_HANDLE.fullmatch(delivery.handle or "")
    handle_key = (0, int(match.group(1)), "") if match else (1, 0, delivery.subscription_id)
    return (delivery.created_at_ms, delivery.occurrence_id) + handle_key


class TriggerStoreInspector(_Inspector):
    """Read-only views of a trigger store file (any schema version of that kind)."""

    kind = TRIGGER_STORE

    @classmethod
    def _features(cls, columns: dict[str, frozenset[str]]) -> tuple[str, ...]:
        missing = []
        subs = columns.get("trigger_subscriptions", frozenset())
        if "handle" not in subs:
            missing.append("handle")
        if "registrant_scope_id" not in subs:
            missing.append("registrant_scope_id")
        if "request_hash" not in columns.get("trigger_occurrences", frozenset()):
            missing.append("request_hash")
        if "trigger_deliveries" not in columns:
            missing.append("deliveries")
        return tuple(missing)

    def _delivery_counts(self, column: str) -> dict[str, int]:
        if not self._has("trigger_deliveries", column):
            return {}
        return dict(self._rows(f"SELECT {column}, COUNT(*) FROM trigger_deliveries GROUP BY {column}"))

    def _registrant_column(self) -> str | None:
        for column in ("registrant_scope_id", "owner_scope"):
            if self._has("trigger_subscriptions", column):
                return column
        return None

    def list_subscriptions(self, *, session_id: str | None = None, source_type: str | None = None,
                           enabled: bool | None = None, host: bool | None = None) -> list[SubscriptionSummary]:
        """Subscriptions in numeric handle order; ``session_id`` matches the registrant session
        (any frame), ``host`` True keeps host registrants only (False: session ones only)."""
        clauses, params = [], []
        if source_type is not None:
            clauses.append("source_type = ?")
            params.append(source_type)
        if enabled is not None:
            clauses.append("enabled = ?")
            params.append(1 if enabled else 0)
        tail = " WHERE " + " AND ".join(clauses) if clauses else ""
        registrant_column = self._registrant_column()
        wanted = ("subscription_id", "handle", "source_type", "source_key", "enabled", "created_at_ms",
                  "updated_at_ms", "record_json") + ((registrant_column,) if registrant_column else ())
        counts = self._delivery_counts("subscription_id")
        out = []
        for row in self._select("trigger_subscriptions", wanted, tail, tuple(params)):
            record, error = lenient_loads(row.get("record_json"))
            registrant = (row.get(registrant_column) if registrant_column else None) \
                or _originator_scope_id(get_path(record, "registrant"))
            if session_id is not None and registrant not in (f"session:{session_id}",) and \
                    not (registrant or "").startswith(f"session:{session_id}/frame:"):
                continue
            if host is not None and (registrant == "host") != host:
                continue
            created, updated = row.get("created_at_ms"), row.get("updated_at_ms")
            out.append(SubscriptionSummary(
                subscription_id=row["subscription_id"],
                handle=row.get("handle") or text_or_none(get_path(record, "handle")),
                registrant_scope_id=registrant, name=text_or_none(get_path(record, "name")),
                source_type=row["source_type"], source_key=row["source_key"], enabled=bool(row.get("enabled")),
                target_kind=text_or_none(get_path(record, "target_identity", "kind")),
                target_label=text_or_none(get_path(record, "target_label")) or text_or_none(get_path(record, "target_identity", "label")),
                wake_target_scope_id=_scope_id(get_path(record, "wake_target")),
                created_at_ms=None if created is None else from_i64(created),
                updated_at_ms=None if updated is None else from_i64(updated),
                delivery_count=counts.get(row["subscription_id"], 0), decode_error=error))
        out.sort(key=_handle_order)
        return out

    def _occurrence(self, row: dict, counts: dict[str, int]) -> OccurrenceSummary:
        record, error = lenient_loads(row.get("record_json"))
        return OccurrenceSummary(
            occurrence_id=row["occurrence_id"], occurred_at_ms=from_i64(row.get("occurred_at_ms") or 0),
            source_type=row["source_type"], source_key=row["source_key"],
            idempotency_key=row["idempotency_key"], payload=get_path(record, "payload"),
            request_hash=row.get("request_hash"), delivery_count=counts.get(row["occurrence_id"], 0),
            decode_error=error)

    _OCCURRENCE_COLUMNS = ("occurrence_id", "idempotency_key", "request_hash", "source_type", "source_key",
                           "occurred_at_ms", "record_json")

    def list_occurrences(self, *, source_type: str | None = None, source_key: str | None = None,
                         since_ms: int | None = None, limit: int | None = None) -> list[OccurrenceSummary]:
        """Occurrences, most recent first (ties by id), optionally narrowed by source and time."""
        clauses, params = [], []
        for column, value in (("source_type", source_type), ("source_key", source_key)):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        if since_ms is not None:
            clauses.append("occurred_at_ms >= ?")
            params.append(int(since_ms))
        tail = (" WHERE " + " AND ".join(clauses) if clauses else "") + \
            " ORDER BY occurred_at_ms DESC, occurrence_id ASC"
        if limit is not None:
            tail += " LIMIT ?"
            params.append(max(int(limit), 0))
        counts = self._delivery_counts("occurrence_id")
        return [self._occurrence(row, counts)
                for row in self._select("trigger_occurrences", self._OCCURRENCE_COLUMNS, tail, tuple(params))]

    def deliveries(self, *, occurrence_id: str | None = None,
                   subscription_id: str | None = None) -> list[DeliveryInfo]:
        """Delivery reservations by creation time, then numeric handle, with the handle when known."""
        if not self._has("trigger_deliveries", "occurrence_id", "subscription_id", "process_id", "created_at_ms"):
            return []
        handles = {s.subscription_id: s.handle for s in self.list_subscriptions()}
        clauses, params = [], []
        for column, value in (("occurrence_id", occurrence_id), ("subscription_id", subscription_id)):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        where = " WHERE " + " AND ".join(clauses) if clauses else ""
        found = [DeliveryInfo(oid, sid, handles.get(sid), pid, from_i64(at)) for oid, sid, pid, at in self._rows(
            "SELECT occurrence_id, subscription_id, process_id, created_at_ms FROM trigger_deliveries"
            f"{where}", tuple(params))]
        return sorted(found, key=_delivery_order)

    def show_occurrence(self, occurrence_id: str) -> OccurrenceDetail:
        """One occurrence with its record and deliveries."""
        rows = self._select("trigger_occurrences", self._OCCURRENCE_COLUMNS, "WHERE occurrence_id = ?",
                            (occurrence_id,))
        if not rows:
            raise LookupFailed(occurrence_id, f"{self.info.path}: no trigger occurrence `{occurrence_id}`",
                               hint="list occurrences with `lashdb triggers occurrences`")
        record, _ = lenient_loads(rows[0].get("record_json"))
        return OccurrenceDetail(self._occurrence(rows[0], self._delivery_counts("occurrence_id")), record,
                                tuple(self.deliveries(occurrence_id=occurrence_id)))


# --- one-call helpers -------------------------------------------------------------------------------


def list_processes(path: str | os.PathLike[str], **options: Any) -> list[ProcessSummary]:
    """Open ``path`` read-only and list its processes (options as the inspector method)."""
    with ProcessRegistryInspector.open(path) as inspector:
        return inspector.list_processes(**options)


def show_process(path: str | os.PathLike[str], process_id: str, **options: Any) -> ProcessDetail:
    """Open ``path`` read-only and describe one process."""
    with ProcessRegistryInspector.open(path) as inspector:
        return inspector.show_process(process_id, **options)


def expired_process_leases(path: str | os.PathLike[str], *, now_ms: int | None = None) -> list[LeaseInfo]:
    """Open ``path`` read-only and list unreleased leases past their expiry."""
    with ProcessRegistryInspector.open(path) as inspector:
        return inspector.expired_leases(now_ms=now_ms)


def stuck_processes(path: str | os.PathLike[str], **options: Any) -> list[StuckProcess]:
    """Open ``path`` read-only and list non-terminal processes that look stuck."""
    with ProcessRegistryInspector.open(path) as inspector:
        return inspector.stuck_processes(**options)


def list_subscriptions(path: str | os.PathLike[str], **options: Any) -> list[SubscriptionSummary]:
    """Open ``path`` read-only and list its trigger subscriptions."""
    with TriggerStoreInspector.open(path) as inspector:
        return inspector.list_subscriptions(**options)


def list_occurrences(path: str | os.PathLike[str], **options: Any) -> list[OccurrenceSummary]:
    """Open ``path`` read-only and list its trigger occurrences, most recent first."""
    with TriggerStoreInspector.open(path) as inspector:
        return inspector.list_occurrences(**options)


def show_occurrence(path: str | os.PathLike[str], occurrence_id: str) -> OccurrenceDetail:
    """Open ``path`` read-only and describe one occurrence with its deliveries."""
    with TriggerStoreInspector.open(path) as inspector:
        return inspector.show_occurrence(occurrence_id)
