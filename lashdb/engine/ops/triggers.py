"""Read-only views of a trigger store (deployment-stores §4.2): subscriptions, occurrences, deliveries.

Contract:
- :class:`TriggerStoreInspector` opens a trigger store file read-only (no byte written, no sidecar
  created) at any schema version of that kind and never writes; a file of another kind raises
  :class:`NotALashDatabase`. What the file's schema cannot show comes back None (named in
  ``info.unavailable``); a row whose JSON does not decode is listed with ``decode_error`` set.
- Orders are the contract's: subscriptions by numeric handle, occurrences most recent first,
  deliveries by creation time then handle.
- The module functions open, read and close in one call.
"""

from __future__ import annotations

import os
import re
from typing import Any

from lashdb.engine.base.errors import LookupFailed
from lashdb.engine.base.ints import from_i64
from lashdb.engine.base.jsonread import get_path, lenient_loads, text_or_none

from .deployment_results import (
    DeliveryInfo,
    OccurrenceDetail,
    OccurrenceSummary,
    SubscriptionSummary,
    _Inspector,
    _originator_scope_id,
    _scope_id,
)

_NUMERIC_HANDLE = re.compile(r"trigger:(\d+)")


def _handle_order(summary: SubscriptionSummary) -> tuple:
    match = _NUMERIC_HANDLE.fullmatch(summary.handle or "")
    if match:
        return (0, int(match.group(1)), "", "")
    return (1, 0, summary.registrant_scope_id or "", summary.handle or summary.subscription_id)


def _delivery_order(delivery: DeliveryInfo) -> tuple:
    match = _NUMERIC_HANDLE.fullmatch(delivery.handle or "")
    handle_key = (0, int(match.group(1)), "") if match else (1, 0, delivery.subscription_id)
    return (delivery.created_at_ms, delivery.occurrence_id) + handle_key


class TriggerStoreInspector(_Inspector):
    """Read-only views of a trigger store file (any schema version of that kind)."""

    kind = "trigger_store"

    @classmethod
    def _features(cls, columns: dict[str, frozenset[str]]) -> tuple[str, ...]:
        missing = []
        subs = columns.get("trigger_subscriptions", frozenset())
        if "handle" not in subs:
            missing.append("handle")
        if "registrant_scope_id" not in subs:
            missing.append("registrant_scope_id")
        if "request_hash" not in columns.get("trigger_occurrences", frozenset()):
            missing.append("request_hash")
        if "trigger_deliveries" not in columns:
            missing.append("deliveries")
        return tuple(missing)

    def _delivery_counts(self, column: str) -> dict[str, int]:
        return self._reader.delivery_counts(column)

    def list_subscriptions(self, *, session_id: str | None = None, source_type: str | None = None,
                           enabled: bool | None = None, host: bool | None = None) -> list[SubscriptionSummary]:
        """Subscriptions in numeric handle order; ``session_id`` matches the registrant session
        (any frame), ``host`` True keeps host registrants only (False: session ones only)."""
        registrant_column = self._reader.registrant_column()
        counts = self._delivery_counts("subscription_id")
        out = []
        for row in self._reader.subscription_rows(source_type=source_type, enabled=enabled):
            record, error = lenient_loads(row.get("record_json"))
            registrant = (row.get(registrant_column) if registrant_column else None) \
                or _originator_scope_id(get_path(record, "registrant"))
            if session_id is not None and registrant not in (f"session:{session_id}",) and \
                    not (registrant or "").startswith(f"session:{session_id}/frame:"):
                continue
            if host is not None and (registrant == "host") != host:
                continue
            created, updated = row.get("created_at_ms"), row.get("updated_at_ms")
            out.append(SubscriptionSummary(
                subscription_id=row["subscription_id"],
                handle=row.get("handle") or text_or_none(get_path(record, "handle")),
                registrant_scope_id=registrant, name=text_or_none(get_path(record, "name")),
                source_type=row["source_type"], source_key=row["source_key"], enabled=bool(row.get("enabled")),
                target_kind=text_or_none(get_path(record, "target_identity", "kind")),
                target_label=text_or_none(get_path(record, "target_label")) or text_or_none(get_path(record, "target_identity", "label")),
                wake_target_scope_id=_scope_id(get_path(record, "wake_target")),
                created_at_ms=None if created is None else from_i64(created),
                updated_at_ms=None if updated is None else from_i64(updated),
                delivery_count=counts.get(row["subscription_id"], 0), decode_error=error))
        out.sort(key=_handle_order)
        return out

    def _occurrence(self, row: dict, counts: dict[str, int]) -> OccurrenceSummary:
        record, error = lenient_loads(row.get("record_json"))
        return OccurrenceSummary(
            occurrence_id=row["occurrence_id"], occurred_at_ms=from_i64(row.get("occurred_at_ms") or 0),
            source_type=row["source_type"], source_key=row["source_key"],
            idempotency_key=row["idempotency_key"], payload=get_path(record, "payload"),
            request_hash=row.get("request_hash"), delivery_count=counts.get(row["occurrence_id"], 0),
            decode_error=error)

    def list_occurrences(self, *, source_type: str | None = None, source_key: str | None = None,
                         since_ms: int | None = None, limit: int | None = None) -> list[OccurrenceSummary]:
        """Occurrences, most recent first (ties by id), optionally narrowed by source and time."""
        counts = self._delivery_counts("occurrence_id")
        return [self._occurrence(row, counts)
                for row in self._reader.occurrence_rows(source_type=source_type, source_key=source_key,
                                                        since_ms=since_ms, limit=limit)]

    def deliveries(self, *, occurrence_id: str | None = None,
                   subscription_id: str | None = None) -> list[DeliveryInfo]:
        """Delivery reservations by creation time, then numeric handle, with the handle when known."""
        if not self._reader.has_deliveries():
            return []
        handles = {s.subscription_id: s.handle for s in self.list_subscriptions()}
        found = [DeliveryInfo(oid, sid, handles.get(sid), pid, at) for oid, sid, pid, at in
                 self._reader.delivery_rows(occurrence_id=occurrence_id, subscription_id=subscription_id)]
        return sorted(found, key=_delivery_order)

    def show_occurrence(self, occurrence_id: str) -> OccurrenceDetail:
        """One occurrence with its record and deliveries."""
        rows = self._reader.occurrence_rows(occurrence_id=occurrence_id)
        if not rows:
            raise LookupFailed(occurrence_id, f"{self.info.path}: no trigger occurrence `{occurrence_id}`",
                               hint="list occurrences with `lashdb triggers occurrences`")
        record, _ = lenient_loads(rows[0].get("record_json"))
        return OccurrenceDetail(self._occurrence(rows[0], self._delivery_counts("occurrence_id")), record,
                                tuple(self.deliveries(occurrence_id=occurrence_id)))


def list_subscriptions(path: str | os.PathLike[str], **options: Any) -> list[SubscriptionSummary]:
    """Open ``path`` read-only and list its trigger subscriptions."""
    with TriggerStoreInspector.open(path) as inspector:
        return inspector.list_subscriptions(**options)


def list_occurrences(path: str | os.PathLike[str], **options: Any) -> list[OccurrenceSummary]:
    """Open ``path`` read-only and list its trigger occurrences, most recent first."""
    with TriggerStoreInspector.open(path) as inspector:
        return inspector.list_occurrences(**options)


def show_occurrence(path: str | os.PathLike[str], occurrence_id: str) -> OccurrenceDetail:
    """Open ``path`` read-only and describe one occurrence with its deliveries."""
    with TriggerStoreInspector.open(path) as inspector:
        return inspector.show_occurrence(occurrence_id)
