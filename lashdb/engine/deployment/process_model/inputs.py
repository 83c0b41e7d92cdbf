"""What a process executes and how its events are declared to end or wake it (§1.1–§1.2).

Contract: ``ProcessInput`` normalises its document on construction (tool calls, engine payloads
and external metadata key-sorted; session-turn documents kept as received). Selectors and
dedupe-key specs are plain JSON values in canonical form; ``TerminalSpec``/``WakeSpec`` validate
and normalise them, raising :class:`InvalidDeploymentValue` for what upstream rejects.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .scope import (
    EVENT_IDENTITY,
    TERMINAL_STATES,
    InvalidDeploymentValue,
    ProcessIdentity,
    _check_str,
    _free,
    _obj,
    _opt_str,
    _str,
)


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


# --- selectors, dedupe keys, terminal and wake specs -------------------------------------------


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
