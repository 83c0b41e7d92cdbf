"""What crosses the effect boundary: execution scopes, invocations, commands and envelopes.

Contract:
- An :class:`ExecutionScope` names what an effect runs in; its bare ``scope_id`` keys the rows
  (W20: ids must be globally unique). Blank ids raise ``missing_execution_scope_id``.
- An :class:`EffectEnvelope` is ``{"invocation", "command"}``; construction checks the invariants
  that make its hash meaningful. The hash is SHA-256 of its compact JSON text, byte-exact with
  upstream (typed records in declared order, free-form JSON with sorted keys; deployment-stores §0.4).
- A :data:`LocalExecutor` runs a claimed effect; :func:`durable_step_executor` builds one for
  durable steps.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from lashdb.engine.base import canonical
from lashdb.engine.base.timing import stored

from ..process_model import (
    CausalRef,
    ProcessEventAppendRequest,
    ProcessHandleDescriptor,
    ProcessRegistration,
    SessionScope,
)
from .errors import (
    CODE_ENVELOPE_HASH,
    CODE_MISSING_SCOPE_ID,
    EFFECT_KINDS,
    EffectCancelled,
    EffectControllerError,
    _blank,
    _error,
)
from .process_ops import _append_request_json, _parse_process_op, _session_scope

# The errors live in ``errors`` (``process_ops`` needs them too) but belong to this vocabulary.
__all__ = [
    "EffectCancelled", "EffectCommand", "EffectControllerError", "EffectEnvelope", "EffectInvocation",
    "ExecutionScope", "LocalExecutor", "RuntimeScope", "durable_step_executor", "durable_step_outcome",
    "prepared_tool_call",
]


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

