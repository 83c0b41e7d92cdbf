"""Data types of the process registry and their JSON forms (deployment-stores §1.1–§1.4).

Contract:
- Every type is a frozen dataclass. ``to_json()`` returns the document upstream serialises: typed
  records in their declared field order, optional fields omitted when absent, free-form values
  (payloads, metadata, schemas, definitions, constants) with object keys sorted — so
  ``canonical.dumps(x.to_json())`` is byte-identical to upstream's text and safe to hash.
- ``from_json()`` reads a stored document with upstream's defaults (unknown fields ignored) and
  raises :class:`InvalidDeploymentValue` (a ``ValueError`` and a lashdb error) for a document
  upstream would reject. Constructors validate their arguments the same way.
- Selectors, dedupe-key specs, causal refs and invocations are plain JSON values (dicts/strings)
  built by the helper constructors here (``Selector.pointer("/x")``, ``CausalRef.process(id)``)
  and normalised on the way in.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from lashdb.engine.base import jsonread as jr
from lashdb.engine.base.canonical import sorted_json
from lashdb.engine.base.errors import LashdbError

__all__ = [
    "CORE_EVENT_TYPE_NAMES", "CausalRef", "DedupeKey", "EVENT_IDENTITY", "FAILURE_CLASSES",
    "InvalidDeploymentValue", "LIFECYCLE_STATUSES", "PROCESS_LEASE_SCHEMA_VERSION",
    "ProcessAwaitOutput", "ProcessEvent", "ProcessEventAppendRequest", "ProcessEventAppendResult",
    "ProcessEventType", "ProcessExternalRef", "ProcessHandleDescriptor", "ProcessHandleGrant",
    "ProcessIdentity", "ProcessInput", "ProcessLease", "ProcessLeaseCompletion", "ProcessListFilter",
    "ProcessOriginator", "ProcessProvenance", "ProcessRecord", "ProcessRegistration",
    "ProcessSessionDeleteReport", "ProcessWakeDelivery", "EventSemantics", "Selector",
    "SessionScope", "TERMINAL_STATES", "TerminalSemantics", "TerminalSpec", "WaitState",
    "WakeSemantics", "WakeSpec", "core_event_types", "default_event_types", "occurred_at_json",
    "occurred_at_ms_from_json", "process_event_invocation",
]


class InvalidDeploymentValue(LashdbError, ValueError):
    """A value (built by a caller or read from a row) does not have the shape upstream requires."""


TERMINAL_STATES = ("completed", "failed", "cancelled")
LIFECYCLE_STATUSES = ("running",) + TERMINAL_STATES
FAILURE_CLASSES = ("invalid_request", "unavailable", "permission_denied", "timeout", "execution",
                   "external", "resource_limit", "internal")
PROCESS_LEASE_SCHEMA_VERSION = 1
EVENT_IDENTITY = "event_identity"


# --- small readers --------------------------------------------------------------------------------


# the shared strict readers, raising this module's error type
_obj = functools.partial(jr.obj, error=InvalidDeploymentValue)
_str = functools.partial(jr.text, error=InvalidDeploymentValue)
_opt_str = functools.partial(jr.opt_text, error=InvalidDeploymentValue)
_u64 = functools.partial(jr.u64, error=InvalidDeploymentValue)
_check_str = functools.partial(jr.check_text, error=InvalidDeploymentValue)


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, (list, tuple)):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _free(value: Any, what: str) -> Any:
    try:
        return sorted_json(value)
    except ValueError as exc:
        raise InvalidDeploymentValue(f"{what}: {exc}") from exc


# --- scopes, originators, causal references --------------------------------------------------------


@dataclass(frozen=True)
class SessionScope:
    """A session, optionally narrowed to one agent frame; ``scope_id`` is its grant key."""

    session_id: str
    agent_frame_id: str | None = None

    def __post_init__(self) -> None:
        _check_str(self.session_id, "session scope session_id")
        _check_str(self.agent_frame_id, "session scope agent_frame_id", optional=True)

    @property
    def scope_id(self) -> str:
        """``session:<id>``, or ``session:<id>/frame:<frame>`` for a non-empty frame id."""
        if self.agent_frame_id:
            return f"session:{self.session_id}/frame:{self.agent_frame_id}"
        return f"session:{self.session_id}"

    @classmethod
    def parse(cls, scope_id: str) -> SessionScope:
        """The scope a ``session:<id>[/frame:<frame>]`` scope id names (as stored in grants)."""
        if not isinstance(scope_id, str) or not scope_id.startswith("session:"):
            raise InvalidDeploymentValue(f"scope id {scope_id!r} does not start with `session:`")
        session, marker, frame = scope_id[len("session:"):].rpartition("/frame:")
        if marker and frame:
            return cls(session, frame)
        return cls(scope_id[len("session:"):])

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"session_id": self.session_id}
        if self.agent_frame_id is not None:
            doc["agent_frame_id"] = self.agent_frame_id
        return doc

    @classmethod
    def from_json(cls, doc: Any) -> SessionScope:
        doc = _obj(doc, "session scope")
        return cls(_str(doc, "session_id", "session scope"), _opt_str(doc, "agent_frame_id", "session scope"))


def _scope(value: SessionScope | str | None) -> SessionScope | None:
    if value is None or isinstance(value, SessionScope):
        return value
    if isinstance(value, str):
        return SessionScope(value)
    raise InvalidDeploymentValue(f"expected a SessionScope or a session id, got {_kind(value)}")


@dataclass(frozen=True)
class ProcessOriginator:
    """Who started a process: the host (``scope`` is None) or a session scope."""

    scope: SessionScope | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "scope", _scope(self.scope))

    @classmethod
    def host(cls) -> ProcessOriginator:
        """The host originator (scope id ``host``)."""
        return cls(None)

    @classmethod
    def session(cls, session: SessionScope | str, agent_frame_id: str | None = None) -> ProcessOriginator:
        """A session originator, from a SessionScope or a session id (and frame)."""
        scope = session if isinstance(session, SessionScope) else SessionScope(session, agent_frame_id)
        return cls(scope)

    @property
    def is_host(self) -> bool:
        """True for the host originator."""
        return self.scope is None

    @property
    def scope_id(self) -> str:
        """``host`` or the session scope id (the ``owner_scope_id``/``registrant_scope_id`` column)."""
        return "host" if self.scope is None else self.scope.scope_id

    @property
    def session_id(self) -> str | None:
        """The originating session id, or None for the host."""
        return None if self.scope is None else self.scope.session_id

    def to_json(self) -> dict[str, Any]:
        if self.scope is None:
            return {"type": "host"}
        return {"type": "session", "scope": self.scope.to_json()}

    @classmethod
    def from_json(cls, doc: Any) -> ProcessOriginator:
        doc = _obj(doc, "originator")
        kind = _str(doc, "type", "originator")
        if kind == "host":
            return cls(None)
        if kind == "session":
            if "scope" not in doc:
                raise InvalidDeploymentValue("originator: missing field `scope`")
            return cls(SessionScope.from_json(doc["scope"]))
        raise InvalidDeploymentValue(f"originator: unknown variant `{kind}`")


# (field, required, kind) per causal-ref variant, in declared order.
_CAUSAL_FIELDS: dict[str, tuple[tuple[str, bool, type], ...]] = {
    "turn": (("session_id", True, str), ("turn_id", True, str)),
    "effect": (("session_id", True, str), ("turn_id", False, str), ("effect_id", True, str)),
    "tool_call": (("session_id", True, str), ("call_id", True, str)),
    "process": (("process_id", True, str),),
    "process_event": (("process_id", True, str), ("sequence", True, int)),
    "trigger_occurrence": (("occurrence_id", True, str),),
    "session_node": (("session_id", True, str), ("node_id", True, str)),
}


class CausalRef:
    """Constructors for causal references (tag ``type``); each returns its canonical dict."""

    @staticmethod
    def normalize(doc: Any) -> dict[str, Any]:
        """The canonical form of a causal-reference document; rejects unknown variants."""
        doc = _obj(doc, "causal ref")
        kind = _str(doc, "type", "causal ref")
        spec = _CAUSAL_FIELDS.get(kind)
        if spec is None:
            raise InvalidDeploymentValue(f"causal ref: unknown variant `{kind}`")
        out: dict[str, Any] = {"type": kind}
        for name, required, typ in spec:
            value = doc.get(name)
            if value is None:
                if required:
                    raise InvalidDeploymentValue(f"causal ref `{kind}`: missing field `{name}`")
                continue
            if typ is int:
                _u64(doc, name, f"causal ref `{kind}`")
            elif not isinstance(value, typ):
                raise InvalidDeploymentValue(f"causal ref `{kind}`.{name}: expected a string")
            out[name] = value
        return out

    @staticmethod
    def turn(session_id: str, turn_id: str) -> dict[str, Any]:
        """A reference to a session turn."""
        return CausalRef.normalize({"type": "turn", "session_id": session_id, "turn_id": turn_id})

    @staticmethod
    def effect(session_id: str, effect_id: str, turn_id: str | None = None) -> dict[str, Any]:
        """A reference to a runtime effect (turn optional)."""
        return CausalRef.normalize({"type": "effect", "session_id": session_id, "turn_id": turn_id,
                                    "effect_id": effect_id})

    @staticmethod
    def tool_call(session_id: str, call_id: str) -> dict[str, Any]:
        """A reference to a tool call of a session."""
        return CausalRef.normalize({"type": "tool_call", "session_id": session_id, "call_id": call_id})

    @staticmethod
    def process(process_id: str) -> dict[str, Any]:
        """A reference to a process."""
        return CausalRef.normalize({"type": "process", "process_id": process_id})

    @staticmethod
    def process_event(process_id: str, sequence: int) -> dict[str, Any]:
        """A reference to one event of a process."""
        return CausalRef.normalize({"type": "process_event", "process_id": process_id, "sequence": sequence})

    @staticmethod
    def trigger_occurrence(occurrence_id: str) -> dict[str, Any]:
        """A reference to a trigger occurrence."""
        return CausalRef.normalize({"type": "trigger_occurrence", "occurrence_id": occurrence_id})

    @staticmethod
    def session_node(session_id: str, node_id: str) -> dict[str, Any]:
        """A reference to a node of a session graph."""
        return CausalRef.normalize({"type": "session_node", "session_id": session_id, "node_id": node_id})


@dataclass(frozen=True)
class ProcessProvenance:
    """Originator of a process and, optionally, the runtime fact that caused it."""

    originator: ProcessOriginator = field(default_factory=ProcessOriginator.host)
    caused_by: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.originator, ProcessOriginator):
            raise InvalidDeploymentValue("provenance originator: expected a ProcessOriginator")
        if self.caused_by is not None:
            object.__setattr__(self, "caused_by", CausalRef.normalize(self.caused_by))

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"originator": self.originator.to_json()}
        if self.caused_by is not None:
            doc["caused_by"] = dict(self.caused_by)
        return doc

    @classmethod
    def from_json(cls, doc: Any) -> ProcessProvenance:
        doc = _obj(doc, "provenance")
        if "originator" not in doc:
            raise InvalidDeploymentValue("provenance: missing field `originator`")
        caused = doc.get("caused_by")
        return cls(ProcessOriginator.from_json(doc["originator"]), caused)


# --- identity and input -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ProcessIdentity:
    """Visible kind, display label and definition identity of a process."""

    kind: str
    label: str | None = None
    definition: Any = None

    def __post_init__(self) -> None:
        _check_str(self.kind, "identity kind")
        _check_str(self.label, "identity label", optional=True)
        object.__setattr__(self, "definition", _free(self.definition, "identity definition"))

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"kind": self.kind}
        if self.label is not None:
            doc["label"] = self.label
        if self.definition is not None:
            doc["definition"] = self.definition
        return doc

    @classmethod
    def from_json(cls, doc: Any) -> ProcessIdentity:
        doc = _obj(doc, "identity")
        return cls(_str(doc, "kind", "identity"), _opt_str(doc, "label", "identity"), doc.get("definition"))


def _normalize_input(doc: Any) -> dict[str, Any]:
    doc = _obj(doc, "process input")
    kind = _str(doc, "type", "process input")
    if kind == "external":
        return {"type": "external", "metadata": _free(doc.get("metadata"), "external metadata")}
    if kind == "engine":
        return {"type": "engine", "kind": _str(doc, "kind", "engine input"),
                "payload": _free(doc.get("payload"), "engine payload")}
    if kind == "tool_call":
        if "call" not in doc:
            raise InvalidDeploymentValue("tool_call input: missing field `call`")
        call = _obj(doc["call"], "tool_call input call")
        out: dict[str, Any] = {
            "call_id": _str(call, "call_id", "tool call"),
            "tool_id": _str(call, "tool_id", "tool call"),
            "tool_name": _str(call, "tool_name", "tool call"),
        }
        if "args" not in call:
            raise InvalidDeploymentValue("tool call: missing field `args`")
        out["args"] = _free(call["args"], "tool call args")
        replay = call.get("replay")
        if replay is not None:
            replay = _obj(replay, "tool call replay")
            meta: dict[str, Any] = {}
            for name in ("item_id", "opaque"):
                value = _opt_str(replay, name, "tool call replay")
                if value is not None:
                    meta[name] = value
            out["replay"] = meta
        prepared = call.get("prepared_payload")
        if prepared is not None:
            out["prepared_payload"] = _free(prepared, "tool call prepared_payload")
        return {"type": "tool_call", "call": out}
    if kind == "session_turn":
        # Opaque to the store and hashed as received: their canonical order is upstream's business.
        out = {"type": "session_turn"}
        for name in ("create_request", "turn_input", "output_contract"):
            if name not in doc:
                raise InvalidDeploymentValue(f"session_turn input: missing field `{name}`")
            out[name] = doc[name]
        return out
    raise InvalidDeploymentValue(f"process input: unknown variant `{kind}`")


@dataclass(frozen=True)
class ProcessInput:
    """What a process executes: ``external``, ``engine``, ``tool_call`` or ``session_turn``."""

    doc: dict[str, Any]

    def __post_init__(self) -> None:
        object.__setattr__(self, "doc", _normalize_input(self.doc))

    @classmethod
    def external(cls, metadata: Any = None) -> ProcessInput:
        """An externally completed process; ``metadata`` is free-form (null by default)."""
        return cls({"type": "external", "metadata": metadata})

    @classmethod
    def engine(cls, kind: str, payload: Any = None) -> ProcessInput:
        """A process run by the deployment's engine ``kind`` with a free-form payload."""
        return cls({"type": "engine", "kind": kind, "payload": payload})

    @classmethod
    def tool_call(cls, call_id: str, tool_id: str, tool_name: str, args: Any, *,
                  replay: Mapping[str, str] | None = None, prepared_payload: Any = None) -> ProcessInput:
        """A prepared tool call run as a background process."""
        call: dict[str, Any] = {"call_id": call_id, "tool_id": tool_id, "tool_name": tool_name, "args": args}
        if replay is not None:
            call["replay"] = dict(replay)
        if prepared_payload is not None:
            call["prepared_payload"] = prepared_payload
        return cls({"type": "tool_call", "call": call})

    @classmethod
    def session_turn(cls, create_request: Any, turn_input: Any, output_contract: Any) -> ProcessInput:
        """A child-session turn; the three documents are kept exactly as given."""
        return cls({"type": "session_turn", "create_request": create_request,
                    "turn_input": turn_input, "output_contract": output_contract})

    @property
    def type(self) -> str:
        """The input variant: external, engine, tool_call or session_turn."""
        return self.doc["type"]

    @property
    def requires_env(self) -> bool:
        """Worker-executed inputs (tool_call, engine) must carry a captured execution env."""
        return self.type in ("tool_call", "engine")

    def default_identity(self) -> ProcessIdentity:
        """The identity upstream derives from an input when the caller sets none."""
        doc = self.doc
        if doc["type"] == "tool_call":
            return ProcessIdentity("tool", doc["call"]["tool_name"])
        if doc["type"] == "engine":
            return ProcessIdentity(doc["kind"])
        if doc["type"] == "session_turn":
            request = doc["create_request"] if isinstance(doc["create_request"], dict) else {}
            label = None
            subagent = request.get("subagent")
            if isinstance(subagent, dict) and isinstance(subagent.get("capability"), str):
                label = subagent["capability"]
            for name in ("usage_source", "session_id"):
                if label is None and isinstance(request.get(name), str):
                    label = request[name]
            return ProcessIdentity("session_turn", label)
        metadata = doc["metadata"]
        label = None
        if isinstance(metadata, dict):
            for name in ("label", "name", "title"):
                if name in metadata:
                    # Upstream takes the first key present, then requires it to be a string.
                    label = metadata[name] if isinstance(metadata[name], str) else None
                    break
        return ProcessIdentity("external", label)

    def to_json(self) -> dict[str, Any]:
        return self.doc

    @classmethod
    def from_json(cls, doc: Any) -> ProcessInput:
        return cls(doc)


# --- selectors and event types --------------------------------------------------------------------


def normalize_selector(value: Any) -> Any:
    """The canonical form of a selector: ``"payload"`` or a one-key object."""
    if value == "payload":
        return "payload"
    if not isinstance(value, dict) or len(value) != 1:
        raise InvalidDeploymentValue(f"selector: expected \"payload\" or a one-key object, got {value!r}")
    (tag, inner), = value.items()
    if tag in ("pointer", "present"):
        _check_str(inner, f"selector {tag}")
        return {tag: inner}
    if tag == "const":
        return {"const": _free(inner, "selector const")}
    if tag == "template":
        inner = _obj(inner, "template selector")
        text = _str(inner, "template", "template selector")
        fields = inner.get("fields") or {}
        fields = _obj(fields, "template selector fields")
        return {"template": {"template": text,
                             "fields": {name: normalize_selector(fields[name]) for name in sorted(fields)}}}
    raise InvalidDeploymentValue(f"selector: unknown variant `{tag}`")


class Selector:
    """Constructors for payload selectors (externally tagged)."""

    normalize = staticmethod(normalize_selector)

    @staticmethod
    def payload() -> str:
        """Select the whole payload."""
        return "payload"

    @staticmethod
    def pointer(pointer: str) -> dict[str, Any]:
        """Select the value at an RFC 6901 pointer (must resolve)."""
        return normalize_selector({"pointer": pointer})

    @staticmethod
    def const(value: Any) -> dict[str, Any]:
        """Select a constant value."""
        return normalize_selector({"const": value})

    @staticmethod
    def template(template: str, fields: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Render a template, replacing ``{name}`` with each field's string form."""
        return normalize_selector({"template": {"template": template, "fields": dict(fields or {})}})

    @staticmethod
    def present(pointer: str) -> dict[str, Any]:
        """Select whether an RFC 6901 pointer resolves (a boolean)."""
        return normalize_selector({"present": pointer})


def normalize_dedupe_key(value: Any) -> Any:
    """The canonical form of a wake dedupe-key spec."""
    if value == EVENT_IDENTITY:
        return EVENT_IDENTITY
    if isinstance(value, dict) and len(value) == 1:
        (tag, inner), = value.items()
        if tag == "selector":
            return {"selector": normalize_selector(inner)}
        if tag == "const":
            _check_str(inner, "dedupe key const")
            return {"const": inner}
    raise InvalidDeploymentValue(f"dedupe key: expected \"event_identity\", selector or const, got {value!r}")


class DedupeKey:
    """Constructors for wake dedupe-key specs."""

    normalize = staticmethod(normalize_dedupe_key)

    @staticmethod
    def event_identity() -> str:
        """Dedupe by ``<process_id>:<sequence>`` (the default)."""
        return EVENT_IDENTITY

    @staticmethod
    def selector(selector: Any) -> dict[str, Any]:
        """Dedupe by the string form of a selected value."""
        return normalize_dedupe_key({"selector": selector})

    @staticmethod
    def const(value: str) -> dict[str, Any]:
        """Dedupe by a constant string."""
        return normalize_dedupe_key({"const": value})


def _state(value: Any, what: str) -> str:
    if value not in TERMINAL_STATES:
        raise InvalidDeploymentValue(f"{what}: expected one of {', '.join(TERMINAL_STATES)}, got {value!r}")
    return value


@dataclass(frozen=True)
class TerminalSpec:
    """Declared terminal semantics: the state reached and where the await output comes from."""

    state: str
    await_output: Any = None

    def __post_init__(self) -> None:
        _state(self.state, "terminal spec state")
        if self.await_output is not None:
            object.__setattr__(self, "await_output", normalize_selector(self.await_output))

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"state": self.state}
        if self.await_output is not None:
            doc["await_output"] = self.await_output
        return doc

    @classmethod
    def from_json(cls, doc: Any) -> TerminalSpec:
        doc = _obj(doc, "terminal spec")
        if "state" not in doc:
            raise InvalidDeploymentValue("terminal spec: missing field `state`")
        return cls(doc["state"], doc.get("await_output"))


@dataclass(frozen=True)
class WakeSpec:
    """Declared wake semantics: an optional condition, the wake input and its dedupe key."""

    input: Any
    when: Any = None
    dedupe_key: Any = EVENT_IDENTITY

    def __post_init__(self) -> None:
        object.__setattr__(self, "input", normalize_selector(self.input))
        if self.when is not None:
            object.__setattr__(self, "when", normalize_selector(self.when))
        object.__setattr__(self, "dedupe_key", normalize_dedupe_key(self.dedupe_key))

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {}
        if self.when is not None:
            doc["when"] = self.when
        doc["input"] = self.input
        doc["dedupe_key"] = self.dedupe_key
        return doc

    @classmethod
    def from_json(cls, doc: Any) -> WakeSpec:
        doc = _obj(doc, "wake spec")
        if "input" not in doc:
            raise InvalidDeploymentValue("wake spec: missing field `input`")
        return cls(doc["input"], doc.get("when"), doc.get("dedupe_key", EVENT_IDENTITY))


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
