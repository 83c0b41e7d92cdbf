"""The SQLite trigger store: subscriptions, occurrences and deliveries (deployment-stores §2).

Contract:
- :class:`TriggerStore` is the process registry's peer at deployment scope: trigger
  subscriptions (handle ``trigger:<n>``, id ``subscription:<n>`` from a never-reused sequence),
  append-only occurrences keyed store-wide by idempotency key, and delivery reservations that
  tie an occurrence to each matching enabled subscription exactly once. Schema: SPEC §3.3
  (``user_version`` 1); opening follows SPEC §2/§3.5 and refuses a foreign file untouched.
  ``memory()`` gives a private in-memory store. Tier: ``durable``.
- Method names are upstream's. Every read-then-write runs in one ``BEGIN IMMEDIATE``
  transaction; any error rolls all of it back.
- Occurrence ids, request hashes, source keys and delivery process ids are SHA-256 over
  canonical JSON (§2.1). Recording the same request again returns the stored occurrence; the
  same idempotency key with a different request hash is a conflict.
- Subscription rows whose JSON no longer decodes are skipped by listing, cancelling,
  session deletion and reservation, exactly as upstream; each skip is logged at WARNING on the
  ``lashdb.triggers`` logger and kept in :attr:`TriggerStore.skipped_rows` so it is never silent.
  An undecodable occurrence row is an error.
- Every failure raises :class:`TriggerStoreError` whose ``str()`` is upstream's message (SQLite
  failures: the driver's text). ``now`` comes from the injectable ``clock`` (epoch ms), read
  once per operation. A store may be shared between threads (operations are serialised).
"""

from __future__ import annotations

import collections
import dataclasses
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import apsw

from lashdb.engine.base.canonical import CanonicalJsonError, dumps, json_equal, sha256_hex
from lashdb.engine.sqlite.connection import query_one
from .owner import StoreOwner
from .ports import DeploymentBackend
from lashdb.engine.base.ints import to_i64
from lashdb.engine.base.timing import DURABLE, Clock
from lashdb.engine.base import values
from lashdb.engine.base.errors import BackendError, TriggerStoreError, UnstorableValue
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
from lashdb.engine.sqlite.schema import TRIGGER_STORE

__all__ = [
    "InputBinding", "SkippedRow", "TriggerDeliveryReservation", "TriggerOccurrenceRecord",
    "TriggerOccurrenceRequest", "TriggerStore", "TriggerSubscriptionDraft", "TriggerSubscriptionFilter",
    "TriggerSubscriptionRecord", "default_source_key", "delivery_process_id", "occurrence_id",
    "occurrence_request_hash",
]

log = logging.getLogger("lashdb.triggers")


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
        types = doc.get("event_types") or []
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


class TriggerStore(StoreOwner):
    """A deployment's trigger store database. Use as a context manager or call :meth:`close`."""

    KIND = TRIGGER_STORE
    BACKEND = "sqlite.trigger_store"

    durability_tier = DURABLE

    def __init__(self, backend: DeploymentBackend, clock: Clock | None = None) -> None:
        super().__init__(backend, clock)
        self.skipped_rows: collections.deque[SkippedRow] = collections.deque(maxlen=100)

    # --- plumbing ---------------------------------------------------------------------------------

    def _run(self, fn: Callable[[Any], Any], *, write: bool) -> Any:
        try:
            with self._lock:
                return (self._backend.write if write else self._backend.read)(fn)
        except BackendError as exc:
            err = TriggerStoreError(exc.driver_message, hint=exc.hint or None)
            err.backend = exc
            raise err from exc

    def _subscription(self, subscription_id: str, text: Any, operation: str) -> TriggerSubscriptionRecord | None:
        try:
            return _parse(text, TriggerSubscriptionRecord.from_json)
        except (ValueError, InvalidDeploymentValue) as exc:
            reason = f"failed to decode trigger subscription row: {exc}"
            self.skipped_rows.append(SkippedRow(subscription_id, operation, reason))
            log.warning("skipping malformed trigger subscription %s during %s: %s",
                        subscription_id, operation, reason)
            return None

    @staticmethod
    def _occurrence(text: Any) -> TriggerOccurrenceRecord:
        try:
            return _parse(text, TriggerOccurrenceRecord.from_json)
        except (ValueError, InvalidDeploymentValue) as exc:
            raise TriggerStoreError(f"failed to decode trigger occurrence row: {exc}") from exc

    # --- subscriptions ----------------------------------------------------------------------------

    def source_key_for_subscription(self, source_type: str, source: Any) -> str:
        """The default source key for a source (§2.1)."""
        return default_source_key(source_type, source)

    def register_subscription(self, draft: TriggerSubscriptionDraft) -> TriggerSubscriptionRecord:
        """Store a new enabled subscription under the next never-reused handle number."""
        if not isinstance(draft, TriggerSubscriptionDraft):
            raise TriggerStoreError("register_subscription expects a TriggerSubscriptionDraft")
        identity_label = draft.target_identity.label
        if draft.target_label is not None and identity_label is not None and draft.target_label != identity_label:
            raise TriggerStoreError("trigger target_label must match target_identity.label when both are present")

        def body(conn: apsw.Connection) -> TriggerSubscriptionRecord:
            conn.execute("INSERT INTO trigger_subscription_seq DEFAULT VALUES")
            seq = conn.last_insert_rowid()
            now = self.now_ms()
            record = TriggerSubscriptionRecord(
                subscription_id=f"subscription:{seq}", registrant=draft.registrant, env_ref=draft.env_ref,
                handle=f"trigger:{seq}", source_type=draft.source_type, source_key=draft.source_key,
                target=draft.target, target_identity=draft.target_identity, created_at_ms=now,
                updated_at_ms=now, wake_target=draft.wake_target, name=draft.name, source=draft.source,
                payload_schema=draft.payload_schema, event_types=draft.event_types,
                input_template=draft.input_template, target_label=draft.target_label, enabled=True)
            conn.execute(
                "INSERT INTO trigger_subscriptions (subscription_id, registrant_scope_id, handle, source_type, "
                "source_key, enabled, created_at_ms, updated_at_ms, record_json) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (record.subscription_id, record.registrant_scope_id, record.handle, record.source_type,
                 record.source_key, 1, to_i64(now), to_i64(now), _encode(record)))
            return record
        return self._run(body, write=True)

    def list_subscriptions(self, filter: TriggerSubscriptionFilter | None = None) -> list[TriggerSubscriptionRecord]:
        """Matching subscriptions ordered by registrant scope id, then handle (as text)."""
        wanted = filter or TriggerSubscriptionFilter()
        sql = "SELECT subscription_id, record_json FROM trigger_subscriptions WHERE 1 = 1"
        params: list[Any] = []
        for column in ("handle", "source_type", "source_key"):
            value = getattr(wanted, column)
            if value is not None:
                sql += f" AND {column} = ?"
                params.append(value)
        if wanted.enabled is not None:
            sql += " AND enabled = ?"
            params.append(1 if wanted.enabled else 0)
        sql += " ORDER BY registrant_scope_id ASC, handle ASC"
        rows = self._run(lambda c: list(c.execute(sql, params)), write=False)
        records = []
        for subscription_id, text in rows:
            record = self._subscription(subscription_id, text, "listing")
            if record is not None and wanted.matches(record):
                records.append(record)
        return records

    def cancel_subscription(self, session_id: str, handle: str) -> bool:
        """Disable the handle's subscription registered by ``session_id``; True if it was enabled."""
        def body(conn: apsw.Connection) -> bool:
            selected = None
            for subscription_id, enabled, text in conn.execute(
                    "SELECT subscription_id, enabled, record_json FROM trigger_subscriptions WHERE handle = ?",
                    (handle,)):
                record = self._subscription(subscription_id, text, "cancel")
                if record is not None and record.registrant_session_id == session_id:
                    selected = (subscription_id, enabled, record)
                    break
            if selected is None:
                return False
            subscription_id, enabled, record = selected
            now = self.now_ms()
            record = dataclasses.replace(record, enabled=False, updated_at_ms=now)
            conn.execute(
                "UPDATE trigger_subscriptions SET enabled = 0, updated_at_ms = ?, record_json = ? "
                "WHERE subscription_id = ? AND handle = ?",
                (to_i64(now), _encode(record), subscription_id, handle))
            return enabled != 0
        return self._run(body, write=True)

    def delete_session_subscriptions(self, session_id: str) -> int:
        """Delete every subscription registered by ``session_id`` (deliveries cascade); count them."""
        def body(conn: apsw.Connection) -> int:
            doomed = []
            for subscription_id, text in list(conn.execute(
                    "SELECT subscription_id, record_json FROM trigger_subscriptions")):
                record = self._subscription(subscription_id, text, "session delete")
                if record is not None and record.registrant_session_id == session_id:
                    doomed.append(subscription_id)
            deleted = 0
            for subscription_id in doomed:
                conn.execute("DELETE FROM trigger_subscriptions WHERE subscription_id = ?", (subscription_id,))
                deleted += conn.changes()
            return deleted
        return self._run(body, write=True)

    # --- occurrences and deliveries -------------------------------------------------------------------

    def record_occurrence(self, request: TriggerOccurrenceRequest) -> TriggerOccurrenceRecord:
        """Record an occurrence once per idempotency key; a different request under it conflicts."""
        if not isinstance(request, TriggerOccurrenceRequest):
            raise TriggerStoreError("record_occurrence expects a TriggerOccurrenceRequest")
        for name in ("source_type", "source_key", "idempotency_key"):
            if not getattr(request, name).strip():
                raise TriggerStoreError(f"trigger occurrence requires {name}")
        request_hash = occurrence_request_hash(request)
        new_id = occurrence_id(request)

        def body(conn: apsw.Connection) -> TriggerOccurrenceRecord:
            row = query_one(conn, "SELECT request_hash, record_json FROM trigger_occurrences "
                                  "WHERE idempotency_key = ?", (request.idempotency_key,))
            if row is not None:
                if row[0] != request_hash:
                    raise TriggerStoreError(
                        f"trigger occurrence idempotency conflict for `{request.idempotency_key}`")
                return self._occurrence(row[1])
            record = TriggerOccurrenceRecord(new_id, request.source_type, request.source_key, request.payload,
                                             request.idempotency_key, self.now_ms(), request.source)
            conn.execute(
                "INSERT INTO trigger_occurrences (occurrence_id, idempotency_key, request_hash, source_type, "
                "source_key, occurred_at_ms, record_json) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (record.occurrence_id, record.idempotency_key, request_hash, record.source_type,
                 record.source_key, to_i64(record.occurred_at_ms), _encode(record)))
            return record
        return self._run(body, write=True)

    def reserve_matching_deliveries(self, occurrence_id: str) -> list[TriggerDeliveryReservation]:
        """Reserve one delivery per currently enabled matching subscription; only new ones return."""
        def body(conn: apsw.Connection) -> list[TriggerDeliveryReservation]:
            row = query_one(conn, "SELECT record_json FROM trigger_occurrences WHERE occurrence_id = ?",
                            (occurrence_id,))
            if row is None:
                raise TriggerStoreError(f"unknown trigger occurrence `{occurrence_id}`")
            occurrence = self._occurrence(row[0])
            subscriptions = []
            for subscription_id, text in list(conn.execute(
                    "SELECT subscription_id, record_json FROM trigger_subscriptions "
                    "WHERE enabled = 1 AND source_type = ? AND source_key = ? "
                    "ORDER BY registrant_scope_id ASC, handle ASC",
                    (occurrence.source_type, occurrence.source_key))):
                record = self._subscription(subscription_id, text, "delivery reservation")
                if record is not None:
                    subscriptions.append(record)
            now = self.now_ms()
            reservations = []
            for subscription in subscriptions:
                process_id = delivery_process_id(occurrence.occurrence_id, subscription.subscription_id)
                conn.execute(
                    "INSERT OR IGNORE INTO trigger_deliveries (occurrence_id, subscription_id, process_id, "
                    "created_at_ms) VALUES (?, ?, ?, ?)",
                    (occurrence.occurrence_id, subscription.subscription_id, process_id, to_i64(now)))
                if conn.changes():
                    reservations.append(TriggerDeliveryReservation(occurrence, subscription, process_id))
            return reservations
        return self._run(body, write=True)
