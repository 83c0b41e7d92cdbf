"""Session store behaviours (SPEC §5, runtime-contract §1 and §2.5): meta and head documents,
graph reads, tombstones and vacuum, the usage ledger, picker info, and errors that are raised
rather than swallowed.
"""

from __future__ import annotations

import hashlib
import json
import os

import pytest

from lashdb.engine.codec import BlobProfile, Descriptor
from lashdb.engine.errors import BackendError, ChecksumMismatch, DecompressionLimitExceeded
from lashdb.engine.session.model import (
    GraphNode,
    HydratedCheckpoint,
    SessionHeadMeta,
    SessionMeta,
    SessionRelation,
    TokenLedgerEntry,
    TokenUsage,
)
from lashdb.engine.session.store import ReadOnlyStore, Store, StoreOptions

CONFIG = {"provider_id": "p", "model": {"id": "m", "limits": {"context_window_tokens": 1000}}}


@pytest.fixture
def store(tmp_db):
    with Store.open(tmp_db) as opened:
        yield opened


def node(node_id, parent=None, role="User", text="x"):
    return GraphNode.message(node_id, role, text, timestamp=f"2026-01-01T00:00:{len(node_id):02d}Z",
                             parent_node_id=parent)


def raw(store, sql, params=()):
    return store.read(lambda c: c.execute(sql, params).fetchall())


# --- meta -------------------------------------------------------------------------------------------


def test_session_meta_round_trip_and_json_shape(store):
    assert store.load_session_meta() is None
    meta = SessionMeta("s1", "Session one", "unix:1700000000", "model-a", "/work",
                       SessionRelation.child("parent-1", {"kind": "tool", "call_id": "c1"}))
    store.save_session_meta(meta)
    assert store.load_session_meta() == meta
    assert meta.to_json() == {
        "session_id": "s1", "session_name": "Session one", "created_at": "unix:1700000000", "model": "model-a",
        "cwd": "/work",
        "relation": {"kind": "child", "parent_session_id": "parent-1", "caused_by": {"kind": "tool", "call_id": "c1"}},
    }
    assert raw(store, "SELECT relation_json FROM session_meta") == [
        ('{"kind":"child","parent_session_id":"parent-1","caused_by":{"kind":"tool","call_id":"c1"}}',)]
    # Saving replaces the row; cwd may be null; root relation has no other keys.
    store.save_session_meta(SessionMeta("s1", "renamed", "unix:1", "model-b"))
    assert raw(store, "SELECT session_name, model, cwd, relation_json FROM session_meta") == [
        ("renamed", "model-b", None, '{"kind":"root"}')]
    assert store.load_session_meta().to_json()["cwd"] is None


@pytest.mark.parametrize("relation_json", [None, "not json", '{"kind":"child"}', "[1,2]"])
def test_missing_or_unparsable_relation_reads_as_root(store, relation_json):
    store.save_session_meta(SessionMeta("s1", "s1", "unix:1", "m"))
    store.write(lambda c: c.execute("UPDATE session_meta SET relation_json = ?", (relation_json,)))
    assert store.load_session_meta().relation.to_json() == {"kind": "root"}


# --- head ---------------------------------------------------------------------------------------------


def test_head_json_omits_empty_optionals(store):
    store.save_session_head_meta(SessionHeadMeta("s1", 3, CONFIG))
    [(text, revision)] = raw(store, "SELECT head_json, head_revision FROM session_head")
    assert revision == 3
    assert text == ('{"session_id":"s1","head_revision":3,"config":{"provider_id":"p","model":{"id":"m",'
                    '"limits":{"context_window_tokens":1000}}},"agent_frames":[],"graph_node_count":0}')
    assert store.load_session_head_meta() == SessionHeadMeta("s1", 3, CONFIG)


def test_head_json_full_shape_and_round_trip(store):
    ledger = (TokenLedgerEntry("turn", "m", TokenUsage(1, 2, 3, 4)),)
    head = SessionHeadMeta("s1", 7, CONFIG, ({"frame_id": "f1"},), "f1", "c" * 64, "leaf-1", 5, ledger)
    store.save_session_head_meta(head)
    doc = json.loads(raw(store, "SELECT head_json FROM session_head")[0][0])
    assert list(doc) == ["session_id", "head_revision", "config", "agent_frames", "current_agent_frame_id",
                         "checkpoint_ref", "leaf_node_id", "graph_node_count", "token_ledger"]
    assert doc["token_ledger"] == [{"source": "turn", "model": "m", "usage": {
        "input_tokens": 1, "output_tokens": 2, "cached_input_tokens": 3, "reasoning_tokens": 4}}]
    assert (doc["current_agent_frame_id"], doc["checkpoint_ref"], doc["leaf_node_id"]) == ("f1", "c" * 64, "leaf-1")
    assert store.load_session_head_meta() == head


def test_head_revision_column_overrides_json(store):
    store.save_session_head_meta(SessionHeadMeta("s1", 2, CONFIG))
    store.write(lambda c: c.execute("UPDATE session_head SET head_revision = 9"))
    assert json.loads(raw(store, "SELECT head_json FROM session_head")[0][0])["head_revision"] == 2
    assert store.load_session_head_meta().head_revision == 9
    assert store.load_session_head().head_revision == 9


def test_undecodable_head_is_an_error_not_absent(store):
    store.save_session_head_meta(SessionHeadMeta("s1", 1, CONFIG))
    store.write(lambda c: c.execute("UPDATE session_head SET head_json = '{broken'"))
    with pytest.raises(BackendError, match="^store backend error: decode session head: "):
        store.load_session_head_meta()
    store.write(lambda c: c.execute("""UPDATE session_head SET head_json = '{"session_id":"s1"}'"""))
    with pytest.raises(BackendError, match="config"):
        store.load_session_head()


# --- graph --------------------------------------------------------------------------------------------

BRANCHY = [node("root"), node("left", "root", "Assistant"), node("right-leaf", "root", "Assistant"),
           node("left-leaf", "left")]


def test_active_path_follows_parents_root_first(store):
    store.append_session_graph_nodes(BRANCHY)
    assert [n.node_id for n in store.load_session_graph().nodes] == ["root", "left", "right-leaf", "left-leaf"]
    left = store.load_active_path("left-leaf")
    assert [n.node_id for n in left.nodes] == ["root", "left", "left-leaf"] and left.leaf_node_id == "left-leaf"
    assert [n.node_id for n in store.load_active_path("right-leaf").nodes] == ["root", "right-leaf"]
    assert store.load_active_path("left-leaf").nodes[1] == BRANCHY[1]  # nodes come back as stored
    # Default leaf: the head's; none -> empty; unknown leaf -> empty with the leaf kept.
    assert store.load_active_path().nodes == ()
    store.save_session_head_meta(SessionHeadMeta("s1", 1, CONFIG, leaf_node_id="right-leaf"))
    assert [n.node_id for n in store.load_active_path().nodes] == ["root", "right-leaf"]
    missing = store.load_active_path("nope")
    assert (missing.nodes, missing.leaf_node_id) == ((), "nope")
    assert store.load_session_head().graph.leaf_node_id == "right-leaf"


def test_parent_cycle_raises(store):
    store.append_session_graph_nodes([node("a", "c"), node("b", "a"), node("c", "b"), node("d", "c")])
    with pytest.raises(BackendError, match="cycle"):
        store.load_active_path("d")
    store.append_session_graph_nodes([node("self", "self")])
    with pytest.raises(BackendError, match="cycle at node `self`"):
        store.load_active_path("self")


def test_tombstones_hide_nodes_until_vacuum_removes_them(store):
    store.append_session_graph_nodes(BRANCHY)
    store.tombstone_nodes(["left", "unknown-id"])
    assert [n.node_id for n in store.load_session_graph().nodes] == ["root", "right-leaf", "left-leaf"]
    assert store.load_node("left") is None and store.load_node("root") == BRANCHY[0]
    assert store.load_active_path("left-leaf").nodes == (BRANCHY[3],)  # the walk stops at the hidden parent
    assert raw(store, "SELECT count(*) FROM graph_nodes") == [(4,)]
    store.tombstone_nodes(["right-leaf"])
    report = store.vacuum()
    assert (report.removed_node_count, report.compacted) == (2, False)
    assert raw(store, "SELECT node_id FROM graph_nodes ORDER BY seq") == [("root",), ("left-leaf",)]
    assert store.vacuum().removed_node_count == 0


def test_vacuum_compact_returns_space_and_reports_sizes(store):
    store.put_artifact_blob(Descriptor.generic(), os.urandom(2 << 20))
    store.append_session_graph_nodes([node("gone")])
    store.tombstone_nodes(["gone"])
    store.gc_unreachable()  # no roots: the 2 MiB blob goes
    report = store.vacuum(compact=True)
    assert report.removed_node_count == 1 and report.compacted
    assert report.size_before > 2 << 20
    assert report.size_after == store.size_on_disk() == os.path.getsize(store.path) < 256 << 10
    assert os.path.getsize(store.path + "-wal") == 0  # wal_checkpoint(TRUNCATE)
    assert report.to_json() == {"removed_node_count": 1, "compressed_blobs": 0, "compressed_bytes_saved": 0,
                                "compacted": True, "compact_error": None,
                                "size_before": report.size_before, "size_after": report.size_after}


def test_append_is_all_or_nothing(store):
    store.append_session_graph_nodes([node("n1")])
    with pytest.raises(BackendError) as err:
        store.append_session_graph_nodes([node("n2", "n1"), node("n1"), node("n3")])
    assert str(err.value) == "store backend error: UNIQUE constraint failed: graph_nodes.node_id"
    assert raw(store, "SELECT node_id FROM graph_nodes") == [("n1",)]
    store.tombstone_nodes(["n1"])
    with pytest.raises(BackendError, match="UNIQUE"):  # a tombstoned id is still taken
        store.append_session_graph_nodes([node("n1")])


def test_replace_graph_drops_tombstoned_rows_too(store):
    store.append_session_graph_nodes(BRANCHY)
    store.tombstone_nodes(["left"])
    store.replace_session_graph([node("only")])
    assert raw(store, "SELECT node_id, tombstoned FROM graph_nodes") == [("only", 0)]


def test_undecodable_rows_raise_naming_the_row(store):
    store.append_session_graph_nodes([node("good"), node("bad")])
    store.write(lambda c: c.execute("UPDATE graph_nodes SET node_json = '{' WHERE node_id = 'bad'"))
    with pytest.raises(BackendError, match="graph node `bad` cannot be decoded"):
        store.load_session_graph()
    store.write(lambda c: c.execute(
        "INSERT INTO usage_deltas (source, model, input_tokens, output_tokens, cached_input_tokens, "
        "reasoning_tokens) VALUES ('turn', 'm', 'many', 0, 0, 0)"))
    with pytest.raises(BackendError, match="usage_deltas row 1"):
        store.load_token_ledger()


# --- usage ledger -------------------------------------------------------------------------------------


def test_ledger_merges_by_source_and_model_dropping_zero_totals(store):
    def entry(source, model, i, o, cached, r):
        return TokenLedgerEntry(source, model, TokenUsage(i, o, cached, r))
    rows = [entry("turn", "m1", 10, 5, 0, 0), entry("turn", "m2", 0, 0, 100, 0),  # cached only: dropped
            entry("subagent", "m1", 1, 0, 0, 0), entry("turn", "m1", 1, 1, 1, 1),
            entry("zero", "m", 0, 0, 0, 0), entry("turn", "m2", 0, 0, 0, 3)]
    store.append_usage_deltas(rows[:3])
    store.append_usage_deltas(rows[3:])
    assert store.load_usage_deltas() == rows
    merged = [e.to_json() for e in store.load_token_ledger()]
    assert merged == [
        {"source": "turn", "model": "m1", "usage": {"input_tokens": 11, "output_tokens": 6,
                                                    "cached_input_tokens": 1, "reasoning_tokens": 1}},
        {"source": "subagent", "model": "m1", "usage": {"input_tokens": 1, "output_tokens": 0,
                                                        "cached_input_tokens": 0, "reasoning_tokens": 0}},
        {"source": "turn", "model": "m2", "usage": {"input_tokens": 0, "output_tokens": 0,
                                                    "cached_input_tokens": 0, "reasoning_tokens": 3}},
    ]
    store.save_session_head_meta(SessionHeadMeta("s1", 1, CONFIG))
    assert store.load_session_head().token_ledger == store.load_token_ledger()


# --- picker info --------------------------------------------------------------------------------------


def test_picker_info(store):
    assert store.load_picker_info() is None
    store.save_session_meta(SessionMeta("s1", "s1", "unix:1", "m", "/repo", SessionRelation.child("p0")))
    parts = [{"kind": "Text", "content": "first line"},
             {"kind": "ToolCall", "call_id": "c1", "name": "read"},
             {"kind": "Image", "mime": "image/png", "uri": "lash://img/1"},
             {"kind": "ToolResult", "call_id": "c1", "content": "ignored"},
             {"kind": "Text", "content": "second"}]
    store.append_session_graph_nodes([
        node("sys", role="System", text="system prompt"),
        node("a0", "sys", "Assistant", "hello"),
        GraphNode.plugin("p1", "memory", {"k": 1}, timestamp="t", parent_node_id="a0"),
        GraphNode.message("u1", "User", parts, timestamp="t", parent_node_id="p1"),
        node("u2", "u1", "User", "again"),
        node("u3", "u2", "User", "hidden"),
    ])
    store.tombstone_nodes(["u3"])
    info = store.load_picker_info()
    assert info.first_user_message == "first line\n\n[Image attached]\n\nsecond"
    assert info.user_message_count == 2
    assert info.to_json() == {"session_id": "s1", "cwd": "/repo",
                              "relation": {"kind": "child", "parent_session_id": "p0"},
                              "first_user_message": "first line\n\n[Image attached]\n\nsecond",
                              "user_message_count": 2}


def test_picker_info_without_user_messages(store):
    store.save_session_meta(SessionMeta("s1", "s1", "unix:1", "m"))
    store.append_session_graph_nodes([node("a", role="Assistant")])
    info = store.load_picker_info()
    assert (info.first_user_message, info.user_message_count, info.cwd) == ("", 0, None)


# --- blobs and checkpoints ----------------------------------------------------------------------------


def test_blobs_are_content_addressed_and_verified(store):
    ref = store.put_blob(b"same")
    assert ref == hashlib.sha256(b"same").hexdigest() == store.put_blob(b"same")
    assert store.blob_count_and_size()[0] == 1 and store.blob_exists(ref)
    assert store.get_blob("f" * 64) is None and not store.blob_exists("f" * 64)
    # A row whose bytes were altered is an error, never handed out as content (W4).
    store.write(lambda c: c.execute("UPDATE blobs SET content = ? WHERE hash = ?", (b"\x00tampered", ref)))
    with pytest.raises(ChecksumMismatch) as err:
        store.get_blob(ref)
    assert err.value.expected == ref


def test_blob_profile_and_decompression_limit_come_from_options(tmp_db):
    content = b"a" * 5000
    with Store.open_with_options(tmp_db, StoreOptions(decompression_limit=4999)) as store:
        assert store.options.blob_profile is BlobProfile.BALANCED
        ref = store.put_artifact_blob(Descriptor.tool_state(), content)
        assert store.get_blob_envelope(ref).compression == "Zlib"
        with pytest.raises(DecompressionLimitExceeded):
            store.get_blob(ref)
    with Store.open(tmp_db) as store:
        assert store.get_blob(ref) == content
    memory = Store.memory()
    assert memory.options.blob_profile is BlobProfile.LOW_LATENCY and memory.durability_tier == "durable"
    assert memory.get_blob_envelope(memory.put_artifact_blob(Descriptor.tool_state(), content)).compression == "None"
    memory.close()


def test_checkpoint_round_trip_keeps_refs_of_snapshots_not_given(store):
    first = store.put_checkpoint(HydratedCheckpoint(
        {"turn_index": 1}, tool_state={"generation": 7}, plugin_snapshot={"plugins": {}},
        plugin_snapshot_revision=11, execution_state=b"\xde\xad\xbe\xef"))
    loaded = store.get_checkpoint(first.checkpoint_ref)
    assert (loaded.turn_state, loaded.tool_state, loaded.plugin_snapshot, loaded.plugin_snapshot_revision,
            loaded.execution_state) == ({"turn_index": 1}, {"generation": 7}, {"plugins": {}}, 11, b"\xde\xad\xbe\xef")
    assert store.get_blob_envelope(first.checkpoint_ref).kind == "CheckpointManifest"
    assert store.get_blob_envelope(first.manifest.tool_state_ref).kind == "ToolState"
    second = store.put_checkpoint(HydratedCheckpoint(
        {"turn_index": 2}, tool_state_ref=first.manifest.tool_state_ref, tool_state=None,
        plugin_snapshot_ref=first.manifest.plugin_snapshot_ref, plugin_snapshot={"plugins": {"x": 1}}))
    assert second.manifest.tool_state_ref == first.manifest.tool_state_ref
    assert second.manifest.plugin_snapshot_ref != first.manifest.plugin_snapshot_ref
    assert second.manifest.execution_state_ref is None
    assert store.get_checkpoint("0" * 64) is None


# --- read-only store ----------------------------------------------------------------------------------


def test_readonly_store_refuses_every_write(tmp_db):
    with Store.open(tmp_db) as store:
        store.save_session_meta(SessionMeta("s1", "s1", "unix:1", "m"))
        store.append_session_graph_nodes([node("n1")])
    before = open(tmp_db, "rb").read()
    with Store.open_readonly(tmp_db) as ro:
        assert ro.readonly and not ro.foreign
        writes = [lambda: ro.save_session_meta(SessionMeta("x", "x", "unix:1", "m")),
                  lambda: ro.save_session_head_meta(SessionHeadMeta("x", 1, CONFIG)),
                  lambda: ro.append_session_graph_nodes([node("n2")]),
                  lambda: ro.replace_session_graph([]),
                  lambda: ro.tombstone_nodes(["n1"]),
                  lambda: ro.put_blob(b"x"),
                  lambda: ro.put_module_artifact("a", b"x"),
                  lambda: ro.append_usage_deltas([TokenLedgerEntry("t", "m", TokenUsage(1, 0, 0, 0))]),
                  lambda: ro.gc_unreachable(),
                  lambda: ro.vacuum()]
        for write in writes:
            with pytest.raises(ReadOnlyStore) as err:
                write()
            assert err.value.path == str(tmp_db)
        assert ro.load_session_meta().session_id == "s1"
        assert ro.gc_unreachable(dry_run=True).dry_run
    assert open(tmp_db, "rb").read() == before
    assert sorted(os.listdir(tmp_db.parent)) == [tmp_db.name]
