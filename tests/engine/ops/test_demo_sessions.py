"""lashdb.demo.build_demo: what it writes, read back through the engine's public API."""

from __future__ import annotations


import pytest

from lashdb.engine.ops.demo import COMPRESSION_THRESHOLD, DEMO_NOW_MS, build_demo
from lashdb.engine import DatabaseError, SessionStoreFactory, Store
from lashdb.engine.session.factory import safe_session_file_name


@pytest.fixture
def demo(tmp_path):
    return build_demo(tmp_path / "root")


def test_layout_four_roots_and_one_child(demo):
    assert len(demo.sessions) == 5
    assert len(demo.root_sessions) == 4 and len(demo.child_sessions) == 1
    files = sorted(p.name for p in demo.root.iterdir())
    first = safe_session_file_name(demo.sessions[0].session_id)
    assert files == sorted([safe_session_file_name(s.session_id) for s in demo.sessions]
                           + [first + ".effects.db", first + ".processes.db", first + ".triggers.db"])
    assert [s.name for s in demo.root_sessions] == [
        "Fix the flaky parser test", "Release notes for 0.4", "Investigate slow start-up", "Plan the storage cut-over"]
    child = demo.child_sessions[0]
    assert child.parent_session_id == demo.sessions[0].session_id
    assert child.path == SessionStoreFactory(demo.root).path_for_session(child.session_id)


def test_meta_relation_and_times(demo):
    first = demo.sessions[0]
    with Store.open_readonly(first.path) as store:
        meta = store.load_session_meta()
    assert meta.session_name == "Fix the flaky parser test"
    assert meta.model == "claude-sonnet-4-5"
    assert meta.cwd == "/home/demo/src/lashlang"
    assert meta.created_at == f"unix:{(DEMO_NOW_MS - 4 * 86_400_000) // 1000}"
    assert meta.relation.kind == "root"
    with Store.open_readonly(demo.child_sessions[0].path) as store:
        child_meta = store.load_session_meta()
    assert child_meta.relation.kind == "child"
    assert child_meta.relation.parent_session_id == first.session_id
    assert child_meta.relation.caused_by["kind"] == "tool_call"
    # The database's mtime is the session's last activity.
    assert first.path.stat().st_mtime_ns // 1_000_000 == first.modified_at_ms == 1_779_959_540_000


def test_graph_head_tombstones_and_image(demo):
    first = demo.sessions[0]
    with Store.open_readonly(first.path) as store:
        head = store.load_session_head_meta()
        graph = store.load_session_graph()
        path = store.load_active_path()
        info = store.load_picker_info()
    assert head.head_revision == first.head_revision == 3
    assert head.leaf_node_id == first.leaf_node_id == path.nodes[-1].node_id
    assert head.graph_node_count == len(graph.nodes) == first.live_nodes == 8
    assert first.tombstoned_nodes == 2
    assert [n.role for n in graph.user_messages()] == ["User"] * 3
    assert graph.user_messages()[1].text == "Here is the failure from CI:\n\n[Image attached]"
    assert info.user_message_count == 3
    assert info.first_user_message.startswith("tests/test_parser.py::test_nested_blocks fails")
    assert {n.kind for n in graph.nodes} == {"event", "plugin"}
    assert "Could you paste the full traceback as text?" not in [n.text for n in graph.nodes]


def test_a_fork_in_the_release_notes_session(demo):
    notes = demo.sessions[1]
    with Store.open_readonly(notes.path) as store:
        graph = store.load_session_graph()
    parents = [n.parent_node_id for n in graph.nodes if n.role == "User" and n.parent_node_id]
    assert len(parents) == 2 and parents[0] == parents[1]  # draft and edited message share a parent
    assert notes.user_messages == 3


def test_checkpoints_on_both_sides_of_the_threshold_and_garbage(demo):
    first = demo.sessions[0]
    with Store.open_readonly(first.path) as store:
        checkpoint = store.get_checkpoint(first.checkpoint_ref)
        plugin = store.get_blob_envelope(checkpoint.plugin_snapshot_ref)
        tool = store.get_blob_envelope(checkpoint.tool_state_ref)
        report = store.gc_unreachable(dry_run=True)
        assert store.list_artifact_refs()[0][0] == "lashlang:module/demo_main@1"
    assert checkpoint.turn_state["turn_index"] == 3
    assert plugin.compression == "Zlib" and tool.compression == "None"
    assert len(plugin.stored_content) < COMPRESSION_THRESHOLD
    assert report.root_count == 2 and report.deleted_blob_count == 7 and report.freed_bytes == 3474
    slow = demo.sessions[2]
    with Store.open_readonly(slow.path) as store:
        tool_env = store.get_blob_envelope(store.get_checkpoint(slow.checkpoint_ref).tool_state_ref)
        assert store.gc_unreachable(dry_run=True).deleted_blob_count == 8
    assert tool_env.compression == "Zlib"


def test_usage_ledger_drops_the_zero_row(demo):
    with Store.open_readonly(demo.sessions[0].path) as store:
        deltas = store.load_usage_deltas()
        ledger = store.load_token_ledger()
    assert len(deltas) == 5
    assert [(e.source, e.model) for e in ledger] == [("turn", "claude-sonnet-4-5"),
                                                      ("compaction", "claude-haiku-4-5")]
    assert ledger[0].usage.input_tokens == 1545 + 2745 + 3945
    # The cache-only row (total 0) is dropped before the merge, so its 512 are not counted.
    assert ledger[0].usage.cached_input_tokens == 0 + 800 + 1600


def test_more_sessions_than_scripts(tmp_path):
    summary = build_demo(tmp_path / "r", 6)
    assert [s.name for s in summary.root_sessions][4:] == ["Fix the flaky parser test (2)",
                                                           "Release notes for 0.4 (2)"]
    assert len({s.session_id for s in summary.sessions}) == 7


def test_refuses_non_empty_directory_and_zero_sessions(tmp_path):
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "keep.txt").write_text("mine")
    with pytest.raises(DatabaseError, match="not an empty directory"):
        build_demo(tmp_path / "busy")
    assert sorted(p.name for p in (tmp_path / "busy").iterdir()) == ["keep.txt"]
    with pytest.raises(DatabaseError, match="at least one session"):
        build_demo(tmp_path / "none", 0)
    assert not (tmp_path / "none").exists()


def test_empty_existing_directory_is_fine(tmp_path):
    (tmp_path / "empty").mkdir()
    assert len(build_demo(tmp_path / "empty", 1).sessions) == 2
