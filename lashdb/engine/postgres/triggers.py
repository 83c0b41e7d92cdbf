"""The trigger store's statements on PostgreSQL (implements :class:`~lashdb.engine.deployment.ports.TriggerRows`).

Contract:
- :class:`PgTriggerRows` runs statements on a connection already inside the backend's transaction,
  each scoped by ``root_session_id``, and returns what
  :class:`~lashdb.engine.sqlite.triggers.SqliteTriggerRows` returns; it never commits, decodes
  JSON or decides.
- Times are u64 epoch ms stored as the signed cast (:func:`to_i64`) in BIGINT; ``enabled`` is a
  BOOLEAN returned as a bool. Text is ordered bytewise (``COLLATE "C"``, SQLite's BINARY).
- The subscription sequence is one counter row per root in ``lash_trigger_subscription_seq``,
  bumped inside the registration's transaction: a rolled-back registration consumes no number
  (as SQLite's AUTOINCREMENT table), and numbers are never reused.
"""

from __future__ import annotations

from typing import Any

from lashdb.engine.base.ints import to_i64

_SUBSCRIPTION_ORDER = ' ORDER BY registrant_scope_id COLLATE "C" ASC, handle COLLATE "C" ASC'

_NEXT_NUMBER = (
    "INSERT INTO lash_trigger_subscription_seq (root_session_id, last_number) VALUES (%s, 1) "
    "ON CONFLICT (root_session_id) DO UPDATE SET last_number = lash_trigger_subscription_seq.last_number + 1 "
    "RETURNING last_number")


class PgTriggerRows:
    """The trigger store's statements on one PostgreSQL connection, bound to one root session."""

    def __init__(self, conn: Any, root_session_id: str) -> None:
        self.conn = conn
        self.root = root_session_id

    def _run(self, sql: str, params: tuple | list = ()) -> Any:
        return self.conn.execute(sql, (self.root, *params))

    def _pairs(self, sql: str, params: tuple | list = ()) -> list[tuple[str, str]]:
        return [(row[0], row[1]) for row in self._run(sql, params).fetchall()]

    def next_subscription_number(self) -> int:
        """Take the next number of the never-reused subscription sequence."""
        return int(self._run(_NEXT_NUMBER).fetchone()[0])

    def insert_subscription(self, subscription_id: str, registrant_scope_id: str, handle: str,
                            source_type: str, source_key: str, enabled: bool, created_at_ms: int,
                            updated_at_ms: int, record_json: str) -> None:
        """Store a new subscription row."""
        self._run(
            "INSERT INTO lash_trigger_subscriptions (root_session_id, subscription_id, registrant_scope_id, "
            "handle, source_type, source_key, enabled, created_at_ms, updated_at_ms, record_json) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (subscription_id, registrant_scope_id, handle, source_type, source_key, bool(enabled),
             to_i64(created_at_ms), to_i64(updated_at_ms), record_json))

    def list_subscriptions(self, handle: str | None = None, source_type: str | None = None,
                           source_key: str | None = None,
                           enabled: bool | None = None) -> list[tuple[str, str]]:
        """``(subscription_id, record_json)`` of rows equal on every given column, by scope then handle."""
        sql = "SELECT subscription_id, record_json FROM lash_trigger_subscriptions WHERE root_session_id = %s"
        params: list[Any] = []
        for column, value in (("handle", handle), ("source_type", source_type), ("source_key", source_key)):
            if value is not None:
                sql += f" AND {column} = %s"
                params.append(value)
        if enabled is not None:
            sql += " AND enabled = %s"
            params.append(bool(enabled))
        return self._pairs(sql + _SUBSCRIPTION_ORDER, params)

    def every_subscription(self) -> list[tuple[str, str]]:
        """``(subscription_id, record_json)`` of every subscription row, in no promised order."""
        return self._pairs("SELECT subscription_id, record_json FROM lash_trigger_subscriptions "
                           "WHERE root_session_id = %s")

    def by_handle(self, handle: str) -> list[tuple[str, bool, str]]:
        """``(subscription_id, enabled, record_json)`` of every row with this handle (any scope)."""
        return [(row[0], bool(row[1]), row[2]) for row in self._run(
            "SELECT subscription_id, enabled, record_json FROM lash_trigger_subscriptions "
            "WHERE root_session_id = %s AND handle = %s", (handle,)).fetchall()]

    def update_subscription(self, subscription_id: str, handle: str, enabled: bool, updated_at_ms: int,
                            record_json: str) -> None:
        """Rewrite one subscription's enabled flag, update time and JSON."""
        self.conn.execute(
            "UPDATE lash_trigger_subscriptions SET enabled = %s, updated_at_ms = %s, record_json = %s "
            "WHERE root_session_id = %s AND subscription_id = %s AND handle = %s",
            (bool(enabled), to_i64(updated_at_ms), record_json, self.root, subscription_id, handle))

    def delete_subscription(self, subscription_id: str) -> bool:
        """Delete one subscription (its deliveries cascade); True if a row was deleted."""
        return self._run("DELETE FROM lash_trigger_subscriptions WHERE root_session_id = %s "
                         "AND subscription_id = %s", (subscription_id,)).rowcount > 0

    def occurrence_by_key(self, idempotency_key: str) -> tuple[str, str] | None:
        """``(request_hash, record_json)`` of the occurrence under this idempotency key, or None."""
        row = self._run("SELECT request_hash, record_json FROM lash_trigger_occurrences "
                        "WHERE root_session_id = %s AND idempotency_key = %s", (idempotency_key,)).fetchone()
        return None if row is None else (row[0], row[1])

    def insert_occurrence(self, occurrence_id: str, idempotency_key: str, request_hash: str,
                          source_type: str, source_key: str, occurred_at_ms: int, record_json: str) -> None:
        """Store a new occurrence row."""
        self._run(
            "INSERT INTO lash_trigger_occurrences (root_session_id, occurrence_id, idempotency_key, "
            "request_hash, source_type, source_key, occurred_at_ms, record_json) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
            (occurrence_id, idempotency_key, request_hash, source_type, source_key, to_i64(occurred_at_ms),
             record_json))

    def occurrence_by_id(self, occurrence_id: str) -> str | None:
        """The occurrence's ``record_json``, or None."""
        row = self._run("SELECT record_json FROM lash_trigger_occurrences WHERE root_session_id = %s "
                        "AND occurrence_id = %s", (occurrence_id,)).fetchone()
        return None if row is None else row[0]

    def matching(self, source_type: str, source_key: str) -> list[tuple[str, str]]:
        """``(subscription_id, record_json)`` of enabled subscriptions of this source, by scope then handle."""
        return self._pairs(
            "SELECT subscription_id, record_json FROM lash_trigger_subscriptions WHERE root_session_id = %s "
            "AND enabled AND source_type = %s AND source_key = %s" + _SUBSCRIPTION_ORDER,
            (source_type, source_key))

    def insert_delivery(self, occurrence_id: str, subscription_id: str, process_id: str,
                        created_at_ms: int) -> bool:
        """Reserve a delivery unless one exists for the pair; True if this call inserted it."""
        return self._run(
            "INSERT INTO lash_trigger_deliveries (root_session_id, occurrence_id, subscription_id, process_id, "
            "created_at_ms) VALUES (%s, %s, %s, %s, %s) "
            "ON CONFLICT (root_session_id, occurrence_id, subscription_id) DO NOTHING",
            (occurrence_id, subscription_id, process_id, to_i64(created_at_ms))).rowcount > 0
