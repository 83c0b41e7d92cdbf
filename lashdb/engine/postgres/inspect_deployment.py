"""Read-only statements over one root session's process registry or trigger store in a PostgreSQL store:
the twin of ``sqlite/inspect_deployment.py`` (deployment-stores §4).

Contract:
- :func:`open_reader` opens the store at a :class:`~lashdb.engine.base.locator.SessionLocation`
  read-only (``PgDatabase.open(readonly=True)``: a store of another schema is refused with the
  cutover error and nothing is written; one without the kind's ``lash_*`` tables is
  :class:`NotALashDatabase`) and returns a :class:`PgDeploymentReader` scoped to
  ``root_session_id = location.session_id``. :meth:`PgDeploymentReader.close` closes its pool.
- The reader has every public method and attribute of ``DeploymentFileReader`` with the same
  return shapes and values: tables are named as in the SQLite file (``processes`` …) and
  :attr:`columns`/:meth:`has` answer for the ``lash_*`` table each name maps to, without the scope
  column. ``path`` is ``str(location)`` (no password). The schema passed the cutover check, so
  ``schema_version`` is the supported version of the kind, ``foreign`` is False, ``damaged`` empty.
- Each read is one ``REPEATABLE READ READ ONLY`` transaction. Values are as the SQLite reader
  returns them: times as stored (signed), ``enabled`` as ``0``/``1``; where the SQLite statement
  has an order, text is ordered bytewise (``COLLATE "C"``); where it has none, by primary key.
- Identifiers come from this module's fixed lists; values are bound. Driver errors come out typed.
"""

from __future__ import annotations

from typing import Any

from lashdb.engine.base import kinds as names
from lashdb.engine.base.errors import NotALashDatabase
from lashdb.engine.base.ints import from_i64
from lashdb.engine.base.locator import SessionLocation

from .connection import PgDatabase

__all__ = ["PgDeploymentReader", "open_reader"]

# kind → (kind name, supported version, {SQLite table name: PostgreSQL table}).
KINDS = {
    "process_registry": (names.PROCESS_REGISTRY, names.PROCESS_REGISTRY_VERSION, {
        "processes": "lash_processes", "process_events": "lash_process_events",
        "process_wake_acks": "lash_process_wake_acks", "process_handle_grants": "lash_process_handle_grants",
        "process_leases": "lash_process_leases"}),
    "trigger_store": (names.TRIGGER_STORE, names.TRIGGER_STORE_VERSION, {
        "trigger_subscription_seq": "lash_trigger_subscription_seq",
        "trigger_subscriptions": "lash_trigger_subscriptions", "trigger_occurrences": "lash_trigger_occurrences",
        "trigger_deliveries": "lash_trigger_deliveries"}),
}
SCOPE_COLUMN = "root_session_id"

_COLUMNS = ("SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name = ANY(%s)")


def _where(clauses: list[str]) -> str:
    return " WHERE " + " AND ".join([f"{SCOPE_COLUMN} = %s", *clauses])


class PgDeploymentReader:
    """One root session's deployment store in a PostgreSQL store, read-only (see the module contract)."""

    conn = None  # the SQLite reader's connection; a pool has no single one

    def __init__(self, db: PgDatabase, location: SessionLocation, kind_name: str, version: int,
                 tables: dict[str, str], columns: dict[str, frozenset[str]]) -> None:
        self.db = db
        self.location = location
        self.root = location.session_id
        self.path = str(location)
        self.kind_name = kind_name
        self.schema_version = version
        self.supported_version = version
        self.foreign = False
        self.columns = columns
        self.damaged: tuple[str, ...] = ()
        self._tables = tables

    def close(self) -> None:
        """Close the read-only pool."""
        self.db.close()

    def has(self, table: str, *columns: str) -> bool:
        """True when ``table`` (its SQLite name) exists with every one of ``columns``."""
        present = self.columns.get(table)
        return present is not None and all(c in present for c in columns)

    def _rows(self, sql: str, params: tuple | list = ()) -> list[tuple]:
        """Rows of ``sql`` (whose first parameter is the root) in one read-only snapshot."""
        return self.db.read(lambda conn: [tuple(r) for r in conn.execute(sql, (self.root, *params))])

    def _select(self, table: str, wanted: tuple[str, ...], clauses: list[str] | None = None,
                params: tuple | list = (), order: str = "", limit: int | None = None) -> list[dict]:
        present = [c for c in wanted if self.has(table, c)]
        if not present:
            return []
        sql = f"SELECT {', '.join(present)} FROM {self._tables[table]}{_where(clauses or [])}{order}"
        if limit is not None:
            sql += " LIMIT %s"
            params = (*params, max(int(limit), 0))
        return [dict(zip(present, row)) for row in self._rows(sql, params)]

    # --- process registry ---------------------------------------------------------------------------

    def lease_rows(self) -> list[dict]:
        """Every ``process_leases`` row (by process id)."""
        return self._select("process_leases", ("process_id", "lease_owner_id", "lease_token", "lease_fencing_token",
                                               "lease_claimed_at_ms", "lease_expires_at_ms"),
                            order=' ORDER BY process_id COLLATE "C"')

    def event_stats(self) -> dict[str, tuple[int, str | None, int | None]]:
        """Per process: (event count, last event type, last event time)."""
        rows = self._rows(
            "SELECT e.process_id, m.n, e.event_type, e.occurred_at_ms FROM lash_process_events e JOIN "
            "(SELECT process_id, count(*) AS n, max(sequence) AS s FROM lash_process_events "
            "WHERE root_session_id = %s GROUP BY process_id) m ON e.process_id = m.process_id AND e.sequence = m.s "
            "WHERE e.root_session_id = %s", (self.root,))
        return {pid: (int(count), event_type, None if at is None else from_i64(at))
                for pid, count, event_type, at in rows}

    def grant_counts(self) -> dict[str, int] | None:
        """Handle grants per process."""
        return {pid: int(n) for pid, n in self._rows(
            "SELECT process_id, count(*) FROM lash_process_handle_grants WHERE root_session_id = %s "
            "GROUP BY process_id")}

    _PROCESS_COLUMNS = ("process_id", "status", "owner_scope_id", "created_at_ms", "updated_at_ms", "record_json")

    def process_rows(self, *, process_id: str | None = None, status: str | None = None,
                     grant_session: str | None = None, limit: int | None = None) -> list[dict]:
        """``processes`` rows by id (bytewise), narrowed by id, status, granted session and count."""
        clauses, params = [], []
        if process_id is not None:
            clauses.append("process_id = %s")
            params.append(process_id)
        if status is not None:
            clauses.append("status = %s")
            params.append(status)
        if grant_session is not None:
            clauses.append("process_id IN (SELECT process_id FROM lash_process_handle_grants "
                           "WHERE root_session_id = %s AND session_id = %s)")
            params += [self.root, grant_session]
        order = "" if process_id is not None else ' ORDER BY process_id COLLATE "C" ASC'
        return self._select("processes", self._PROCESS_COLUMNS, clauses, params, order, limit)

    def statuses(self) -> dict[str, Any]:
        """Each process's ``status`` column."""
        return {r["process_id"]: r.get("status") for r in self._select(
            "processes", ("process_id", "status"), order=' ORDER BY process_id COLLATE "C"')}

    def acked_sequences(self, process_id: str) -> set[int] | None:
        """The acknowledged wake sequences of a process."""
        return {int(r[0]) for r in self._rows(
            "SELECT sequence FROM lash_process_wake_acks WHERE root_session_id = %s AND process_id = %s",
            (process_id,))}

    def event_rows(self, process_id: str, *, limit: int | None = None) -> list[dict]:
        """A process's event rows, newest first (the last ``limit`` when given)."""
        return self._select("process_events", ("process_id", "sequence", "event_type", "payload_hash",
                                               "idempotency_key", "occurred_at_ms", "event_json"),
                            ["process_id = %s"], (process_id,), " ORDER BY sequence DESC", limit)

    def grant_rows(self, *, process_id: str | None = None,
                   session_id: str | None = None) -> list[tuple] | None:
        """(session id, scope id, process id, descriptor JSON) by session, scope, process (bytewise)."""
        clauses, params = [], []
        if process_id is not None:
            clauses.append("process_id = %s")
            params.append(process_id)
        if session_id is not None:
            clauses.append("session_id = %s")
            params.append(session_id)
        return self._rows(
            f"SELECT session_id, scope_id, process_id, descriptor_json FROM lash_process_handle_grants{_where(clauses)}"
            ' ORDER BY session_id COLLATE "C", scope_id COLLATE "C", process_id COLLATE "C"', params)

    # --- trigger store ------------------------------------------------------------------------------

    def delivery_counts(self, column: str) -> dict[str, int]:
        """Deliveries per ``occurrence_id`` or ``subscription_id``."""
        if column not in ("occurrence_id", "subscription_id") or not self.has("trigger_deliveries", column):
            return {}
        return {key: int(n) for key, n in self._rows(
            f"SELECT {column}, count(*) FROM lash_trigger_deliveries WHERE root_session_id = %s GROUP BY {column}")}

    def registrant_column(self) -> str | None:
        """The subscriptions' registrant column (``registrant_scope_id``)."""
        for column in ("registrant_scope_id", "owner_scope"):
            if self.has("trigger_subscriptions", column):
                return column
        return None

    def subscription_rows(self, *, source_type: str | None = None, enabled: bool | None = None) -> list[dict]:
        """``trigger_subscriptions`` rows by id, with the registrant column and ``enabled`` as 0/1."""
        clauses, params = [], []
        if source_type is not None:
            clauses.append("source_type = %s")
            params.append(source_type)
        if enabled is not None:
            clauses.append("enabled = %s")
            params.append(bool(enabled))
        registrant = self.registrant_column()
        wanted = ("subscription_id", "handle", "source_type", "source_key", "enabled", "created_at_ms",
                  "updated_at_ms", "record_json") + ((registrant,) if registrant else ())
        rows = self._select("trigger_subscriptions", wanted, clauses, params, ' ORDER BY subscription_id COLLATE "C"')
        for row in rows:  # SQLite stores the flag as INTEGER 0/1
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
            return self._select("trigger_occurrences", self._OCCURRENCE_COLUMNS, ["occurrence_id = %s"],
                                (occurrence_id,))
        clauses, params = [], []
        for column, value in (("source_type", source_type), ("source_key", source_key)):
            if value is not None:
                clauses.append(f"{column} = %s")
                params.append(value)
        if since_ms is not None:
            clauses.append("occurred_at_ms >= %s")
            params.append(int(since_ms))
        return self._select("trigger_occurrences", self._OCCURRENCE_COLUMNS, clauses, params,
                            ' ORDER BY occurred_at_ms DESC, occurrence_id COLLATE "C" ASC', limit)

    def has_deliveries(self) -> bool:
        """True when the schema records delivery reservations with every column the views read."""
        return self.has("trigger_deliveries", "occurrence_id", "subscription_id", "process_id", "created_at_ms")

    def delivery_rows(self, *, occurrence_id: str | None = None,
                      subscription_id: str | None = None) -> list[tuple]:
        """(occurrence id, subscription id, process id, created at ms) of the delivery reservations."""
        clauses, params = [], []
        for column, value in (("occurrence_id", occurrence_id), ("subscription_id", subscription_id)):
            if value is not None:
                clauses.append(f"{column} = %s")
                params.append(value)
        return [(oid, sid, pid, from_i64(at)) for oid, sid, pid, at in self._rows(
            f"SELECT occurrence_id, subscription_id, process_id, created_at_ms FROM lash_trigger_deliveries"
            f'{_where(clauses)} ORDER BY occurrence_id COLLATE "C", subscription_id COLLATE "C"', params)]


def table_columns(db: PgDatabase, tables: dict[str, str], scope_column: str, where: str,
                  kind_name: str) -> dict[str, frozenset[str]]:
    """{SQLite name: the mapped table's columns without ``scope_column``}; :class:`NotALashDatabase`
    when a table is missing (a database lashdb never wrote to has none)."""
    found: dict[str, set[str]] = {}
    for table, column in db.read(lambda conn: conn.execute(_COLUMNS, (list(tables.values()),)).fetchall()):
        found.setdefault(table, set()).add(column)
    missing = sorted(pg for pg in tables.values() if pg not in found)
    if missing:
        raise NotALashDatabase(where, "the store has no table " + ", ".join(missing), expected=kind_name)
    return {name: frozenset(found[pg] - {scope_column}) for name, pg in tables.items()}


def open_reader(location: SessionLocation, kind: str) -> PgDeploymentReader:
    """Open ``location``'s store read-only as root ``location.session_id``'s ``kind`` store
    (``process_registry`` or ``trigger_store``)."""
    kind_name, version, tables = KINDS[kind]
    db = PgDatabase.open(location.url, readonly=True)
    try:
        columns = table_columns(db, tables, SCOPE_COLUMN, str(location), kind_name)
    except BaseException:
        db.close()
        raise
    return PgDeploymentReader(db, location, kind_name, version, tables, columns)
