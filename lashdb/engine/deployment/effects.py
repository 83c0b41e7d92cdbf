"""The effect replay host (runtime contract §6, §1.11, W19–W23).

Contract:
- An effects database (its own file — usually a session's ``<file>.db.effects.db`` sidecar, any
  path works — or private memory) holds one row per (scope id, replay key) in
  ``runtime_effect_replay``. A foreign or other-kind file is refused before anything on disk,
  journal mode included, is changed.
- :class:`EffectHost` (deployment level) hands out :class:`EffectController` objects that share
  its connection, owner id, lease-token counter and replay flag; a standalone controller has its
  own. Scopes are validated everywhere: a blank id raises ``missing_execution_scope_id``.
- :meth:`EffectController.execute_effect` runs an effect at most once per key as far as the
  store can tell (execution is at-least-once across crashes): each attempt is one
  ``BEGIN IMMEDIATE`` prepare that claims, replays (completed/failed rows), reports busy (live
  lease held elsewhere) or takes over an expired lease. A claimed effect runs on a worker thread
  while the calling thread renews the lease every ``max(ttl // 3, 1)`` ms; a renewal or finalize
  that matches no row raises ``sqlite_effect_replay_lease_lost`` and sets the executor's
  cancellation event. Busy waits back off from 25 ms but never sleep past the holder's expiry.
- The envelope hash is SHA-256 of the envelope's compact JSON text, byte-exact with upstream
  (typed records in declared order, free-form JSON with sorted keys; deployment-stores §0.4).
- Every failure is an :class:`EffectControllerError` whose ``str()`` is ``{code}: {message}``;
  SQLite failures become ``sqlite_effect_replay_store`` carrying the driver's message. A clock
  (callable returning epoch ms) is injectable and read once per operation.
- Strict replay (:meth:`start_replay`) is permanent. It fails a missing row; like upstream it
  takes over an in-flight row whose lease expired, unless the opt-in
  ``EffectReplayOptions(strict_in_flight_replay=True)`` is set, which fails that too (W21).
- Rows are never deleted (W22). Inspection (:func:`list_effects`, :func:`replay_plan`,
  :func:`stale_in_progress`, :func:`effects_info`) is read-only and works on foreign files where
  their columns allow.

Scope ids are stored bare (W20): a turn and a process with the same id share replay history, so
ids must be globally unique. The controller itself runs two kinds of command: ``sleep`` (a durable
timer) and ``process`` (an operation on the process registry that a :class:`ProcessExecutor`
supplies; registry failures are recorded as code ``plugin``). Every other command goes to the
local executor.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import itertools
import json
import os
import threading
import time
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import apsw

from lashdb.engine.base import canonical, jsonread, values
from lashdb.engine.base.aio import AsyncFacade
from lashdb.engine.sqlite.connection import columns as table_columns
from lashdb.engine.sqlite.connection import (
    open_memory,
    open_readonly,
    query_one,
    translate,
    write_transaction,
)
from lashdb.engine.sqlite.deployment_common import DURABLE, Clock, driver_message, from_i64, wall_clock_ms
from lashdb.engine.ops.deployment_inspect import StoreInfo
from lashdb.engine.base.errors import BackendError, LashdbError, NotALashDatabase, StoreError, UnstorableValue
from .process_model import (
    CausalRef,
    ProcessEventAppendRequest,
    ProcessEventType,
    ProcessHandleDescriptor,
    ProcessIdentity,
    ProcessInput,
    ProcessProvenance,
    ProcessRegistration,
    SessionScope,
)
from lashdb.engine.sqlite.schema import (
    EFFECT_REPLAY,
    classify_connection,
    damage,
    ensure_schema,
    open_for_kind,
)
from lashdb.engine.base.timing import MAX_MS, clock_now, deadline, stored, ttl

__all__ = [
    "AsyncEffectController", "AsyncEffectHost", "EFFECT_KINDS", "EffectCancelled", "EffectCommand",
    "EffectController", "EffectControllerError", "EffectEnvelope", "EffectHost", "EffectInvocation",
    "EffectReplayOptions", "EffectRow", "ExecutionScope", "LocalExecutor", "ProcessExecutor", "ReplayStep",
    "RuntimeScope", "SLEEP_OUTCOME", "busy_delay_ms", "durable_step_executor", "durable_step_outcome",
    "effects_info", "list_effects", "prepared_tool_call", "replay_plan", "replay_step_for", "stale_in_progress",
]

STATUS_IN_PROGRESS = "in_progress"
STATUS_COMPLETED = "completed"
STATUS_FAILED = "failed"
STATUSES = (STATUS_IN_PROGRESS, STATUS_COMPLETED, STATUS_FAILED)

DEFAULT_LEASE_TTL_MS = 30_000
BUSY_POLL_MS = 25
# W23: back off while another owner holds the row, but never past its lease expiry.
BUSY_POLL_MAX_MS = 200
CANCEL_POLL_S = 0.02

CODE_KEY_MISSING = "sqlite_effect_replay_key_missing"
CODE_ENVELOPE_HASH = "runtime_effect_envelope_hash"
CODE_MISSING = "sqlite_effect_replay_missing"
CODE_HASH_CONFLICT = "sqlite_effect_replay_hash_conflict"
CODE_CORRUPT_ROW = "sqlite_effect_replay_corrupt_row"
CODE_DECODE = "sqlite_effect_replay_decode"
CODE_ENCODE = "sqlite_effect_replay_encode"
CODE_LEASE_LOST = "sqlite_effect_replay_lease_lost"
CODE_STORE = "sqlite_effect_replay_store"
CODE_MISSING_SCOPE_ID = "missing_execution_scope_id"
CODE_EXECUTOR_UNAVAILABLE = "runtime_effect_local_executor_unavailable"

EFFECT_KINDS = (
    "llm_call", "direct", "tool_attempt", "tool_batch", "process", "exec_code", "checkpoint",
    "sync_execution_environment", "sleep", "await_event", "durable_step",
)

SLEEP_OUTCOME: Mapping[str, Any] = types.MappingProxyType({"type": "sleep"})

# Rust's `char::is_whitespace` (Unicode White_Space); Python's str.isspace also accepts
# U+001C..U+001F, which upstream would treat as a real id.
_RUST_WHITESPACE = frozenset(
    "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
    "\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)


def _blank(value: object) -> bool:
    return not isinstance(value, str) or all(ch in _RUST_WHITESPACE for ch in value)


# --- errors -------------------------------------------------------------------------------------------


class EffectControllerError(StoreError):
    """An effect failed or could not be replayed; ``str()`` is ``{code}: {message}``."""

    def __init__(self, code: str, message: str, *, hint: str | None = None) -> None:
        if not isinstance(code, str) or not isinstance(message, str):
            raise TypeError("EffectControllerError code and message must be str")
        self.code = code
        self.message = message
        super().__init__(f"{code}: {message}", hint=hint)

    def to_json(self) -> dict[str, str]:
        """The stored ``error_json`` form: ``{"code", "message"}``."""
        return {"code": self.code, "message": self.message}

    def __reduce__(self):
        return (type(self), (self.code, self.message))


class EffectCancelled(LashdbError):
    """The caller's cancel event was set while the effect was waiting or running."""

    hint = "the row keeps its state; the effect runs or replays on the next request"

    def __init__(self, scope_id: str, replay_key: str) -> None:
        self.scope_id = scope_id
        self.replay_key = replay_key
        super().__init__(f"runtime effect `{replay_key}` in scope `{scope_id}` was cancelled by its caller")


def _error(code: str, message: str) -> EffectControllerError:
    return EffectControllerError(code, message)


def _store_error(exc: LashdbError) -> EffectControllerError:
    message = driver_message(exc) if isinstance(exc, BackendError) else str(exc)
    return EffectControllerError(CODE_STORE, message,
                                 hint="the effects database failed underneath; nothing was written")


def _decode_error(reason: object) -> EffectControllerError:
    return _error(CODE_DECODE, f"failed to decode runtime effect replay row: {reason}")


def _encode_error(reason: object) -> EffectControllerError:
    return _error(CODE_ENCODE, f"failed to encode runtime effect replay row: {reason}")


# --- scopes -------------------------------------------------------------------------------------------

_SCOPE_KINDS = {
    # kind: (name of the id field, whether a session id is carried separately)
    "turn": ("turn_id", True),
    "process": ("process_id", False),
    "queue_drain": ("drain_id", True),
    "session_delete": ("session_id", False),
    "runtime_operation": ("operation_id", False),
}


@dataclass(frozen=True)
class ExecutionScope:
    """The semantic scope an effect runs in; ``scope_id`` is what the store keys rows by."""

    kind: str
    scope_id: str
    session_id: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in _SCOPE_KINDS:
            raise ValueError(f"unknown execution scope kind {self.kind!r}")
        if self.kind == "session_delete":
            if self.session_id not in (None, self.scope_id):
                raise ValueError("a session_delete scope's id is its session id")
            object.__setattr__(self, "session_id", self.scope_id)
        elif not _SCOPE_KINDS[self.kind][1] and self.session_id is not None:
            raise ValueError(f"a {self.kind} scope carries no session id")

    @classmethod
    def turn(cls, session_id: str, turn_id: str) -> ExecutionScope:
        """A turn of a session (scope id: the turn id)."""
        return cls("turn", turn_id, session_id)

    @classmethod
    def process(cls, process_id: str) -> ExecutionScope:
        """A background process (scope id: the process id)."""
        return cls("process", process_id)

    @classmethod
    def queue_drain(cls, session_id: str, drain_id: str) -> ExecutionScope:
        """A queued-work drain of a session (scope id: the drain id)."""
        return cls("queue_drain", drain_id, session_id)

    @classmethod
    def session_delete(cls, session_id: str) -> ExecutionScope:
        """The deletion of a session (scope id: the session id)."""
        return cls("session_delete", session_id, session_id)

    @classmethod
    def runtime_operation(cls, operation_id: str) -> ExecutionScope:
        """A deployment-level runtime operation (scope id: the operation id)."""
        return cls("runtime_operation", operation_id)

    @property
    def id(self) -> str:
        """The bare id stored in ``scope_id``."""
        return self.scope_id

    @property
    def turn_id(self) -> str | None:
        """The turn id of a turn scope, else ``None``."""
        return self.scope_id if self.kind == "turn" else None

    def validate(self) -> None:
        """Raise ``missing_execution_scope_id`` when a required id is empty or whitespace."""
        missing = _blank(self.scope_id)
        if self.kind in ("turn", "queue_drain"):
            missing = missing or _blank(self.session_id)
        if missing:
            raise EffectControllerError(CODE_MISSING_SCOPE_ID, "execution scopes require non-empty stable ids",
                                        hint="give every execution scope a stable, globally unique id")

    def to_json(self) -> dict[str, Any]:
        """Upstream's tagged form, e.g. ``{"type":"turn","session_id":…,"turn_id":…}``."""
        id_field, has_session = _SCOPE_KINDS[self.kind]
        doc: dict[str, Any] = {"type": self.kind}
        if has_session:
            doc["session_id"] = self.session_id
        doc[id_field] = self.scope_id
        return doc


# --- envelopes ----------------------------------------------------------------------------------------


def _opt_count(name: str, value: object) -> int | None:
    return None if value is None else stored(name, value)


@dataclass(frozen=True)
class RuntimeScope:
    """Where in a session an invocation happens (``invocation.scope``)."""

    session_id: str
    turn_id: str | None = None
    turn_index: int | None = None
    protocol_iteration: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.session_id, str):
            raise TypeError("RuntimeScope.session_id must be str")
        if self.turn_id is not None and not isinstance(self.turn_id, str):
            raise TypeError("RuntimeScope.turn_id must be str or None")
        _opt_count("turn_index", self.turn_index)
        _opt_count("protocol_iteration", self.protocol_iteration)

    @classmethod
    def for_turn(cls, session_id: str, turn_id: str, turn_index: int, protocol_iteration: int) -> RuntimeScope:
        """A scope inside one protocol iteration of a turn."""
        return cls(session_id, turn_id, turn_index, protocol_iteration)

    def to_json(self) -> dict[str, Any]:
        """Declared field order, absent fields omitted."""
        doc: dict[str, Any] = {"session_id": self.session_id}
        if self.turn_id is not None:
            doc["turn_id"] = self.turn_id
        if self.turn_index is not None:
            doc["turn_index"] = self.turn_index
        if self.protocol_iteration is not None:
            doc["protocol_iteration"] = self.protocol_iteration
        return doc

    @classmethod
    def from_json(cls, doc: Any) -> RuntimeScope:
        """Parse ``invocation.scope``."""
        if not isinstance(doc, dict) or not isinstance(doc.get("session_id"), str):
            raise ValueError("invocation scope needs a text `session_id`")
        return cls(doc["session_id"], doc.get("turn_id"), doc.get("turn_index"), doc.get("protocol_iteration"))


@dataclass(frozen=True, eq=True)
class EffectInvocation:
    """An invocation's lineage: scope, subject (tagged JSON), optional cause and replay key."""

    scope: RuntimeScope
    subject: Mapping[str, Any]
    caused_by: Mapping[str, Any] | None = None
    replay_key: str | None = None

    __hash__ = None  # holds dicts

    @classmethod
    def effect(cls, scope: RuntimeScope, effect_id: str, kind: str, replay_key: str,
               caused_by: Mapping[str, Any] | None = None) -> EffectInvocation:
        """An effect invocation; the replay key must be non-empty (``runtime_effect_replay_required``)."""
        if not isinstance(replay_key, str) or not replay_key:
            raise _error("runtime_effect_replay_required", "runtime effect envelope requires replay.key")
        cause = None if caused_by is None else CausalRef.normalize(dict(caused_by))
        return cls(scope, {"type": "effect", "effect_id": effect_id, "kind": kind}, cause, replay_key)

    @property
    def effect_id(self) -> str | None:
        """The effect id when the subject is an effect."""
        return self.subject.get("effect_id") if self.subject.get("type") == "effect" else None

    @property
    def effect_kind(self) -> str | None:
        """The effect kind when the subject is an effect."""
        return self.subject.get("kind") if self.subject.get("type") == "effect" else None

    def to_json(self) -> dict[str, Any]:
        """``scope``, ``subject``, opt ``caused_by``, opt ``replay``."""
        doc: dict[str, Any] = {"scope": self.scope.to_json(), "subject": dict(self.subject)}
        if self.caused_by is not None:
            doc["caused_by"] = dict(self.caused_by)
        if self.replay_key is not None:
            doc["replay"] = {"key": self.replay_key}
        return doc

    @classmethod
    def from_json(cls, doc: Any) -> EffectInvocation:
        """Parse an invocation as stored; keeps the subject's and cause's text order."""
        if not isinstance(doc, dict):
            raise ValueError("invocation must be an object")
        subject = doc.get("subject")
        if not isinstance(subject, dict) or not isinstance(subject.get("type"), str):
            raise ValueError("invocation needs a tagged `subject`")
        replay = doc.get("replay")
        key = None
        if replay is not None:
            if not isinstance(replay, dict) or not isinstance(replay.get("key"), str):
                raise ValueError("invocation `replay` needs a text `key`")
            key = replay["key"]
        caused_by = doc.get("caused_by")
        if caused_by is not None and not isinstance(caused_by, dict):
            raise ValueError("invocation `caused_by` must be an object")
        return cls(RuntimeScope.from_json(doc.get("scope")), subject, caused_by, key)


@dataclass(frozen=True, eq=True)
class EffectCommand:
    """A command: its kind (the ``type`` tag) and its fields in upstream's declared order."""

    kind: str
    fields: Mapping[str, Any] = field(default_factory=dict)

    __hash__ = None  # holds dicts

    def __post_init__(self) -> None:
        if self.kind not in EFFECT_KINDS:
            raise _error("runtime_effect_command_kind", f"unknown runtime effect command kind `{self.kind}`")
        if "type" in self.fields:
            raise ValueError("command fields must not repeat the `type` tag")
        if self.kind == "sleep":
            stored("sleep duration_ms", self.fields.get("duration_ms"))
        if self.kind == "process":
            # Upstream's envelope is typed, so a malformed process operation cannot exist there;
            # refuse it here rather than record it as a permanent failure later.
            try:
                _parse_process_op(self.fields.get("command"))
            except (ValueError, TypeError) as exc:
                raise _error("runtime_effect_process_command", f"invalid process command: {exc}") from exc

    @classmethod
    def of(cls, kind: str, fields: Mapping[str, Any]) -> EffectCommand:
        """Any command; ``fields`` must be in declared order with free-form values key-sorted."""
        return cls(kind, dict(fields))

    @classmethod
    def exec_code(cls, language: str, code: str) -> EffectCommand:
        """Run code in the execution environment."""
        return cls("exec_code", {"language": language, "code": code})

    @classmethod
    def sleep(cls, duration_ms: int) -> EffectCommand:
        """A durable timer: the store records the due time and waits for it (§6.8)."""
        return cls("sleep", {"duration_ms": duration_ms})

    @classmethod
    def durable_step(cls, step_id: str, input: Any) -> EffectCommand:
        """A named durable step over a free-form JSON input."""
        return cls("durable_step", {"step_id": step_id, "input": canonical.sorted_json(input)})

    @classmethod
    def tool_attempt(cls, call: Mapping[str, Any], attempt: int, max_attempts: int) -> EffectCommand:
        """One attempt of a prepared tool call (build ``call`` with :func:`prepared_tool_call`)."""
        return cls("tool_attempt", {"call": dict(call), "attempt": attempt, "max_attempts": max_attempts})

    # Process-registry operations (§6.5): the ``command`` field is tagged by ``op``, fields in
    # upstream's declared order; the controller runs them against a :class:`ProcessExecutor`.

    @classmethod
    def process(cls, command: Mapping[str, Any]) -> EffectCommand:
        """A process operation from its ``op``-tagged document (prefer the ``process_*`` builders)."""
        return cls("process", {"command": dict(command)})

    @classmethod
    def process_start(cls, registration: ProcessRegistration, grant_scope: SessionScope | str | None = None,
                      descriptor: ProcessHandleDescriptor | None = None) -> EffectCommand:
        """Register a process, then (when ``grant_scope`` is given) grant that scope its handle."""
        doc: dict[str, Any] = {"op": "start", "registration": registration.to_json()}
        if grant_scope is not None:
            doc["grant"] = {"session_scope": _session_scope(grant_scope).to_json(),
                            "descriptor": (descriptor or ProcessHandleDescriptor()).to_json()}
        return cls.process(doc)

    @classmethod
    def process_list(cls, scope: SessionScope | str, mode: str = "live") -> EffectCommand:
        """List a scope's handle grants: ``live`` (running processes) or ``all``."""
        return cls.process({"op": "list", "session_scope": _session_scope(scope).to_json(), "mode": mode})

    @classmethod
    def process_transfer(cls, from_scope: SessionScope | str, to_scope: SessionScope | str,
                         process_ids: list[str] | tuple[str, ...]) -> EffectCommand:
        """Move handle grants from one scope to another, all or nothing."""
        return cls.process({"op": "transfer", "from_scope": _session_scope(from_scope).to_json(),
                            "to_scope": _session_scope(to_scope).to_json(), "process_ids": list(process_ids)})

    @classmethod
    def process_delete_session(cls, session_id: str) -> EffectCommand:
        """Delete a session's process state (grants, wake targets)."""
        return cls.process({"op": "delete_session", "session_id": session_id})

    @classmethod
    def process_await(cls, process_id: str) -> EffectCommand:
        """Wait for a process to finish and record its await output."""
        return cls.process({"op": "await", "process_id": process_id})

    @classmethod
    def process_cancel(cls, process_id: str, reason: str | None = None) -> EffectCommand:
        """Request cancellation of a process (``reason`` is always written, null when absent)."""
        return cls.process({"op": "cancel", "process_id": process_id, "reason": reason})

    @classmethod
    def process_signal(cls, process_id: str, signal_name: str, signal_id: str,
                       request: ProcessEventAppendRequest) -> EffectCommand:
        """Append a signal event to a process."""
        return cls.process({"op": "signal", "process_id": process_id, "signal_name": signal_name,
                            "signal_id": signal_id, "request": _append_request_json(request)})

    def to_json(self) -> dict[str, Any]:
        """``{"type": kind, …fields}``."""
        return {"type": self.kind, **self.fields}

    @classmethod
    def from_json(cls, doc: Any) -> EffectCommand:
        """Parse a command as stored, keeping its field order."""
        if not isinstance(doc, dict) or not isinstance(doc.get("type"), str):
            raise ValueError("command needs a text `type` tag")
        return cls(doc["type"], {k: v for k, v in doc.items() if k != "type"})


def prepared_tool_call(call_id: str, tool_id: str, tool_name: str, args: Any, *,
                       replay: Mapping[str, Any] | None = None, prepared_payload: Any = None) -> dict[str, Any]:
    """A prepared tool call in upstream's field order (free-form values key-sorted)."""
    doc: dict[str, Any] = {"call_id": call_id, "tool_id": tool_id, "tool_name": tool_name,
                           "args": canonical.sorted_json(args)}
    if replay is not None:
        doc["replay"] = dict(replay)
    if prepared_payload is not None:
        doc["prepared_payload"] = canonical.sorted_json(prepared_payload)
    return doc


def _validate_envelope(invocation: EffectInvocation, command: EffectCommand) -> None:
    subject = invocation.subject
    if subject.get("type") != "effect":
        raise _error("runtime_effect_invocation_subject", "runtime effect envelope subject must be an effect")
    if _blank(subject.get("effect_id")):
        raise _error("runtime_effect_invocation_subject", "runtime effect envelope effect id must be non-empty")
    kind = subject.get("kind")
    if kind != command.kind:
        raise _error("runtime_effect_invocation_kind",
                     f"runtime effect invocation kind {kind} does not match command kind {command.kind}")
    fields = command.fields
    if command.kind == "durable_step" and _blank(fields.get("step_id")):
        raise _error("runtime_effect_durable_step_id", "runtime effect durable step id must be non-empty")
    if command.kind == "tool_attempt":
        call = fields.get("call")
        if not isinstance(call, Mapping) or _blank(call.get("call_id")):
            raise _error("runtime_effect_tool_attempt_call_id",
                         "runtime effect tool attempt requires a non-empty call id")
        attempt, most = fields.get("attempt"), fields.get("max_attempts")
        if not (isinstance(attempt, int) and isinstance(most, int) and 1 <= attempt <= most):
            raise _error("runtime_effect_tool_attempt_index",
                         f"runtime effect tool attempt must satisfy 1 <= attempt <= max_attempts, "
                         f"got {attempt}/{most}")


@dataclass(frozen=True, eq=True)
class EffectEnvelope:
    """What crosses the effect boundary: ``{"invocation": …, "command": …}``.

    Construction checks the invariants that make the hash meaningful (effect subject, non-blank
    effect id, subject kind = command kind, step and tool-call ids); a missing replay key is left
    for the controller to report as ``sqlite_effect_replay_key_missing``.
    """

    invocation: EffectInvocation
    command: EffectCommand

    __hash__ = None  # holds dicts

    def __post_init__(self) -> None:
        _validate_envelope(self.invocation, self.command)

    @classmethod
    def effect(cls, scope: RuntimeScope, effect_id: str, replay_key: str, command: EffectCommand, *,
               caused_by: Mapping[str, Any] | None = None) -> EffectEnvelope:
        """An effect envelope whose subject kind is the command's kind."""
        return cls(EffectInvocation.effect(scope, effect_id, command.kind, replay_key, caused_by), command)

    @property
    def replay_key(self) -> str | None:
        """``invocation.replay.key``."""
        return self.invocation.replay_key

    def to_json(self) -> dict[str, Any]:
        """The envelope as upstream serializes it (field order is part of the hash)."""
        return {"invocation": self.invocation.to_json(), "command": self.command.to_json()}

    def canonical_text(self) -> str:
        """The exact compact JSON text that is hashed."""
        try:
            return canonical.dumps(self.to_json())
        except canonical.CanonicalJsonError as exc:
            raise _error(CODE_ENVELOPE_HASH, f"failed to serialize runtime effect envelope: {exc}") from exc

    def stable_hash(self) -> str:
        """Lowercase hex SHA-256 of :meth:`canonical_text` (the ``envelope_hash`` column)."""
        return hashlib.sha256(self.canonical_text().encode("utf-8")).hexdigest()

    @classmethod
    def from_json(cls, doc: Any) -> EffectEnvelope:
        """Parse an envelope document (e.g. upstream's stored ``envelope_json``)."""
        if not isinstance(doc, dict):
            raise ValueError("envelope must be an object")
        return cls(EffectInvocation.from_json(doc.get("invocation")), EffectCommand.from_json(doc.get("command")))


def durable_step_outcome(value: Any) -> dict[str, Any]:
    """The outcome of a durable step: ``{"type": "durable_step", "value": value}``."""
    return {"type": "durable_step", "value": value}


LocalExecutor = Callable[[EffectEnvelope, threading.Event], Any]
"""Runs a claimed effect: ``executor(envelope, cancelled) -> outcome JSON``.

It may raise :class:`EffectControllerError` (recorded as the effect's failure). ``cancelled`` is
set when the lease is lost or the caller gives up; a long-running executor should watch it. Any
other exception is not recorded: it releases the claim and propagates.
"""


def durable_step_executor(step: Callable[[Any], Any]) -> LocalExecutor:
    """An executor for durable steps: ``step(input)`` returns the value (or raises a controller error)."""

    def run(envelope: EffectEnvelope, cancelled: threading.Event) -> dict[str, Any]:
        if envelope.command.kind != "durable_step":
            raise _error("runtime_effect_local_executor_mismatch",
                         f"durable step executor cannot execute {envelope.command.kind} command directly")
        return durable_step_outcome(step(envelope.command.fields.get("input")))

    return run


# --- process operations (§6.5) -----------------------------------------------------------------------------

PROCESS_LIST_MODES = ("live", "all")
# How often a blocked `await` looks at its cancellation event.
_PROCESS_AWAIT_POLL_S = 0.05


def _session_scope(value: SessionScope | str) -> SessionScope:
    return SessionScope(value) if isinstance(value, str) else value


def _append_request_json(request: ProcessEventAppendRequest) -> dict[str, Any]:
    doc: dict[str, Any] = {"event_type": request.event_type, "payload": canonical.sorted_json(request.payload)}
    if request.replay_key is not None:
        doc["replay"] = {"key": request.replay_key}
    if request.wake_target_scope is not None:
        doc["wake_target_scope"] = request.wake_target_scope.to_json()
    return doc


_field, _text = jsonread.field, jsonread.text
_object = functools.partial(jsonread.obj, kind=Mapping)  # caller-built commands may be any Mapping


def _registration_from_json(doc: Any) -> ProcessRegistration:
    doc = _object(doc, "process registration")
    wake_target = doc.get("wake_target")
    env_ref = doc.get("env_ref")
    if env_ref is not None and not isinstance(env_ref, str):
        raise ValueError("process registration: `env_ref` must be a string")
    types = doc.get("event_types")
    if types is None:
        types = []  # upstream's serde default for a missing list
    if not isinstance(types, list):
        raise ValueError("process registration: `event_types` must be an array")
    return ProcessRegistration(
        _text(doc, "id", "process registration"),
        ProcessInput.from_json(_field(doc, "input", "process registration")),
        ProcessIdentity.from_json(_field(doc, "identity", "process registration")),
        tuple(ProcessEventType.from_json(t) for t in types),
        ProcessProvenance.from_json(_field(doc, "provenance", "process registration")),
        env_ref,
        None if wake_target is None else SessionScope.from_json(wake_target),
    )


def _append_request_from_json(doc: Any) -> ProcessEventAppendRequest:
    doc = _object(doc, "event append request")
    replay = doc.get("replay")
    key = None
    if replay is not None:
        key = _text(_object(replay, "event append request `replay`"), "key", "event append request replay")
    scope = doc.get("wake_target_scope")
    return ProcessEventAppendRequest(_text(doc, "event_type", "event append request"),
                                     _field(doc, "payload", "event append request"), key,
                                     None if scope is None else SessionScope.from_json(scope))


def _parse_process_op(doc: Any) -> tuple[str, dict[str, Any]]:
    """The op and typed arguments of a process command document; ValueError names what is wrong."""
    doc = _object(doc, "process command")
    op = doc.get("op")
    what = f"process command `{op}`"
    if op == "start":
        grant = doc.get("grant")
        if grant is not None:
            grant = _object(grant, "process start grant")
            grant = (SessionScope.from_json(_field(grant, "session_scope", "process start grant")),
                     ProcessHandleDescriptor.from_json(_field(grant, "descriptor", "process start grant")))
        return op, {"registration": _registration_from_json(_field(doc, "registration", what)), "grant": grant}
    if op == "list":
        mode = doc.get("mode", "live")
        if mode not in PROCESS_LIST_MODES:
            raise ValueError(f"{what}: unknown list mode {mode!r} (expected `live` or `all`)")
        return op, {"scope": SessionScope.from_json(_field(doc, "session_scope", what)), "mode": mode}
    if op == "transfer":
        ids = _field(doc, "process_ids", what)
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise ValueError(f"{what}: `process_ids` must be an array of strings")
        return op, {"from": SessionScope.from_json(_field(doc, "from_scope", what)),
                    "to": SessionScope.from_json(_field(doc, "to_scope", what)), "ids": tuple(ids)}
    if op == "delete_session":
        return op, {"session_id": _text(doc, "session_id", what)}
    if op == "await":
        return op, {"process_id": _text(doc, "process_id", what)}
    if op == "cancel":
        reason = doc.get("reason")
        if reason is not None and not isinstance(reason, str):
            raise ValueError(f"{what}: `reason` must be a string or null")
        return op, {"process_id": _text(doc, "process_id", what), "reason": reason}
    if op == "signal":
        _text(doc, "signal_name", what)
        _text(doc, "signal_id", what)
        return op, {"process_id": _text(doc, "process_id", what),
                    "request": _append_request_from_json(_field(doc, "request", what))}
    raise ValueError(f"unknown process command op {op!r}")


class ProcessExecutor:
    """The local executor of ``process`` commands: it supplies the process registry they run against.

    Handed any other command it fails with ``runtime_effect_local_executor_mismatch`` (upstream's
    process executor does the same).
    """

    def __init__(self, registry: Any) -> None:
        self.registry = registry

    def __call__(self, envelope: EffectEnvelope, cancelled: threading.Event) -> Any:
        raise _error("runtime_effect_local_executor_mismatch",
                     f"process executor cannot execute {envelope.command.kind} command directly")


def _await_process(registry: Any, process_id: str, cancelled: threading.Event) -> Any:
    from .process_registry import ProcessWaitTimeout

    # Wait in slices so a lost lease or a cancelled caller does not leave the worker blocked forever.
    while True:
        try:
            return registry.await_process(process_id, timeout=_PROCESS_AWAIT_POLL_S)
        except ProcessWaitTimeout:
            if cancelled.is_set():
                raise _error("runtime_effect_cancelled",
                             f"awaiting process `{process_id}` was cancelled") from None


def _run_process_op(registry: Any, doc: Any, cancelled: threading.Event) -> dict[str, Any]:
    """Run one process operation against ``registry``; registry failures become code ``plugin``."""
    op, args = _parse_process_op(doc)
    try:
        if op == "start":
            registration = args["registration"]
            record = registry.register_process(registration)
            if args["grant"] is not None:
                scope, descriptor = args["grant"]
                registry.grant_handle(scope, registration.id, descriptor)
            result: dict[str, Any] = {"op": "start", "record": record.to_json()}
        elif op == "list":
            lister = registry.list_live_handle_grants if args["mode"] == "live" else registry.list_handle_grants
            result = {"op": "list", "entries": [[grant.to_json(), record.to_json()]
                                                for grant, record in lister(args["scope"])]}
        elif op == "transfer":
            registry.transfer_handle_grants(args["from"], args["to"], args["ids"])
            result = {"op": "transfer"}
        elif op == "delete_session":
            result = {"op": "delete_session", "report": registry.delete_session_process_state(
                args["session_id"]).to_json()}
        elif op == "await":
            result = {"op": "await", "output": _await_process(registry, args["process_id"], cancelled).to_json()}
        elif op == "cancel":
            process_id = args["process_id"]
            registry.append_event(process_id, ProcessEventAppendRequest.cancel_requested(process_id, args["reason"]))
            record = registry.get_process(process_id)
            if record is None:
                raise _error("plugin", f"plugin session error: unknown process `{process_id}`")
            result = {"op": "cancel", "record": record.to_json()}
        else:
            appended = registry.append_event(args["process_id"], args["request"])
            result = {"op": "signal", "event": appended.event.to_json()}
    except EffectControllerError:
        raise
    except LashdbError as exc:
        # Upstream's registry reports failures as a plugin session error; keep its display form.
        raise _error("plugin", f"plugin session error: {exc}") from exc
    return {"type": "process", "result": result}


# --- options and shared state ---------------------------------------------------------------------------


@dataclass(frozen=True)
class EffectReplayOptions:
    """``lease_ttl_ms`` (default 30 s; 0 becomes 1 ms); ``strict_in_flight_replay`` opts into W21.

    ``owner_id`` fixes the host's lease owner id (default ``pid<pid>-<n>-<ms>``, unique per host);
    a fixed id must be unique among the hosts that share the file — it exists for reproducible
    journals (the demo, tests), not for production hosts.
    """

    lease_ttl_ms: int = DEFAULT_LEASE_TTL_MS
    strict_in_flight_replay: bool = False
    owner_id: str | None = None

    def __post_init__(self) -> None:
        ttl("lease_ttl_ms", self.lease_ttl_ms)
        if self.owner_id is not None and _blank(self.owner_id):
            raise ValueError("EffectReplayOptions.owner_id must be a non-blank string (or None)")

    @property
    def effective_ttl_ms(self) -> int:
        """The TTL actually used: at least 1 ms, at most what SQLite can store."""
        return min(max(self.lease_ttl_ms, 1), MAX_MS)


_owner_counter = itertools.count(1)
_owner_counter_lock = threading.Lock()


class _Shared:
    """What a host and its scoped controllers share: connection, owner, counter, replay flag."""

    def __init__(self, conn: apsw.Connection, path: str | None, options: EffectReplayOptions,
                 clock: Clock | None) -> None:
        self.conn = conn
        self.path = path
        self.options = options
        self.ttl_ms = options.effective_ttl_ms
        self.clock = clock or wall_clock_ms
        # One transaction at a time on the shared connection: apsw serialises statements, not
        # transactions, and two threads' BEGIN IMMEDIATE on one connection would nest.
        self.lock = threading.Lock()
        self.replay_mode = False
        self.closed = False
        with _owner_counter_lock:
            sequence = next(_owner_counter)
        self.owner_id = options.owner_id or f"pid{os.getpid()}-{sequence}-{self.now()}"
        self._tokens = itertools.count(1)
        self._token_lock = threading.Lock()

    def now(self) -> int:
        return clock_now(self.clock())

    def next_token(self) -> str:
        with self._token_lock:
            return f"{self.owner_id}:{next(self._tokens)}"

    def write(self, body: Callable[[apsw.Connection], Any]) -> Any:
        """Run ``body`` in one BEGIN IMMEDIATE; SQLite failures become ``sqlite_effect_replay_store``."""
        with self.lock:
            if self.closed:
                raise _error(CODE_STORE, "the effects database is closed")
            try:
                with write_transaction(self.conn, self.path):
                    return body(self.conn)
            except EffectControllerError:
                raise
            except LashdbError as exc:
                raise _store_error(exc) from exc

    def close(self) -> None:
        with self.lock:
            if not self.closed:
                self.closed = True
                self.conn.close()


def _open_shared(path: str | os.PathLike[str] | None, options: EffectReplayOptions | None,
                 clock: Clock | None) -> _Shared:
    options = options or EffectReplayOptions()
    if path is None:
        conn = open_memory()
        ensure_schema(conn, EFFECT_REPLAY)
        return _Shared(conn, None, options, clock)
    path = os.fspath(path)
    # Classifies an existing file read-only first: a foreign file is refused before any write.
    return _Shared(open_for_kind(path, EFFECT_REPLAY), path, options, clock)


# --- prepare / renew / finalize ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Claimed:
    scope_id: str
    replay_key: str
    envelope_hash: str
    lease_token: str
    due_at_ms: int | None


@dataclass(frozen=True)
class _ReplayOutcome:
    outcome: Any
    due_at_ms: int | None


@dataclass(frozen=True)
class _Busy:
    retry_at_ms: int


_parse_json = jsonread.loads


def _parse_error_json(text: str) -> EffectControllerError:
    doc = _parse_json(text)
    if not isinstance(doc, dict):
        raise ValueError(f"expected an object with `code` and `message`, got {type(doc).__name__}")
    for key in ("code", "message"):
        if not isinstance(doc.get(key), str):
            raise ValueError(f"missing text field `{key}`")
    return EffectControllerError(doc["code"], doc["message"])


def _encode(value: Any) -> str:
    try:
        values.check(value, "effect row")
        return canonical.dumps(value)
    except (canonical.CanonicalJsonError, RecursionError, UnstorableValue) as exc:
        raise _encode_error(exc) from exc


_GUARD = ("WHERE scope_id = ? AND replay_key = ? AND envelope_hash = ? AND lease_owner_id = ? "
          "AND lease_token = ? AND status = 'in_progress' AND lease_expires_at_ms > ?")


def busy_delay_ms(attempt: int, retry_at_ms: int, now_ms: int) -> int:
    """How long busy attempt ``attempt`` (0-based) waits: 25 ms doubling to 200, never past the expiry."""
    if retry_at_ms <= now_ms:
        # The holder's lease has run out by now: look again at once (1 ms keeps it a yield).
        return 1
    backoff = min(BUSY_POLL_MS << min(attempt, 8), BUSY_POLL_MAX_MS)
    return min(backoff, retry_at_ms - now_ms)


# --- controllers and host ---------------------------------------------------------------------------------


class EffectController:
    """A scoped effect controller: records each effect once and replays it by (scope id, replay key)."""

    durability_tier = DURABLE
    requires_durable_attachment_store = True
    supports_durable_effects = True
    supports_concurrent_effects = True

    def __init__(self, shared: _Shared, scope: ExecutionScope, *, owns: bool) -> None:
        scope.validate()
        self._shared = shared
        self._owns = owns
        self.scope = scope

    @classmethod
    def open(cls, path: str | os.PathLike[str], scope: ExecutionScope,
             options: EffectReplayOptions | None = None, *, clock: Clock | None = None) -> EffectController:
        """A standalone controller on its own connection to the effects file at ``path``."""
        scope.validate()
        return cls(_open_shared(path, options, clock), scope, owns=True)

    @classmethod
    def memory(cls, scope: ExecutionScope, options: EffectReplayOptions | None = None, *,
               clock: Clock | None = None) -> EffectController:
        """A standalone controller over a private in-memory database."""
        scope.validate()
        return cls(_open_shared(None, options, clock), scope, owns=True)

    @property
    def scope_id(self) -> str:
        """The bare id rows are keyed by."""
        return self.scope.scope_id

    @property
    def turn_id(self) -> str | None:
        """The turn id of a turn scope, else ``None``."""
        return self.scope.turn_id

    @property
    def owner_id(self) -> str:
        """This controller's (or its host's) lease owner id."""
        return self._shared.owner_id

    @property
    def path(self) -> str | None:
        """The effects file, or ``None`` in memory."""
        return self._shared.path

    @property
    def replay_mode(self) -> bool:
        """True once strict replay has been started."""
        return self._shared.replay_mode

    def start_replay(self) -> None:
        """Switch (permanently) to strict replay: a missing row fails instead of executing."""
        self._shared.replay_mode = True

    def close(self) -> None:
        """Close the connection of a standalone controller (a host's controllers share the host's)."""
        if self._owns:
            self._shared.close()

    def __enter__(self) -> EffectController:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- the loop --------------------------------------------------------------------------------------

    def execute_effect(self, envelope: EffectEnvelope, local_executor: LocalExecutor | None = None, *,
                       cancel: threading.Event | None = None) -> Any:
        """Replay the recorded result of ``envelope`` or claim, run and record it (§6.5)."""
        if not isinstance(envelope, EffectEnvelope):
            raise TypeError(f"execute_effect needs an EffectEnvelope, not {type(envelope).__name__}")
        waiter = cancel or threading.Event()
        attempt = 0
        while True:
            # The lease's clock starts when prepare reads the time, so renewals count from here.
            prepared_at = time.monotonic()
            decision = self._prepare(envelope)
            if isinstance(decision, _ReplayOutcome):
                self._wait_until(decision.due_at_ms, waiter, cancel, envelope)
                return decision.outcome
            if isinstance(decision, EffectControllerError):
                raise decision
            if isinstance(decision, _Busy):
                delay = busy_delay_ms(attempt, decision.retry_at_ms, self._shared.now())
                if waiter.wait(delay / 1000) and cancel is not None:
                    raise EffectCancelled(self.scope_id, envelope.replay_key or "")
                attempt += 1
                continue
            return self._run_claimed(decision, envelope, local_executor, cancel, prepared_at)

    def _wait_until(self, due_at_ms: int | None, waiter: threading.Event, cancel: threading.Event | None,
                    envelope: EffectEnvelope) -> None:
        if due_at_ms is None:
            return
        remaining = due_at_ms - self._shared.now()
        if remaining > 0 and waiter.wait(remaining / 1000) and cancel is not None:
            raise EffectCancelled(self.scope_id, envelope.replay_key or "")

    def _prepare(self, envelope: EffectEnvelope) -> _Claimed | _ReplayOutcome | _Busy | EffectControllerError:
        shared = self._shared
        replay_key = envelope.replay_key
        if replay_key is None:
            raise _error(CODE_KEY_MISSING, "runtime effect envelope requires replay.key")
        envelope_hash = envelope.stable_hash()
        scope_id = self.scope_id
        now = shared.now()
        token = shared.next_token()
        new_due = (deadline(now, envelope.command.fields["duration_ms"])
                   if envelope.command.kind == "sleep" else None)
        expires = deadline(now, shared.ttl_ms)
        replay_mode = shared.replay_mode
        strict_in_flight = shared.options.strict_in_flight_replay
        owner = shared.owner_id

        def body(conn: apsw.Connection) -> _Claimed | _ReplayOutcome | _Busy | EffectControllerError:
            row = query_one(
                conn,
                "SELECT envelope_hash, status, outcome_json, error_json, lease_expires_at_ms, due_at_ms "
                "FROM runtime_effect_replay WHERE scope_id = ? AND replay_key = ?",
                (scope_id, replay_key))
            if row is None:
                if replay_mode:
                    return _error(CODE_MISSING, f"no recorded runtime effect for scope `{scope_id}` and "
                                                f"replay key `{replay_key}`")
                conn.execute(
                    "INSERT INTO runtime_effect_replay (scope_id, replay_key, envelope_hash, status, "
                    "outcome_json, error_json, lease_owner_id, lease_token, lease_expires_at_ms, due_at_ms, "
                    "created_at_ms, updated_at_ms) VALUES (?, ?, ?, ?, NULL, NULL, ?, ?, ?, ?, ?, ?)",
                    (scope_id, replay_key, envelope_hash, STATUS_IN_PROGRESS, owner, token, expires, new_due,
                     now, now))
                return _Claimed(scope_id, replay_key, envelope_hash, token, new_due)
            stored_hash, status, outcome_json, error_json, lease_expires, stored_due = row
            if stored_hash != envelope_hash:
                return _error(CODE_HASH_CONFLICT, f"runtime effect replay key `{replay_key}` in scope "
                                                  f"`{scope_id}` was reused with a different envelope hash")
            lease_expires = from_i64(lease_expires) if isinstance(lease_expires, int) else 0
            stored_due = from_i64(stored_due) if isinstance(stored_due, int) else None
            if status == STATUS_COMPLETED:
                if outcome_json is None:
                    return _error(CODE_CORRUPT_ROW, "completed runtime effect row is missing outcome_json")
                try:
                    return _ReplayOutcome(_parse_json(outcome_json), stored_due)
                except (ValueError, TypeError, RecursionError) as exc:
                    return _decode_error(exc)
            if status == STATUS_FAILED:
                if error_json is None:
                    return _error(CODE_CORRUPT_ROW, "failed runtime effect row is missing error_json")
                try:
                    return _parse_error_json(error_json)
                except (ValueError, TypeError, RecursionError) as exc:
                    return _decode_error(exc)
            if status == STATUS_IN_PROGRESS:
                if lease_expires > now:
                    return _Busy(lease_expires)
                if replay_mode and strict_in_flight:
                    return _error(CODE_MISSING, f"no completed runtime effect for scope `{scope_id}` and "
                                                f"replay key `{replay_key}` (an interrupted attempt is in "
                                                f"flight and strict in-flight replay is on)")
                due = stored_due if stored_due is not None else new_due
                # Take over the dead lease; the timer of a sleep keeps its recorded due time (§6.8).
                conn.execute(
                    "UPDATE runtime_effect_replay SET lease_owner_id = ?, lease_token = ?, "
                    "lease_expires_at_ms = ?, due_at_ms = ?, updated_at_ms = ? "
                    "WHERE scope_id = ? AND replay_key = ?",
                    (owner, token, expires, due, now, scope_id, replay_key))
                return _Claimed(scope_id, replay_key, envelope_hash, token, due)
            return _error(CODE_CORRUPT_ROW, f"unknown runtime effect replay status `{status}`")

        return shared.write(body)

    def _renew(self, claim: _Claimed) -> None:
        shared = self._shared
        now = shared.now()

        def body(conn: apsw.Connection) -> None:
            conn.execute(
                "UPDATE runtime_effect_replay SET lease_expires_at_ms = ?, updated_at_ms = ? " + _GUARD,
                (deadline(now, shared.ttl_ms), now, claim.scope_id, claim.replay_key, claim.envelope_hash,
                 shared.owner_id, claim.lease_token, now))
            if conn.changes() != 1:
                raise _error(CODE_LEASE_LOST, f"runtime effect replay lease was lost while executing scope "
                                              f"`{claim.scope_id}` replay key `{claim.replay_key}`")

        shared.write(body)

    def _finalize(self, claim: _Claimed, outcome_text: str | None, error: EffectControllerError | None) -> None:
        shared = self._shared
        if error is not None:
            status, outcome_json, error_json = STATUS_FAILED, None, _encode(error.to_json())
        else:
            status, outcome_json, error_json = STATUS_COMPLETED, outcome_text, None
        now = shared.now()

        def body(conn: apsw.Connection) -> None:
            conn.execute(
                "UPDATE runtime_effect_replay SET status = ?, outcome_json = ?, error_json = ?, "
                "lease_owner_id = NULL, lease_token = NULL, lease_expires_at_ms = 0, updated_at_ms = ? "
                + _GUARD,
                (status, outcome_json, error_json, now, claim.scope_id, claim.replay_key, claim.envelope_hash,
                 shared.owner_id, claim.lease_token, now))
            if conn.changes() != 1:
                raise _error(CODE_LEASE_LOST, f"runtime effect replay lease was lost before finalizing scope "
                                              f"`{claim.scope_id}` replay key `{claim.replay_key}`")

        shared.write(body)

    def _release(self, claim: _Claimed) -> None:
        # Not upstream: after an unrecorded failure, hand the row back at once instead of
        # making the next attempt wait out the TTL. Guarded like finalize; a lost lease is fine.
        shared = self._shared
        now = shared.now()
        shared.write(lambda conn: conn.execute(
            "UPDATE runtime_effect_replay SET lease_owner_id = NULL, lease_token = NULL, "
            "lease_expires_at_ms = 0, updated_at_ms = ? " + _GUARD,
            (now, claim.scope_id, claim.replay_key, claim.envelope_hash, shared.owner_id, claim.lease_token,
             now)))

    def _run_claimed(self, claim: _Claimed, envelope: EffectEnvelope, local_executor: LocalExecutor | None,
                     cancel: threading.Event | None, prepared_at: float) -> Any:
        shared = self._shared
        cancelled = threading.Event()
        done = threading.Event()
        result: dict[str, Any] = {}

        def run() -> None:
            try:
                if envelope.command.kind == "sleep":
                    if claim.due_at_ms is not None:
                        remaining = claim.due_at_ms - shared.now()
                        if remaining > 0:
                            cancelled.wait(remaining / 1000)
                    result["ok"] = dict(SLEEP_OUTCOME)
                elif envelope.command.kind == "process":
                    if not isinstance(local_executor, ProcessExecutor):
                        raise _error(CODE_EXECUTOR_UNAVAILABLE, "no process executor is available for process command")
                    result["ok"] = _run_process_op(local_executor.registry, envelope.command.fields.get("command"),
                                                   cancelled)
                elif local_executor is None:
                    raise _error(CODE_EXECUTOR_UNAVAILABLE,
                                 f"no local executor is available for {envelope.command.kind}")
                else:
                    result["ok"] = local_executor(envelope, cancelled)
            except EffectControllerError as exc:
                result["err"] = exc
            except BaseException as exc:  # handed to the calling thread, which re-raises it
                result["exc"] = exc
            finally:
                done.set()

        worker = threading.Thread(target=run, daemon=True,
                                  name=f"lashdb-effect-{claim.scope_id}-{claim.replay_key}")
        interval = max(shared.ttl_ms // 3, 1) / 1000
        worker.start()
        try:
            self._supervise(claim, done, cancelled, interval, cancel, prepared_at + interval)
        except BaseException:
            # Whatever ends the wait early (lost lease, caller cancel, KeyboardInterrupt) also
            # tells the executor to stop.
            cancelled.set()
            raise
        if "exc" in result:
            self._release_then(claim, result["exc"])
        if "err" in result:
            self._finalize(claim, None, result["err"])
            raise result["err"]
        text = _encode(result["ok"])
        self._finalize(claim, text, None)
        # Hand back what a replay would return, so first run and replay agree exactly.
        return _parse_json(text)

    def _supervise(self, claim: _Claimed, done: threading.Event, cancelled: threading.Event, interval: float,
                   cancel: threading.Event | None, next_renewal: float) -> None:
        """Renew the lease every ``interval`` seconds until the worker is done (§6.6)."""
        # ``next_renewal`` counts from the claim, not from here: starting the worker thread can
        # take a sizeable part of a short TTL on a loaded machine.
        while True:
            timeout = max(next_renewal - time.monotonic(), 0.0)
            if cancel is not None:
                # A caller's cancel event cannot wake this wait, so look at it often.
                timeout = min(timeout, CANCEL_POLL_S)
            if done.wait(timeout):
                return
            if cancel is not None and cancel.is_set():
                cancelled.set()
                self._release_then(claim, EffectCancelled(self.scope_id, claim.replay_key))
            renewing_at = time.monotonic()
            if renewing_at < next_renewal:
                continue
            try:
                self._renew(claim)
            except EffectControllerError as renew_error:
                # The failed renewal is the effect's result: stop the executor, then still try to
                # record it; for a lost lease finalize fails under the same guard.
                cancelled.set()
                try:
                    self._finalize(claim, None, renew_error)
                except EffectControllerError as finalize_error:
                    raise finalize_error from renew_error
                raise
            next_renewal = renewing_at + interval

    def _release_then(self, claim: _Claimed, exc: BaseException) -> None:
        try:
            self._release(claim)
        except EffectControllerError as release_error:
            exc.add_note(f"the claim could not be released: {release_error}")
        raise exc


class EffectHost:
    """Deployment-level effect host: scoped controllers sharing one connection, owner and replay flag."""

    durability_tier = DURABLE
    requires_durable_attachment_store = True
    supports_durable_effects = True

    def __init__(self, shared: _Shared) -> None:
        self._shared = shared

    @classmethod
    def open(cls, path: str | os.PathLike[str], options: EffectReplayOptions | None = None, *,
             clock: Clock | None = None) -> EffectHost:
        """Open or create the effects database at ``path``; refuse a foreign or other-kind file untouched."""
        return cls(_open_shared(path, options, clock))

    @classmethod
    def memory(cls, options: EffectReplayOptions | None = None, *, clock: Clock | None = None) -> EffectHost:
        """A host over a private in-memory database (no WAL)."""
        return cls(_open_shared(None, options, clock))

    @property
    def path(self) -> str | None:
        """The effects file, or ``None`` in memory."""
        return self._shared.path

    @property
    def owner_id(self) -> str:
        """The lease owner id every scoped controller of this host uses."""
        return self._shared.owner_id

    @property
    def replay_mode(self) -> bool:
        """True once strict replay has been started."""
        return self._shared.replay_mode

    def scoped(self, scope: ExecutionScope) -> EffectController:
        """A controller for ``scope`` (validated: blank ids raise ``missing_execution_scope_id``)."""
        return EffectController(self._shared, scope, owns=False)

    def scoped_static(self, scope: ExecutionScope) -> EffectController:
        """Same as :meth:`scoped`: this host's controllers may outlive any one run."""
        return self.scoped(scope)

    def start_replay(self) -> None:
        """Switch every controller of this host (permanently) to strict replay."""
        self._shared.replay_mode = True

    def close(self) -> None:
        """Close the shared connection; the host and its controllers cannot be used afterwards."""
        self._shared.close()

    def __enter__(self) -> EffectHost:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


# --- asyncio ---------------------------------------------------------------------------------------------


async def _in_own_thread(fn: Callable[[threading.Event], Any]) -> Any:
    # Each effect gets its own thread: effects block for their whole run, and a shared pool
    # (or the facade's single worker) would serialise concurrent effects.
    loop = asyncio.get_running_loop()
    future: asyncio.Future = loop.create_future()
    cancel = threading.Event()

    def settle(setter: Callable[[Any], None], value: Any) -> None:
        if not future.done():
            setter(value)

    def run() -> None:
        try:
            value = fn(cancel)
        except BaseException as exc:  # delivered to the awaiting task
            outcome, setter = exc, future.set_exception
        else:
            outcome, setter = value, future.set_result
        try:
            loop.call_soon_threadsafe(settle, setter, outcome)
        except RuntimeError:
            # The loop is closed, so the awaiting task no longer exists: no one to deliver to.
            pass

    threading.Thread(target=run, daemon=True, name="lashdb-aio-effect").start()
    try:
        return await future
    except asyncio.CancelledError:
        cancel.set()
        raise


class AsyncEffectController:
    """asyncio view of a controller: each ``execute_effect`` runs on a thread of its own."""

    def __init__(self, controller: EffectController) -> None:
        self.sync = controller
        self.scope = controller.scope
        self.scope_id = controller.scope_id
        self.turn_id = controller.turn_id

    async def execute_effect(self, envelope: EffectEnvelope, local_executor: LocalExecutor | None = None) -> Any:
        """Await :meth:`EffectController.execute_effect`; task cancellation cancels the effect."""
        controller = self.sync
        return await _in_own_thread(
            lambda cancel: controller.execute_effect(envelope, local_executor, cancel=cancel))

    def start_replay(self) -> None:
        """Switch to strict replay (shared with the host)."""
        self.sync.start_replay()


class AsyncEffectHost(AsyncFacade[EffectHost]):
    """asyncio facade of an :class:`EffectHost` whose effects run concurrently."""

    def scoped(self, scope: ExecutionScope) -> AsyncEffectController:
        """An asyncio controller for ``scope`` (validated like :meth:`EffectHost.scoped`)."""
        return AsyncEffectController(self.sync.scoped(scope))

    def scoped_static(self, scope: ExecutionScope) -> AsyncEffectController:
        """Same as :meth:`scoped`."""
        return self.scoped(scope)

    def start_replay(self) -> None:
        """Switch every controller of the host to strict replay."""
        self.sync.start_replay()


# --- read-only inspection (CLI: effects list / effects replay / doctor) ------------------------------------

_COLUMNS = ("scope_id", "replay_key", "status", "envelope_hash", "lease_owner_id", "lease_token",
            "lease_expires_at_ms", "due_at_ms", "created_at_ms", "updated_at_ms", "outcome_json", "error_json")
_REQUIRED = ("scope_id", "replay_key", "status")


def _int_or_none(value: Any) -> int | None:
    return from_i64(value) if isinstance(value, int) else None


def _text_or_none(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def _lenient(text: str | None) -> tuple[Any, str | None]:
    return (None, None) if text is None else jsonread.lenient_loads(text, strict=True)


@dataclass(frozen=True)
class EffectRow:
    """One ``runtime_effect_replay`` row as stored; missing columns of a foreign file read as None."""

    scope_id: str
    replay_key: str
    status: str
    envelope_hash: str | None
    lease_owner_id: str | None
    lease_token: str | None
    lease_expires_at_ms: int | None
    due_at_ms: int | None
    created_at_ms: int | None
    updated_at_ms: int | None
    outcome_json: str | None
    error_json: str | None
    foreign: bool = False

    @property
    def outcome(self) -> Any:
        """The parsed outcome (None when absent or unparsable; see :attr:`decode_error`)."""
        return _lenient(self.outcome_json)[0]

    @property
    def error(self) -> Any:
        """The parsed ``{code, message}`` error (None when absent or unparsable)."""
        return _lenient(self.error_json)[0]

    @property
    def decode_error(self) -> str | None:
        """Why a present outcome/error column does not parse as JSON, else None."""
        for name, text in (("outcome_json", self.outcome_json), ("error_json", self.error_json)):
            reason = _lenient(text)[1]
            if reason is not None:
                return f"{name}: {reason}"
        return None

    @property
    def structured_scope_id(self) -> str | None:
        """Of a foreign row whose ``scope_id`` is a structured scope (newer upstream:
        ``{"kind":…,"execution_id":…}``), the bare execution id; otherwise None."""
        if not self.foreign or not self.scope_id.startswith("{"):
            return None
        doc, _ = _lenient(self.scope_id)
        execution_id = doc.get("execution_id") if isinstance(doc, dict) else None
        return execution_id if isinstance(execution_id, str) else None

    def matches_scope(self, scope: str) -> bool:
        """True when ``scope`` is this row's scope id (or, on a foreign row, its bare execution id)."""
        return self.scope_id == scope or self.structured_scope_id == scope

    def to_json(self) -> dict[str, Any]:
        """Stable keys; times are raw epoch ms."""
        return {
            "scope_id": self.scope_id, "replay_key": self.replay_key, "status": self.status,
            "envelope_hash": self.envelope_hash, "lease_owner_id": self.lease_owner_id,
            "lease_token": self.lease_token, "lease_expires_at_ms": self.lease_expires_at_ms,
            "due_at_ms": self.due_at_ms, "created_at_ms": self.created_at_ms,
            "updated_at_ms": self.updated_at_ms, "outcome": self.outcome, "error": self.error,
            "outcome_json": self.outcome_json, "error_json": self.error_json,
            "decode_error": self.decode_error, "foreign": self.foreign,
        }


ACTION_REPLAY_OUTCOME = "replay_outcome"
ACTION_REPLAY_ERROR = "replay_error"
ACTION_BUSY = "busy"
ACTION_STALE_LEASE = "stale_lease"
ACTION_CORRUPT = "corrupt"


@dataclass(frozen=True)
class ReplayStep:
    """What a strict replay of one key would do, without doing it.

    ``action``: ``replay_outcome`` | ``replay_error`` | ``busy`` | ``stale_lease`` | ``corrupt``;
    ``detail`` is the one-line reading (``replays outcome``, ``replays error <code>``,
    ``busy until <ms>``, ``stale lease: would re-execute``, ``corrupt row: <reason>``);
    ``error_code`` is the code the replay would raise (the recorded one, or the corrupt/decode code).
    """

    scope_id: str
    replay_key: str
    status: str
    action: str
    detail: str
    error_code: str | None
    busy_until_ms: int | None
    due_at_ms: int | None
    created_at_ms: int | None
    envelope_hash: str | None
    foreign: bool = False

    def to_json(self) -> dict[str, Any]:
        """Stable keys; times are raw epoch ms."""
        return {
            "scope_id": self.scope_id, "replay_key": self.replay_key, "status": self.status,
            "action": self.action, "detail": self.detail, "error_code": self.error_code,
            "busy_until_ms": self.busy_until_ms, "due_at_ms": self.due_at_ms,
            "created_at_ms": self.created_at_ms, "envelope_hash": self.envelope_hash, "foreign": self.foreign,
        }


def _open_for_inspection(path: str | os.PathLike[str]) -> tuple[apsw.Connection, StoreInfo, frozenset[str]]:
    path = os.fspath(path)
    conn = open_readonly(path)
    try:
        found = classify_connection(conn, path)
        if found.kind is not EFFECT_REPLAY:
            raise NotALashDatabase(path, f"its tables identify {found.kind_name}", expected=EFFECT_REPLAY.name)
        columns = table_columns(conn, "runtime_effect_replay")
        damaged = damage(conn, found)
        for name in _REQUIRED:
            if name not in columns:
                raise NotALashDatabase(path, f"table runtime_effect_replay has no `{name}` column",
                                       expected=EFFECT_REPLAY.name)
    except apsw.Error as exc:
        conn.close()
        raise translate(exc, path) from exc
    except BaseException:
        conn.close()
        raise
    unavailable = tuple(f"runtime_effect_replay.{c}" for c in _COLUMNS if c not in columns)
    info = StoreInfo(path, EFFECT_REPLAY.name, found.user_version, EFFECT_REPLAY.version, found.foreign,
                     unavailable, damaged)
    return conn, info, columns


def _read_rows(path: str | os.PathLike[str], where: str, params: tuple) -> list[EffectRow]:
    conn, info, columns = _open_for_inspection(path)
    try:
        # Identifiers come from this module's fixed column list; caller values are bound.
        select = ", ".join(c if c in columns else f"NULL AS {c}" for c in _COLUMNS)
        order = "created_at_ms, rowid" if "created_at_ms" in columns else "rowid"
        sql = f"SELECT {select} FROM runtime_effect_replay {where} ORDER BY {order}"
        try:
            raw = list(conn.execute(sql, params))
        except apsw.Error as exc:
            raise translate(exc, info.path) from exc
    finally:
        conn.close()
    rows = []
    for values in raw:
        v = dict(zip(_COLUMNS, values))
        rows.append(EffectRow(
            _text_or_none(v["scope_id"]) or "", _text_or_none(v["replay_key"]) or "",
            _text_or_none(v["status"]) or "", _text_or_none(v["envelope_hash"]),
            _text_or_none(v["lease_owner_id"]), _text_or_none(v["lease_token"]),
            _int_or_none(v["lease_expires_at_ms"]), _int_or_none(v["due_at_ms"]),
            _int_or_none(v["created_at_ms"]), _int_or_none(v["updated_at_ms"]),
            _text_or_none(v["outcome_json"]), _text_or_none(v["error_json"]), info.foreign))
    return rows


def effects_info(path: str | os.PathLike[str]) -> StoreInfo:
    """Kind, schema version, ``foreign`` flag and unavailable columns of an effects file (read-only)."""
    conn, info, _ = _open_for_inspection(path)
    conn.close()
    return info


def list_effects(path: str | os.PathLike[str], scope: str | None = None,
                 status: str | None = None) -> list[EffectRow]:
    """Rows of an effects file in creation order, optionally of one scope id and/or status (read-only).

    On a foreign file whose scope ids are structured (newer upstream), ``scope`` also matches a
    row's bare execution id, so the same ``--scope`` works on both.
    """
    clauses, params = [], []
    if scope is not None:
        # Structured scope ids are JSON objects; fetch those too and match them below.
        clauses.append("(scope_id = ? OR substr(scope_id, 1, 1) = '{')")
        params.append(scope)
    if status is not None:
        clauses.append("status = ?")
        params.append(status)
    where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
    rows = _read_rows(path, where, tuple(params))
    return rows if scope is None else [row for row in rows if row.matches_scope(scope)]


def replay_step_for(row: EffectRow, now_ms: int) -> ReplayStep:
    """What a strict replay would do with ``row`` at ``now_ms`` (doctor uses it across scopes)."""
    now = clock_now(now_ms)

    def step(action: str, detail: str, code: str | None = None, busy: int | None = None) -> ReplayStep:
        return ReplayStep(row.scope_id, row.replay_key, row.status, action, detail, code, busy, row.due_at_ms,
                          row.created_at_ms, row.envelope_hash, row.foreign)

    if row.status == STATUS_COMPLETED:
        if row.outcome_json is None:
            return step(ACTION_CORRUPT, "corrupt row: completed runtime effect row is missing outcome_json",
                        CODE_CORRUPT_ROW)
        reason = _lenient(row.outcome_json)[1]
        if reason is not None:
            return step(ACTION_CORRUPT, f"corrupt row: outcome_json does not parse ({reason})", CODE_DECODE)
        return step(ACTION_REPLAY_OUTCOME, "replays outcome")
    if row.status == STATUS_FAILED:
        if row.error_json is None:
            return step(ACTION_CORRUPT, "corrupt row: failed runtime effect row is missing error_json",
                        CODE_CORRUPT_ROW)
        try:
            recorded = _parse_error_json(row.error_json)
        except (ValueError, TypeError, RecursionError) as exc:
            return step(ACTION_CORRUPT, f"corrupt row: error_json does not decode ({exc})", CODE_DECODE)
        return step(ACTION_REPLAY_ERROR, f"replays error {recorded.code}", recorded.code)
    if row.status == STATUS_IN_PROGRESS:
        expires = row.lease_expires_at_ms or 0
        if expires > now:
            return step(ACTION_BUSY, f"busy until {expires}", busy=expires)
        return step(ACTION_STALE_LEASE, "stale lease: would re-execute")
    return step(ACTION_CORRUPT, f"corrupt row: unknown runtime effect replay status `{row.status}`",
                CODE_CORRUPT_ROW)


def replay_plan(path: str | os.PathLike[str], scope: str, now_ms: int | None = None) -> list[ReplayStep]:
    """Dry run of a strict replay of ``scope``: each key, in creation order, and what it would do."""
    now = wall_clock_ms() if now_ms is None else clock_now(now_ms)
    return [replay_step_for(row, now) for row in list_effects(path, scope=scope)]


def stale_in_progress(path: str | os.PathLike[str], now_ms: int | None = None) -> list[EffectRow]:
    """``in_progress`` rows whose lease expired at or before ``now_ms`` (default: wall clock)."""
    now = wall_clock_ms() if now_ms is None else clock_now(now_ms)
    return [row for row in list_effects(path, status=STATUS_IN_PROGRESS)
            if (row.lease_expires_at_ms or 0) <= now]
