"""Schemas of the four lash database kinds and the no-migration cutover (SPEC §3).

Contract:
- The DDL below is the on-disk format shared with the upstream Rust runtime; its text is kept
  identical so ``sqlite_master`` matches what upstream writes, column for column.
- :func:`ensure_schema` runs inside one ``BEGIN IMMEDIATE`` and applies :func:`needs_schema`: an
  empty database (version 0, no user objects) is created and stamped; one at the supported
  ``user_version`` whose schema matches exactly is used as it is; anything else is refused,
  changing nothing: another version (:class:`SchemaVersionError`), the right version but objects
  that are not this kind's, or none of them (:class:`UnrecognisedSchema`: someone else's file), or
  the right version with objects missing or altered (:class:`SchemaDamaged`: never repaired
  silently, since recreating a dropped table would hide the rows it held).
- The expected shape of each kind is read from its DDL built in a private in-memory database
  (:func:`expected_shape`), so the DDL text stays the one definition; :func:`schema_differences`
  compares a file's tables, columns, constraints, indexes and foreign keys against it.
- :func:`classify` decides a file's kind by its tables, never by its name, and never writes.
- :func:`open_for_kind` is how every store opens its file for writing: it classifies an existing
  file read-only first, so a foreign, other-kind or non-lash file is refused before anything
  (journal mode included) is written and before any sidecar is created.
"""

from __future__ import annotations

import functools
import os
import time
from dataclasses import dataclass

import apsw

from lashdb.engine.base import kinds
from .connection import open_readonly, open_write, query_one, translate, write_transaction
from lashdb.engine.base.errors import (
    LashdbError,
    NotALashDatabase,
    SchemaDamaged,
    SchemaVersionError,
    UnrecognisedSchema,
)

REFUSALS = (NotALashDatabase, SchemaVersionError, SchemaDamaged)
"""What opening a file for a kind refuses it with (SPEC §3.5 and the damage rule); the file is unchanged."""

SESSION_DDL = """
CREATE TABLE IF NOT EXISTS blobs (
    hash    TEXT PRIMARY KEY,
    content BLOB NOT NULL
);

CREATE TABLE IF NOT EXISTS session_head (
    singleton      INTEGER PRIMARY KEY CHECK (singleton = 1),
    session_id     TEXT NOT NULL DEFAULT 'root',
    head_json      TEXT NOT NULL DEFAULT '{}',
    head_revision  INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE IF NOT EXISTS graph_nodes (
    seq        INTEGER PRIMARY KEY,
    node_id    TEXT NOT NULL UNIQUE,
    node_json  TEXT NOT NULL,
    tombstoned INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE IF NOT EXISTS usage_deltas (
    seq                  INTEGER PRIMARY KEY,
    source               TEXT NOT NULL,
    model                TEXT NOT NULL,
    input_tokens         INTEGER NOT NULL,
    output_tokens        INTEGER NOT NULL,
    cached_input_tokens  INTEGER NOT NULL,
    reasoning_tokens     INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS session_meta (
    singleton     INTEGER PRIMARY KEY CHECK (singleton = 1),
    session_id    TEXT NOT NULL,
    session_name  TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    model         TEXT NOT NULL,
    cwd           TEXT,
    relation_json TEXT
);

CREATE TABLE IF NOT EXISTS runtime_turn_commits (
    session_id        TEXT NOT NULL,
    turn_id           TEXT NOT NULL,
    turn_commit_hash  TEXT NOT NULL,
    result_json       TEXT NOT NULL,
    committed_at_ms   INTEGER NOT NULL,
    PRIMARY KEY (session_id, turn_id)
);

CREATE TABLE IF NOT EXISTS session_execution_leases (
    session_id               TEXT PRIMARY KEY,
    lease_owner_id           TEXT,
    lease_token              TEXT,
    lease_fencing_token      INTEGER NOT NULL DEFAULT 0,
    lease_claimed_at_ms      INTEGER NOT NULL DEFAULT 0,
    lease_expires_at_ms      INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE IF NOT EXISTS queued_work_batches (
    enqueue_seq       INTEGER PRIMARY KEY,
    batch_id          TEXT NOT NULL UNIQUE,
    session_id        TEXT NOT NULL,
    source_key        TEXT,
    delivery_policy   TEXT NOT NULL,
    slot_policy       TEXT NOT NULL,
    merge_key_json    TEXT NOT NULL,
    available_at_ms   INTEGER NOT NULL,
    enqueued_at_ms    INTEGER NOT NULL,
    claim_id          TEXT,
    claim_owner_id    TEXT,
    claim_token       TEXT,
    claim_fencing_token INTEGER NOT NULL DEFAULT 0,
    claim_claimed_at_ms INTEGER NOT NULL DEFAULT 0,
    claim_expires_at_ms INTEGER NOT NULL DEFAULT 0,
    UNIQUE (session_id, source_key)
        ON CONFLICT IGNORE
);

CREATE TABLE IF NOT EXISTS queued_work_items (
    batch_id      TEXT NOT NULL,
    item_index    INTEGER NOT NULL,
    item_id       TEXT NOT NULL,
    payload_json  TEXT NOT NULL,
    PRIMARY KEY (batch_id, item_index),
    FOREIGN KEY (batch_id) REFERENCES queued_work_batches(batch_id) ON DELETE CASCADE
);

CREATE INDEX IF NOT EXISTS idx_queued_work_ready
    ON queued_work_batches(session_id, available_at_ms, enqueue_seq);

CREATE INDEX IF NOT EXISTS idx_queued_work_claim
    ON queued_work_batches(session_id, claim_id, claim_token);

CREATE TABLE IF NOT EXISTS attachment_manifest (
    attachment_id    TEXT PRIMARY KEY,
    session_id       TEXT NOT NULL,
    canonical_uri    TEXT NOT NULL,
    intent_at_ms     INTEGER NOT NULL,
    committed_at_ms  INTEGER
);

CREATE TABLE IF NOT EXISTS artifact_refs (
    artifact_ref TEXT PRIMARY KEY,
    blob_ref     TEXT NOT NULL
);

CREATE INDEX IF NOT EXISTS idx_attachment_manifest_session
    ON attachment_manifest(session_id, committed_at_ms);
CREATE INDEX IF NOT EXISTS idx_attachment_manifest_uncommitted
    ON attachment_manifest(committed_at_ms)
    WHERE committed_at_ms IS NULL;
"""

PROCESS_REGISTRY_DDL = """
CREATE TABLE IF NOT EXISTS processes (
    process_id            TEXT PRIMARY KEY,
    registration_hash     TEXT NOT NULL,
    owner_scope_id       TEXT NOT NULL,
    created_at_ms         INTEGER NOT NULL,
    updated_at_ms         INTEGER NOT NULL,
    status                TEXT NOT NULL,
    record_json           TEXT NOT NULL
);

CREATE INDEX IF NOT EXISTS idx_processes_status
    ON processes(status);

CREATE TABLE IF NOT EXISTS process_events (
    process_id        TEXT NOT NULL,
    sequence          INTEGER NOT NULL,
    event_type        TEXT NOT NULL,
    payload_hash      TEXT NOT NULL,
    idempotency_key   TEXT,
    occurred_at_ms    INTEGER NOT NULL,
    event_json        TEXT NOT NULL,
    PRIMARY KEY (process_id, sequence),
    FOREIGN KEY (process_id) REFERENCES processes(process_id) ON DELETE CASCADE
);

CREATE UNIQUE INDEX IF NOT EXISTS idx_process_events_key
    ON process_events(process_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;

CREATE TABLE IF NOT EXISTS process_wake_acks (
    process_id  TEXT NOT NULL,
    sequence    INTEGER NOT NULL,
    PRIMARY KEY (process_id, sequence),
    FOREIGN KEY (process_id) REFERENCES processes(process_id) ON DELETE CASCADE
);

CREATE TABLE IF NOT EXISTS process_handle_grants (
    session_id       TEXT NOT NULL,
    scope_id        TEXT NOT NULL,
    process_id       TEXT NOT NULL,
    descriptor_json  TEXT NOT NULL,
    PRIMARY KEY (scope_id, process_id),
    FOREIGN KEY (process_id) REFERENCES processes(process_id) ON DELETE CASCADE
);

CREATE INDEX IF NOT EXISTS idx_process_handle_grants_session
    ON process_handle_grants(session_id);

CREATE INDEX IF NOT EXISTS idx_process_handle_grants_process
    ON process_handle_grants(process_id);

CREATE TABLE IF NOT EXISTS process_leases (
    process_id       TEXT PRIMARY KEY,
    lease_owner_id   TEXT,
    lease_token      TEXT,
    lease_fencing_token  INTEGER NOT NULL DEFAULT 0,
    lease_claimed_at_ms  INTEGER NOT NULL DEFAULT 0,
    lease_expires_at_ms  INTEGER NOT NULL DEFAULT 0,
    FOREIGN KEY (process_id) REFERENCES processes(process_id) ON DELETE CASCADE
);

"""

TRIGGER_STORE_DDL = """
CREATE TABLE IF NOT EXISTS trigger_subscription_seq (
    id INTEGER PRIMARY KEY AUTOINCREMENT
);

CREATE TABLE IF NOT EXISTS trigger_subscriptions (
    subscription_id      TEXT PRIMARY KEY,
    registrant_scope_id  TEXT NOT NULL,
    handle               TEXT NOT NULL,
    source_type          TEXT NOT NULL,
    source_key           TEXT NOT NULL,
    enabled              INTEGER NOT NULL,
    created_at_ms        INTEGER NOT NULL,
    updated_at_ms        INTEGER NOT NULL,
    record_json          TEXT NOT NULL,
    UNIQUE(registrant_scope_id, handle)
);

CREATE INDEX IF NOT EXISTS idx_trigger_subscriptions_registrant
    ON trigger_subscriptions(registrant_scope_id, handle);

CREATE INDEX IF NOT EXISTS idx_trigger_subscriptions_source
    ON trigger_subscriptions(source_type, source_key, enabled);

CREATE TABLE IF NOT EXISTS trigger_occurrences (
    occurrence_id    TEXT PRIMARY KEY,
    idempotency_key  TEXT NOT NULL UNIQUE,
    request_hash     TEXT NOT NULL,
    source_type      TEXT NOT NULL,
    source_key       TEXT NOT NULL,
    occurred_at_ms   INTEGER NOT NULL,
    record_json      TEXT NOT NULL
);

CREATE INDEX IF NOT EXISTS idx_trigger_occurrences_source
    ON trigger_occurrences(source_type, source_key, occurred_at_ms);

CREATE TABLE IF NOT EXISTS trigger_deliveries (
    occurrence_id    TEXT NOT NULL,
    subscription_id  TEXT NOT NULL,
    process_id       TEXT NOT NULL,
    created_at_ms    INTEGER NOT NULL,
    PRIMARY KEY (occurrence_id, subscription_id),
    FOREIGN KEY (occurrence_id) REFERENCES trigger_occurrences(occurrence_id) ON DELETE CASCADE,
    FOREIGN KEY (subscription_id) REFERENCES trigger_subscriptions(subscription_id) ON DELETE CASCADE
);

CREATE INDEX IF NOT EXISTS idx_trigger_deliveries_process
    ON trigger_deliveries(process_id);
"""

EFFECT_REPLAY_DDL = """
CREATE TABLE IF NOT EXISTS runtime_effect_replay (
    scope_id             TEXT NOT NULL,
    replay_key           TEXT NOT NULL,
    envelope_hash        TEXT NOT NULL,
    status               TEXT NOT NULL,
    outcome_json         TEXT,
    error_json           TEXT,
    lease_owner_id       TEXT,
    lease_token          TEXT,
    lease_expires_at_ms  INTEGER NOT NULL DEFAULT 0,
    due_at_ms            INTEGER,
    created_at_ms        INTEGER NOT NULL,
    updated_at_ms        INTEGER NOT NULL,
    PRIMARY KEY (scope_id, replay_key)
);

CREATE INDEX IF NOT EXISTS idx_runtime_effect_replay_lease
    ON runtime_effect_replay(status, lease_expires_at_ms);
"""


@dataclass(frozen=True)
class SchemaKind:
    """One database kind: its name in messages, its DDL, version and identifying table."""

    name: str
    ddl: str
    version: int
    marker_tables: tuple[str, ...]
    singleton_tables: tuple[str, ...] = ()
    """Tables that hold at most one row, ``singleton = 1`` (readers look at that row only)."""


SESSION = SchemaKind(kinds.SESSION, SESSION_DDL, kinds.SESSION_VERSION, ("blobs", "session_head", "session_meta"),
                     ("session_head", "session_meta"))
PROCESS_REGISTRY = SchemaKind(kinds.PROCESS_REGISTRY, PROCESS_REGISTRY_DDL, kinds.PROCESS_REGISTRY_VERSION, ("processes",))
TRIGGER_STORE = SchemaKind(kinds.TRIGGER_STORE, TRIGGER_STORE_DDL, kinds.TRIGGER_STORE_VERSION, ("trigger_subscriptions",))
EFFECT_REPLAY = SchemaKind(kinds.EFFECT_REPLAY, EFFECT_REPLAY_DDL, kinds.EFFECT_REPLAY_VERSION, ("runtime_effect_replay",))
KINDS: tuple[SchemaKind, ...] = (SESSION, PROCESS_REGISTRY, TRIGGER_STORE, EFFECT_REPLAY)


def user_version(conn: apsw.Connection) -> int:
    """Return the database's ``PRAGMA user_version``."""
    return int(query_one(conn, "PRAGMA user_version")[0])


def has_user_objects(conn: apsw.Connection) -> bool:
    """True when the database holds any table, index, trigger or view not owned by SQLite."""
    row = query_one(
        conn,
        "SELECT count(*) FROM sqlite_master WHERE name NOT LIKE 'sqlite\\_%' ESCAPE '\\' "
        "AND type IN ('table', 'index', 'trigger', 'view')",
    )
    return bool(row[0])


def ensure_schema(conn: apsw.Connection, kind: SchemaKind, path: str | None = None, *,
                  verified: tuple[int, int, int, int] | None = None) -> None:
    """Confirm ``kind``'s complete schema, or create it in an empty database; refuse anything else unchanged.

    ``verified`` is what :func:`check_openable` returned for ``path``: when the file and its schema
    are still the ones it found complete, the full comparison is not repeated."""
    with write_transaction(conn, path):
        if verified is not None and path is not None and _fingerprint(conn, path) == verified:
            # The file the read-only pre-check found complete, its schema unchanged since.
            return
        if needs_schema(conn, kind, path):
            conn.execute(kind.ddl)
            # PRAGMA takes no bound parameters; the version is our own integer constant.
            conn.execute(f"PRAGMA user_version = {int(kind.version)}")


def needs_schema(conn: apsw.Connection, kind: SchemaKind, path: str | None = None) -> bool:
    """The cutover rule (SPEC §3.5, issue 10), read-only: ``True`` for an empty database (create the
    schema), ``False`` for ``kind``'s complete schema; else raises, naming the file: another kind
    (:class:`NotALashDatabase`), another version (:class:`SchemaVersionError`), the right version
    with objects not in ``kind``'s schema or none of them (:class:`UnrecognisedSchema`), or a subset
    of them, altered ones, or a second singleton row (:class:`SchemaDamaged`)."""
    found = user_version(conn)
    tables = table_names(conn)
    other = kind_of_tables(tables)
    if other is not None and other is not kind:
        raise NotALashDatabase(path or ":memory:", f"its tables identify {other.name}", expected=kind.name)
    if found == kind.version:
        differences = schema_differences(conn, kind)
        if not differences:
            stray = singleton_problems(conn, kind)
            if stray:
                raise SchemaDamaged(path, kind.name, [text for _table, text in stray])
            return False
        unexpected = [d for d in differences if d.change == UNEXPECTED and d.what in OBJECT_TYPES]
        if unexpected:
            raise UnrecognisedSchema(kind.name, kind.version,
                                     "it holds objects that are not in that schema: "
                                     + ", ".join(f"{d.what} {d.name}" for d in unexpected),
                                     path, tuple(d.name for d in unexpected))
        if not has_user_objects(conn):
            raise UnrecognisedSchema(kind.name, kind.version, f"it holds none of the {kind.name} tables", path)
        raise SchemaDamaged(path, kind.name, [str(d) for d in differences])
    if found == 0 and not has_user_objects(conn):
        return True
    raise SchemaVersionError(kind.name, kind.version, found, path)


def claimed_kind(conn: apsw.Connection) -> SchemaKind | None:
    """The kind a file that classification calls not lash still belongs to: its ``user_version`` is
    that kind's and every one of its (at least one) objects is in that kind's schema, i.e. a lash file
    that lost a table that identifies it. ``None`` otherwise. Reads only."""
    found = user_version(conn)
    objects = read_shape(conn).objects
    for kind in KINDS:
        if found == kind.version and objects and objects <= expected_shape(kind).objects:
            return kind
    return None


def damage(conn: apsw.Connection, found: Classification) -> tuple[str, ...]:
    """For a file of a lash kind at its supported version, every schema difference and stray singleton
    row (what makes writes refuse it); ``()`` for a sound or foreign file. Reads only."""
    if not found.supported:
        return ()
    return (tuple(str(d) for d in schema_differences(conn, found.kind))
            + tuple(text for _table, text in singleton_problems(conn, found.kind)))


def singleton_problems(conn: apsw.Connection, kind: SchemaKind) -> list[tuple[str, str]]:
    """``(table, sentence)`` for each singleton table holding more than one row or a row other than
    ``singleton = 1`` (possible only in a table recreated without its CHECK); readers see only that row."""
    out = []
    for table in kind.singleton_tables:
        if query_one(conn, "SELECT 1 FROM pragma_table_info(?) WHERE name = 'singleton'", (table,)) is None:
            continue  # a missing table or column is a schema difference, reported as such
        # The table name is one of the kind's own constants, never input.
        rows, stray = query_one(conn, f"SELECT count(*), count(*) FILTER (WHERE singleton IS NOT 1) FROM {table}")
        if rows > 1:
            out.append((table, f"table {table} holds {rows} rows; it may hold one (singleton = 1), and lash "
                               "reads only that one"))
        elif stray:
            out.append((table, f"table {table} holds a row with singleton other than 1, which lash never reads"))
    return out


# --- the expected shape, derived from the DDL itself ------------------------------------------------

MISSING, UNEXPECTED, DIFFERS = "missing", "unexpected", "differs"
OBJECT_TYPES = ("table", "index", "view", "trigger")

_USER = "NOT LIKE 'sqlite\\_%' ESCAPE '\\'"  # SQLite's own objects (sqlite_sequence, autoindexes) aside
_OBJECTS_SQL = f"SELECT type, name FROM sqlite_master WHERE name {_USER} AND type IN {OBJECT_TYPES!r}"
# Table-valued pragmas read every table's columns, indexes and foreign keys in one statement each.
_COLUMNS_SQL = ('SELECT m.name, p.name, p.type, p."notnull", p.dflt_value, p.pk FROM sqlite_master AS m '
                f"JOIN pragma_table_info(m.name) AS p WHERE m.type = 'table' AND m.name {_USER} "
                "ORDER BY m.name, p.cid")
_INDEXES_SQL = ('SELECT m.name, i.name, i."unique", i.origin, i.partial, c.name FROM sqlite_master AS m '
                "JOIN pragma_index_list(m.name) AS i JOIN pragma_index_info(i.name) AS c "
                f"WHERE m.type = 'table' AND m.name {_USER} ORDER BY m.name, i.name, c.seqno")
_FKS_SQL = ('SELECT m.name, f.id, f."table", f."from", f."to", f.on_update, f.on_delete, f."match" '
            "FROM sqlite_master AS m JOIN pragma_foreign_key_list(m.name) AS f "
            f"WHERE m.type = 'table' AND m.name {_USER} ORDER BY m.name, f.id, f.seq")


@dataclass(frozen=True)
class TableShape:
    """One table as SQLite reports it: columns in order, constraint indexes, named indexes, foreign keys."""

    columns: tuple[tuple[str, str, bool, str | None, int], ...]
    constraints: frozenset[tuple[str, tuple[str | None, ...]]]
    indexes: dict[str, tuple[tuple[str | None, ...], bool, bool]]
    foreign_keys: frozenset[tuple[tuple[str, ...], str, tuple[str | None, ...], str, str, str]]


@dataclass(frozen=True)
class SchemaShape:
    """A database's user objects (``(type, name)``) and the shape of each table."""

    objects: frozenset[tuple[str, str]]
    tables: dict[str, TableShape]


def read_shape(conn: apsw.Connection) -> SchemaShape:
    """The shape of the schema of an open database (reads only)."""
    objects = frozenset((t, n) for t, n in conn.execute(_OBJECTS_SQL))
    columns: dict[str, list] = {}
    for table, name, type_, notnull, default, pk in conn.execute(_COLUMNS_SQL):
        columns.setdefault(table, []).append((name, type_, bool(notnull), default, int(pk)))
    indexes: dict[str, dict[str, tuple]] = {}
    index_cols: dict[tuple[str, str], list] = {}
    for table, index, unique, origin, partial, col in conn.execute(_INDEXES_SQL):
        indexes.setdefault(table, {})[index] = (origin, bool(unique), bool(partial))
        index_cols.setdefault((table, index), []).append(col)
    fks: dict[str, dict[int, list]] = {}
    for table, fk_id, target, from_, to, on_update, on_delete, match in conn.execute(_FKS_SQL):
        fks.setdefault(table, {}).setdefault(fk_id, []).append((target, from_, to, on_update, on_delete, match))
    shapes = {}
    for table, cols in columns.items():
        constraints, named = set(), {}
        for index, (origin, unique, partial) in indexes.get(table, {}).items():
            cols_of = tuple(index_cols[(table, index)])
            if index.startswith("sqlite_autoindex_"):
                constraints.add((origin, cols_of))
            else:
                named[index] = (cols_of, unique, partial)
        keys = frozenset((tuple(r[1] for r in rows), rows[0][0], tuple(r[2] for r in rows), *rows[0][3:])
                         for rows in fks.get(table, {}).values())
        shapes[table] = TableShape(tuple(cols), frozenset(constraints), named, keys)
    return SchemaShape(objects, shapes)


@functools.cache
def expected_shape(kind: SchemaKind) -> SchemaShape:
    """The shape ``kind``'s DDL creates, read from a private in-memory database (so the DDL text
    stays the only definition of the schema)."""
    conn = apsw.Connection(":memory:")
    try:
        conn.execute(kind.ddl)
        return read_shape(conn)
    finally:
        conn.close()


@dataclass(frozen=True)
class SchemaDifference:
    """One way a database differs from its kind's schema; ``str()`` is the operator's sentence."""

    change: str  # MISSING, UNEXPECTED or DIFFERS
    what: str  # table, index, view, trigger, column, constraint, foreign key
    name: str  # the object (``table.column`` for a column)
    text: str

    def __str__(self) -> str:
        return self.text


def _column_text(col: tuple) -> str:
    _name, type_, notnull, default, pk = col
    return " ".join(filter(None, (type_ or "(no type)", "NOT NULL" if notnull else "",
                                  f"DEFAULT {default}" if default is not None else "", "PRIMARY KEY" if pk else "")))


def _constraint_text(constraint: tuple) -> str:
    origin, cols = constraint
    return f"{'PRIMARY KEY' if origin == 'pk' else 'UNIQUE'} ({', '.join(str(c) for c in cols)})"


def _fk_text(fk: tuple) -> str:
    from_, target, to, on_update, on_delete, _match = fk
    to_cols = ", ".join(str(c) for c in to if c is not None)
    return (f"FOREIGN KEY ({', '.join(from_)}) REFERENCES {target}" + (f" ({to_cols})" if to_cols else "")
            + (f" ON UPDATE {on_update}" if on_update != "NO ACTION" else "")
            + (f" ON DELETE {on_delete}" if on_delete != "NO ACTION" else ""))


def _index_text(table: str, index: tuple) -> str:
    cols, unique, partial = index
    return (f"{'UNIQUE ' if unique else ''}ON {table} ({', '.join(str(c) for c in cols)})"
            + (" WHERE …" if partial else ""))


def _table_differences(table: str, want: TableShape, got: TableShape) -> list[SchemaDifference]:
    out = []
    want_cols = {c[0]: c for c in want.columns}
    got_cols = {c[0]: c for c in got.columns}
    for name, col in want_cols.items():
        if name not in got_cols:
            out.append(SchemaDifference(MISSING, "column", f"{table}.{name}", f"table {table}: missing column {name}"))
        elif got_cols[name] != col:
            out.append(SchemaDifference(DIFFERS, "column", f"{table}.{name}",
                                        f"table {table}: column {name} is {_column_text(got_cols[name])}, "
                                        f"expected {_column_text(col)}"))
    for name in got_cols.keys() - want_cols.keys():
        out.append(SchemaDifference(UNEXPECTED, "column", f"{table}.{name}", f"table {table}: unexpected column {name}"))
    common = [n for n in got_cols if n in want_cols]
    if common != [n for n in want_cols if n in got_cols]:
        out.append(SchemaDifference(DIFFERS, "column", table, f"table {table}: columns in the order "
                                    f"{', '.join(common)}, expected {', '.join(n for n in want_cols if n in got_cols)}"))
    for c in sorted(want.constraints - got.constraints, key=str):
        out.append(SchemaDifference(MISSING, "constraint", table, f"table {table}: missing {_constraint_text(c)}"))
    for c in sorted(got.constraints - want.constraints, key=str):
        out.append(SchemaDifference(UNEXPECTED, "constraint", table, f"table {table}: unexpected {_constraint_text(c)}"))
    for fk in sorted(want.foreign_keys - got.foreign_keys, key=str):
        out.append(SchemaDifference(MISSING, "foreign key", table, f"table {table}: missing {_fk_text(fk)}"))
    for fk in sorted(got.foreign_keys - want.foreign_keys, key=str):
        out.append(SchemaDifference(UNEXPECTED, "foreign key", table, f"table {table}: unexpected {_fk_text(fk)}"))
    return out


def _object_differences(want: frozenset, got: frozenset, kind: SchemaKind) -> list[SchemaDifference]:
    out = []
    for what, name in sorted(want - got, key=lambda o: (OBJECT_TYPES.index(o[0]), o[1])):
        out.append(SchemaDifference(MISSING, what, name, f"missing {what} {name}"))
    for what, name in sorted(got - want, key=lambda o: (OBJECT_TYPES.index(o[0]), o[1])):
        out.append(SchemaDifference(UNEXPECTED, what, name, f"unexpected {what} {name} (not in the lash {kind.name} "
                                    "schema)"))
    return out


def object_differences(conn: apsw.Connection, kind: SchemaKind) -> list[SchemaDifference]:
    """The tables, indexes, views and triggers missing from or added to ``kind``'s schema: the cheap
    part of :func:`schema_differences` (one read of ``sqlite_master``), for listings."""
    got = frozenset((t, n) for t, n in conn.execute(_OBJECTS_SQL))
    return _object_differences(expected_shape(kind).objects, got, kind)


def schema_differences(conn: apsw.Connection, kind: SchemaKind) -> list[SchemaDifference]:
    """Every difference between the open database's schema and ``kind``'s (objects, columns,
    constraints, indexes, foreign keys); empty when they match. Reads only."""
    want, got = expected_shape(kind), read_shape(conn)
    out = _object_differences(want.objects, got.objects, kind)
    want_index = {i: (t, d) for t, shape in want.tables.items() for i, d in shape.indexes.items()}
    got_index = {i: (t, d) for t, shape in got.tables.items() for i, d in shape.indexes.items()}
    for table, shape in want.tables.items():
        if table in got.tables:
            out.extend(_table_differences(table, shape, got.tables[table]))
    for index, (table, definition) in want_index.items():
        if index in got_index and got_index[index] != (table, definition):
            out.append(SchemaDifference(DIFFERS, "index", index, f"index {index} is "
                                        f"{_index_text(*got_index[index])}, expected {_index_text(table, definition)}"))
    return out


def table_names(conn: apsw.Connection) -> set[str]:
    """Names of the user tables in the database."""
    return {row[0] for row in conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'")}


def kind_of_tables(tables: set[str]) -> SchemaKind | None:
    """The kind a set of table names identifies (SPEC §3.5), or ``None`` for not-lash."""
    for kind in KINDS:
        if all(t in tables for t in kind.marker_tables):
            return kind
    return None


@dataclass(frozen=True)
class Classification:
    """What a file is: its kind (``None`` if not lash), its version and whether that is supported."""

    path: str
    kind: SchemaKind | None
    user_version: int
    tables: frozenset[str]

    @property
    def kind_name(self) -> str:
        return self.kind.name if self.kind else "not lash"

    @property
    def supported(self) -> bool:
        return self.kind is not None and self.user_version == self.kind.version

    @property
    def foreign(self) -> bool:
        return self.kind is not None and self.user_version != self.kind.version

    def require(self, kind: SchemaKind) -> None:
        """Raise unless this file is ``kind`` at its supported version."""
        if self.kind is not kind:
            raise NotALashDatabase(self.path, f"its tables identify {self.kind_name}", expected=kind.name)
        if self.foreign:
            raise SchemaVersionError(kind.name, kind.version, self.user_version, self.path)


def classify_connection(conn: apsw.Connection, path: str) -> Classification:
    """Classify an open database by its tables and ``user_version``."""
    tables = table_names(conn)
    return Classification(path, kind_of_tables(tables), user_version(conn), frozenset(tables))


def classify(path: str | os.PathLike[str]) -> Classification:
    """Classify a file read-only; raises a :class:`LashdbError` if it cannot be read as SQLite."""
    path = os.fspath(path)
    conn = open_readonly(path)
    try:
        return classify_connection(conn, path)
    except apsw.Error as exc:
        raise translate(exc, path) from exc
    finally:
        conn.close()


# How often the read-only pre-check re-reads a file that changed while it was being read.
_PRECHECK_ATTEMPTS = 5


def _file_state(path: str) -> tuple[int, int, int, int, bool]:
    st = os.stat(path)
    return st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns, os.path.exists(path + "-wal")


def _fingerprint(conn: apsw.Connection, path: str) -> tuple[int, int, int, int] | None:
    # Which file, and which schema in it: SQLite bumps the schema cookie on every schema change.
    try:
        st = os.stat(path)
    except OSError:
        return None  # gone or replaced: nothing to compare with
    return st.st_dev, st.st_ino, int(query_one(conn, "PRAGMA schema_version")[0]), user_version(conn)


def _refusal(path: str, kind: SchemaKind) -> tuple[LashdbError | None, tuple[int, int, int, int] | None]:
    # The error the cutover rule would raise for this file, read without writing; else None and, when
    # the schema is complete and did not change during the read, its fingerprint.
    conn = open_readonly(path)
    try:
        before = _fingerprint(conn, path)
        if needs_schema(conn, kind, path) or before is None:
            return None, None
        return None, before if _fingerprint(conn, path) == before else None
    except REFUSALS as exc:
        return exc, None
    except apsw.Error as exc:
        raise translate(exc, path) from exc
    finally:
        conn.close()


def check_openable(path: str | os.PathLike[str], kind: SchemaKind) -> tuple[int, int, int, int] | None:
    """Raise, writing nothing, if the existing file at ``path`` would be refused as ``kind`` (SPEC §3.5);
    return the fingerprint of a complete schema (for :func:`ensure_schema`), else ``None``."""
    path = os.fspath(path)
    seen = None
    for attempt in range(_PRECHECK_ATTEMPTS):
        try:
            before = _file_state(path)
        except FileNotFoundError:
            return None  # absent: the writable open creates it
        try:
            refusal, verified = _refusal(path, kind)
        except (LashdbError, OSError):
            # Not readable as SQLite read-only (e.g. not a database): the writable open reports
            # it, and SQLite writes nothing to a file it cannot parse.
            return None
        if refusal is None:
            return verified
        try:
            after = _file_state(path)
        except FileNotFoundError:
            return None
        if before == after:
            # An immutable read of a file another opener is creating and checkpointing can be torn
            # (page 1 new, the rest old) inside one tick of the file system's clock, where the state
            # looks unchanged: refuse only what two reads in a row agree on.
            key = (type(refusal), str(refusal), after)
            if key == seen:
                raise refusal
            seen = key
        time.sleep(0.002 * (1 << attempt))
    # Still changing: leave the decision to ensure_schema, which holds the write lock.
    return None


def open_for_kind(path: str | os.PathLike[str], kind: SchemaKind) -> apsw.Connection:
    """Open ``path`` writable as ``kind`` (created if absent); a file the cutover refuses is refused before any write."""
    path = os.fspath(path)
    verified = check_openable(path, kind) if os.path.lexists(path) and not os.path.isdir(path) else None
    conn = open_write(path)
    try:
        ensure_schema(conn, kind, path, verified=verified)
    except BaseException:
        conn.close()
        raise
    return conn


__all__ = [
    "Classification", "EFFECT_REPLAY", "KINDS", "PROCESS_REGISTRY", "REFUSALS", "SESSION",
    "SchemaDifference", "SchemaKind", "SchemaShape", "TRIGGER_STORE", "TableShape", "check_openable",
    "claimed_kind", "classify", "classify_connection", "damage", "ensure_schema", "expected_shape", "has_user_objects",
    "kind_of_tables", "needs_schema", "object_differences", "open_for_kind", "read_shape", "schema_differences",
    "singleton_problems", "table_names", "user_version",
]
