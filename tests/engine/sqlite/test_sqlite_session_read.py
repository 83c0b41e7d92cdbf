"""read_meta: column-tolerant meta reading (native v4 and upstream v38's relation columns); singleton_sql."""

from __future__ import annotations

import apsw

from lashdb.engine.sqlite.connection import open_memory
from lashdb.engine.sqlite.kinds import SESSION
from lashdb.engine.sqlite.schema import ensure_schema
from lashdb.engine.sqlite.session_read import read_meta, singleton_sql
from lashdb.engine.sqlite.session_rows import SqliteSessionRows


def test_singleton_sql():
    assert singleton_sql(frozenset({"singleton", "x"})) == " WHERE singleton = 1"
    assert singleton_sql({"x"}) == " LIMIT 1"


def test_native_meta():
    c = open_memory()
    ensure_schema(c, SESSION)
    assert read_meta(c) is None
    SqliteSessionRows(c).save_meta("s1", "name", "2024-01-01T00:00:00Z", "m", "/w",
                                   '{"kind":"child","parent_session_id":"p"}')
    meta = read_meta(c)
    assert (meta.session_id, meta.session_name, meta.model, meta.cwd) == ("s1", "name", "m", "/w")
    assert meta.created_at_raw == "2024-01-01T00:00:00Z"
    assert (meta.relation.kind, meta.relation.parent_session_id) == ("child", "p")


def _v38(c: apsw.Connection) -> None:
    c.execute("CREATE TABLE session_meta (session_id TEXT, relation_kind TEXT, parent_session_id TEXT, "
              "caused_by_kind TEXT, caused_by_turn_id TEXT)")


def test_v38_child_relation_and_missing_columns_are_none():
    c = open_memory()
    _v38(c)
    c.execute("INSERT INTO session_meta VALUES ('s', 'child', 'parent', 'turn', NULL)")
    meta = read_meta(c)
    assert meta.session_id == "s"
    assert (meta.session_name, meta.model, meta.cwd, meta.created_at_raw) == (None, None, None, None)
    assert meta.relation.kind == "child" and meta.relation.parent_session_id == "parent"
    assert meta.relation.caused_by == {"kind": "turn"}  # NULL caused_by_* columns dropped


def test_v38_root_and_non_text_values():
    c = open_memory()
    _v38(c)
    c.execute("INSERT INTO session_meta VALUES (X'3432', 'root', NULL, NULL, NULL)")
    meta = read_meta(c)
    assert meta.session_id is None  # a BLOB value is not passed off as an id
    assert meta.relation.kind == "root"


def test_no_table_or_no_known_column_is_none():
    c = open_memory()
    assert read_meta(c) is None
    c.execute("CREATE TABLE session_meta (unrelated TEXT)")
    c.execute("INSERT INTO session_meta VALUES ('x')")
    assert read_meta(c) is None
