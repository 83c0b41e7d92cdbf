"""The process registry: one database per runtime deployment (deployment-stores §1).

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
- Storage is reached only through :class:`~.ports.RegistryRows` (statements) inside the backend's
  transactions; the pure rules live in :mod:`.registry_rules`, waiting in :mod:`.registry_wait`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from typing import Any

from lashdb.engine.base.canonical import CanonicalJsonError, sha256_hex
from lashdb.engine.base.errors import BackendError, ProcessRegistryError
from lashdb.engine.base.ints import U64_MAX
from lashdb.engine.base.timing import DURABLE, Clock

from .owner import StoreOwner
from .ports import DeploymentBackend, RegistryRows
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
    SessionScope,
    WaitState,
    process_event_invocation,
)
from .registry_rules import (
    decode as _decode,
    decode_error as _decode_error,  # noqa: F401  (re-exported: the old private name)
    encode as _encode,
    lease_token,
    project as _project,
    registration_hash as _registration_hash,
    scope_of as _scope,
    unknown as _unknown,
    validate_registration as _validate_registration,
    wake_delivery as _wake_delivery,
)
from .registry_wait import (  # noqa: F401  (_POLL_*: re-exported, the old private names)
    _POLL_MAX_S,
    _POLL_MIN_S,
    AsyncProcessRegistry,
    ChangeNotifier,
    ProcessWaitTimeout,
)
from .semantics import materialize_semantics, validate_payload

# Names this module exposed before the seam split; kept importable for old dotted paths.
from lashdb.engine.base import values  # noqa: F401
from lashdb.engine.base.aio import AsyncFacade  # noqa: F401
from lashdb.engine.base.canonical import dumps  # noqa: F401
from lashdb.engine.base.errors import UnstorableValue  # noqa: F401
from lashdb.engine.base.ints import clamp_cursor, from_i64, to_i64  # noqa: F401
from .process_model import ProcessWakeDelivery, TerminalSemantics, WakeSemantics  # noqa: F401

__all__ = ["AsyncProcessRegistry", "ProcessRegistry", "ProcessWaitTimeout", "lease_token"]


class ProcessRegistry(StoreOwner, ChangeNotifier):
    """A deployment's process registry database. Use as a context manager or call :meth:`close`."""

    BACKEND = "sqlite.process_registry"

    durability_tier = DURABLE

    def __init__(self, backend: DeploymentBackend, clock: Clock | None = None) -> None:
        StoreOwner.__init__(self, backend, clock)
        ChangeNotifier.__init__(self)

    # --- plumbing ---------------------------------------------------------------------------------

    def _backend_error(self, exc: BackendError) -> ProcessRegistryError:
        err = ProcessRegistryError(exc.driver_message, hint=exc.hint or None)
        err.backend = exc
        return err

    def _run(self, fn: Callable[[RegistryRows], Any], *, write: bool) -> Any:
        try:
            with self._lock:
                return (self._backend.write if write else self._backend.read)(fn)
        except BackendError as exc:
            raise self._backend_error(exc) from exc
        except InvalidDeploymentValue as exc:
            if not write:
                raise
            raise ProcessRegistryError(str(exc)) from exc

    def _write(self, fn: Callable[[RegistryRows], Any]) -> Any:
        return self._run(fn, write=True)

    def _read(self, fn: Callable[[RegistryRows], Any]) -> Any:
        return self._run(fn, write=False)

    def _autocommit(self, fn: Callable[[RegistryRows], Any]) -> Any:
        # The upstream single-statement operations: no explicit transaction around them.
        try:
            with self._lock:
                return self._backend.autocommit(fn)
        except BackendError as exc:
            raise self._backend_error(exc) from exc

    # --- row helpers ------------------------------------------------------------------------------

    @staticmethod
    def _load(rows: RegistryRows, process_id: str) -> ProcessRecord | None:
        text = rows.load_process(process_id)
        return None if text is None else _decode(text, ProcessRecord.from_json)

    def _require(self, rows: RegistryRows, process_id: str) -> ProcessRecord:
        record = self._load(rows, process_id)
        if record is None:
            raise _unknown(process_id)
        return record

    @staticmethod
    def _save(rows: RegistryRows, record: ProcessRecord) -> None:
        rows.save_process(record.id, record.updated_at_ms, record.status, _encode(record))

    @staticmethod
    def _live_lease(rows: RegistryRows, process_id: str) -> ProcessLease | None:
        row = rows.lease(process_id)
        if row is None or row[0] is None or row[1] is None:
            return None
        owner, token, fencing, claimed, expires = row
        return ProcessLease(process_id, owner, token, fencing, claimed, expires, PROCESS_LEASE_SCHEMA_VERSION)

    @staticmethod
    def _events(texts: Iterable[str]) -> list[ProcessEvent]:
        return [_decode(text, ProcessEvent.from_json) for text in texts]

    # --- registration and record mutations ----------------------------------------------------------

    def register_process(self, registration: ProcessRegistration) -> ProcessRecord:
        """Insert a process, or return the stored record for an identical registration."""
        if not isinstance(registration, ProcessRegistration):
            raise ProcessRegistryError("register_process expects a ProcessRegistration")
        reg = registration.completed()
        _validate_registration(reg)
        registration_hash = _registration_hash(reg)

        def body(rows: RegistryRows) -> ProcessRecord:
            existing = self._load(rows, reg.id)
            if existing is not None:
                if existing.registration_hash == registration_hash:
                    return existing
                raise ProcessRegistryError(
                    f"process `{reg.id}` registration hash conflict: existing "
                    f"{existing.registration_hash}, new {registration_hash}")
            now = self.now_ms()
            record = ProcessRecord(reg.id, registration_hash, reg.input, reg.identity, reg.event_types,
                                   reg.provenance, reg.env_ref, reg.wake_target, now, now)
            rows.insert_process(record.id, registration_hash, record.originator_scope_id, now, record.status,
                                _encode(record))
            return record

        record = self._write(body)
        self._notify()
        return record

    def _mutate(self, process_id: str, change: Callable[[ProcessRecord, int], ProcessRecord]) -> ProcessRecord:
        def body(rows: RegistryRows) -> ProcessRecord:
            record = change(self._require(rows, process_id), self.now_ms())
            self._save(rows, record)
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

        def body(rows: RegistryRows) -> ProcessHandleGrant:
            self._require(rows, process_id)
            rows.put_grant(scope.session_id, scope.scope_id, process_id, _encode(descriptor))
            return ProcessHandleGrant(scope.session_id, process_id, descriptor)
        return self._write(body)

    def revoke_handle(self, scope: SessionScope | str, process_id: str) -> None:
        """Delete a scope's grant for a process; absent grants and unknown processes are fine."""
        scope = _scope(scope)
        self._autocommit(lambda rows: rows.delete_grant(scope.scope_id, process_id))

    def transfer_handle_grants(self, from_scope: SessionScope | str, to_scope: SessionScope | str,
                               process_ids: Iterable[str]) -> None:
        """Move grants between scopes, all or nothing; a missing grant rolls the whole move back."""
        source, target = _scope(from_scope), _scope(to_scope)
        ids = list(process_ids)

        def body(rows: RegistryRows) -> None:
            for pid in ids:
                descriptor_json = rows.grant_descriptor(source.scope_id, pid)
                if descriptor_json is None:
                    raise ProcessRegistryError(
                        f"process handle `{pid}` is not granted to session `{source.session_id}`")
                rows.delete_grant(source.scope_id, pid)
                rows.put_grant(target.session_id, target.scope_id, pid, descriptor_json)
        if ids:
            self._write(body)

    def _grants_for_scope(self, scope: SessionScope | str,
                          live_only: bool) -> list[tuple[ProcessHandleGrant, ProcessRecord]]:
        scope = _scope(scope)

        def read(rows: RegistryRows) -> list[tuple[ProcessHandleGrant, ProcessRecord]]:
            entries = []
            for pid, descriptor_json, record_json in rows.grants_for_scope(scope.scope_id, live_only):
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
        return self._read(lambda rows: rows.has_grant(scope.scope_id, process_id))

    def handle_grants_for_process(self, process_id: str) -> list[ProcessHandleGrant]:
        """Every grant of a process, by session id then scope id."""
        def read(rows: RegistryRows) -> list[ProcessHandleGrant]:
            self._require(rows, process_id)
            return [ProcessHandleGrant(sid, process_id, _decode(d, ProcessHandleDescriptor.from_json))
                    for sid, d in rows.grants_for_process(process_id)]
        return self._read(read)

    def delete_session_process_state(self, session_id: str) -> ProcessSessionDeleteReport:
        """Revoke a session's grants (all frames) and detach it as a wake target; report orphans."""
        def body(rows: RegistryRows) -> tuple[int, list[str], list[str]]:
            removed = [(pid, _decode(text, ProcessRecord.from_json)) for pid, text in rows.session_grants(session_id)]
            revoked = rows.delete_session_grants(session_id)
            orphaned, preserved = [], []
            for pid, record in removed:
                if record.is_terminal:
                    continue
                (preserved if rows.count_grants(pid) else orphaned).append(pid)
            now = self.now_ms()
            for text in rows.list_processes():
                record = _decode(text, ProcessRecord.from_json)
                if record.wake_target is not None and record.wake_target.session_id == session_id:
                    self._save(rows, dataclasses.replace(record, wake_target=None, updated_at_ms=now))
            return revoked, orphaned, preserved

        revoked, orphaned, preserved = self._write(body)
        # Wake acks are process-scoped consumption markers: keeping them stops consumed wakes
        # from reappearing for other readers, so nothing is ever deleted here (count stays 0).
        return ProcessSessionDeleteReport(session_id, revoked, 0, tuple(sorted(set(orphaned))),
                                          tuple(sorted(set(preserved))))

    # --- events -----------------------------------------------------------------------------------

    def append_event(self, process_id: str, request: ProcessEventAppendRequest) -> ProcessEventAppendResult:
        """Append an event (idempotent under a replay key); returns it and any wake delivery."""
        if not isinstance(request, ProcessEventAppendRequest):
            raise ProcessRegistryError("append_event expects a ProcessEventAppendRequest")
        key = request.replay_key

        def body(rows: RegistryRows) -> tuple[ProcessEventAppendResult, bool]:
            record = self._require(rows, process_id)
            stored = None
            if key is not None:
                row = rows.event_by_key(process_id, key)
                if row is not None:
                    stored = (row[0], _decode(row[1], ProcessEvent.from_json))
            sequence = rows.next_sequence(process_id)
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
                    self._save(rows, record)
                    repaired = True
                wake = _wake_delivery(record, event.sequence, event.event_type, event.invocation,
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
            wake = _wake_delivery(record, sequence, event.event_type, invocation, now, semantics.wake, target)
            rows.insert_event(process_id, sequence, event.event_type, payload_hash, key, now, _encode(event))
            if semantics.terminal is not None:
                record = _project(record, semantics.terminal, now)
            else:
                record = dataclasses.replace(record, updated_at_ms=now)
            self._save(rows, record)
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
        def read(rows: RegistryRows) -> list[ProcessEvent]:
            self._require(rows, process_id)
            return self._events(rows.events_after(process_id, after_sequence))
        return self._read(read)

    def count_events_through(self, process_id: str, event_type: str, up_to_sequence: int) -> int:
        """How many events of ``event_type`` have sequence ≤ ``up_to_sequence``."""
        def read(rows: RegistryRows) -> int:
            self._require(rows, process_id)
            return rows.count_events_through(process_id, event_type, up_to_sequence)
        return self._read(read)

    def recent_events(self, process_id: str, limit: int) -> list[ProcessEvent]:
        """The last ``limit`` events, ascending."""
        def read(rows: RegistryRows) -> list[ProcessEvent]:
            self._require(rows, process_id)
            return self._events(rows.recent_events(process_id, limit))
        return self._read(read)

    def wake_events_after(self, process_id: str, after_sequence: int = 0) -> list[ProcessEvent]:
        """Unacknowledged wake events with sequence > ``after_sequence``, ascending."""
        def read(rows: RegistryRows) -> list[ProcessEvent]:
            acked = rows.wake_acks(process_id)
            self._require(rows, process_id)
            events = self._events(rows.events_after(process_id, after_sequence))
            return [e for e in events if e.semantics.wake is not None and e.sequence not in acked]
        return self._read(read)

    def find_event_after(self, process_id: str, event_type: str, after_sequence: int) -> ProcessEvent | None:
        """The first event of ``event_type`` after the cursor, or None (never blocks)."""
        def read(rows: RegistryRows) -> ProcessEvent | None:
            self._require(rows, process_id)
            text = rows.find_event_after(process_id, event_type, after_sequence)
            return None if text is None else _decode(text, ProcessEvent.from_json)
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
        def read(rows: RegistryRows) -> ProcessRecord | None:
            try:
                return self._load(rows, process_id)
            except ProcessRegistryError:
                return None
        return self._read(read)

    def list_processes(self, filter: ProcessListFilter | None = None) -> list[ProcessRecord]:
        """Every record matching the filter (default: running), by process id."""
        wanted = filter or ProcessListFilter()
        texts = self._read(lambda rows: rows.list_processes())
        records = [_decode(text, ProcessRecord.from_json) for text in texts]
        return [r for r in records if wanted.matches(r)]

    def list_non_terminal(self) -> list[ProcessRecord]:
        """Running processes (the workers' recovery worklist), by process id."""
        texts = self._read(lambda rows: rows.list_running())
        return [_decode(text, ProcessRecord.from_json) for text in texts]

    # --- wake acknowledgements and leases ------------------------------------------------------------

    def ack_wake(self, process_id: str, sequence: int) -> None:
        """Mark a wake event consumed for every reader (duplicates ignored)."""
        if self._read(lambda rows: self._load(rows, process_id)) is None:
            raise _unknown(process_id)
        self._autocommit(lambda rows: rows.add_wake_ack(process_id, sequence))

    def claim_process_lease(self, process_id: str, owner_id: str, lease_ttl_ms: int) -> ProcessLease:
        """Take the execution lease unless another owner holds a live one; bumps the fencing token."""
        def body(rows: RegistryRows) -> ProcessLease:
            self._require(rows, process_id)
            now = self.now_ms()
            current = self._live_lease(rows, process_id)
            if current is not None and current.expires_at_epoch_ms > now and current.owner_id != owner_id:
                raise ProcessRegistryError(
                    f"process `{process_id}` is already leased by `{current.owner_id}` until "
                    f"{current.expires_at_epoch_ms}")
            # A released lease keeps its row, so the fencing counter only ever grows.
            row = rows.lease(process_id)
            fencing = (0 if row is None else row[2]) + 1
            lease = ProcessLease(process_id, owner_id, lease_token(process_id, owner_id, now, fencing),
                                 fencing, now, min(now + max(int(lease_ttl_ms), 0), U64_MAX))
            rows.put_lease(process_id, owner_id, lease.lease_token, fencing, now, lease.expires_at_epoch_ms)
            return lease
        return self._write(body)

    def renew_process_lease(self, lease: ProcessLease, lease_ttl_ms: int) -> ProcessLease:
        """Extend a lease that is still the stored, unexpired one; else it was superseded."""
        def body(rows: RegistryRows) -> ProcessLease:
            now = self.now_ms()
            current = self._live_lease(rows, lease.process_id)
            if current is None or current.lease_token != lease.lease_token or current.expires_at_epoch_ms <= now:
                raise ProcessRegistryError(f"process lease for `{lease.process_id}` is missing or expired")
            renewed = dataclasses.replace(lease, expires_at_epoch_ms=min(now + max(int(lease_ttl_ms), 0), U64_MAX))
            rows.extend_lease(lease.process_id, lease.lease_token, renewed.expires_at_epoch_ms)
            return renewed
        return self._write(body)

    def settle_lease(self, process_id: str,
                     decide: Callable[[ProcessLease, int], bool]) -> tuple[ProcessLease | None, bool]:
        """Operator release (``lashdb unlock``): in one write transaction read the held lease, ask
        ``decide(lease, now)`` and release it when that says so (it may raise to refuse); the fencing
        counter stays. ``(None, False)`` when no lease is held."""
        def body(rows: RegistryRows) -> tuple[ProcessLease | None, bool]:
            self._require(rows, process_id)
            held = self._live_lease(rows, process_id)
            if held is None or not decide(held, self.now_ms()):
                return held, False
            return held, rows.release_lease(process_id, held.lease_token)
        return self._write(body)

    def complete_process_lease(self, completion: ProcessLeaseCompletion | ProcessLease) -> None:
        """Release the lease carrying this token, keeping the fencing counter; stale tokens no-op."""
        self._autocommit(lambda rows: rows.release_lease(completion.process_id, completion.lease_token))
