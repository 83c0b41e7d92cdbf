"""Read-only, column-tolerant statements over a process registry or trigger store file (deployment-stores §4).

Contract:
- :func:`open_reader` opens a file with ``connection.open_readonly`` (no byte written, no sidecar
  created), accepts the requested kind at any schema version (foreign ones included), and refuses
  a file of another kind with :class:`NotALashDatabase`. Driver errors become lashdb errors that
  name the file.
- A :class:`DeploymentFileReader` only runs statements and returns plain values (dicts of column
  → value, tuples, ints): a column or table the file's schema lacks is left out (or the read
  returns empty), never guessed. Decoding, lease states and "stuck" rules live above the seam
  (``ops/processes.py``, ``ops/triggers.py``).
- Identifiers in statements come from this module's fixed lists, never from callers; values are bound.
"""

from __future__ import annotations

import os
from typing import Any

import apsw

from lashdb.engine.base.ints import from_i64
from .connection import columns as table_columns
from .connection import open_readonly, translate, translated, where_clause
from .schema import PROCESS_REGISTRY, TRIGGER_STORE, classify_connection, damage

KINDS = {"process_registry": PROCESS_REGISTRY, "trigger_store": TRIGGER_STORE}


class DeploymentFileReader:
    """One open deployment store file, read-only: what its schema is and the rows the views need."""

    def __init__(self, conn: apsw.Connection, path: str, kind_name: str, schema_version: int,
                 supported_version: int, foreign: bool, columns: dict[str, frozenset[str]],
                 damaged: tuple[str, ...]) -> None:
        self.conn = conn
        self.path = path
        self.kind_name = kind_name
        self.schema_version = schema_version
        self.supported_version = supported_version
        self.foreign = foreign
        self.columns = columns
        self.damaged = damaged

    def close(self) -> None:
        """Close the read-only connection."""
        self.conn.close()

    def has(self, table: str, *columns: str) -> bool:
        """True when ``table`` exists with every one of ``columns``."""
        present = self.columns.get(table)
        return present is not None and all(c in present for c in columns)

    def _rows(self, sql: str, params: tuple = ()) -> list[tuple]:
        with translated(self.path):
            return list(self.conn.execute(sql, params))

    def _select(self, table: str, wanted: tuple[str, ...], tail: str = "", params: tuple = ()) -> list[dict]:
        present = [c for c in wanted if self.has(table, c)]
        if not present:
            return []
        sql = f'SELECT {", ".join(present)} FROM "{table}" {tail}'
        return [dict(zip(present, row)) for row in self._rows(sql, params)]

    # --- process registry ---------------------------------------------------------------------------

    def lease_rows(self) -> list[dict]:
        """Every ``process_leases`` row (the columns the schema has)."""
        return self._select("process_leases", ("process_id", "lease_owner_id", "lease_token",
                                               "lease_fencing_token", "lease_claimed_at_ms",
                                               "lease_expires_at_ms"))

    def event_stats(self) -> dict[str, tuple[int, str | None, int | None]]:
        """Per process: (event count, last event type, last event time or None)."""
        if not self.has("process_events", "process_id", "sequence", "event_type"):
            return {}
        stats = {}
        occurred = "e.occurred_at_ms" if self.has("process_events", "occurred_at_ms") else "NULL"
        for pid, count, event_type, at in self._rows(
                f"SELECT e.process_id, m.n, e.event_type, {occurred} FROM process_events e JOIN "
                "(SELECT process_id, COUNT(*) AS n, MAX(sequence) AS s FROM process_events GROUP BY process_id) m "
                "ON e.process_id = m.process_id AND e.sequence = m.s"):
            stats[pid] = (count, event_type, None if at is None else from_i64(at))
        return stats

    def grant_counts(self) -> dict[str, int] | None:
        """Handle grants per process (None when the schema has no grants)."""
        if not self.has("process_handle_grants", "process_id"):
            return None
        return dict(self._rows("SELECT process_id, COUNT(*) FROM process_handle_grants GROUP BY process_id"))

    _PROCESS_COLUMNS = ("process_id", "status", "owner_scope_id", "created_at_ms", "updated_at_ms", "record_json")

    def process_rows(self, *, process_id: str | None = None, status: str | None = None,
                     grant_session: str | None = None, limit: int | None = None) -> list[dict]:
        """``processes`` rows by id, narrowed by id, status column, granted session and count."""
        clauses, params = [], []
        if process_id is not None:
            clauses.append("process_id = ?")
            params.append(process_id)
        if status is not None:
            clauses.append("status = ?")
            params.append(status)
        if grant_session is not None:
            clauses.append("process_id IN (SELECT process_id FROM process_handle_grants WHERE session_id = ?)")
            params.append(grant_session)
        tail = where_clause(clauses) + ("" if process_id is not None else " ORDER BY process_id ASC")
        if limit is not None:
            tail += " LIMIT ?"
            params.append(max(int(limit), 0))
        return self._select("processes", self._PROCESS_COLUMNS, tail, tuple(params))

    def statuses(self) -> dict[str, Any]:
        """Each process's ``status`` column (None when the schema has none)."""
        return {r["process_id"]: r.get("status") for r in self._select("processes", ("process_id", "status"))}

    def acked_sequences(self, process_id: str) -> set[int] | None:
        """The acknowledged wake sequences of a process (None when the schema has no wake acks)."""
        if not self.has("process_wake_acks", "process_id", "sequence"):
            return None
        return {r[0] for r in self._rows("SELECT sequence FROM process_wake_acks WHERE process_id = ?",
                                         (process_id,))}

    def event_rows(self, process_id: str, *, limit: int | None = None) -> list[dict]:
        """A process's event rows, newest first (the last ``limit`` when given)."""
        tail, params = "WHERE process_id = ? ORDER BY sequence DESC", [process_id]
        if limit is not None:
            tail += " LIMIT ?"
            params.append(max(int(limit), 0))
        return self._select("process_events", ("process_id", "sequence", "event_type", "payload_hash",
                                               "idempotency_key", "occurred_at_ms", "event_json"),
                            tail, tuple(params))

    def grant_rows(self, *, process_id: str | None = None,
                   session_id: str | None = None) -> list[tuple] | None:
        """(session id, scope id, process id, descriptor JSON) by session, scope, process; None without grants."""
        if not self.has("process_handle_grants", "session_id", "scope_id", "process_id", "descriptor_json"):
            return None
        clauses, params = [], []
        if process_id is not None:
            clauses.append("process_id = ?")
            params.append(process_id)
        if session_id is not None:
            clauses.append("session_id = ?")
            params.append(session_id)
        return self._rows("SELECT session_id, scope_id, process_id, descriptor_json FROM process_handle_grants"
                          f"{where_clause(clauses)} ORDER BY session_id ASC, scope_id ASC, process_id ASC", tuple(params))

    # --- trigger store ------------------------------------------------------------------------------

    def delivery_counts(self, column: str) -> dict[str, int]:
        """Deliveries per ``occurrence_id`` or ``subscription_id`` (empty without deliveries)."""
        if column not in ("occurrence_id", "subscription_id") or not self.has("trigger_deliveries", column):
            return {}
        return dict(self._rows(f"SELECT {column}, COUNT(*) FROM trigger_deliveries GROUP BY {column}"))

    def registrant_column(self) -> str | None:
        """The subscriptions' registrant column under this schema's name, if any."""
        for column in ("registrant_scope_id", "owner_scope"):
            if self.has("trigger_subscriptions", column):
                return column
        return None

    def subscription_rows(self, *, source_type: str | None = None, enabled: bool | None = None) -> list[dict]:
        """``trigger_subscriptions`` rows (with the registrant column when there is one)."""
        clauses, params = [], []
        if source_type is not None:
            clauses.append("source_type = ?")
            params.append(source_type)
        if enabled is not None:
            clauses.append("enabled = ?")
            params.append(1 if enabled else 0)
        registrant = self.registrant_column()
        wanted = ("subscription_id", "handle", "source_type", "source_key", "enabled", "created_at_ms",
                  "updated_at_ms", "record_json") + ((registrant,) if registrant else ())
        return self._select("trigger_subscriptions", wanted, where_clause(clauses), tuple(params))

    _OCCURRENCE_COLUMNS = ("occurrence_id", "idempotency_key", "request_hash", "source_type", "source_key",
                           "occurred_at_ms", "record_json")

    def occurrence_rows(self, *, occurrence_id: str | None = None, source_type: str | None = None,
                        source_key: str | None = None, since_ms: int | None = None,
                        limit: int | None = None) -> list[dict]:
        """``trigger_occurrences`` rows, most recent first (ties by id), or the one ``occurrence_id``."""
        if occurrence_id is not None:
            return self._select("trigger_occurrences", self._OCCURRENCE_COLUMNS, "WHERE occurrence_id = ?",
                                (occurrence_id,))
        clauses, params = [], []
        for column, value in (("source_type", source_type), ("source_key", source_key)):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        if since_ms is not None:
            clauses.append("occurred_at_ms >= ?")
            params.append(int(since_ms))
        tail = where_clause(clauses) + " ORDER BY occurred_at_ms DESC, occurrence_id ASC"
        if limit is not None:
            tail += " LIMIT ?"
            params.append(max(int(limit), 0))
        return self._select("trigger_occurrences", self._OCCURRENCE_COLUMNS, tail, tuple(params))

    def has_deliveries(self) -> bool:
        """True when the schema records delivery reservations with every column the views read."""
        return self.has("trigger_deliveries", "occurrence_id", "subscription_id", "process_id", "created_at_ms")

    def delivery_rows(self, *, occurrence_id: str | None = None,
                      subscription_id: str | None = None) -> list[tuple]:
        """(occurrence id, subscription id, process id, created at ms) of the delivery reservations."""
        clauses, params = [], []
        for column, value in (("occurrence_id", occurrence_id), ("subscription_id", subscription_id)):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        return [(oid, sid, pid, from_i64(at)) for oid, sid, pid, at in self._rows(
            "SELECT occurrence_id, subscription_id, process_id, created_at_ms FROM trigger_deliveries"
            f"{where_clause(clauses)}", tuple(params))]


def open_reader(path: str | os.PathLike[str], kind: str) -> DeploymentFileReader:
    """Open ``path`` read-only as a ``kind`` store (``process_registry`` or ``trigger_store``), any version."""
    schema_kind = KINDS[kind]
    path = os.fspath(path)
    conn = open_readonly(path)
    try:
        found = classify_connection(conn, path)
        if found.kind is not schema_kind:
            found.require(schema_kind)
        columns = {table: table_columns(conn, table) for table in found.tables}
        damaged = damage(conn, found)
    except apsw.Error as exc:
        conn.close()
        raise translate(exc, path) from exc
    except BaseException:
        conn.close()
        raise
    return DeploymentFileReader(conn, path, schema_kind.name, found.user_version, schema_kind.version,
                                found.foreign, columns, damaged)
