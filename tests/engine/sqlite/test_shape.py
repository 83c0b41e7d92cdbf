"""The expected shape comes from the DDL; each way a file differs is named in one operator sentence."""

from __future__ import annotations

import apsw
import pytest

from lashdb.engine.sqlite import shape
from lashdb.engine.sqlite.kinds import KINDS, PROCESS_REGISTRY, SESSION, TRIGGER_STORE, SchemaKind


def _db(ddl: str) -> apsw.Connection:
    conn = apsw.Connection(":memory:")
    conn.execute(ddl)
    return conn


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.name)
def test_each_kinds_own_ddl_has_no_differences(kind):
    conn = _db(kind.ddl)
    assert shape.schema_differences(conn, kind) == []
    assert shape.object_differences(conn, kind) == []
    assert shape.read_shape(conn) == shape.expected_shape(kind)


def test_expected_shape_reads_columns_constraints_and_indexes():
    want = shape.expected_shape(SESSION)
    assert ("table", "blobs") in want.objects and ("index", "idx_queued_work_ready") in want.objects
    assert not any(name.startswith("sqlite_") for _, name in want.objects)
    assert want.tables["blobs"].columns == (("hash", "TEXT", False, None, 1), ("content", "BLOB", True, None, 0))
    assert ("pk", ("session_id", "turn_id")) in want.tables["runtime_turn_commits"].constraints
    assert want.tables["queued_work_batches"].indexes["idx_queued_work_claim"] == (
        ("session_id", "claim_id", "claim_token"), False, False)
    assert want.tables["attachment_manifest"].indexes["idx_attachment_manifest_uncommitted"][2] is True


def test_an_empty_database_misses_every_object():
    diffs = shape.schema_differences(_db("SELECT 1"), TRIGGER_STORE)
    assert {(d.change, d.what, d.name) for d in diffs} == {
        (shape.MISSING, t, n) for t, n in shape.expected_shape(TRIGGER_STORE).objects}
    assert "missing table trigger_subscriptions" in [str(d) for d in diffs]


def test_added_objects_and_a_wrong_column_are_named():
    ddl = PROCESS_REGISTRY.ddl.replace("status                TEXT NOT NULL,", "status                TEXT,")
    conn = _db(ddl + "CREATE TABLE extra (x); CREATE VIEW v AS SELECT 1;")
    texts = [str(d) for d in shape.schema_differences(conn, PROCESS_REGISTRY)]
    assert texts == [
        "unexpected table extra (not in the lash process registry schema)",
        "unexpected view v (not in the lash process registry schema)",
        "table processes: column status is TEXT, expected TEXT NOT NULL",
    ]
    assert [str(d) for d in shape.object_differences(conn, PROCESS_REGISTRY)] == texts[:2]


def test_missing_and_extra_columns_constraints_and_foreign_keys():
    conn = _db("""
        CREATE TABLE blobs (hash TEXT, content BLOB NOT NULL, extra INTEGER);
        CREATE TABLE process_wake_acks (process_id TEXT NOT NULL, sequence INTEGER NOT NULL,
                                        PRIMARY KEY (process_id, sequence));
    """)
    mini = SchemaKind("mini", """
        CREATE TABLE blobs (hash TEXT PRIMARY KEY, content BLOB NOT NULL);
        CREATE TABLE processes (process_id TEXT PRIMARY KEY);
        CREATE TABLE process_wake_acks (process_id TEXT NOT NULL, sequence INTEGER NOT NULL,
            PRIMARY KEY (process_id, sequence), FOREIGN KEY (process_id) REFERENCES processes(process_id)
            ON DELETE CASCADE);
    """, 1, ("blobs",))
    texts = [str(d) for d in shape.schema_differences(conn, mini)]
    assert texts == [
        "missing table processes",
        "table blobs: column hash is TEXT, expected TEXT PRIMARY KEY",
        "table blobs: unexpected column extra",
        "table blobs: missing PRIMARY KEY (hash)",
        "table process_wake_acks: missing FOREIGN KEY (process_id) REFERENCES processes (process_id) "
        "ON DELETE CASCADE",
    ]


def test_column_order_and_a_redefined_index_are_differences():
    kind = SESSION
    ddl = kind.ddl.replace("    hash    TEXT PRIMARY KEY,\n    content BLOB NOT NULL\n",
                           "    content BLOB NOT NULL,\n    hash    TEXT PRIMARY KEY\n")
    ddl = ddl.replace("ON queued_work_batches(session_id, claim_id, claim_token)",
                      "ON queued_work_batches(claim_id)")
    diffs = shape.schema_differences(_db(ddl), kind)
    assert [str(d) for d in diffs] == [
        "table blobs: columns in the order content, hash, expected hash, content",
        "index idx_queued_work_claim is ON queued_work_batches (claim_id), "
        "expected ON queued_work_batches (session_id, claim_id, claim_token)",
    ]
    assert diffs[1].change == shape.DIFFERS and diffs[1].what == "index"



def test_read_objects_is_what_the_filtered_statement_selects(tmp_path):
    """read_objects filters the plain sqlite_master read in Python: the same set as _OBJECTS_SQL."""
    conn = apsw.Connection(str(tmp_path / "x.db"))
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY AUTOINCREMENT, v UNIQUE); INSERT INTO t (v) VALUES (1);"
                 "CREATE INDEX t_v ON t (v); CREATE VIEW w AS SELECT * FROM t;"
                 "CREATE TRIGGER g AFTER INSERT ON t BEGIN SELECT 1; END; ANALYZE;")
    names = {n for (n,) in conn.execute("SELECT name FROM sqlite_master")}
    assert {"sqlite_sequence", "sqlite_stat1", "sqlite_autoindex_t_1"} <= names
    got = shape.read_objects(conn)
    assert got == frozenset(conn.execute(shape._OBJECTS_SQL).fetchall())
    assert got == {("table", "t"), ("index", "t_v"), ("view", "w"), ("trigger", "g")}
    differences = shape.objects_differences(got, SESSION)
    assert differences == tuple(shape.object_differences(conn, SESSION))
    assert ("unexpected", "table", "t") in {(d.change, d.what, d.name) for d in differences}
    assert shape.objects_differences(got, SESSION) is differences  # remembered per set of objects
