"""Read-only views of a process registry (deployment-stores §4.1): processes, events, grants, leases, stuck ones.

Contract:
- :class:`ProcessRegistryInspector` opens a registry file read-only (no byte written, no sidecar
  created) at any schema version of that kind and never writes; a file of another kind raises
  :class:`NotALashDatabase`. What the file's schema cannot show comes back None (named in
  ``info.unavailable``); a row whose JSON does not decode is listed with ``decode_error`` set.
- Lease states (live / expired / released) are judged here against ``now_ms`` (default: the wall
  clock); "stuck" is judged here too. The reader below the seam only returns rows.
- The module functions open, read and close in one call.
"""

from __future__ import annotations

import os
from typing import Any

from lashdb.engine.base.errors import LookupFailed
from lashdb.engine.base.ints import from_i64
from lashdb.engine.base.jsonread import get_path, int_or_none, lenient_loads, text_or_none

from .deployment_results import (
    WORKER_INPUT_TYPES,
    EventInfo,
    GrantInfo,
    LeaseInfo,
    ProcessDetail,
    ProcessSummary,
    StuckProcess,
    _Inspector,
    _now,
    _originator_scope_id,
    _scope_id,
    _status_label,
)


class ProcessRegistryInspector(_Inspector):
    """Read-only views of a process registry file (any schema version of that kind)."""

    kind = "process_registry"

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
        for row in self._reader.lease_rows():
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
        return self._reader.event_stats()

    def _grant_counts(self) -> dict[str, int] | None:
        return self._reader.grant_counts()

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
        return self._reader.statuses()

    # -- public views --

    def list_processes(self, *, status: str = "any", session_id: str | None = None, limit: int | None = None,
                       now_ms: int | None = None) -> list[ProcessSummary]:
        """Processes by id; ``status`` is a status label or ``any``; ``session_id`` keeps processes
        that session (any frame) holds a grant for (none when the schema has no grants)."""
        now = _now(now_ms)
        # Without a status column the label comes from the record, so filter after decoding.
        filter_late = status != "any" and not self._has("processes", "status")
        if session_id is not None and not self._has("process_handle_grants", "session_id", "process_id"):
            return []
        rows = self._reader.process_rows(status=None if status == "any" or filter_late else status,
                                         grant_session=session_id, limit=None if filter_late else limit)
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
        acked = self._reader.acked_sequences(process_id)
        rows = self._reader.event_rows(process_id, limit=limit)
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
        rows = self._reader.grant_rows(process_id=process_id, session_id=session_id)
        if rows is None:
            return None
        out = []
        for sid, scope, pid, descriptor in rows:
            doc, _ = lenient_loads(descriptor)
            out.append(GrantInfo(sid, scope, pid, text_or_none(get_path(doc, "kind")), text_or_none(get_path(doc, "label"))))
        return out

    def show_process(self, process_id: str, *, event_limit: int | None = 20,
                     now_ms: int | None = None) -> ProcessDetail:
        """One process: record, status and output, grants, lease, last events, unacked wakes."""
        rows = self._reader.process_rows(process_id=process_id)
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
