"""The trigger store's values: subscriptions, occurrences, deliveries and their ids (deployment-stores §2).

Contract:
- :class:`TriggerSubscriptionDraft` / :class:`TriggerOccurrenceRequest` validate what a caller
  declares; :class:`TriggerSubscriptionRecord` / :class:`TriggerOccurrenceRecord` are the stored
  rows' JSON (``to_json``/``from_json`` are upstream's shapes, field order included) and never
  touch storage. :class:`TriggerSubscriptionFilter` is the listing predicate applied to decoded rows.
- Occurrence ids, request hashes, source keys and delivery process ids are SHA-256 over canonical
  JSON (§2.1); a value that cannot be hashed or encoded raises :class:`TriggerStoreError`.
- :func:`_encode` is a record's canonical row text; :func:`_parse` decodes row text with a reader
  and raises :class:`InvalidDeploymentValue` (or ``ValueError``) for text that does not decode.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from lashdb.engine.base import values
from lashdb.engine.base.canonical import CanonicalJsonError, dumps, json_equal, sha256_hex
from lashdb.engine.base.errors import TriggerStoreError, UnstorableValue

from .process_model import (
    InvalidDeploymentValue,
    ProcessEventType,
    ProcessIdentity,
    ProcessInput,
    ProcessOriginator,
    SessionScope,
    _free,
    _obj,
    _opt_str,
    _str,
    _u64,
)

__all__ = [
    "InputBinding", "SkippedRow", "TriggerDeliveryReservation", "TriggerOccurrenceRecord",
    "TriggerOccurrenceRequest", "TriggerSubscriptionDraft", "TriggerSubscriptionFilter",
    "TriggerSubscriptionRecord", "default_source_key", "delivery_process_id", "occurrence_id",
    "occurrence_request_hash",
]


def _hash(value: Any, what: str) -> str:
    try:
        return sha256_hex(value)
    except CanonicalJsonError as exc:
        raise TriggerStoreError(f"failed to hash {what}: {exc}") from exc


def default_source_key(source_type: str, source: Any) -> str:
    """``source:<type>:sha256:<hex of [type, source]>`` — stable for equal inputs, never empty."""
    try:
        value = [source_type, _free(source, "trigger source")]
    except InvalidDeploymentValue as exc:
        raise TriggerStoreError(f"failed to hash trigger source key: {exc}") from exc
    return f"source:{source_type}:sha256:{_hash(value, 'trigger source key')}"


# --- input bindings and records ---------------------------------------------------------------------


def _normalize_binding(value: Any) -> dict[str, Any]:
    doc = _obj(value, "input binding")
    tag = _str(doc, "type", "input binding")
    if tag == "event":
        return {"type": "event"}
    if tag == "fixed":
        if "value" not in doc:
            raise InvalidDeploymentValue("fixed input binding: missing field `value`")
        return {"type": "fixed", "value": _free(doc["value"], "fixed input binding value")}
    raise InvalidDeploymentValue(f"input binding: unknown variant `{tag}`")


class InputBinding:
    """Constructors for subscription input bindings (tag ``type``)."""

    normalize = staticmethod(_normalize_binding)

    @staticmethod
    def event() -> dict[str, Any]:
        """Bind the occurrence payload."""
        return {"type": "event"}

    @staticmethod
    def fixed(value: Any) -> dict[str, Any]:
        """Bind a fixed value."""
        return _normalize_binding({"type": "fixed", "value": value})


def _template(value: Mapping[str, Any] | None) -> dict[str, Any]:
    value = _obj(value if value is not None else {}, "input template")
    return {name: _normalize_binding(value[name]) for name in sorted(value)}


def _originator(value: ProcessOriginator | SessionScope | str | None) -> ProcessOriginator:
    if isinstance(value, ProcessOriginator):
        return value
    if value is None:
        return ProcessOriginator.host()
    return ProcessOriginator.session(value)


def _identity(value: ProcessIdentity | Mapping[str, Any]) -> ProcessIdentity:
    return value if isinstance(value, ProcessIdentity) else ProcessIdentity.from_json(value)


def _types(value: Any) -> tuple[ProcessEventType, ...]:
    items = tuple(value or ())
    for item in items:
        if not isinstance(item, ProcessEventType):
            raise InvalidDeploymentValue("subscription event types: expected ProcessEventType items")
    return items


@dataclass(frozen=True)
class TriggerSubscriptionDraft:
    """What registering a subscription declares (the store adds ids, ``enabled`` and times).

    ``registrant`` accepts a ProcessOriginator, a SessionScope or a session id (None: host).
    """

    registrant: ProcessOriginator
    env_ref: str
    source_type: str
    source_key: str
    target: ProcessInput
    target_identity: ProcessIdentity
    wake_target: SessionScope | None = None
    name: str | None = None
    source: Any = field(default_factory=dict)
    payload_schema: Any = field(default_factory=dict)
    event_types: tuple[ProcessEventType, ...] = ()
    input_template: dict[str, Any] = field(default_factory=dict)
    target_label: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "registrant", _originator(self.registrant))
        for name in ("env_ref", "source_type", "source_key"):
            if not isinstance(getattr(self, name), str):
                raise InvalidDeploymentValue(f"subscription {name}: expected a string")
        for name in ("name", "target_label"):
            if getattr(self, name) is not None and not isinstance(getattr(self, name), str):
                raise InvalidDeploymentValue(f"subscription {name}: expected a string")
        object.__setattr__(self, "target", self.target if isinstance(self.target, ProcessInput)
                           else ProcessInput(self.target))
        object.__setattr__(self, "target_identity", _identity(self.target_identity))
        if self.wake_target is not None and not isinstance(self.wake_target, SessionScope):
            object.__setattr__(self, "wake_target", SessionScope(self.wake_target))
        object.__setattr__(self, "source", _free(self.source, "subscription source"))
        object.__setattr__(self, "payload_schema", _free(self.payload_schema, "subscription payload schema"))
        object.__setattr__(self, "event_types", _types(self.event_types))
        object.__setattr__(self, "input_template", _template(self.input_template))


@dataclass(frozen=True)
class TriggerSubscriptionRecord:
    """A stored subscription; ``enabled`` only ever goes from true to false."""

    subscription_id: str
    registrant: ProcessOriginator
    env_ref: str
    handle: str
    source_type: str
    source_key: str
    target: ProcessInput
    target_identity: ProcessIdentity
    created_at_ms: int
    updated_at_ms: int
    wake_target: SessionScope | None = None
    name: str | None = None
    source: Any = None
    payload_schema: Any = None
    event_types: tuple[ProcessEventType, ...] = ()
    input_template: dict[str, Any] = field(default_factory=dict)
    target_label: str | None = None
    enabled: bool = True

    @property
    def registrant_scope_id(self) -> str:
        """``host`` or the registrant's session scope id."""
        return self.registrant.scope_id

    @property
    def registrant_session_id(self) -> str | None:
        """The registrant's session id, or None for the host."""
        return self.registrant.session_id

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"subscription_id": self.subscription_id, "registrant": self.registrant.to_json(),
                               "env_ref": self.env_ref}
        if self.wake_target is not None:
            doc["wake_target"] = self.wake_target.to_json()
        doc["handle"] = self.handle
        if self.name is not None:
            doc["name"] = self.name
        doc.update({
            "source_type": self.source_type, "source_key": self.source_key, "source": self.source,
            "payload_schema": {"schema": self.payload_schema}, "target": self.target.to_json(),
            "target_identity": self.target_identity.to_json(),
            "event_types": [t.to_json() for t in self.event_types],
            "input_template": self.input_template,
        })
        if self.target_label is not None:
            doc["target_label"] = self.target_label
        doc.update({"enabled": self.enabled, "created_at_ms": self.created_at_ms,
                    "updated_at_ms": self.updated_at_ms})
        return doc

    @classmethod
    def from_json(cls, doc: Any) -> TriggerSubscriptionRecord:
        doc = _obj(doc, "trigger subscription")
        what = "trigger subscription"
        for name in ("registrant", "source", "payload_schema", "target", "target_identity"):
            if name not in doc:
                raise InvalidDeploymentValue(f"{what}: missing field `{name}`")
        schema = _obj(doc["payload_schema"], f"{what}.payload_schema")
        if "schema" not in schema:
            raise InvalidDeploymentValue(f"{what}.payload_schema: missing field `schema`")
        enabled = doc.get("enabled", True)
        if not isinstance(enabled, bool):
            raise InvalidDeploymentValue(f"{what}.enabled: expected a boolean")
        types = doc.get("event_types")
        if types is None:  # absent or null: no filter (a falsy non-list is still refused below)
            types = []
        if not isinstance(types, list):
            raise InvalidDeploymentValue(f"{what}.event_types: expected an array")
        wake_target = doc.get("wake_target")
        return cls(
            subscription_id=_str(doc, "subscription_id", what),
            registrant=ProcessOriginator.from_json(doc["registrant"]),
            env_ref=_str(doc, "env_ref", what),
            handle=_str(doc, "handle", what),
            source_type=_str(doc, "source_type", what),
            source_key=_str(doc, "source_key", what),
            target=ProcessInput.from_json(doc["target"]),
            target_identity=ProcessIdentity.from_json(doc["target_identity"]),
            created_at_ms=_u64(doc, "created_at_ms", what),
            updated_at_ms=_u64(doc, "updated_at_ms", what),
            wake_target=None if wake_target is None else SessionScope.from_json(wake_target),
            name=_opt_str(doc, "name", what),
            source=_free(doc["source"], f"{what}.source"),
            payload_schema=_free(schema["schema"], f"{what}.payload_schema"),
            event_types=tuple(ProcessEventType.from_json(t) for t in types),
            input_template=_template(doc.get("input_template") or {}),
            target_label=_opt_str(doc, "target_label", what),
            enabled=enabled,
        )


@dataclass(frozen=True)
class TriggerOccurrenceRequest:
    """An occurrence to record; ``idempotency_key`` is unique across the whole store."""

    source_type: str
    source_key: str
    idempotency_key: str
    payload: Any = None
    source: Any = None

    def __post_init__(self) -> None:
        for name in ("source_type", "source_key", "idempotency_key"):
            if not isinstance(getattr(self, name), str):
                raise InvalidDeploymentValue(f"occurrence {name}: expected a string")
        object.__setattr__(self, "payload", _free(self.payload, "occurrence payload"))
        object.__setattr__(self, "source", _free(self.source, "occurrence source"))


@dataclass(frozen=True)
class TriggerOccurrenceRecord:
    """A recorded occurrence (never changes once stored)."""

    occurrence_id: str
    source_type: str
    source_key: str
    payload: Any
    idempotency_key: str
    occurred_at_ms: int
    source: Any = None

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"occurrence_id": self.occurrence_id, "source_type": self.source_type,
                               "source_key": self.source_key, "payload": self.payload,
                               "idempotency_key": self.idempotency_key}
        if self.source is not None:
            doc["source"] = self.source
        doc["occurred_at_ms"] = self.occurred_at_ms
        return doc

    @classmethod
    def from_json(cls, doc: Any) -> TriggerOccurrenceRecord:
        doc = _obj(doc, "trigger occurrence")
        what = "trigger occurrence"
        return cls(_str(doc, "occurrence_id", what), _str(doc, "source_type", what),
                   _str(doc, "source_key", what), _free(doc.get("payload"), f"{what}.payload"),
                   _str(doc, "idempotency_key", what), _u64(doc, "occurred_at_ms", what),
                   _free(doc.get("source"), f"{what}.source"))


@dataclass(frozen=True)
class TriggerDeliveryReservation:
    """A newly reserved delivery: start process ``process_id`` for this occurrence/subscription."""

    occurrence: TriggerOccurrenceRecord
    subscription: TriggerSubscriptionRecord
    process_id: str

    def to_json(self) -> dict[str, Any]:
        return {"occurrence": self.occurrence.to_json(), "subscription": self.subscription.to_json(),
                "process_id": self.process_id}


@dataclass(frozen=True)
class TriggerSubscriptionFilter:
    """Narrow a subscription listing; ``target`` is compared with the target identity definition."""

    session_id: str | None = None
    handle: str | None = None
    name: str | None = None
    source_type: str | None = None
    source_key: str | None = None
    target: Any = None
    enabled: bool | None = None

    def matches(self, record: TriggerSubscriptionRecord) -> bool:
        """True when the record passes every given criterion."""
        if self.session_id is not None and record.registrant_session_id != self.session_id:
            return False
        for name in ("handle", "name", "source_type", "source_key", "enabled"):
            wanted = getattr(self, name)
            if wanted is not None and getattr(record, name) != wanted:
                return False
        if self.target is not None:
            definition = record.target_identity.definition
            return definition is not None and json_equal(definition, self.target)
        return True


@dataclass(frozen=True)
class SkippedRow:
    """A subscription row an operation skipped because its JSON did not decode."""

    subscription_id: str
    operation: str
    reason: str


def occurrence_id(request: TriggerOccurrenceRequest) -> str:
    """``trigger:`` + SHA-256 of ``[source_type, source_key, idempotency_key]``."""
    return "trigger:" + _hash([request.source_type, request.source_key, request.idempotency_key],
                              "trigger occurrence")


def occurrence_request_hash(request: TriggerOccurrenceRequest) -> str:
    """SHA-256 of ``[source_type, source_key, payload, source]`` (absent source as null)."""
    return _hash([request.source_type, request.source_key, request.payload, request.source],
                 "trigger occurrence")


def delivery_process_id(occurrence_id: str, subscription_id: str) -> str:
    """``process:trigger:`` + SHA-256 of ``[occurrence_id, subscription_id]``."""
    return "process:trigger:" + _hash([occurrence_id, subscription_id], "trigger delivery")


def _encode(record: Any) -> str:
    try:
        doc = record.to_json()
        values.check(doc, type(record).__name__)
        return dumps(doc)
    except (CanonicalJsonError, UnstorableValue) as exc:
        raise TriggerStoreError(f"failed to encode trigger row: {exc}") from exc


def _parse(text: Any, reader: Callable[[Any], Any]) -> Any:
    if not isinstance(text, str):
        raise InvalidDeploymentValue(f"expected JSON text, got {type(text).__name__}")
    try:
        return reader(json.loads(text))
    except RecursionError as exc:
        raise InvalidDeploymentValue("JSON nests too deeply") from exc
