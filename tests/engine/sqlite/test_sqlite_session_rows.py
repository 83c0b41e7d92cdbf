"""SqliteSessionRows on a real session schema, plus the pre-seam connection functions."""

from __future__ import annotations

import apsw
import pytest

from lashdb.engine.sqlite import session_rows
from lashdb.engine.sqlite.connection import open_memory
from lashdb.engine.sqlite.kinds import SESSION
from lashdb.engine.sqlite.schema import ensure_schema
from lashdb.engine.sqlite.session_rows import SqliteSessionRows


@pytest.fixture
def rows():
    conn = open_memory()
    ensure_schema(conn, SESSION)
    yield SqliteSessionRows(conn)
    conn.close()


def test_meta_replaced_in_place(rows):
    assert rows.meta() is None
    rows.save_meta("s1", "first", "2024-01-01", "m", None, '{"kind":"root"}')
    assert rows.meta() == ("s1", "first", "2024-01-01", "m", None, '{"kind":"root"}')
    rows.save_meta("s1", "name", "2024-01-01", "m2", "/cwd", '{"kind":"root"}')
    assert rows.meta() == ("s1", "name", "2024-01-01", "m2", "/cwd", '{"kind":"root"}')
    assert rows.conn.execute("SELECT count(*) FROM session_meta").fetchall() == [(1,)]


def test_head(rows):
    assert rows.head() is None
    rows.save_head("s1", '{"a":1}', 1)
    rows.save_head("s1", '{"a":2}', 2)
    assert rows.head() == ('{"a":2}', 2)


def test_usage_in_order(rows):
    assert rows.usage() == []
    rows.insert_usage([("turn", "m", 1, 2, 3, 4), ("tool", "m2", 5, 6, 0, 0)])
    assert rows.usage() == [(1, "turn", "m", 1, 2, 3, 4), (2, "tool", "m2", 5, 6, 0, 0)]


def test_turn_commits(rows):
    assert rows.turn_commit("s", "t") is None
    rows.record_turn_commit("s", "t", "hash", '{"r":1}', 77)
    assert rows.turn_commit("s", "t") == ("hash", '{"r":1}')
    assert rows.turn_commit("other", "t") is None
    with pytest.raises(apsw.ConstraintError):  # a turn is recorded once; the rule above decides replays
        rows.record_turn_commit("s", "t", "hash2", "{}", 78)


def test_artifact_refs(rows):
    assert rows.artifact_blob_ref("a") is None
    rows.put_artifact_ref("b", "blob-b")
    rows.put_artifact_ref("a", "blob-a")
    rows.put_artifact_ref("a", "blob-a2")
    assert rows.artifact_blob_ref("a") == "blob-a2"
    assert rows.artifact_refs() == [("a", "blob-a2"), ("b", "blob-b")]


def test_pre_seam_functions_decode_through_records(rows):
    c = rows.conn
    assert session_rows.load_meta(c) is None
    assert session_rows.load_usage(c) == []
    rows.insert_usage([("turn", "m", 1, 2, 3, 4)])
    usage = session_rows.load_usage(c)
    assert len(usage) == 1
    session_rows.insert_usage(c, usage)
    assert [r[1:] for r in rows.usage()] == [("turn", "m", 1, 2, 3, 4)] * 2
