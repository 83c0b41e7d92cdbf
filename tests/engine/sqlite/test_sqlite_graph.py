"""SqliteGraphRows: ordered appends, tombstones hidden from every read, the recursive ancestor walk."""

from __future__ import annotations

import json

import apsw
import pytest

from lashdb.engine.sqlite.connection import open_memory
from lashdb.engine.sqlite.graph import SqliteGraphRows
from lashdb.engine.sqlite.kinds import SESSION
from lashdb.engine.sqlite.schema import ensure_schema


def node(node_id, parent=None):
    return node_id, json.dumps({"node_id": node_id, "parent_node_id": parent})


@pytest.fixture
def rows():
    conn = open_memory()
    ensure_schema(conn, SESSION)
    yield SqliteGraphRows(conn)
    conn.close()


def test_insert_keeps_order_and_live_one_reads_text(rows):
    rows.insert([node("b"), node("a", "b")])
    assert [r[0] for r in rows.live()] == ["b", "a"]
    assert json.loads(rows.live_one("a")) == {"node_id": "a", "parent_node_id": "b"}
    assert rows.live_one("zz") is None
    assert (rows.live_count(), rows.tombstoned_count()) == (2, 0)


def test_tombstoned_rows_are_hidden_then_removed(rows):
    rows.insert([node("r"), node("c1", "r"), node("c2", "c1")])
    rows.tombstone(["c1"])
    assert [r[0] for r in rows.live()] == ["r", "c2"]
    assert rows.live_one("c1") is None
    assert (rows.live_count(), rows.tombstoned_count()) == (2, 1)
    assert rows.remove_tombstoned() == 1
    assert rows.remove_tombstoned() == 0
    assert (rows.live_count(), rows.tombstoned_count()) == (2, 0)


def test_path_rows_walks_live_ancestors_and_stops_at_a_tombstone(rows):
    rows.insert([node("r"), node("a", "r"), node("b", "a"), node("side", "r")])
    assert sorted((r[0], r[2]) for r in rows.path_rows("b")) == [("a", "r"), ("b", "a"), ("r", None)]
    rows.tombstone(["a"])
    assert [(r[0], r[2]) for r in rows.path_rows("b")] == [("b", "a")]
    assert rows.path_rows("a") == []


def test_a_cyclic_chain_terminates(rows):
    rows.insert([node("x", "y"), node("y", "x")])
    assert sorted(r[0] for r in rows.path_rows("x")) == ["x", "y"]


def test_replace_drops_everything_first(rows):
    rows.insert([node("old")])
    rows.tombstone(["old"])
    rows.replace([node("n1"), node("n2", "n1")])
    assert [r[0] for r in rows.live()] == ["n1", "n2"]
    assert rows.tombstoned_count() == 0
    with pytest.raises(apsw.ConstraintError):  # node_id is UNIQUE; the statement class runs raw
        rows.insert([node("n1")])


def test_summary_scan_counts_rows_and_the_first_live_user_message(rows):
    user = json.dumps({"kind": "event", "event": {"Conversation": {"role": "User", "parts": []}}})
    tool = json.dumps({"kind": "event", "event": {"Conversation": {"role": "Tool", "parts": []}}})
    assert rows.summary_scan(True) == (0, 0, 0, None)
    rows.insert([("u0", user), ("t1", tool), ("u2", user), ("bad", 'not json "User"'), ("u4", user)])
    rows.tombstone(["u0"])
    assert rows.summary_scan(False) == (4, 1, None, None)
    assert rows.summary_scan(True) == (4, 1, 2, "u2")
