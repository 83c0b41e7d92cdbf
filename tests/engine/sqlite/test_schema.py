"""The four schemas match SPEC §3.1–3.4, and the no-migration cutover rule of SPEC §3.5 holds.

The expected facts below are transcribed from the SPEC text, not derived from lashdb's DDL:
columns as ``(name, declared type, notnull, default, pk position)``, indexes as
``(name or AUTO for a constraint's autoindex, columns, unique, origin, partial)`` where origin is
SQLite's ``pk`` / ``u`` (UNIQUE constraint) / ``c`` (CREATE INDEX), and foreign keys as
``(from, table, to, on_update, on_delete)``.
"""

from __future__ import annotations

import os
from pathlib import Path

import apsw
import pytest
from conftest import file_sha256, snapshot_dir

from lashdb.engine.sqlite import schema
from lashdb.engine.sqlite.connection import open_write
from lashdb.engine.errors import NotALashDatabase, SchemaDamaged, SchemaVersionError
from lashdb.engine.session.store import Store

AUTO = None  # an index SQLite creates for a PRIMARY KEY / UNIQUE constraint
T, I, B = "TEXT", "INTEGER", "BLOB"


def col(name, type_, notnull=False, default=None, pk=0):
    return (name, type_, int(notnull), default, pk)


def nn(name, type_, default=None, pk=0):
    return col(name, type_, True, default, pk)


def pk_col(name, type_, position=1, notnull=False):
    return col(name, type_, notnull, None, position)


CASCADE = ("NO ACTION", "CASCADE")

SESSION_SPEC = {
    "blobs": {
        "columns": [pk_col("hash", T), nn("content", B)],
        "indexes": {(AUTO, ("hash",), 1, "pk", 0)},
    },
    "session_head": {
        "columns": [pk_col("singleton", I), nn("session_id", T, "'root'"), nn("head_json", T, "'{}'"),
                    nn("head_revision", I, "0")],
    },
    "graph_nodes": {
        "columns": [pk_col("seq", I), nn("node_id", T), nn("node_json", T), nn("tombstoned", I, "0")],
        "indexes": {(AUTO, ("node_id",), 1, "u", 0)},
    },
    "usage_deltas": {
        "columns": [pk_col("seq", I), nn("source", T), nn("model", T), nn("input_tokens", I),
                    nn("output_tokens", I), nn("cached_input_tokens", I), nn("reasoning_tokens", I)],
    },
    "session_meta": {
        "columns": [pk_col("singleton", I), nn("session_id", T), nn("session_name", T), nn("created_at", T),
                    nn("model", T), col("cwd", T), col("relation_json", T)],
    },
    "runtime_turn_commits": {
        "columns": [pk_col("session_id", T, 1, True), pk_col("turn_id", T, 2, True), nn("turn_commit_hash", T),
                    nn("result_json", T), nn("committed_at_ms", I)],
        "indexes": {(AUTO, ("session_id", "turn_id"), 1, "pk", 0)},
    },
    "session_execution_leases": {
        "columns": [pk_col("session_id", T), col("lease_owner_id", T), col("lease_token", T),
                    nn("lease_fencing_token", I, "0"), nn("lease_claimed_at_ms", I, "0"),
                    nn("lease_expires_at_ms", I, "0")],
        "indexes": {(AUTO, ("session_id",), 1, "pk", 0)},
    },
    "queued_work_batches": {
        "columns": [pk_col("enqueue_seq", I), nn("batch_id", T), nn("session_id", T), col("source_key", T),
                    nn("delivery_policy", T), nn("slot_policy", T), nn("merge_key_json", T),
                    nn("available_at_ms", I), nn("enqueued_at_ms", I), col("claim_id", T),
                    col("claim_owner_id", T), col("claim_token", T), nn("claim_fencing_token", I, "0"),
                    nn("claim_claimed_at_ms", I, "0"), nn("claim_expires_at_ms", I, "0")],
        "indexes": {(AUTO, ("batch_id",), 1, "u", 0), (AUTO, ("session_id", "source_key"), 1, "u", 0),
                    ("idx_queued_work_ready", ("session_id", "available_at_ms", "enqueue_seq"), 0, "c", 0),
                    ("idx_queued_work_claim", ("session_id", "claim_id", "claim_token"), 0, "c", 0)},
    },
    "queued_work_items": {
        "columns": [pk_col("batch_id", T, 1, True), pk_col("item_index", I, 2, True), nn("item_id", T),
                    nn("payload_json", T)],
        "indexes": {(AUTO, ("batch_id", "item_index"), 1, "pk", 0)},
        "fks": {("batch_id", "queued_work_batches", "batch_id", *CASCADE)},
    },
    "attachment_manifest": {
        "columns": [pk_col("attachment_id", T), nn("session_id", T), nn("canonical_uri", T),
                    nn("intent_at_ms", I), col("committed_at_ms", I)],
        "indexes": {(AUTO, ("attachment_id",), 1, "pk", 0),
                    ("idx_attachment_manifest_session", ("session_id", "committed_at_ms"), 0, "c", 0),
                    ("idx_attachment_manifest_uncommitted", ("committed_at_ms",), 0, "c", 1)},
    },
    "artifact_refs": {
        "columns": [pk_col("artifact_ref", T), nn("blob_ref", T)],
        "indexes": {(AUTO, ("artifact_ref",), 1, "pk", 0)},
    },
}

_LEASE_COLS = [col("lease_owner_id", T), col("lease_token", T), nn("lease_fencing_token", I, "0"),
               nn("lease_claimed_at_ms", I, "0"), nn("lease_expires_at_ms", I, "0")]
_TO_PROCESSES = {("process_id", "processes", "process_id", *CASCADE)}

# SPEC §3.2 (process registry, version 7).
PROCESS_REGISTRY_SPEC = {
    "processes": {
        "columns": [pk_col("process_id", T), nn("registration_hash", T), nn("owner_scope_id", T),
                    nn("created_at_ms", I), nn("updated_at_ms", I), nn("status", T), nn("record_json", T)],
        "indexes": {(AUTO, ("process_id",), 1, "pk", 0), ("idx_processes_status", ("status",), 0, "c", 0)},
    },
    "process_events": {
        "columns": [pk_col("process_id", T, 1, True), pk_col("sequence", I, 2, True), nn("event_type", T),
                    nn("payload_hash", T), col("idempotency_key", T), nn("occurred_at_ms", I),
                    nn("event_json", T)],
        "indexes": {(AUTO, ("process_id", "sequence"), 1, "pk", 0),
                    ("idx_process_events_key", ("process_id", "idempotency_key"), 1, "c", 1)},
        "fks": _TO_PROCESSES,
    },
    "process_wake_acks": {
        "columns": [pk_col("process_id", T, 1, True), pk_col("sequence", I, 2, True)],
        "indexes": {(AUTO, ("process_id", "sequence"), 1, "pk", 0)},
        "fks": _TO_PROCESSES,
    },
    "process_handle_grants": {
        "columns": [nn("session_id", T), pk_col("scope_id", T, 1, True), pk_col("process_id", T, 2, True),
                    nn("descriptor_json", T)],
        "indexes": {(AUTO, ("scope_id", "process_id"), 1, "pk", 0),
                    ("idx_process_handle_grants_session", ("session_id",), 0, "c", 0),
                    ("idx_process_handle_grants_process", ("process_id",), 0, "c", 0)},
        "fks": _TO_PROCESSES,
    },
    "process_leases": {
        "columns": [pk_col("process_id", T)] + _LEASE_COLS,
        "indexes": {(AUTO, ("process_id",), 1, "pk", 0)},
        "fks": _TO_PROCESSES,
    },
}

# SPEC §3.3 (trigger store, version 1).
TRIGGER_STORE_SPEC = {
    "trigger_subscription_seq": {
        "columns": [pk_col("id", I)],
    },
    "trigger_subscriptions": {
        "columns": [pk_col("subscription_id", T), nn("registrant_scope_id", T), nn("handle", T),
                    nn("source_type", T), nn("source_key", T), nn("enabled", I), nn("created_at_ms", I),
                    nn("updated_at_ms", I), nn("record_json", T)],
        "indexes": {(AUTO, ("subscription_id",), 1, "pk", 0),
                    (AUTO, ("registrant_scope_id", "handle"), 1, "u", 0),
                    ("idx_trigger_subscriptions_registrant", ("registrant_scope_id", "handle"), 0, "c", 0),
                    ("idx_trigger_subscriptions_source", ("source_type", "source_key", "enabled"), 0, "c", 0)},
    },
    "trigger_occurrences": {
        "columns": [pk_col("occurrence_id", T), nn("idempotency_key", T), nn("request_hash", T),
                    nn("source_type", T), nn("source_key", T), nn("occurred_at_ms", I), nn("record_json", T)],
        "indexes": {(AUTO, ("occurrence_id",), 1, "pk", 0), (AUTO, ("idempotency_key",), 1, "u", 0),
                    ("idx_trigger_occurrences_source", ("source_type", "source_key", "occurred_at_ms"), 0, "c", 0)},
    },
    "trigger_deliveries": {
        "columns": [pk_col("occurrence_id", T, 1, True), pk_col("subscription_id", T, 2, True),
                    nn("process_id", T), nn("created_at_ms", I)],
        "indexes": {(AUTO, ("occurrence_id", "subscription_id"), 1, "pk", 0),
                    ("idx_trigger_deliveries_process", ("process_id",), 0, "c", 0)},
        "fks": {("occurrence_id", "trigger_occurrences", "occurrence_id", *CASCADE),
                ("subscription_id", "trigger_subscriptions", "subscription_id", *CASCADE)},
    },
}

EFFECT_REPLAY_SPEC = {
    "runtime_effect_replay": {
        "columns": [pk_col("scope_id", T, 1, True), pk_col("replay_key", T, 2, True), nn("envelope_hash", T),
                    nn("status", T), col("outcome_json", T), col("error_json", T), col("lease_owner_id", T),
                    col("lease_token", T), nn("lease_expires_at_ms", I, "0"), col("due_at_ms", I),
                    nn("created_at_ms", I), nn("updated_at_ms", I)],
        "indexes": {(AUTO, ("scope_id", "replay_key"), 1, "pk", 0),
                    ("idx_runtime_effect_replay_lease", ("status", "lease_expires_at_ms"), 0, "c", 0)},
    },
}

# kind, SPEC §3 version, SPEC §3 table facts
SPECS = [
    pytest.param(schema.SESSION, 4, SESSION_SPEC, id="session"),
    pytest.param(schema.PROCESS_REGISTRY, 7, PROCESS_REGISTRY_SPEC, id="process-registry"),
    pytest.param(schema.TRIGGER_STORE, 1, TRIGGER_STORE_SPEC, id="trigger-store"),
    pytest.param(schema.EFFECT_REPLAY, 1, EFFECT_REPLAY_SPEC, id="effect-replay"),
]
KIND_PARAMS = [pytest.param(p.values[0], id=p.id) for p in SPECS]


def _ro(path: Path) -> apsw.Connection:
    return apsw.Connection(str(path), flags=apsw.SQLITE_OPEN_READONLY)


def _columns(conn, table):
    return [(name, type_, notnull, default, pk)
            for _cid, name, type_, notnull, default, pk in conn.execute(f"PRAGMA table_info({table})")]


def _indexes(conn, table):
    out = set()
    for _seq, name, unique, origin, partial in conn.execute(f"PRAGMA index_list({table})").fetchall():
        cols = tuple(r[2] for r in conn.execute(f"PRAGMA index_info({name})"))
        shown = AUTO if name.startswith("sqlite_autoindex_") else name
        out.add((shown, cols, unique, origin, partial))
    return out


def _fks(conn, table):
    return {(from_, table_, to, on_update, on_delete)
            for _id, _seq, table_, from_, to, on_update, on_delete, _match
            in conn.execute(f"PRAGMA foreign_key_list({table})")}


def _create(path: Path, kind: schema.SchemaKind) -> None:
    schema.open_for_kind(path, kind).close()


def _files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


# --- the created schema is the SPEC's ----------------------------------------------------------------


@pytest.mark.parametrize("kind, version, spec", SPECS)
def test_created_schema_matches_spec(tmp_path, kind, version, spec):
    """A created file has exactly its kind's tables, columns, indexes and version (SPEC §3.1, §3.2, §3.3, §3.4)."""
    path = tmp_path / "fresh.db"
    _create(path, kind)
    conn = _ro(path)
    try:
        assert conn.execute("PRAGMA user_version").fetchall() == [(version,)]
        assert kind.version == version
        tables = {r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite%'")}
        assert tables == set(spec)
        named = {r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND name NOT LIKE 'sqlite_autoindex%'")}
        assert named == {i[0] for facts in spec.values() for i in facts.get("indexes", ()) if i[0]}
        assert conn.execute("SELECT count(*) FROM sqlite_master WHERE type IN ('view', 'trigger')").fetchall() == [(0,)]
        for table, facts in spec.items():
            assert _columns(conn, table) == facts["columns"], table
            assert _indexes(conn, table) == facts.get("indexes", set()), table
            assert _fks(conn, table) == facts.get("fks", set()), table
    finally:
        conn.close()


def test_session_table_list_is_spec_section_3(tmp_db):
    Store.open(tmp_db).close()
    conn = _ro(tmp_db)
    names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY rowid")]
    conn.close()
    assert set(names) == {"blobs", "session_head", "graph_nodes", "usage_deltas", "session_meta",
                          "runtime_turn_commits", "session_execution_leases", "queued_work_batches",
                          "queued_work_items", "attachment_manifest", "artifact_refs"}
    # runtime-contract §7.5: the retired upstream tables are not created.
    assert "runtime_turn_checkpoints" not in names and "runtime_effect_journal" not in names


def test_constraints_the_pragmas_do_not_show(tmp_path):
    session, triggers = tmp_path / "s.db", tmp_path / "t.db"
    _create(session, schema.SESSION)
    _create(triggers, schema.TRIGGER_STORE)
    conn = open_write(session)
    try:
        # CHECK(singleton = 1) on both singleton tables.
        for table, values in (("session_head", "(2, 's', '{}', 0)"),
                              ("session_meta", "(2, 's', 's', 'unix:0', 'm', NULL, NULL)")):
            with pytest.raises(apsw.ConstraintError, match="CHECK"):
                conn.execute(f"INSERT INTO {table} VALUES {values}")
        conn.execute("INSERT INTO session_head (singleton) VALUES (1)")
        assert conn.execute("SELECT session_id, head_json, head_revision FROM session_head").fetchall() == [
            ("root", "{}", 0)]
        # UNIQUE(session_id, source_key) ON CONFLICT IGNORE: the second row is dropped silently.
        insert = ("INSERT INTO queued_work_batches (batch_id, session_id, source_key, delivery_policy, slot_policy,"
                  " merge_key_json, available_at_ms, enqueued_at_ms) VALUES (?, 's', 'k', 'd', 'x', '{}', 0, 0)")
        conn.execute(insert, ("b1",))
        conn.execute(insert, ("b2",))
        assert conn.execute("SELECT batch_id FROM queued_work_batches").fetchall() == [("b1",)]
        # ON DELETE CASCADE (foreign_keys is on for lashdb connections).
        conn.execute("INSERT INTO queued_work_items VALUES ('b1', 0, 'i', '{}')")
        conn.execute("DELETE FROM queued_work_batches WHERE batch_id = 'b1'")
        assert conn.execute("SELECT count(*) FROM queued_work_items").fetchall() == [(0,)]
    finally:
        conn.close()
    conn = open_write(triggers)
    try:
        # AUTOINCREMENT: ids are never reused, tracked in sqlite_sequence.
        conn.execute("INSERT INTO trigger_subscription_seq DEFAULT VALUES; INSERT INTO trigger_subscription_seq DEFAULT VALUES")
        conn.execute("DELETE FROM trigger_subscription_seq WHERE id = 2")
        conn.execute("INSERT INTO trigger_subscription_seq DEFAULT VALUES")
        assert conn.execute("SELECT id FROM trigger_subscription_seq ORDER BY id").fetchall() == [(1,), (3,)]
        assert conn.execute("SELECT name, seq FROM sqlite_sequence").fetchall() == [("trigger_subscription_seq", 3)]
    finally:
        conn.close()


# --- cutover (SPEC §3.5) ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KIND_PARAMS)
def test_version_match_with_missing_objects_is_refused_unchanged(tmp_path, kind):
    # Issue 10: a dropped table or index at the supported version is damage, not a schema to complete.
    path = tmp_path / "partial.db"
    _create(path, kind)
    conn = _ro(path)
    full = conn.execute("SELECT type, name, sql FROM sqlite_master ORDER BY name").fetchall()
    conn.close()
    # A table that does not decide the kind (the effect journal has none besides its marker).
    first_table = next((name for type_, name, _ in full if type_ == "table" and not name.startswith("sqlite")
                        and name not in kind.marker_tables), None)
    named_index = next(name for type_, name, sql in full if type_ == "index" and sql)
    conn = apsw.Connection(str(path))
    conn.execute(f"DROP INDEX {named_index}" + (f"; DROP TABLE {first_table}" if first_table else ""))
    conn.close()
    before = snapshot_dir(tmp_path)
    with pytest.raises(SchemaDamaged) as err:
        _create(path, kind)
    assert f"missing index {named_index}" in err.value.differences
    if first_table:
        assert f"missing table {first_table}" in err.value.differences
    assert snapshot_dir(tmp_path) == before


def test_version_match_missing_table_keeps_rows_and_refuses(tmp_db):
    with Store.open(tmp_db) as store:
        ref = store.put_blob(b"kept")
    conn = apsw.Connection(str(tmp_db))
    conn.execute("DROP TABLE artifact_refs")
    conn.close()
    with pytest.raises(SchemaDamaged) as err:
        Store.open(tmp_db)
    assert err.value.differences == ("missing table artifact_refs",)
    with Store.open_readonly(tmp_db) as store:
        assert store.get_blob(ref) == b"kept" and store.blob_count_and_size()[0] == 1


@pytest.mark.parametrize("kind", KIND_PARAMS)
def test_empty_files_are_created_and_stamped(tmp_path, kind):
    zero = tmp_path / "zero.db"
    zero.touch()
    # A SQLite file with pages but no user objects left (and a non-default page size) is "empty" too.
    emptied = tmp_path / "emptied.db"
    conn = apsw.Connection(str(emptied))
    conn.execute("PRAGMA page_size = 8192; CREATE TABLE scratch (x); DROP TABLE scratch")
    conn.close()
    for path in (zero, emptied):
        _create(path, kind)
        conn = _ro(path)
        assert conn.execute("PRAGMA user_version").fetchall() == [(kind.version,)]
        assert schema.kind_of_tables(schema.table_names(conn)) is kind
        conn.close()


def _foreign(path: Path, version: int, sql: str) -> None:
    conn = apsw.Connection(str(path))
    conn.execute(f"{sql}; PRAGMA user_version = {version}")
    conn.close()


REFUSED = [
    pytest.param(0, "CREATE TABLE notes (x)", id="v0-user-table"),
    pytest.param(0, "CREATE VIEW v AS SELECT 1", id="v0-view-only"),
    pytest.param(0, "CREATE TABLE sqlitedata (x)", id="v0-table-named-like-sqlite"),
    pytest.param(99, "CREATE TABLE legacy (x)", id="v99-legacy"),
    pytest.param(99, "CREATE TABLE scratch (x); DROP TABLE scratch", id="v99-no-objects"),
]


@pytest.mark.parametrize("version, sql", REFUSED)
@pytest.mark.parametrize("kind", KIND_PARAMS)
def test_anything_else_is_refused_unchanged(tmp_path, kind, version, sql):
    path = tmp_path / "foreign.db"
    _foreign(path, version, sql)
    before = snapshot_dir(tmp_path)
    with pytest.raises(SchemaVersionError) as err:
        schema.open_for_kind(path, kind)
    assert (err.value.kind, err.value.expected, err.value.found) == (kind.name, kind.version, version)
    assert err.value.path == str(path)
    assert f"schema version {kind.version}" in str(err.value)
    assert f"reports version {version}" in str(err.value) and "no migration" in str(err.value)
    assert snapshot_dir(tmp_path) == before  # same bytes (rollback journal mode kept), no sidecar


def test_legacy_v99_session_message_and_bytes(tmp_path):
    path = tmp_path / "legacy.db"
    _foreign(path, 99, "CREATE TABLE legacy (x)")
    digest = file_sha256(path)
    with pytest.raises(SchemaVersionError) as err:
        Store.open(path)
    text = str(err.value)
    assert "99" in text and "schema version 4" in text and "version 1 only" not in text
    assert text == (f"{path}: Unsupported lash session schema: this binary supports schema version 4, but the "
                    "database reports version 99. There is no migration chain — delete the session database "
                    "and start fresh.")
    assert (err.value.kind, err.value.expected, err.value.found) == ("session", 4, 99)
    assert file_sha256(path) == digest
    assert _files(tmp_path) == ["legacy.db"]


def test_ensure_schema_alone_refuses_inside_its_transaction(tmp_path):
    # The in-transaction check (what guards a file that changed after the read-only pre-check).
    path = tmp_path / "legacy.db"
    _foreign(path, 99, "CREATE TABLE legacy (x)")
    conn = apsw.Connection(str(path))
    try:
        with pytest.raises(SchemaVersionError) as err:
            schema.ensure_schema(conn, schema.SESSION, str(path))
        assert (err.value.expected, err.value.found) == (4, 99)
        assert conn.get_autocommit()  # rolled back, no transaction left open
        assert conn.execute("SELECT name FROM sqlite_master").fetchall() == [("legacy",)]
    finally:
        conn.close()


def test_other_lash_kind_is_refused_untouched(tmp_path):
    path = tmp_path / "registry.db"
    _create(path, schema.PROCESS_REGISTRY)
    before = snapshot_dir(tmp_path)
    with pytest.raises(NotALashDatabase) as err:
        Store.open(path)
    assert err.value.expected == "session" and "process registry" in err.value.reason
    assert snapshot_dir(tmp_path) == before
    # Same version, other kind: an effect journal (v1) is not a trigger store (v1).
    effects = tmp_path / "effects.db"
    _create(effects, schema.EFFECT_REPLAY)
    before = snapshot_dir(tmp_path)
    with pytest.raises(NotALashDatabase):
        schema.open_for_kind(effects, schema.TRIGGER_STORE)
    assert snapshot_dir(tmp_path) == before


def test_not_sqlite_is_refused_untouched(tmp_path):
    path = tmp_path / "notes.db"
    path.write_bytes(b"these are not the pages you are looking for\n" * 200)
    before = snapshot_dir(tmp_path)
    with pytest.raises(NotALashDatabase) as err:
        Store.open(path)
    assert err.value.path == str(path)
    assert snapshot_dir(tmp_path) == before


def test_classify_decides_by_tables_not_name(tmp_path):
    odd = tmp_path / "looks-like.effects.db"
    _create(odd, schema.SESSION)
    found = schema.classify(odd)
    assert found.kind is schema.SESSION and found.user_version == 4 and found.supported and not found.foreign
    legacy = tmp_path / "legacy.db"
    _foreign(legacy, 99, "CREATE TABLE legacy (x)")
    found = schema.classify(legacy)
    assert found.kind is None and found.kind_name == "not lash" and found.tables == frozenset({"legacy"})
    assert os.listdir(tmp_path) and sorted(os.listdir(tmp_path)) == ["legacy.db", "looks-like.effects.db"]
