"""The read side of a process registry or trigger store, written once for every SQL backend
(deployment-stores §4).

Contract: a :class:`DeploymentReader` only runs statements and returns plain values (dicts of
column → value, tuples, ints), the same on every backend: a column or table the schema lacks is
left out (or the read returns empty, or None where the docstring says so), never guessed. Tables
and columns go by their SQLite names; the :class:`~.dialect.Dialect` maps them, confines each
statement to the reader's scope and orders text bytewise. Decoding, lease states and "stuck" rules
live above the seam (``ops/processes.py``, ``ops/triggers.py``). A backend subclass opens the
store, discovers :attr:`columns` and implements ``_execute`` and ``close`` (:mod:`.reader`).
"""

from __future__ import annotations

from typing import Any

from lashdb.engine.base.ints import from_i64

from .dialect import Dialect, where_clause
from .reader import StoreReader

__all__ = ["DeploymentReader"]


class DeploymentReader(StoreReader):
    """One deployment store, read-only: what its schema is and the rows the views need."""

    def __init__(self, dialect: Dialect, path: str, kind_name: str, schema_version: int,
                 supported_version: int, foreign: bool, columns: dict[str, frozenset[str]],
                 damaged: tuple[str, ...]) -> None:
        super().__init__(dialect, path, schema_version, supported_version, foreign, columns, damaged)
        self.kind_name = kind_name

    def has(self, table: str, *columns: str) -> bool:
        """True when ``table`` (its SQLite name) exists with every one of ``columns``."""
        present = self.columns.get(table)
        return present is not None and all(c in present for c in columns)

    def _where(self, clauses: list[str], params: list[Any], alias: str = "") -> tuple[str, list[Any]]:
        """`` WHERE`` the scope and ``clauses``, with the scope's value bound ahead of ``params``."""
        scope, scope_params = self.dialect.scope(alias)
        return where_clause(scope + clauses), scope_params + list(params)

    def _select(self, table: str, wanted: tuple[str, ...], clauses: list[str] | None = None,
                params: list[Any] | tuple = (), order: str = "", limit: int | None = None) -> list[dict]:
        present = [c for c in wanted if self.has(table, c)]
        if not present:
            return []
        where, bound = self._where(clauses or [], list(params))
        sql = f"SELECT {', '.join(present)} FROM {self.dialect.table(table)}{where}{order}"
        if limit is not None:
            sql += f" LIMIT {self.dialect.placeholder}"
            bound.append(max(int(limit), 0))
        return [dict(zip(present, row)) for row in self._execute(sql, tuple(bound))]

    def _equal(self, pairs: tuple[tuple[str, Any], ...]) -> tuple[list[str], list[Any]]:
        """``column = ?`` for each pair whose value is given, in order."""
        given = [(column, value) for column, value in pairs if value is not None]
        return [f"{column} = {self.dialect.placeholder}" for column, _ in given], [value for _, value in given]

    # --- process registry ---------------------------------------------------------------------------

    def lease_rows(self) -> list[dict]:
        """Every ``process_leases`` row (the columns the schema has)."""
        return self._select("process_leases", ("process_id", "lease_owner_id", "lease_token",
                                               "lease_fencing_token", "lease_claimed_at_ms",
                                               "lease_expires_at_ms"),
                            order=self.dialect.key_order("process_id"))

    def event_stats(self) -> dict[str, tuple[int, str | None, int | None]]:
        """Per process: (event count, last event type, last event time or None)."""
        if not self.has("process_events", "process_id", "sequence", "event_type"):
            return {}
        occurred = "e.occurred_at_ms" if self.has("process_events", "occurred_at_ms") else "NULL"
        events = self.dialect.table("process_events")
        inner, params = self._where([], [])
        outer, params = self._where([], params, alias="e.")
        stats = {}
        for pid, count, event_type, at in self._execute(
                f"SELECT e.process_id, m.n, e.event_type, {occurred} FROM {events} e JOIN "
                f"(SELECT process_id, COUNT(*) AS n, MAX(sequence) AS s FROM {events}{inner} GROUP BY process_id) m "
                f"ON e.process_id = m.process_id AND e.sequence = m.s{outer}", tuple(params)):
            stats[pid] = (int(count), event_type, None if at is None else from_i64(at))
        return stats

    def grant_counts(self) -> dict[str, int] | None:
        """Handle grants per process (None when the schema has no grants)."""
        if not self.has("process_handle_grants", "process_id"):
            return None
        where, params = self._where([], [])
        return {pid: int(n) for pid, n in self._execute(
            f"SELECT process_id, COUNT(*) FROM {self.dialect.table('process_handle_grants')}{where} "
            "GROUP BY process_id", tuple(params))}

    _PROCESS_COLUMNS = ("process_id", "status", "owner_scope_id", "created_at_ms", "updated_at_ms", "record_json")

    def process_rows(self, *, process_id: str | None = None, status: str | None = None,
                     grant_session: str | None = None, limit: int | None = None) -> list[dict]:
        """``processes`` rows by id (bytewise), narrowed by id, status column, granted session and count."""
        clauses, params = self._equal((("process_id", process_id), ("status", status)))
        if grant_session is not None:
            grants, grant_params = self._where([f"session_id = {self.dialect.placeholder}"], [grant_session])
            clauses.append("process_id IN (SELECT process_id FROM "
                           f"{self.dialect.table('process_handle_grants')}{grants})")
            params += grant_params
        order = "" if process_id is not None else f" ORDER BY {self.dialect.text('process_id')} ASC"
        return self._select("processes", self._PROCESS_COLUMNS, clauses, params, order, limit)

    def statuses(self) -> dict[str, Any]:
        """Each process's ``status`` column (None when the schema has none)."""
        return {r["process_id"]: r.get("status") for r in self._select(
            "processes", ("process_id", "status"), order=self.dialect.key_order("process_id"))}

    def acked_sequences(self, process_id: str) -> set[int] | None:
        """The acknowledged wake sequences of a process (None when the schema has no wake acks)."""
        if not self.has("process_wake_acks", "process_id", "sequence"):
            return None
        where, params = self._where([f"process_id = {self.dialect.placeholder}"], [process_id])
        return {r[0] for r in self._execute(
            f"SELECT sequence FROM {self.dialect.table('process_wake_acks')}{where}", tuple(params))}

    def event_rows(self, process_id: str, *, limit: int | None = None) -> list[dict]:
        """A process's event rows, newest first (the last ``limit`` when given)."""
        return self._select("process_events", ("process_id", "sequence", "event_type", "payload_hash",
                                               "idempotency_key", "occurred_at_ms", "event_json"),
                            [f"process_id = {self.dialect.placeholder}"], [process_id],
                            " ORDER BY sequence DESC", limit)

    def grant_rows(self, *, process_id: str | None = None,
                   session_id: str | None = None) -> list[tuple] | None:
        """(session id, scope id, process id, descriptor JSON) by session, scope, process; None without grants."""
        if not self.has("process_handle_grants", "session_id", "scope_id", "process_id", "descriptor_json"):
            return None
        where, params = self._where(*self._equal((("process_id", process_id), ("session_id", session_id))))
        text = self.dialect.text
        return self._execute(
            "SELECT session_id, scope_id, process_id, descriptor_json FROM "
            f"{self.dialect.table('process_handle_grants')}{where} "
            f"ORDER BY {text('session_id')} ASC, {text('scope_id')} ASC, {text('process_id')} ASC", tuple(params))

    # --- trigger store ------------------------------------------------------------------------------

    def delivery_counts(self, column: str) -> dict[str, int]:
        """Deliveries per ``occurrence_id`` or ``subscription_id`` (empty without deliveries)."""
        if column not in ("occurrence_id", "subscription_id") or not self.has("trigger_deliveries", column):
            return {}
        where, params = self._where([], [])
        return {key: int(n) for key, n in self._execute(
            f"SELECT {column}, COUNT(*) FROM {self.dialect.table('trigger_deliveries')}{where} GROUP BY {column}",
            tuple(params))}

    def registrant_column(self) -> str | None:
        """The subscriptions' registrant column under this schema's name, if any."""
        for column in ("registrant_scope_id", "owner_scope"):
            if self.has("trigger_subscriptions", column):
                return column
        return None

    def subscription_rows(self, *, source_type: str | None = None, enabled: bool | None = None) -> list[dict]:
        """``trigger_subscriptions`` rows (with the registrant column when there is one), ``enabled`` as 0/1."""
        flag = None if enabled is None else self.dialect.flag(enabled)
        clauses, params = self._equal((("source_type", source_type), ("enabled", flag)))
        registrant = self.registrant_column()
        wanted = ("subscription_id", "handle", "source_type", "source_key", "enabled", "created_at_ms",
                  "updated_at_ms", "record_json") + ((registrant,) if registrant else ())
        rows = self._select("trigger_subscriptions", wanted, clauses, params,
                            self.dialect.key_order("subscription_id"))
        for row in rows:  # a native BOOLEAN reads as SQLite's INTEGER 0/1
            if isinstance(row.get("enabled"), bool):
                row["enabled"] = int(row["enabled"])
        return rows

    _OCCURRENCE_COLUMNS = ("occurrence_id", "idempotency_key", "request_hash", "source_type", "source_key",
                           "occurred_at_ms", "record_json")

    def occurrence_rows(self, *, occurrence_id: str | None = None, source_type: str | None = None,
                        source_key: str | None = None, since_ms: int | None = None,
                        limit: int | None = None) -> list[dict]:
        """``trigger_occurrences`` rows, most recent first (ties by id), or the one ``occurrence_id``."""
        if occurrence_id is not None:
            return self._select("trigger_occurrences", self._OCCURRENCE_COLUMNS,
                                [f"occurrence_id = {self.dialect.placeholder}"], [occurrence_id])
        clauses, params = self._equal((("source_type", source_type), ("source_key", source_key)))
        if since_ms is not None:
            clauses.append(f"occurred_at_ms >= {self.dialect.placeholder}")
            params.append(int(since_ms))
        return self._select("trigger_occurrences", self._OCCURRENCE_COLUMNS, clauses, params,
                            f" ORDER BY occurred_at_ms DESC, {self.dialect.text('occurrence_id')} ASC", limit)

    def has_deliveries(self) -> bool:
        """True when the schema records delivery reservations with every column the views read."""
        return self.has("trigger_deliveries", "occurrence_id", "subscription_id", "process_id", "created_at_ms")

    def delivery_rows(self, *, occurrence_id: str | None = None,
                      subscription_id: str | None = None) -> list[tuple]:
        """(occurrence id, subscription id, process id, created at ms) of the delivery reservations."""
        where, params = self._where(*self._equal((("occurrence_id", occurrence_id),
                                                  ("subscription_id", subscription_id))))
        order = self.dialect.key_order("occurrence_id", "subscription_id")
        return [(oid, sid, pid, from_i64(at)) for oid, sid, pid, at in self._execute(
            "SELECT occurrence_id, subscription_id, process_id, created_at_ms FROM "
            f"{self.dialect.table('trigger_deliveries')}{where}{order}", tuple(params))]
