"""The SQLite process registry: one database per runtime deployment (deployment-stores §1).

Contract:
- :class:`ProcessRegistry` holds every background process of one deployment: records keyed by
  process id with their registration hash, an append-only event log per process, wake
  acknowledgements, handle grants per session scope, and one fenced worker lease per process.
  Schema: SPEC §3.2 (``user_version`` 7); opening follows SPEC §2/§3.5 and refuses a foreign file
  without touching it. ``memory()`` gives a private in-memory registry. Tier: ``durable``.
- Method names are upstream's. Every read-then-write runs in one ``BEGIN IMMEDIATE``
  transaction and any error rolls all of it back; the three exceptions are single autocommit
  statements, as upstream: :meth:`revoke_handle`, :meth:`complete_process_lease` and the insert
  of :meth:`ack_wake`.
- Registration is idempotent by SHA-256 of the canonical registration (core event types
  appended first); a different registration under the same id is a conflict, never an update.
- Appends with a replay key are idempotent by (process, key): the same payload hash returns the
  stored event (repairing a missed terminal status), another payload is rejected. Payloads are
  validated against the declared schema, semantics materialised, status changes only through
  terminal events.
- ``now`` comes from the injectable ``clock`` (epoch ms), read once per operation.
- Every failure raises :class:`ProcessRegistryError` whose ``str()`` is upstream's message (SQLite
  failures: the driver's text, with the typed lashdb error as ``__cause__``/``backend``).
  Exception: :meth:`get_process` returns None for a missing or undecodable row, as upstream
  (a SQLite failure still raises).
- :meth:`await_process` and :meth:`wait_event_after` block until the answer exists: woken at
  once by writes through this instance (any thread), and polling the file with a backoff capped
  at 50 ms so writes by other processes or connections are seen too. Both accept an optional
  ``timeout`` (seconds; lashdb's addition) that raises :class:`ProcessWaitTimeout`.
- A registry may be shared between threads; its operations are serialised by a lock. Its
  asyncio form is :class:`AsyncProcessRegistry` (``aio.open_process_registry``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

import apsw

from lashdb.engine.base.aio import AsyncFacade
from lashdb.engine.base.canonical import CanonicalJsonError, dumps, sha256_hex
from lashdb.engine.sqlite.connection import query_one
from .owner import StoreOwner
from .ports import DeploymentBackend
from lashdb.engine.base.ints import U64_MAX, clamp_cursor, from_i64, to_i64
from lashdb.engine.base.timing import DURABLE, Clock
from lashdb.engine.base import values
from lashdb.engine.base.errors import BackendError, ProcessRegistryError, UnstorableValue
from .process_model import (
    PROCESS_LEASE_SCHEMA_VERSION,
    InvalidDeploymentValue,
    ProcessAwaitOutput,
    ProcessEvent,
    ProcessEventAppendRequest,
    ProcessEventAppendResult,
    ProcessExternalRef,
    ProcessHandleDescriptor,
    ProcessHandleGrant,
    ProcessLease,
    ProcessLeaseCompletion,
    ProcessListFilter,
    ProcessRecord,
    ProcessRegistration,
    ProcessSessionDeleteReport,
    ProcessWakeDelivery,
    SessionScope,
    TerminalSemantics,
    WaitState,
    WakeSemantics,
    process_event_invocation,
)
from .semantics import materialize_semantics, validate_payload
from lashdb.engine.sqlite.schema import PROCESS_REGISTRY

__all__ = ["AsyncProcessRegistry", "ProcessRegistry", "ProcessWaitTimeout", "lease_token"]

# Waiters re-check at least this often so writes from other connections are noticed.
_POLL_MIN_S = 0.002
_POLL_MAX_S = 0.05


class ProcessWaitTimeout(ProcessRegistryError):
    """A blocking wait given a ``timeout`` ran out before its answer existed."""

    hint = "the process has not reached the awaited state yet; wait longer or inspect it"


def lease_token(process_id: str, owner_id: str, now_ms: int, fencing_token: int) -> str:
    """Upstream's lease token: SHA-256 hex of ``<process>:<owner>:<now>:<fencing>``."""
    return hashlib.sha256(f"{process_id}:{owner_id}:{now_ms}:{fencing_token}".encode()).hexdigest()


def _scope(scope: SessionScope | str) -> SessionScope:
    if isinstance(scope, SessionScope):
        return scope
    if isinstance(scope, str):
        return SessionScope(scope)
    raise ProcessRegistryError(f"expected a SessionScope or a session id, got {type(scope).__name__}")


def _decode_error(exc: Exception) -> ProcessRegistryError:
    return ProcessRegistryError(f"failed to decode process registry row: {exc}")


def _decode(text: Any, reader: Callable[[Any], Any]) -> Any:
    try:
        if not isinstance(text, str):
            raise InvalidDeploymentValue(f"expected JSON text, got {type(text).__name__}")
        return reader(json.loads(text))
    except (ValueError, RecursionError) as exc:
        raise _decode_error(exc) from exc


def _encode(value: Any) -> str:
    try:
        doc = value.to_json()
        values.check(doc, type(value).__name__)
        return dumps(doc)
    except (CanonicalJsonError, UnstorableValue) as exc:
        raise ProcessRegistryError(f"failed to encode process row: {exc}") from exc


def _unknown(process_id: str) -> ProcessRegistryError:
    return ProcessRegistryError(f"unknown process `{process_id}`")


def _validate_registration(reg: ProcessRegistration) -> None:
    pid = reg.id
    if not pid.strip():
        raise ProcessRegistryError("process id must be a non-empty string")
    if reg.input.requires_env:
        if reg.env_ref is None:
            raise ProcessRegistryError(f"process `{pid}` requires a captured execution env")
    elif reg.env_ref is not None:
        raise ProcessRegistryError(f"process `{pid}` must not capture an execution env for this input kind")
    seen: set[str] = set()
    for declared in reg.event_types:
        if not declared.name.strip():
            raise ProcessRegistryError(f"process `{pid}` declares an empty event type")
        if declared.name in seen:
            raise ProcessRegistryError(f"process `{pid}` declares duplicate event type `{declared.name}`")
        seen.add(declared.name)
        terminal = declared.terminal
        if terminal is not None and terminal.state != "completed" and terminal.await_output is None:
            raise ProcessRegistryError(
                f"terminal event `{declared.name}` for process `{pid}` must declare await output")


def _project(record: ProcessRecord, terminal: TerminalSemantics, at_ms: int) -> ProcessRecord:
    return dataclasses.replace(record, status=terminal.state, await_output=terminal.await_output,
                               wait=None, updated_at_ms=at_ms)


class ProcessRegistry(StoreOwner):
    """A deployment's process registry database. Use as a context manager or call :meth:`close`."""

    KIND = PROCESS_REGISTRY
    BACKEND = "sqlite.process_registry"

    durability_tier = DURABLE

    def __init__(self, backend: DeploymentBackend, clock: Clock | None = None) -> None:
        super().__init__(backend, clock)
        self._changed = threading.Condition()
        self._generation = 0
        self._listeners: list[Callable[[], None]] = []

    # --- opening ----------------------------------------------------------------------------------

    # --- plumbing ---------------------------------------------------------------------------------

    def _backend_error(self, exc: BackendError) -> ProcessRegistryError:
        err = ProcessRegistryError(exc.driver_message, hint=exc.hint or None)
        err.backend = exc
        return err

    def _run(self, fn: Callable[[Any], Any], *, write: bool) -> Any:
        try:
            with self._lock:
                return (self._backend.write if write else self._backend.read)(fn)
        except BackendError as exc:
            raise self._backend_error(exc) from exc
        except InvalidDeploymentValue as exc:
            if not write:
                raise
            raise ProcessRegistryError(str(exc)) from exc

    def _write(self, fn: Callable[[apsw.Connection], Any]) -> Any:
        return self._run(fn, write=True)

    def _read(self, fn: Callable[[apsw.Connection], Any]) -> Any:
        return self._run(fn, write=False)

    def _autocommit(self, sql: str, params: tuple) -> int:
        def run(conn: Any) -> int:
            conn.execute(sql, params)
            return conn.changes()
        try:
            with self._lock:
                return self._backend.autocommit(run)
        except BackendError as exc:
            raise self._backend_error(exc) from exc

    def _notify(self) -> None:
        with self._changed:
            self._generation += 1
            self._changed.notify_all()
            listeners = list(self._listeners)
        for listener in listeners:
            listener()

    @property
    def change_generation(self) -> int:
        """A counter bumped by every write of this instance that wakes waiters."""
        with self._changed:
            return self._generation

    def add_change_listener(self, listener: Callable[[], None]) -> None:
        """Call ``listener()`` (on the writing thread) after every waking write; must not raise."""
        with self._changed:
            self._listeners.append(listener)

    def remove_change_listener(self, listener: Callable[[], None]) -> None:
        """Stop calling a listener added with :meth:`add_change_listener`."""
        with self._changed:
            if listener in self._listeners:
                self._listeners.remove(listener)

    def _wait_change(self, generation: int, timeout: float) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: self._generation != generation, timeout)

    def _block_until(self, check: Callable[[], Any], timeout: float | None, what: str) -> Any:
        deadline = None if timeout is None else time.monotonic() + timeout
        delay = _POLL_MIN_S
        while True:
            generation = self.change_generation
            result = check()
            if result is not None:
                return result
            wait = delay
            if deadline is not None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise ProcessWaitTimeout(f"timed out waiting for {what}")
                wait = min(wait, remaining)
            changed = self._wait_change(generation, wait)
            delay = _POLL_MIN_S if changed else min(delay * 2, _POLL_MAX_S)

    # --- row helpers ------------------------------------------------------------------------------

    @staticmethod
    def _load(conn: apsw.Connection, process_id: str) -> ProcessRecord | None:
        row = query_one(conn, "SELECT record_json FROM processes WHERE process_id = ?", (process_id,))
        return None if row is None else _decode(row[0], ProcessRecord.from_json)

    def _require(self, conn: apsw.Connection, process_id: str) -> ProcessRecord:
        record = self._load(conn, process_id)
        if record is None:
            raise _unknown(process_id)
        return record

    @staticmethod
    def _save(conn: apsw.Connection, record: ProcessRecord) -> None:
        conn.execute(
            "UPDATE processes SET updated_at_ms = ?, status = ?, record_json = ? WHERE process_id = ?",
            (to_i64(record.updated_at_ms), record.status, _encode(record), record.id))

    @staticmethod
    def _live_lease(conn: apsw.Connection, process_id: str) -> ProcessLease | None:
        row = query_one(
            conn,
            "SELECT lease_owner_id, lease_token, lease_fencing_token, lease_claimed_at_ms, "
            "lease_expires_at_ms FROM process_leases WHERE process_id = ?", (process_id,))
        if row is None or row[0] is None or row[1] is None:
            return None
        return ProcessLease(process_id, row[0], row[1], from_i64(row[2]), from_i64(row[3]), from_i64(row[4]),
                            PROCESS_LEASE_SCHEMA_VERSION)

    @staticmethod
    def _events(conn: apsw.Connection, sql: str, params: tuple) -> list[ProcessEvent]:
        return [_decode(row[0], ProcessEvent.from_json) for row in conn.execute(sql, params)]

    # --- registration and record mutations ----------------------------------------------------------

    def register_process(self, registration: ProcessRegistration) -> ProcessRecord:
        """Insert a process, or return the stored record for an identical registration."""
        if not isinstance(registration, ProcessRegistration):
            raise ProcessRegistryError("register_process expects a ProcessRegistration")
        reg = registration.completed()
        _validate_registration(reg)
        try:
            registration_hash = sha256_hex(reg.to_json())
        except CanonicalJsonError as exc:
            raise ProcessRegistryError(f"failed to hash process `{reg.id}` registration: {exc}") from exc

        def body(conn: apsw.Connection) -> ProcessRecord:
            existing = self._load(conn, reg.id)
            if existing is not None:
                if existing.registration_hash == registration_hash:
                    return existing
                raise ProcessRegistryError(
                    f"process `{reg.id}` registration hash conflict: existing "
                    f"{existing.registration_hash}, new {registration_hash}")
            now = self.now_ms()
            record = ProcessRecord(reg.id, registration_hash, reg.input, reg.identity, reg.event_types,
                                   reg.provenance, reg.env_ref, reg.wake_target, now, now)
            conn.execute(
                "INSERT INTO processes (process_id, registration_hash, owner_scope_id, created_at_ms, "
                "updated_at_ms, status, record_json) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (record.id, registration_hash, record.originator_scope_id, to_i64(now), to_i64(now),
                 record.status, _encode(record)))
            return record

        record = self._write(body)
        self._notify()
        return record

    def _mutate(self, process_id: str, change: Callable[[ProcessRecord, int], ProcessRecord]) -> ProcessRecord:
        def body(conn: apsw.Connection) -> ProcessRecord:
            record = change(self._require(conn, process_id), self.now_ms())
            self._save(conn, record)
            return record
        return self._write(body)

    def set_external_ref(self, process_id: str, external_ref: ProcessExternalRef) -> ProcessRecord:
        """Attach (or replace) where the process's work lives outside; allowed when terminal."""
        if not isinstance(external_ref, ProcessExternalRef):
            raise ProcessRegistryError("set_external_ref expects a ProcessExternalRef")
        record = self._mutate(process_id, lambda r, now: dataclasses.replace(
            r, external_ref=external_ref, updated_at_ms=now))
        self._notify()
        return record

    def set_process_wait(self, process_id: str, wait: WaitState) -> ProcessRecord:
        """Mark a running process as waiting on a signal; terminal processes refuse."""
        if not isinstance(wait, WaitState):
            raise ProcessRegistryError("set_process_wait expects a WaitState")

        def change(record: ProcessRecord, now: int) -> ProcessRecord:
            if record.is_terminal:
                raise ProcessRegistryError(f"terminal process `{process_id}` cannot enter a wait state")
            return dataclasses.replace(record, wait=wait, updated_at_ms=now)
        return self._mutate(process_id, change)

    def clear_process_wait(self, process_id: str) -> ProcessRecord:
        """Remove any wait state (also on terminal processes)."""
        return self._mutate(process_id, lambda r, now: dataclasses.replace(r, wait=None, updated_at_ms=now))

    # --- grants -----------------------------------------------------------------------------------

    def grant_handle(self, scope: SessionScope | str, process_id: str,
                     descriptor: ProcessHandleDescriptor | None = None) -> ProcessHandleGrant:
        """Let a session scope address a process (upsert; terminal processes may be granted)."""
        scope = _scope(scope)
        descriptor = descriptor or ProcessHandleDescriptor()

        def body(conn: apsw.Connection) -> ProcessHandleGrant:
            self._require(conn, process_id)
            conn.execute(
                "INSERT INTO process_handle_grants (session_id, scope_id, process_id, descriptor_json) "
                "VALUES (?, ?, ?, ?) ON CONFLICT(scope_id, process_id) DO UPDATE SET "
                "session_id = excluded.session_id, descriptor_json = excluded.descriptor_json",
                (scope.session_id, scope.scope_id, process_id, _encode(descriptor)))
            return ProcessHandleGrant(scope.session_id, process_id, descriptor)
        return self._write(body)

    def revoke_handle(self, scope: SessionScope | str, process_id: str) -> None:
        """Delete a scope's grant for a process; absent grants and unknown processes are fine."""
        scope = _scope(scope)
        self._autocommit("DELETE FROM process_handle_grants WHERE scope_id = ? AND process_id = ?",
                         (scope.scope_id, process_id))

    def transfer_handle_grants(self, from_scope: SessionScope | str, to_scope: SessionScope | str,
                               process_ids: Iterable[str]) -> None:
        """Move grants between scopes, all or nothing; a missing grant rolls the whole move back."""
        source, target = _scope(from_scope), _scope(to_scope)
        ids = list(process_ids)

        def body(conn: apsw.Connection) -> None:
            for pid in ids:
                row = query_one(conn, "SELECT descriptor_json FROM process_handle_grants "
                                      "WHERE scope_id = ? AND process_id = ?", (source.scope_id, pid))
                if row is None:
                    raise ProcessRegistryError(
                        f"process handle `{pid}` is not granted to session `{source.session_id}`")
                conn.execute("DELETE FROM process_handle_grants WHERE scope_id = ? AND process_id = ?",
                             (source.scope_id, pid))
                conn.execute(
                    "INSERT INTO process_handle_grants (session_id, scope_id, process_id, descriptor_json) "
                    "VALUES (?, ?, ?, ?) ON CONFLICT(scope_id, process_id) DO UPDATE SET "
                    "session_id = excluded.session_id, descriptor_json = excluded.descriptor_json",
                    (target.session_id, target.scope_id, pid, row[0]))
        if ids:
            self._write(body)

    def _grants_for_scope(self, scope: SessionScope | str,
                          live_only: bool) -> list[tuple[ProcessHandleGrant, ProcessRecord]]:
        scope = _scope(scope)
        sql = ("SELECT g.process_id, g.descriptor_json, p.record_json FROM process_handle_grants g "
               "JOIN processes p ON p.process_id = g.process_id WHERE g.scope_id = ?")
        if live_only:
            sql += " AND p.status = 'running'"
        sql += " ORDER BY g.process_id ASC"

        def read(conn: apsw.Connection) -> list[tuple[ProcessHandleGrant, ProcessRecord]]:
            entries = []
            for pid, descriptor_json, record_json in conn.execute(sql, (scope.scope_id,)):
                descriptor = _decode(descriptor_json, ProcessHandleDescriptor.from_json)
                record = _decode(record_json, ProcessRecord.from_json)
                entries.append((ProcessHandleGrant(scope.session_id, pid, descriptor), record))
            return entries
        return self._read(read)

    def list_handle_grants(self, scope: SessionScope | str) -> list[tuple[ProcessHandleGrant, ProcessRecord]]:
        """(grant, record) pairs of one exact scope, by process id, terminal history included."""
        return self._grants_for_scope(scope, False)

    def list_live_handle_grants(self, scope: SessionScope | str) -> list[tuple[ProcessHandleGrant, ProcessRecord]]:
        """(grant, record) pairs of one exact scope whose process is still running."""
        return self._grants_for_scope(scope, True)

    def has_handle_grant(self, scope: SessionScope | str, process_id: str) -> bool:
        """True when the scope holds a grant for an existing process."""
        scope = _scope(scope)
        row = self._read(lambda c: query_one(
            c, "SELECT 1 FROM process_handle_grants g JOIN processes p ON p.process_id = g.process_id "
               "WHERE g.scope_id = ? AND g.process_id = ? LIMIT 1", (scope.scope_id, process_id)))
        return row is not None

    def handle_grants_for_process(self, process_id: str) -> list[ProcessHandleGrant]:
        """Every grant of a process, by session id then scope id."""
        def read(conn: apsw.Connection) -> list[ProcessHandleGrant]:
            self._require(conn, process_id)
            return [ProcessHandleGrant(sid, process_id, _decode(d, ProcessHandleDescriptor.from_json))
                    for sid, d in conn.execute(
                        "SELECT session_id, descriptor_json FROM process_handle_grants WHERE process_id = ? "
                        "ORDER BY session_id ASC, scope_id ASC", (process_id,))]
        return self._read(read)

    def delete_session_process_state(self, session_id: str) -> ProcessSessionDeleteReport:
        """Revoke a session's grants (all frames) and detach it as a wake target; report orphans."""
        def body(conn: apsw.Connection) -> tuple[int, list[str], list[str]]:
            removed = [(pid, _decode(text, ProcessRecord.from_json)) for pid, text in conn.execute(
                "SELECT g.process_id, p.record_json FROM process_handle_grants g "
                "JOIN processes p ON p.process_id = g.process_id WHERE g.session_id = ? "
                "ORDER BY g.process_id ASC", (session_id,))]
            conn.execute("DELETE FROM process_handle_grants WHERE session_id = ?", (session_id,))
            revoked = conn.changes()
            orphaned, preserved = [], []
            for pid, record in removed:
                if record.is_terminal:
                    continue
                remaining = query_one(conn, "SELECT COUNT(*) FROM process_handle_grants WHERE process_id = ?",
                                      (pid,))[0]
                (preserved if remaining else orphaned).append(pid)
            now = self.now_ms()
            rows = list(conn.execute("SELECT record_json FROM processes ORDER BY process_id ASC"))
            for (text,) in rows:
                record = _decode(text, ProcessRecord.from_json)
                if record.wake_target is not None and record.wake_target.session_id == session_id:
                    self._save(conn, dataclasses.replace(record, wake_target=None, updated_at_ms=now))
            return revoked, orphaned, preserved

        revoked, orphaned, preserved = self._write(body)
        # Wake acks are process-scoped consumption markers: keeping them stops consumed wakes
        # from reappearing for other readers, so nothing is ever deleted here (count stays 0).
        return ProcessSessionDeleteReport(session_id, revoked, 0, tuple(sorted(set(orphaned))),
                                          tuple(sorted(set(preserved))))

    # --- events -----------------------------------------------------------------------------------

    def _wake_delivery(self, record: ProcessRecord, sequence: int, event_type: str, invocation: dict,
                       occurred_ms: int, wake: WakeSemantics | None,
                       target: SessionScope | None) -> ProcessWakeDelivery | None:
        if wake is None or target is None:
            return None
        try:
            digest = sha256_hex([target.scope_id, wake.dedupe_key])
        except CanonicalJsonError as exc:
            raise ProcessRegistryError(f"failed to hash wake delivery for process `{record.id}`: {exc}") from exc
        return ProcessWakeDelivery(
            wake_id=f"wake:{digest}", target_session_id=target.session_id, target_scope_id=target.scope_id,
            process_id=record.id, sequence=sequence, event_type=event_type, event_invocation=invocation,
            dedupe_key=wake.dedupe_key, input=wake.input, created_at_ms=occurred_ms,
            process_caused_by=record.provenance.caused_by)

    def append_event(self, process_id: str, request: ProcessEventAppendRequest) -> ProcessEventAppendResult:
        """Append an event (idempotent under a replay key); returns it and any wake delivery."""
        if not isinstance(request, ProcessEventAppendRequest):
            raise ProcessRegistryError("append_event expects a ProcessEventAppendRequest")
        key = request.replay_key

        def body(conn: apsw.Connection) -> tuple[ProcessEventAppendResult, bool]:
            record = self._require(conn, process_id)
            stored = None
            if key is not None:
                row = query_one(conn, "SELECT payload_hash, event_json FROM process_events "
                                      "WHERE process_id = ? AND idempotency_key = ?", (process_id, key))
                if row is not None:
                    stored = (row[0], _decode(row[1], ProcessEvent.from_json))
            sequence = query_one(conn, "SELECT COALESCE(MAX(sequence), 0) + 1 FROM process_events "
                                       "WHERE process_id = ?", (process_id,))[0]
            now = self.now_ms()
            try:
                payload_hash = sha256_hex([request.event_type, request.payload])
            except CanonicalJsonError as exc:
                raise ProcessRegistryError(
                    f"failed to hash `{request.event_type}` process event: {exc}") from exc
            target = request.wake_target_scope or record.wake_target

            if stored is not None:
                stored_hash, event = stored
                if stored_hash != payload_hash:
                    raise ProcessRegistryError(
                        f"process `{process_id}` event replay key `{key}` conflicts with an existing event")
                repaired = False
                if event.semantics.terminal is not None and not record.is_terminal:
                    # The terminal event exists but the status projection was lost: repair it.
                    record = _project(record, event.semantics.terminal, event.occurred_at_ms)
                    self._save(conn, record)
                    repaired = True
                wake = self._wake_delivery(record, event.sequence, event.event_type, event.invocation,
                                           event.occurred_at_ms, event.semantics.wake, target)
                return ProcessEventAppendResult(event, wake), repaired

            declared = record.event_type(request.event_type)
            if declared is None:
                raise ProcessRegistryError(
                    f"process `{process_id}` emitted undeclared event type `{request.event_type}`")
            if (declared.terminal is not None or request.event_type == "process.cancel_requested") and not key:
                raise ProcessRegistryError(
                    f"process `{process_id}` event `{request.event_type}` requires a deterministic replay key")
            failure = validate_payload(declared.payload_schema, request.payload)
            if failure is not None:
                raise ProcessRegistryError(f"invalid `{request.event_type}` payload: {failure}")
            semantics = materialize_semantics(process_id, sequence, request.payload, declared)
            if semantics.terminal is not None and record.is_terminal:
                raise ProcessRegistryError(f"process `{process_id}` is already terminal")
            invocation = process_event_invocation(process_id, sequence, declared.name, key)
            event = ProcessEvent(process_id, sequence, request.event_type, request.payload, invocation,
                                 semantics, now)
            wake = self._wake_delivery(record, sequence, event.event_type, invocation, now, semantics.wake,
                                       target)
            conn.execute(
                "INSERT INTO process_events (process_id, sequence, event_type, payload_hash, idempotency_key, "
                "occurred_at_ms, event_json) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (process_id, sequence, event.event_type, payload_hash, key, to_i64(now), _encode(event)))
            if semantics.terminal is not None:
                record = _project(record, semantics.terminal, now)
            else:
                record = dataclasses.replace(record, updated_at_ms=now)
            self._save(conn, record)
            return ProcessEventAppendResult(event, wake), True

        result, changed = self._write(body)
        if changed:
            self._notify()
        return result

    def complete_process(self, process_id: str, await_output: ProcessAwaitOutput) -> ProcessRecord:
        """Append the terminal event for ``await_output`` under its deterministic key; re-read."""
        if not isinstance(await_output, ProcessAwaitOutput):
            raise ProcessRegistryError("complete_process expects a ProcessAwaitOutput")
        event_type = {"completed": "process.completed", "failed": "process.failed",
                      "cancelled": "process.cancelled"}[await_output.terminal_state]
        self.append_event(process_id, ProcessEventAppendRequest(
            event_type, {"await_output": await_output.to_json()},
            f"process:{process_id}:terminal:{event_type}"))
        record = self.get_process(process_id)
        if record is None:
            raise ProcessRegistryError(f"unknown process `{process_id}` after terminal event")
        return record

    def events_after(self, process_id: str, after_sequence: int = 0) -> list[ProcessEvent]:
        """Events with sequence > ``after_sequence``, ascending."""
        def read(conn: apsw.Connection) -> list[ProcessEvent]:
            self._require(conn, process_id)
            return self._events(conn, "SELECT event_json FROM process_events WHERE process_id = ? "
                                      "AND sequence > ? ORDER BY sequence ASC",
                                (process_id, clamp_cursor(after_sequence)))
        return self._read(read)

    def count_events_through(self, process_id: str, event_type: str, up_to_sequence: int) -> int:
        """How many events of ``event_type`` have sequence ≤ ``up_to_sequence``."""
        def read(conn: apsw.Connection) -> int:
            self._require(conn, process_id)
            return query_one(conn, "SELECT COUNT(*) FROM process_events WHERE process_id = ? "
                                   "AND event_type = ? AND sequence <= ?",
                             (process_id, event_type, clamp_cursor(up_to_sequence)))[0]
        return self._read(read)

    def recent_events(self, process_id: str, limit: int) -> list[ProcessEvent]:
        """The last ``limit`` events, ascending."""
        def read(conn: apsw.Connection) -> list[ProcessEvent]:
            self._require(conn, process_id)
            events = self._events(conn, "SELECT event_json FROM process_events WHERE process_id = ? "
                                        "ORDER BY sequence DESC LIMIT ?", (process_id, clamp_cursor(limit)))
            events.reverse()
            return events
        return self._read(read)

    def wake_events_after(self, process_id: str, after_sequence: int = 0) -> list[ProcessEvent]:
        """Unacknowledged wake events with sequence > ``after_sequence``, ascending."""
        def read(conn: apsw.Connection) -> list[ProcessEvent]:
            acked = {row[0] for row in conn.execute(
                "SELECT sequence FROM process_wake_acks WHERE process_id = ?", (process_id,))}
            self._require(conn, process_id)
            events = self._events(conn, "SELECT event_json FROM process_events WHERE process_id = ? "
                                        "AND sequence > ? ORDER BY sequence ASC",
                                  (process_id, clamp_cursor(after_sequence)))
            return [e for e in events if e.semantics.wake is not None and e.sequence not in acked]
        return self._read(read)

    def find_event_after(self, process_id: str, event_type: str, after_sequence: int) -> ProcessEvent | None:
        """The first event of ``event_type`` after the cursor, or None (never blocks)."""
        def read(conn: apsw.Connection) -> ProcessEvent | None:
            self._require(conn, process_id)
            events = self._events(conn, "SELECT event_json FROM process_events WHERE process_id = ? "
                                        "AND sequence > ? AND event_type = ? ORDER BY sequence ASC LIMIT 1",
                                  (process_id, clamp_cursor(after_sequence), event_type))
            return events[0] if events else None
        return self._read(read)

    def wait_event_after(self, process_id: str, event_type: str, after_sequence: int, *,
                         timeout: float | None = None) -> ProcessEvent:
        """The first event of ``event_type`` after the cursor, blocking until one is appended."""
        return self._block_until(lambda: self.find_event_after(process_id, event_type, after_sequence),
                                 timeout, f"a `{event_type}` event of process `{process_id}`")

    def poll_await_process(self, process_id: str) -> ProcessAwaitOutput | None:
        """The await output if the process is terminal, else None (never blocks)."""
        record = self.get_process(process_id)
        if record is None:
            raise _unknown(process_id)
        return record.await_output if record.is_terminal else None

    def await_process(self, process_id: str, *, timeout: float | None = None) -> ProcessAwaitOutput:
        """Block until the process is terminal and return its await output."""
        return self._block_until(lambda: self.poll_await_process(process_id), timeout,
                                 f"process `{process_id}` to finish")

    # --- reads --------------------------------------------------------------------------------------

    def get_process(self, process_id: str) -> ProcessRecord | None:
        """The record, or None when the row is missing or cannot be decoded."""
        def read(conn: apsw.Connection) -> ProcessRecord | None:
            try:
                return self._load(conn, process_id)
            except ProcessRegistryError:
                return None
        return self._read(read)

    def list_processes(self, filter: ProcessListFilter | None = None) -> list[ProcessRecord]:
        """Every record matching the filter (default: running), by process id."""
        wanted = filter or ProcessListFilter()
        rows = self._read(lambda c: list(c.execute("SELECT record_json FROM processes ORDER BY process_id ASC")))
        records = [_decode(text, ProcessRecord.from_json) for (text,) in rows]
        return [r for r in records if wanted.matches(r)]

    def list_non_terminal(self) -> list[ProcessRecord]:
        """Running processes (the workers' recovery worklist), by process id."""
        rows = self._read(lambda c: list(c.execute(
            "SELECT record_json FROM processes WHERE status = 'running' ORDER BY process_id ASC")))
        return [_decode(text, ProcessRecord.from_json) for (text,) in rows]

    # --- wake acknowledgements and leases ------------------------------------------------------------

    def ack_wake(self, process_id: str, sequence: int) -> None:
        """Mark a wake event consumed for every reader (duplicates ignored)."""
        if self._read(lambda c: self._load(c, process_id)) is None:
            raise _unknown(process_id)
        self._autocommit("INSERT OR IGNORE INTO process_wake_acks (process_id, sequence) VALUES (?, ?)",
                         (process_id, to_i64(sequence)))

    def claim_process_lease(self, process_id: str, owner_id: str, lease_ttl_ms: int) -> ProcessLease:
        """Take the execution lease unless another owner holds a live one; bumps the fencing token."""
        def body(conn: apsw.Connection) -> ProcessLease:
            self._require(conn, process_id)
            now = self.now_ms()
            current = self._live_lease(conn, process_id)
            if current is not None and current.expires_at_epoch_ms > now and current.owner_id != owner_id:
                raise ProcessRegistryError(
                    f"process `{process_id}` is already leased by `{current.owner_id}` until "
                    f"{current.expires_at_epoch_ms}")
            row = query_one(conn, "SELECT lease_fencing_token FROM process_leases WHERE process_id = ?",
                            (process_id,))
            fencing = (0 if row is None else from_i64(row[0])) + 1
            lease = ProcessLease(process_id, owner_id, lease_token(process_id, owner_id, now, fencing),
                                 fencing, now, min(now + max(int(lease_ttl_ms), 0), U64_MAX))
            conn.execute(
                "INSERT INTO process_leases (process_id, lease_owner_id, lease_token, lease_fencing_token, "
                "lease_claimed_at_ms, lease_expires_at_ms) VALUES (?, ?, ?, ?, ?, ?) "
                "ON CONFLICT(process_id) DO UPDATE SET lease_owner_id = excluded.lease_owner_id, "
                "lease_token = excluded.lease_token, lease_fencing_token = excluded.lease_fencing_token, "
                "lease_claimed_at_ms = excluded.lease_claimed_at_ms, "
                "lease_expires_at_ms = excluded.lease_expires_at_ms",
                (process_id, owner_id, lease.lease_token, to_i64(fencing), to_i64(now),
                 to_i64(lease.expires_at_epoch_ms)))
            return lease
        return self._write(body)

    def renew_process_lease(self, lease: ProcessLease, lease_ttl_ms: int) -> ProcessLease:
        """Extend a lease that is still the stored, unexpired one; else it was superseded."""
        def body(conn: apsw.Connection) -> ProcessLease:
            now = self.now_ms()
            current = self._live_lease(conn, lease.process_id)
            if current is None or current.lease_token != lease.lease_token or current.expires_at_epoch_ms <= now:
                raise ProcessRegistryError(f"process lease for `{lease.process_id}` is missing or expired")
            renewed = dataclasses.replace(lease, expires_at_epoch_ms=min(now + max(int(lease_ttl_ms), 0), U64_MAX))
            conn.execute("UPDATE process_leases SET lease_expires_at_ms = ? WHERE process_id = ? AND lease_token = ?",
                         (to_i64(renewed.expires_at_epoch_ms), lease.process_id, lease.lease_token))
            return renewed
        return self._write(body)

    def complete_process_lease(self, completion: ProcessLeaseCompletion | ProcessLease) -> None:
        """Release the lease carrying this token, keeping the fencing counter; stale tokens no-op."""
        self._autocommit(
            "UPDATE process_leases SET lease_owner_id = NULL, lease_token = NULL, lease_claimed_at_ms = 0, "
            "lease_expires_at_ms = 0 WHERE process_id = ? AND lease_token = ?",
            (completion.process_id, completion.lease_token))


class AsyncProcessRegistry(AsyncFacade[ProcessRegistry]):
    """asyncio facade whose waits never occupy the registry's worker thread."""

    async def _wait(self, check: Callable[[], Any], timeout: float | None, what: str) -> Any:
        registry = self.sync
        loop = asyncio.get_running_loop()
        changed = asyncio.Event()

        def on_change() -> None:
            try:
                loop.call_soon_threadsafe(changed.set)
            except RuntimeError:
                # The loop is closed, so this waiter no longer exists: there is no one to wake.
                pass

        registry.add_change_listener(on_change)
        try:
            deadline = None if timeout is None else loop.time() + timeout
            delay = _POLL_MIN_S
            while True:
                changed.clear()
                result = await self._submit(check)
                if result is not None:
                    return result
                wait = delay
                if deadline is not None:
                    remaining = deadline - loop.time()
                    if remaining <= 0:
                        raise ProcessWaitTimeout(f"timed out waiting for {what}")
                    wait = min(wait, remaining)
                try:
                    await asyncio.wait_for(changed.wait(), wait)
                    delay = _POLL_MIN_S
                except TimeoutError:
                    delay = min(delay * 2, _POLL_MAX_S)
        finally:
            registry.remove_change_listener(on_change)

    async def await_process(self, process_id: str, *, timeout: float | None = None) -> ProcessAwaitOutput:
        """Wait for the process to be terminal and return its await output."""
        registry = self.sync
        return await self._wait(lambda: registry.poll_await_process(process_id), timeout,
                                f"process `{process_id}` to finish")

    async def wait_event_after(self, process_id: str, event_type: str, after_sequence: int, *,
                               timeout: float | None = None) -> ProcessEvent:
        """Wait for the first event of ``event_type`` after the cursor."""
        registry = self.sync
        return await self._wait(lambda: registry.find_event_after(process_id, event_type, after_sequence),
                                timeout, f"a `{event_type}` event of process `{process_id}`")
