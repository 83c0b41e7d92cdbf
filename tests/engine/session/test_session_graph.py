"""The session graph over a real SessionTx: ordered appends, tombstones hidden, the active-path walk
(root first, stops at a tombstone, refuses a cycle), and undecodable rows as BackendError naming the node."""

from __future__ import annotations

import pytest

from lashdb.engine.base.errors import BackendError
from lashdb.engine.session import graph
from lashdb.engine.session.model import GraphNode
from lashdb.engine.session.store import Store

TS = "2026-01-01T00:00:00Z"


def node(node_id, parent=None):
    return GraphNode.message(node_id, "User", node_id, timestamp=TS, parent_node_id=parent)


@pytest.fixture
def store():
    with Store.memory() as s:
        yield s


def test_nodes_round_trip_in_order(store):
    nodes = [node("r"), node("a", "r"), node("b", "a")]
    store._write(lambda tx: graph.insert_nodes(tx, nodes))
    assert store._read(graph.load_nodes) == nodes
    assert store._read(lambda tx: graph.load_node(tx, "a")) == nodes[1]
    assert store._read(lambda tx: graph.load_node(tx, "zz")) is None
    assert store._read(lambda tx: graph.active_path(tx, "b")) == nodes
    assert store._read(graph.live_count) == 3


def test_a_duplicate_id_fails_the_whole_insert(store):
    store._write(lambda tx: graph.insert_nodes(tx, [node("r")]))
    with pytest.raises(BackendError, match="UNIQUE constraint failed: graph_nodes.node_id"):
        store._write(lambda tx: graph.insert_nodes(tx, [node("x"), node("r")]))
    assert [n.node_id for n in store._read(graph.load_nodes)] == ["r"]  # rolled back: no "x"


def test_tombstones_hide_nodes_and_cut_the_path(store):
    store._write(lambda tx: graph.insert_nodes(tx, [node("r"), node("a", "r"), node("b", "a")]))
    store._write(lambda tx: graph.tombstone(tx, ["a", "unknown"]))
    assert [n.node_id for n in store._read(graph.load_nodes)] == ["r", "b"]
    assert store._read(lambda tx: graph.load_node(tx, "a")) is None
    assert [n.node_id for n in store._read(lambda tx: graph.active_path(tx, "b"))] == ["b"]
    assert (store._read(graph.live_count), store._read(graph.tombstoned_count)) == (2, 1)
    assert store._write(graph.remove_tombstoned) == 1
    assert store._read(graph.tombstoned_count) == 0


def test_replace_drops_tombstoned_rows_too(store):
    store._write(lambda tx: graph.insert_nodes(tx, [node("old")]))
    store._write(lambda tx: graph.tombstone(tx, ["old"]))
    store._write(lambda tx: graph.replace_nodes(tx, [node("old"), node("n", "old")]))
    assert [n.node_id for n in store._read(graph.load_nodes)] == ["old", "n"]
    assert store._read(graph.tombstoned_count) == 0


def test_a_parent_cycle_is_a_backend_error(store):
    store._write(lambda tx: graph.insert_nodes(tx, [node("x", "y"), node("y", "x")]))
    with pytest.raises(BackendError) as caught:
        store._read(lambda tx: graph.active_path(tx, "x"))
    assert str(caught.value) == "store backend error: graph has a parent cycle at node `x`"


def test_an_undecodable_row_names_its_node(store):
    store.write(lambda c: c.execute("INSERT INTO graph_nodes (node_id, node_json) VALUES ('bad', '{\"node_id\": 1}')"))
    with pytest.raises(BackendError, match="^store backend error: graph node `bad` cannot be decoded: "):
        store._read(graph.load_nodes)
    with pytest.raises(BackendError, match="graph node `bad`"):
        store._read(lambda tx: graph.load_node(tx, "bad"))
