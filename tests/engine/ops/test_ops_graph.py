"""``graph show`` in the engine (lashdb.engine.ops.graph; CLI.md): the tree, tombstones, the active
path to a leaf, leaf lookup errors, damaged rows, and upstream v38's parent column — real values.
(The tests reach ``graph_view`` through ``ops.inspect``, which re-exports it.)"""

from __future__ import annotations

import pytest

from conftest import FIXTURES_DIR
from lashdb.engine.ops.demo import build_demo
from lashdb.engine import LookupFailed, Store
from lashdb.engine.ops import inspect

V38 = FIXTURES_DIR


@pytest.fixture
def demo(tmp_path):
    return build_demo(tmp_path / "root")


def _write(path, *statements):
    with Store.open(path) as store:
        store.write(lambda c: [c.execute(sql, params) for sql, params in statements])


def test_graph_tree_hides_tombstones_by_default(demo):
    first = demo.sessions[0]
    view = inspect.graph_view(first.path).to_json()
    assert view["mode"] == "tree" and view["shown"] == 8 and view["omitted"] == 0
    assert view["live_nodes"] == 8 and view["tombstoned_nodes"] == 2
    assert [n["label"] for n in view["nodes"]] == ["User", "tool_activity", "Assistant", "User", "tool_activity",
                                                   "Assistant", "User", "Assistant"]
    assert all(n["depth"] == 0 and n["on_active_path"] for n in view["nodes"])
    assert view["nodes"][0]["timestamp"] == "2026-05-28T09:00:20Z"
    assert view["nodes"][0]["timestamp_raw"] == "2026-05-28T09:00:20+00:00"
    assert view["nodes"][3]["text"] == "Here is the failure from CI:"
    assert view["nodes"][1]["text"].startswith('{"tool":"read_file"')
    assert set(view["nodes"][0]) == {"node_id", "short_id", "parent_node_id", "seq", "depth", "kind", "role",
                                     "plugin_type", "event_type", "label", "text", "full_text", "timestamp", "timestamp_epoch_ms",
                                     "timestamp_raw", "tombstoned", "on_active_path", "error"}


def test_graph_tree_with_tombstones_indents_the_fork(demo):
    view = inspect.graph_view(demo.sessions[0].path, tombstoned=True).to_json()
    assert view["shown"] == 10
    rows = [(n["depth"], n["label"], n["tombstoned"]) for n in view["nodes"]]
    assert rows[3:7] == [(0, "User", False), (1, "Assistant", True), (1, "reply_feedback", True),
                         (1, "tool_activity", False)]


def test_graph_active_path_leaf_prefix_and_limit(demo):
    first = demo.sessions[0]
    path = inspect.graph_view(first.path, active_path=True).to_json()
    assert path["mode"] == "active_path" and path["leaf_node_id"] == first.leaf_node_id
    assert [n["node_id"] for n in path["nodes"]][-1] == first.leaf_node_id
    assert path["nodes"][0]["parent_node_id"] is None and path["shown"] == 8
    mid = path["nodes"][2]["node_id"]
    short = inspect.graph_view(first.path, leaf=mid[:10]).to_json()
    assert short["mode"] == "active_path" and [n["node_id"] for n in short["nodes"]] == \
        [n["node_id"] for n in path["nodes"][:3]]
    limited = inspect.graph_view(first.path, active_path=True, limit=2).to_json()
    assert limited["shown"] == 2 and limited["omitted"] == 6
    assert [n["node_id"] for n in limited["nodes"]] == [n["node_id"] for n in path["nodes"][-2:]]


def test_graph_leaf_errors(demo):
    first = demo.sessions[0]
    with pytest.raises(LookupFailed, match="ambiguous"):
        inspect.graph_view(first.path, leaf="n_")
    with pytest.raises(LookupFailed, match="no graph node"):
        inspect.graph_view(first.path, leaf="zzzz")
    dead = inspect.graph_view(first.path, tombstoned=True).to_json()["nodes"][4]
    assert dead["tombstoned"]
    with pytest.raises(LookupFailed, match="tombstoned"):
        inspect.graph_view(first.path, leaf=dead["node_id"])
    walk = inspect.graph_view(first.path, leaf=dead["node_id"], tombstoned=True).to_json()
    assert walk["nodes"][-1]["node_id"] == dead["node_id"] and len(walk["nodes"]) == 5


def test_graph_shows_a_damaged_row_instead_of_failing(demo):
    first = demo.sessions[0]
    _write(first.path, ("UPDATE graph_nodes SET node_json = 'nope' WHERE seq = 2", ()))
    nodes = inspect.graph_view(first.path).to_json()["nodes"]
    broken = [n for n in nodes if n["error"]]
    assert len(broken) == 1 and broken[0]["kind"] == "?" and broken[0]["error"].startswith("cannot decode")


def test_graph_of_upstream_v38_uses_the_parent_column():
    view = inspect.graph_view(V38 / "durable-core.db").to_json()
    assert [n["kind"] for n in view["nodes"]] == ["frame_open", "event", "plugin"]
    assert [n["short_id"] for n in view["nodes"]] == ["frame-no", "n_a4ce52", "n_f6cedd"]
    assert view["nodes"][2]["parent_node_id"] == view["nodes"][1]["node_id"]
    assert all(n["on_active_path"] for n in view["nodes"])
    active = inspect.graph_view(V38 / "durable-core.db", active_path=True).to_json()
    assert active["shown"] == 3 and active["nodes"][1]["text"] == "durable read user message"


def test_inspect_reexports_graph_view_from_ops_graph():
    from lashdb.engine.ops import graph

    assert inspect.graph_view is graph.graph_view
