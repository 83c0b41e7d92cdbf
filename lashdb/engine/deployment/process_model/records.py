"""Declared event types, await outputs, waits, refs, grants, registrations and records (§1.2–§1.3).

Contract: a ``ProcessRegistration`` is everything ``registration_hash`` covers (identity derived
from the input, the six core event types and a host originator by default); a ``ProcessRecord``
is a stored process, read back with upstream's defaults. ``to_json()`` is upstream's document;
invalid values raise :class:`InvalidDeploymentValue`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from .inputs import ProcessInput, Selector, TerminalSpec, WakeSpec
from .scope import (
    FAILURE_CLASSES,
    LIFECYCLE_STATUSES,
    InvalidDeploymentValue,
    ProcessIdentity,
    ProcessProvenance,
    SessionScope,
    _check_str,
    _free,
    _kind,
    _obj,
    _opt_str,
    _scope,
    _str,
    _u64,
)


# --- event types ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProcessEventType:
    """A declared event type: name, payload JSON schema, terminal and/or wake semantics."""

    name: str
    payload_schema: Any = field(default_factory=dict)
    terminal: TerminalSpec | None = None
    wake: WakeSpec | None = None

    def __post_init__(self) -> None:
        _check_str(self.name, "event type name")
        object.__setattr__(self, "payload_schema", _free(self.payload_schema, "payload schema"))
        if self.terminal is not None and not isinstance(self.terminal, TerminalSpec):
            raise InvalidDeploymentValue("event type terminal: expected a TerminalSpec")
        if self.wake is not None and not isinstance(self.wake, WakeSpec):
            raise InvalidDeploymentValue("event type wake: expected a WakeSpec")

    @classmethod
    def plain(cls, name: str, payload_schema: Any = None) -> ProcessEventType:
        """A type with no semantics (schema ``{}`` unless given)."""
        return cls(name, {} if payload_schema is None else payload_schema)

    def semantics_json(self) -> dict[str, Any]:
        """The declared semantics document (``{}`` when none)."""
        doc: dict[str, Any] = {}
        if self.terminal is not None:
            doc["terminal"] = self.terminal.to_json()
        if self.wake is not None:
            doc["wake"] = self.wake.to_json()
        return doc

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "payload_schema": {"schema": self.payload_schema},
                "semantics": self.semantics_json()}

    @classmethod
    def from_json(cls, doc: Any) -> ProcessEventType:
        doc = _obj(doc, "event type")
        name = _str(doc, "name", "event type")
        if "payload_schema" not in doc:
            raise InvalidDeploymentValue(f"event type `{name}`: missing field `payload_schema`")
        schema = _obj(doc["payload_schema"], f"event type `{name}` payload_schema")
        if "schema" not in schema:
            raise InvalidDeploymentValue(f"event type `{name}` payload_schema: missing field `schema`")
        if "semantics" not in doc:
            raise InvalidDeploymentValue(f"event type `{name}`: missing field `semantics`")
        semantics = _obj(doc["semantics"], f"event type `{name}` semantics")
        terminal = semantics.get("terminal")
        wake = semantics.get("wake")
        return cls(name, schema["schema"],
                   None if terminal is None else TerminalSpec.from_json(terminal),
                   None if wake is None else WakeSpec.from_json(wake))


def _terminal_type(name: str, state: str) -> ProcessEventType:
    return ProcessEventType(name, {}, TerminalSpec(state, Selector.pointer("/await_output")))


def core_event_types() -> tuple[ProcessEventType, ...]:
    """The six core event types every registration is completed with, in upstream's order."""
    return (
        ProcessEventType.plain("process.cancel_requested"),
        ProcessEventType.plain("process.waiting"),
        ProcessEventType.plain("process.resumed"),
        _terminal_type("process.completed", "completed"),
        _terminal_type("process.failed", "failed"),
        _terminal_type("process.cancelled", "cancelled"),
    )


default_event_types = core_event_types
CORE_EVENT_TYPE_NAMES = tuple(t.name for t in core_event_types())


# --- outputs, waits, refs, grants ----------------------------------------------------------------


def _control(value: Any, what: str) -> Any:
    # Opaque to the store, but upstream only accepts its three tagged variants.
    if value is None:
        return None
    doc = _obj(value, what)
    tag = doc.get("type")
    required = {"switch_agent_frame": "frame_id", "finish": "value", "fail": "failure"}.get(tag)
    if required is None or required not in doc:
        raise InvalidDeploymentValue(f"{what}: not a tool control (type {tag!r})")
    return value


@dataclass(frozen=True)
class ProcessAwaitOutput:
    """What awaiting a terminal process returns: ``success``, ``failure`` or ``cancelled``."""

    type: str
    value: Any = None
    failure_class: str | None = None
    code: str | None = None
    message: str | None = None
    raw: Any = None
    control: Any = None

    def __post_init__(self) -> None:
        if self.type not in ("success", "failure", "cancelled"):
            raise InvalidDeploymentValue(f"await output: unknown variant `{self.type}`")
        object.__setattr__(self, "value", _free(self.value, "await output value"))
        object.__setattr__(self, "raw", _free(self.raw, "await output raw"))
        _control(self.control, "await output control")
        if self.type == "failure":
            if self.failure_class not in FAILURE_CLASSES:
                raise InvalidDeploymentValue(f"await output class: unknown class {self.failure_class!r}")
            _check_str(self.code, "await output code")
            _check_str(self.message, "await output message")
        elif self.type == "cancelled":
            _check_str(self.message, "await output message")

    @classmethod
    def success(cls, value: Any, control: Any = None) -> ProcessAwaitOutput:
        """A successful output carrying ``value``."""
        return cls("success", value=value, control=control)

    @classmethod
    def failure(cls, failure_class: str, code: str, message: str, raw: Any = None,
                control: Any = None) -> ProcessAwaitOutput:
        """A failed output; ``failure_class`` is one of FAILURE_CLASSES."""
        return cls("failure", failure_class=failure_class, code=code, message=message, raw=raw, control=control)

    @classmethod
    def cancelled(cls, message: str, raw: Any = None, control: Any = None) -> ProcessAwaitOutput:
        """A cancelled output with a message."""
        return cls("cancelled", message=message, raw=raw, control=control)

    @property
    def terminal_state(self) -> str:
        """The terminal state this output ends a process in."""
        return {"success": "completed", "failure": "failed", "cancelled": "cancelled"}[self.type]

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"type": self.type}
        if self.type == "success":
            doc["value"] = self.value
        elif self.type == "failure":
            doc.update({"class": self.failure_class, "code": self.code, "message": self.message})
        else:
            doc["message"] = self.message
        if self.type != "success" and self.raw is not None:
            doc["raw"] = self.raw
        if self.control is not None:
            doc["control"] = self.control
        return doc

    @classmethod
    def from_json(cls, doc: Any) -> ProcessAwaitOutput:
        doc = _obj(doc, "await output")
        kind = _str(doc, "type", "await output")
        if kind == "success":
            if "value" not in doc:
                raise InvalidDeploymentValue("await output `success`: missing field `value`")
            return cls.success(doc["value"], doc.get("control"))
        if kind == "failure":
            return cls.failure(_str(doc, "class", "await output"), _str(doc, "code", "await output"),
                               _str(doc, "message", "await output"), doc.get("raw"), doc.get("control"))
        if kind == "cancelled":
            return cls.cancelled(_str(doc, "message", "await output"), doc.get("raw"), doc.get("control"))
        raise InvalidDeploymentValue(f"await output: unknown variant `{kind}`")

    @classmethod
    def parse(cls, value: Any) -> ProcessAwaitOutput | None:
        """The output ``value`` spells, or None when it is not an await output."""
        try:
            return cls.from_json(value)
        except InvalidDeploymentValue:
            return None


@dataclass(frozen=True)
class WaitState:
    """A running process waiting on a signal (the only wait kind upstream has)."""

    name: str
    event_type: str
    key: str
    ordinal: int
    since_ms: int
    kind: str = "signal"

    def __post_init__(self) -> None:
        if self.kind != "signal":
            raise InvalidDeploymentValue(f"wait kind: unknown variant `{self.kind}`")
        for name in ("name", "event_type", "key"):
            _check_str(getattr(self, name), f"wait {name}")
        _u64({"ordinal": self.ordinal}, "ordinal", "wait")
        _u64({"since_ms": self.since_ms}, "since_ms", "wait")

    @classmethod
    def signal(cls, process_id: str, name: str, ordinal: int, since_ms: int) -> WaitState:
        """A signal wait with upstream's event type and wait key spellings."""
        return cls(name, f"signal.{name}", f"process:{process_id}:signal.{name}:{ordinal}", ordinal, since_ms)

    def to_json(self) -> dict[str, Any]:
        return {"kind": {"kind": self.kind, "name": self.name, "event_type": self.event_type,
                         "key": self.key, "ordinal": self.ordinal}, "since_ms": self.since_ms}

    @classmethod
    def from_json(cls, doc: Any) -> WaitState:
        doc = _obj(doc, "wait")
        kind = _obj(doc.get("kind"), "wait kind")
        tag = _str(kind, "kind", "wait kind")
        if tag != "signal":
            raise InvalidDeploymentValue(f"wait kind: unknown variant `{tag}`")
        return cls(_str(kind, "name", "wait kind"), _str(kind, "event_type", "wait kind"),
                   _str(kind, "key", "wait kind"), _u64(kind, "ordinal", "wait kind"),
                   _u64(doc, "since_ms", "wait"))


@dataclass(frozen=True)
class ProcessExternalRef:
    """Where work accepted outside this process lives: backend, id, optional metadata."""

    backend: str
    id: str
    metadata: Any = None

    def __post_init__(self) -> None:
        _check_str(self.backend, "external ref backend")
        _check_str(self.id, "external ref id")
        object.__setattr__(self, "metadata", _free(self.metadata, "external ref metadata"))

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"backend": self.backend, "id": self.id}
        if self.metadata is not None:
            doc["metadata"] = self.metadata
        return doc

    @classmethod
    def from_json(cls, doc: Any) -> ProcessExternalRef:
        doc = _obj(doc, "external ref")
        return cls(_str(doc, "backend", "external ref"), _str(doc, "id", "external ref"), doc.get("metadata"))


@dataclass(frozen=True)
class ProcessHandleDescriptor:
    """How a granted handle presents itself to a session: optional kind and label."""

    kind: str | None = None
    label: str | None = None

    def __post_init__(self) -> None:
        _check_str(self.kind, "descriptor kind", optional=True)
        _check_str(self.label, "descriptor label", optional=True)

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {}
        if self.kind is not None:
            doc["kind"] = self.kind
        if self.label is not None:
            doc["label"] = self.label
        return doc

    @classmethod
    def from_json(cls, doc: Any) -> ProcessHandleDescriptor:
        doc = _obj(doc, "handle descriptor")
        return cls(_opt_str(doc, "kind", "handle descriptor"), _opt_str(doc, "label", "handle descriptor"))


@dataclass(frozen=True)
class ProcessHandleGrant:
    """A session's right to address a process, with the descriptor it sees."""

    session_id: str
    process_id: str
    descriptor: ProcessHandleDescriptor = field(default_factory=ProcessHandleDescriptor)

    def to_json(self) -> dict[str, Any]:
        return {"session_id": self.session_id, "process_id": self.process_id,
                "descriptor": self.descriptor.to_json()}


# --- registration and record ------------------------------------------------------------------------


def _event_types(value: Iterable[ProcessEventType] | None) -> tuple[ProcessEventType, ...]:
    if value is None:
        return core_event_types()
    items = tuple(value)
    for item in items:
        if not isinstance(item, ProcessEventType):
            raise InvalidDeploymentValue(f"event types: expected ProcessEventType items, got {_kind(item)}")
    return items


def _input(value: Any) -> ProcessInput:
    if isinstance(value, ProcessInput):
        return value
    return ProcessInput(value)


@dataclass(frozen=True)
class ProcessRegistration:
    """What registering a process declares; everything here is covered by ``registration_hash``.

    ``identity`` defaults to the one derived from ``input``; ``event_types`` to the six core
    types; ``provenance`` to a host originator.
    """

    id: str
    input: ProcessInput
    identity: ProcessIdentity | None = None
    event_types: tuple[ProcessEventType, ...] | None = None
    provenance: ProcessProvenance | None = None
    env_ref: str | None = None
    wake_target: SessionScope | None = None

    def __post_init__(self) -> None:
        _check_str(self.id, "process id")
        object.__setattr__(self, "input", _input(self.input))
        if self.identity is None:
            object.__setattr__(self, "identity", self.input.default_identity())
        object.__setattr__(self, "event_types", _event_types(self.event_types))
        if self.provenance is None:
            object.__setattr__(self, "provenance", ProcessProvenance())
        _check_str(self.env_ref, "env_ref", optional=True)
        object.__setattr__(self, "wake_target", _scope(self.wake_target))

    @classmethod
    def external(cls, id: str, metadata: Any = None, **kwargs: Any) -> ProcessRegistration:
        """An externally completed process (no execution env)."""
        return cls(id, ProcessInput.external(metadata), **kwargs)

    def with_extra_event_types(self, *types: ProcessEventType) -> ProcessRegistration:
        """A copy with ``types`` appended after the declared ones."""
        return dataclasses.replace(self, event_types=tuple(self.event_types) + tuple(types))

    def completed(self) -> ProcessRegistration:
        """A copy with every core event type not already declared appended, in core order."""
        names = {t.name for t in self.event_types}
        extra = tuple(t for t in core_event_types() if t.name not in names)
        return dataclasses.replace(self, event_types=tuple(self.event_types) + extra) if extra else self

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "id": self.id,
            "input": self.input.to_json(),
            "identity": self.identity.to_json(),
            "event_types": [t.to_json() for t in self.event_types],
            "provenance": self.provenance.to_json(),
        }
        if self.env_ref is not None:
            doc["env_ref"] = self.env_ref
        if self.wake_target is not None:
            doc["wake_target"] = self.wake_target.to_json()
        return doc


@dataclass(frozen=True)
class ProcessRecord:
    """A stored process: its registration, hash, times, external ref, wait and status."""

    id: str
    registration_hash: str
    input: ProcessInput
    identity: ProcessIdentity
    event_types: tuple[ProcessEventType, ...]
    provenance: ProcessProvenance
    env_ref: str | None = None
    wake_target: SessionScope | None = None
    created_at_ms: int = 0
    updated_at_ms: int = 0
    external_ref: ProcessExternalRef | None = None
    wait: WaitState | None = None
    status: str = "running"
    await_output: ProcessAwaitOutput | None = None

    @property
    def is_terminal(self) -> bool:
        """True once a terminal event set the status."""
        return self.status != "running"

    @property
    def originator_scope_id(self) -> str:
        """``host`` or the originating session scope id."""
        return self.provenance.originator.scope_id

    def event_type(self, name: str) -> ProcessEventType | None:
        """The declared event type of that name, or None."""
        for declared in self.event_types:
            if declared.name == name:
                return declared
        return None

    def status_json(self) -> dict[str, Any]:
        """The ``status`` document as stored."""
        if self.status == "running":
            return {"state": "running"}
        return {"state": self.status, "await_output": self.await_output.to_json()}

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "id": self.id,
            "registration_hash": self.registration_hash,
            "input": self.input.to_json(),
            "identity": self.identity.to_json(),
            "event_types": [t.to_json() for t in self.event_types],
            "provenance": self.provenance.to_json(),
        }
        if self.env_ref is not None:
            doc["env_ref"] = self.env_ref
        if self.wake_target is not None:
            doc["wake_target"] = self.wake_target.to_json()
        doc["created_at_ms"] = self.created_at_ms
        doc["updated_at_ms"] = self.updated_at_ms
        if self.external_ref is not None:
            doc["external_ref"] = self.external_ref.to_json()
        if self.wait is not None:
            doc["wait"] = self.wait.to_json()
        doc["status"] = self.status_json()
        return doc

    def registration(self) -> ProcessRegistration:
        """The registration as it reads now (its hash differs once a wake target was cleared)."""
        return ProcessRegistration(self.id, self.input, self.identity, self.event_types, self.provenance,
                                   self.env_ref, self.wake_target)

    @classmethod
    def from_json(cls, doc: Any) -> ProcessRecord:
        doc = _obj(doc, "process record")
        for name in ("input", "identity", "provenance"):
            if name not in doc:
                raise InvalidDeploymentValue(f"process record: missing field `{name}`")
        types = doc.get("event_types")
        if types is None:
            types = []
        if not isinstance(types, list):
            raise InvalidDeploymentValue("process record.event_types: expected an array")
        status_doc = doc.get("status")
        status, output = "running", None
        if status_doc is not None:
            status_doc = _obj(status_doc, "process status")
            status = _str(status_doc, "state", "process status")
            if status not in LIFECYCLE_STATUSES:
                raise InvalidDeploymentValue(f"process status: unknown variant `{status}`")
            if status != "running":
                if "await_output" not in status_doc:
                    raise InvalidDeploymentValue(f"process status `{status}`: missing field `await_output`")
                output = ProcessAwaitOutput.from_json(status_doc["await_output"])
        wake_target = doc.get("wake_target")
        external_ref = doc.get("external_ref")
        wait = doc.get("wait")
        return cls(
            id=_str(doc, "id", "process record"),
            registration_hash=_str(doc, "registration_hash", "process record"),
            input=ProcessInput.from_json(doc["input"]),
            identity=ProcessIdentity.from_json(doc["identity"]),
            event_types=tuple(ProcessEventType.from_json(t) for t in types),
            provenance=ProcessProvenance.from_json(doc["provenance"]),
            env_ref=_opt_str(doc, "env_ref", "process record"),
            wake_target=None if wake_target is None else SessionScope.from_json(wake_target),
            created_at_ms=_u64(doc, "created_at_ms", "process record", 0),
            updated_at_ms=_u64(doc, "updated_at_ms", "process record", 0),
            external_ref=None if external_ref is None else ProcessExternalRef.from_json(external_ref),
            wait=None if wait is None else WaitState.from_json(wait),
            status=status,
            await_output=output,
        )
