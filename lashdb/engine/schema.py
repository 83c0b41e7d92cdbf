"""Schemas of the four lash database kinds and the no-migration cutover (SPEC §3).

Contract:
- The DDL below is the on-disk format shared with the upstream Rust runtime; its text is kept
  identical so ``sqlite_master`` matches what upstream writes, column for column.
- :func:`ensure_schema` runs inside one ``BEGIN IMMEDIATE``: a database at the supported
  ``user_version`` gets any missing objects; an empty one (version 0, no user objects) is created
  and stamped; anything else is refused with :class:`SchemaVersionError`, changing nothing.
- :func:`classify` decides a file's kind by its tables, never by its name, and never writes.
- :func:`open_for_kind` is how every store opens its file for writing: it classifies an existing
  file read-only first, so a foreign, other-kind or non-lash file is refused before anything
  (journal mode included) is written and before any sidecar is created.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import apsw

from .connection import open_readonly, open_write, query_one, translate, write_transaction
from .errors import LashdbError, NotALashDatabase, SchemaVersionError

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


SESSION = SchemaKind("session", SESSION_DDL, 4, ("blobs", "session_head", "session_meta"))
PROCESS_REGISTRY = SchemaKind("process registry", PROCESS_REGISTRY_DDL, 7, ("processes",))
TRIGGER_STORE = SchemaKind("trigger store", TRIGGER_STORE_DDL, 1, ("trigger_subscriptions",))
EFFECT_REPLAY = SchemaKind("effect replay", EFFECT_REPLAY_DDL, 1, ("runtime_effect_replay",))
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


def ensure_schema(conn: apsw.Connection, kind: SchemaKind, path: str | None = None) -> None:
    """Create or confirm ``kind``'s schema, or refuse a foreign database without changing it."""
    with write_transaction(conn, path):
        found = user_version(conn)
        if found == kind.version:
            conn.execute(kind.ddl)
            return
        if found == 0 and not has_user_objects(conn):
            conn.execute(kind.ddl)
            # PRAGMA takes no bound parameters; the version is our own integer constant.
            conn.execute(f"PRAGMA user_version = {int(kind.version)}")
            return
        raise SchemaVersionError(kind.name, kind.version, found, path)


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
_PRECHECK_ATTEMPTS = 3


def _file_state(path: str) -> tuple[int, int, int, bool]:
    st = os.stat(path)
    return st.st_ino, st.st_size, st.st_mtime_ns, os.path.exists(path + "-wal")


def _refusal(path: str, kind: SchemaKind) -> LashdbError | None:
    # The error the cutover rule would raise for this file, read without writing; None if usable.
    conn = open_readonly(path)
    try:
        found = classify_connection(conn, path)
        objects = has_user_objects(conn)
    except apsw.Error as exc:
        raise translate(exc, path) from exc
    finally:
        conn.close()
    if found.kind is not None and found.kind is not kind:
        return NotALashDatabase(path, f"its tables identify {found.kind_name}", expected=kind.name)
    if found.user_version == kind.version or (found.user_version == 0 and not objects):
        return None
    return SchemaVersionError(kind.name, kind.version, found.user_version, path)


def check_openable(path: str | os.PathLike[str], kind: SchemaKind) -> None:
    """Raise, writing nothing, if the existing file at ``path`` would be refused as ``kind`` (SPEC §3.5)."""
    path = os.fspath(path)
    for _ in range(_PRECHECK_ATTEMPTS):
        try:
            before = _file_state(path)
        except FileNotFoundError:
            return  # absent: the writable open creates it
        try:
            refusal = _refusal(path, kind)
        except LashdbError:
            # Not readable as SQLite read-only (e.g. not a database): the writable open reports
            # it, and SQLite writes nothing to a file it cannot parse.
            return
        if refusal is None:
            return
        try:
            after = _file_state(path)
        except FileNotFoundError:
            return
        if before == after:
            raise refusal
        # The file changed under the read (a live writer): the reading may be torn; look again.
    # Still changing: leave the decision to ensure_schema, which holds the write lock.


def open_for_kind(path: str | os.PathLike[str], kind: SchemaKind) -> apsw.Connection:
    """Open ``path`` writable as ``kind`` (created if absent); a file the cutover refuses is refused before any write."""
    path = os.fspath(path)
    if os.path.lexists(path) and not os.path.isdir(path):
        check_openable(path, kind)
    conn = open_write(path)
    try:
        ensure_schema(conn, kind, path)
    except BaseException:
        conn.close()
        raise
    return conn


__all__ = [
    "Classification", "EFFECT_REPLAY", "KINDS", "PROCESS_REGISTRY", "SESSION",
    "SchemaKind", "TRIGGER_STORE", "check_openable", "classify", "classify_connection",
    "ensure_schema", "has_user_objects", "kind_of_tables", "open_for_kind", "table_names",
    "user_version",
]
