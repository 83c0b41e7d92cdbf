"""The SQLite statements of the trigger store (implements :class:`~lashdb.engine.deployment.ports.TriggerRows`).

Contract:
- :class:`SqliteTriggerRows` runs one statement per method on a connection already inside the
  backend's transaction and returns plain values; it never commits, decodes JSON or decides.
- Times are u64 epoch ms stored as upstream's signed INTEGER (:func:`to_i64`); ``enabled`` is
  stored as 0/1 and returned as a bool. The subscription sequence is the AUTOINCREMENT table
  ``trigger_subscription_seq``, so a rolled-back registration consumes no number.
"""

from __future__ import annotations

from typing import Any

import apsw

from lashdb.engine.base.ints import to_i64

from .connection import query_one

_SUBSCRIPTION_ORDER = " ORDER BY registrant_scope_id ASC, handle ASC"


class SqliteTriggerRows:
    """The trigger store's statements on one SQLite connection."""

    def __init__(self, conn: apsw.Connection) -> None:
        self.conn = conn

    def next_subscription_number(self) -> int:
        """Take the next number of the never-reused subscription sequence."""
        self.conn.execute("INSERT INTO trigger_subscription_seq DEFAULT VALUES")
        return self.conn.last_insert_rowid()

    def insert_subscription(self, subscription_id: str, registrant_scope_id: str, handle: str,
                            source_type: str, source_key: str, enabled: bool, created_at_ms: int,
                            updated_at_ms: int, record_json: str) -> None:
        """Store a new subscription row."""
        self.conn.execute(
            "INSERT INTO trigger_subscriptions (subscription_id, registrant_scope_id, handle, source_type, "
            "source_key, enabled, created_at_ms, updated_at_ms, record_json) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (subscription_id, registrant_scope_id, handle, source_type, source_key, 1 if enabled else 0,
             to_i64(created_at_ms), to_i64(updated_at_ms), record_json))

    def list_subscriptions(self, handle: str | None = None, source_type: str | None = None,
                           source_key: str | None = None,
                           enabled: bool | None = None) -> list[tuple[str, str]]:
        """``(subscription_id, record_json)`` of rows equal on every given column, by scope then handle."""
        sql = "SELECT subscription_id, record_json FROM trigger_subscriptions WHERE 1 = 1"
        params: list[Any] = []
        for column, value in (("handle", handle), ("source_type", source_type), ("source_key", source_key)):
            if value is not None:
                sql += f" AND {column} = ?"
                params.append(value)
        if enabled is not None:
            sql += " AND enabled = ?"
            params.append(1 if enabled else 0)
        return list(self.conn.execute(sql + _SUBSCRIPTION_ORDER, params))

    def every_subscription(self) -> list[tuple[str, str]]:
        """``(subscription_id, record_json)`` of every subscription row, in no promised order."""
        return list(self.conn.execute("SELECT subscription_id, record_json FROM trigger_subscriptions"))

    def by_handle(self, handle: str) -> list[tuple[str, bool, str]]:
        """``(subscription_id, enabled, record_json)`` of every row with this handle (any scope)."""
        return [(subscription_id, enabled != 0, text) for subscription_id, enabled, text in self.conn.execute(
            "SELECT subscription_id, enabled, record_json FROM trigger_subscriptions WHERE handle = ?",
            (handle,))]

    def update_subscription(self, subscription_id: str, handle: str, enabled: bool, updated_at_ms: int,
                            record_json: str) -> None:
        """Rewrite one subscription's enabled flag, update time and JSON."""
        self.conn.execute(
            "UPDATE trigger_subscriptions SET enabled = ?, updated_at_ms = ?, record_json = ? "
            "WHERE subscription_id = ? AND handle = ?",
            (1 if enabled else 0, to_i64(updated_at_ms), record_json, subscription_id, handle))

    def delete_subscription(self, subscription_id: str) -> bool:
        """Delete one subscription (its deliveries cascade); True if a row was deleted."""
        self.conn.execute("DELETE FROM trigger_subscriptions WHERE subscription_id = ?", (subscription_id,))
        return self.conn.changes() > 0

    def occurrence_by_key(self, idempotency_key: str) -> tuple[str, str] | None:
        """``(request_hash, record_json)`` of the occurrence under this idempotency key, or None."""
        return query_one(self.conn, "SELECT request_hash, record_json FROM trigger_occurrences "
                                    "WHERE idempotency_key = ?", (idempotency_key,))

    def insert_occurrence(self, occurrence_id: str, idempotency_key: str, request_hash: str,
                          source_type: str, source_key: str, occurred_at_ms: int, record_json: str) -> None:
        """Store a new occurrence row."""
        self.conn.execute(
            "INSERT INTO trigger_occurrences (occurrence_id, idempotency_key, request_hash, source_type, "
            "source_key, occurred_at_ms, record_json) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (occurrence_id, idempotency_key, request_hash, source_type, source_key, to_i64(occurred_at_ms),
             record_json))

    def occurrence_by_id(self, occurrence_id: str) -> str | None:
        """The occurrence's ``record_json``, or None."""
        row = query_one(self.conn, "SELECT record_json FROM trigger_occurrences WHERE occurrence_id = ?",
                        (occurrence_id,))
        return None if row is None else row[0]

    def matching(self, source_type: str, source_key: str) -> list[tuple[str, str]]:
        """``(subscription_id, record_json)`` of enabled subscriptions of this source, by scope then handle."""
        return list(self.conn.execute(
            "SELECT subscription_id, record_json FROM trigger_subscriptions "
            "WHERE enabled = 1 AND source_type = ? AND source_key = ?" + _SUBSCRIPTION_ORDER,
            (source_type, source_key)))

    def insert_delivery(self, occurrence_id: str, subscription_id: str, process_id: str,
                        created_at_ms: int) -> bool:
        """Reserve a delivery unless one exists for the pair; True if this call inserted it."""
        self.conn.execute(
            "INSERT OR IGNORE INTO trigger_deliveries (occurrence_id, subscription_id, process_id, "
            "created_at_ms) VALUES (?, ?, ?, ?)",
            (occurrence_id, subscription_id, process_id, to_i64(created_at_ms)))
        return self.conn.changes() > 0
