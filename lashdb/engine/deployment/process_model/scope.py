"""Scopes, originators, causal references, provenance and identity of a process (§1.1).

Contract: every type is a frozen dataclass whose ``to_json()`` is upstream's document (declared
field order, absent optionals omitted, free-form values key-sorted) and whose ``from_json()`` /
constructor raise :class:`InvalidDeploymentValue` for what upstream rejects. The strict readers
(``_obj``, ``_str`` …) and lifecycle constants every sibling module uses live here too.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

from lashdb.engine.base import jsonread as jr
from lashdb.engine.base.canonical import sorted_json
from lashdb.engine.base.errors import LashdbError


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


# --- identity ---------------------------------------------------------------------------------------


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
