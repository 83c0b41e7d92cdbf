"""Read-only statements over one root session's process registry or trigger store in a PostgreSQL store:
the twin of ``sqlite/inspect_deployment.py`` (deployment-stores §4).

Contract:
- :func:`open_reader` opens the store at a :class:`~lashdb.engine.base.locator.SessionLocation`
  read-only (``PgDatabase.open(readonly=True)``: a store of another schema is refused with the
  cutover error and nothing is written; one without the kind's ``lash_*`` tables is
  :class:`NotALashDatabase`) and returns a :class:`PgDeploymentReader` scoped to
  ``root_session_id = location.session_id``. :meth:`PgDeploymentReader.close` closes its pool.
- The reader is the shared :class:`~lashdb.engine.sqlbase.inspect_deployment.DeploymentReader`
  (every public method and attribute of ``DeploymentFileReader``, the same return shapes and
  values) over :data:`DIALECT` scoped to the root: tables are named as in the SQLite file
  (``processes`` …) and :attr:`columns`/:meth:`has` answer for the ``lash_*`` table each name maps to, without the scope
  column. ``path`` is ``str(location)`` (no password). The schema passed the cutover check, so
  ``schema_version`` is the supported version of the kind, ``foreign`` is False, ``damaged`` empty.
- Each read is one ``REPEATABLE READ READ ONLY`` transaction. Values are as the SQLite reader
  returns them: times as stored (signed), ``enabled`` as ``0``/``1``; where the SQLite statement
  has an order, text is ordered bytewise (``COLLATE "C"``); where it has none, by primary key.
- Identifiers come from this module's fixed lists; values are bound. Driver errors come out typed.
"""

from __future__ import annotations

from lashdb.engine.base import kinds as names
from lashdb.engine.base.errors import NotALashDatabase
from lashdb.engine.base.locator import SessionLocation
from lashdb.engine.sqlbase.dialect import Dialect
from lashdb.engine.sqlbase.inspect_deployment import DeploymentReader

from .connection import PgDatabase

__all__ = ["DIALECT", "PgDeploymentReader", "PoolReading", "open_reader"]

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
# Bytewise text order as SQLite's BINARY; no insertion order, so unordered reads go by key.
DIALECT = Dialect(placeholder="%s", tables={t: pg for _, _, tables in KINDS.values() for t, pg in tables.items()},
                  scope_column=SCOPE_COLUMN, collation=' COLLATE "C"', orders_by_key=True, native_bool=True)

_COLUMNS = ("SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name = ANY(%s)")


class PoolReading:
    """``close`` and ``_execute`` of a reader on a read-only pool: each statement one read-only snapshot."""

    db: PgDatabase

    def close(self) -> None:
        """Close the read-only pool."""
        self.db.close()

    def _execute(self, sql: str, params: tuple) -> list[tuple]:
        return self.db.read(lambda conn: [tuple(r) for r in conn.execute(sql, params)])


class PgDeploymentReader(PoolReading, DeploymentReader):
    """One root session's deployment store in a PostgreSQL store, read-only (see the module contract)."""

    conn = None  # the SQLite reader's connection; a pool has no single one

    def __init__(self, db: PgDatabase, location: SessionLocation, kind_name: str, version: int,
                 columns: dict[str, frozenset[str]]) -> None:
        super().__init__(DIALECT.scoped(location.session_id), str(location), kind_name, version, version,
                         False, columns, ())
        self.db = db
        self.location = location
        self.root = location.session_id


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
    return PgDeploymentReader(db, location, kind_name, version, columns)
