"""The trigger store's rules: subscriptions, occurrences and deliveries (deployment-stores §2).

Contract:
- :class:`TriggerStore` is the process registry's peer at deployment scope: trigger
  subscriptions (handle ``trigger:<n>``, id ``subscription:<n>`` from a never-reused sequence),
  append-only occurrences keyed store-wide by idempotency key, and delivery reservations that
  tie an occurrence to each matching enabled subscription exactly once. Schema: SPEC §3.3
  (``user_version`` 1); opening follows SPEC §2/§3.5 and refuses a foreign file untouched.
  ``memory()`` gives a private in-memory store. Tier: ``durable``.
- Method names are upstream's. Every read-then-write runs in one write transaction of the
  backend (SQLite: ``BEGIN IMMEDIATE``); any error rolls all of it back. Storage is reached only
  through the backend's :class:`~lashdb.engine.deployment.ports.TriggerRows`; the values, ids and
  hashes live in :mod:`lashdb.engine.deployment.trigger_model` (re-exported here).
- Recording the same request again returns the stored occurrence; the same idempotency key with
  a different request hash is a conflict.
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
import logging
from collections.abc import Callable
from typing import Any

from lashdb.engine.base import values  # noqa: F401  (re-exported, as below: importable from here before the split)
from lashdb.engine.base.canonical import CanonicalJsonError, dumps, json_equal, sha256_hex  # noqa: F401
from lashdb.engine.base.errors import BackendError, TriggerStoreError, UnstorableValue  # noqa: F401
from lashdb.engine.base.ints import to_i64  # noqa: F401
from lashdb.engine.base.timing import DURABLE, Clock

from .owner import StoreOwner
from .ports import DeploymentBackend, TriggerRows
from .process_model import (  # noqa: F401
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
from .trigger_model import (  # noqa: F401  (re-exported: the module before the split; _encode is read here)
    InputBinding,
    SkippedRow,
    TriggerDeliveryReservation,
    TriggerOccurrenceRecord,
    TriggerOccurrenceRequest,
    TriggerSubscriptionDraft,
    TriggerSubscriptionFilter,
    TriggerSubscriptionRecord,
    _encode,
    _hash,
    _identity,
    _normalize_binding,
    _originator,
    _parse,
    _template,
    _types,
    default_source_key,
    delivery_process_id,
    occurrence_id,
    occurrence_request_hash,
)

__all__ = [
    "InputBinding", "SkippedRow", "TriggerDeliveryReservation", "TriggerOccurrenceRecord",
    "TriggerOccurrenceRequest", "TriggerStore", "TriggerSubscriptionDraft", "TriggerSubscriptionFilter",
    "TriggerSubscriptionRecord", "default_source_key", "delivery_process_id", "occurrence_id",
    "occurrence_request_hash",
]

log = logging.getLogger("lashdb.triggers")


class TriggerStore(StoreOwner):
    """A deployment's trigger store database. Use as a context manager or call :meth:`close`."""

    BACKEND = "sqlite.trigger_store"

    durability_tier = DURABLE

    def __init__(self, backend: DeploymentBackend, clock: Clock | None = None) -> None:
        super().__init__(backend, clock)
        self.skipped_rows: collections.deque[SkippedRow] = collections.deque(maxlen=100)

    # --- plumbing ---------------------------------------------------------------------------------

    def _run(self, fn: Callable[[TriggerRows], Any], *, write: bool) -> Any:
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

        def body(rows: TriggerRows) -> TriggerSubscriptionRecord:
            seq = rows.next_subscription_number()
            now = self.now_ms()
            record = TriggerSubscriptionRecord(
                subscription_id=f"subscription:{seq}", registrant=draft.registrant, env_ref=draft.env_ref,
                handle=f"trigger:{seq}", source_type=draft.source_type, source_key=draft.source_key,
                target=draft.target, target_identity=draft.target_identity, created_at_ms=now,
                updated_at_ms=now, wake_target=draft.wake_target, name=draft.name, source=draft.source,
                payload_schema=draft.payload_schema, event_types=draft.event_types,
                input_template=draft.input_template, target_label=draft.target_label, enabled=True)
            # Encoding after taking the number: a failure rolls the number back with the row.
            rows.insert_subscription(record.subscription_id, record.registrant_scope_id, record.handle,
                                     record.source_type, record.source_key, True, now, now, _encode(record))
            return record
        return self._run(body, write=True)

    def list_subscriptions(self, filter: TriggerSubscriptionFilter | None = None) -> list[TriggerSubscriptionRecord]:
        """Matching subscriptions ordered by registrant scope id, then handle (as text)."""
        wanted = filter or TriggerSubscriptionFilter()
        found = self._run(lambda rows: rows.list_subscriptions(
            handle=wanted.handle, source_type=wanted.source_type, source_key=wanted.source_key,
            enabled=wanted.enabled), write=False)
        records = []
        for subscription_id, text in found:
            record = self._subscription(subscription_id, text, "listing")
            if record is not None and wanted.matches(record):
                records.append(record)
        return records

    def cancel_subscription(self, session_id: str, handle: str) -> bool:
        """Disable the handle's subscription registered by ``session_id``; True if it was enabled."""
        def body(rows: TriggerRows) -> bool:
            selected = None
            for subscription_id, enabled, text in rows.by_handle(handle):
                record = self._subscription(subscription_id, text, "cancel")
                if record is not None and record.registrant_session_id == session_id:
                    selected = (subscription_id, enabled, record)
                    break
            if selected is None:
                return False
            subscription_id, enabled, record = selected
            now = self.now_ms()
            record = dataclasses.replace(record, enabled=False, updated_at_ms=now)
            rows.update_subscription(subscription_id, handle, False, now, _encode(record))
            return enabled
        return self._run(body, write=True)

    def delete_session_subscriptions(self, session_id: str) -> int:
        """Delete every subscription registered by ``session_id`` (deliveries cascade); count them."""
        def body(rows: TriggerRows) -> int:
            doomed = []
            for subscription_id, text in rows.every_subscription():
                record = self._subscription(subscription_id, text, "session delete")
                if record is not None and record.registrant_session_id == session_id:
                    doomed.append(subscription_id)
            return sum(1 for subscription_id in doomed if rows.delete_subscription(subscription_id))
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

        def body(rows: TriggerRows) -> TriggerOccurrenceRecord:
            row = rows.occurrence_by_key(request.idempotency_key)
            if row is not None:
                stored_hash, text = row
                if stored_hash != request_hash:
                    raise TriggerStoreError(
                        f"trigger occurrence idempotency conflict for `{request.idempotency_key}`")
                return self._occurrence(text)
            record = TriggerOccurrenceRecord(new_id, request.source_type, request.source_key, request.payload,
                                             request.idempotency_key, self.now_ms(), request.source)
            rows.insert_occurrence(record.occurrence_id, record.idempotency_key, request_hash, record.source_type,
                                   record.source_key, record.occurred_at_ms, _encode(record))
            return record
        return self._run(body, write=True)

    def reserve_matching_deliveries(self, occurrence_id: str) -> list[TriggerDeliveryReservation]:
        """Reserve one delivery per currently enabled matching subscription; only new ones return."""
        def body(rows: TriggerRows) -> list[TriggerDeliveryReservation]:
            text = rows.occurrence_by_id(occurrence_id)
            if text is None:
                raise TriggerStoreError(f"unknown trigger occurrence `{occurrence_id}`")
            occurrence = self._occurrence(text)
            subscriptions = []
            for subscription_id, subscription_text in rows.matching(occurrence.source_type, occurrence.source_key):
                record = self._subscription(subscription_id, subscription_text, "delivery reservation")
                if record is not None:
                    subscriptions.append(record)
            now = self.now_ms()
            reservations = []
            for subscription in subscriptions:
                process_id = delivery_process_id(occurrence.occurrence_id, subscription.subscription_id)
                if rows.insert_delivery(occurrence.occurrence_id, subscription.subscription_id, process_id, now):
                    reservations.append(TriggerDeliveryReservation(occurrence, subscription, process_id))
            return reservations
        return self._run(body, write=True)
