"""lashdb.engine.inspect: summaries, details and head views — real values, v4 and upstream v38.
(graph show is in test_ops_graph.py.)"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from conftest import FIXTURES_DIR
from lashdb.engine.ops.demo import build_demo
from lashdb.engine import LookupFailed, NotALashDatabase, Store
from lashdb.engine.ops import discovery, inspect
from lashdb.engine.errors import DatabaseNotFound

V38 = FIXTURES_DIR
NOW = 1_780_304_400_000


@pytest.fixture
def demo(tmp_path):
    return build_demo(tmp_path / "root")


def _write(path, *statements):
    with Store.open(path) as store:
        store.write(lambda c: [c.execute(sql, params) for sql, params in statements])


# --- helpers ----------------------------------------------------------------------------------------


def test_time_helpers():
    assert inspect.iso_ms(1_700_000_000_000) == "2023-11-14T22:13:20Z"
    assert inspect.iso_ms(1_700_000_000_100) == "2023-11-14T22:13:20.100Z"
    assert inspect.iso_ms(None) is None
    assert inspect.parse_timestamp_ms("unix:1700000000") == 1_700_000_000_000
    assert inspect.parse_timestamp_ms("2023-11-14T22:13:20+00:00") == 1_700_000_000_000
    assert inspect.parse_timestamp_ms("2023-11-14T23:13:20.123456789+01:00") == 1_700_000_000_123
    assert inspect.parse_timestamp_ms("1700000000") == 1_700_000_000_000
    assert inspect.parse_timestamp_ms("yesterday") is None
    assert inspect.parse_timestamp_ms(None) is None


def test_short_ids_are_unique_prefixes():
    ids = ["n_aaaa1111x", "n_aaaa1112y", "n_bbbb0000", "frame-node/v2/1"]
    short = inspect.short_ids(ids)
    assert short == {"n_aaaa1111x": "n_aaaa1111", "n_aaaa1112y": "n_aaaa1112", "n_bbbb0000": "n_bbbb00",
                     "frame-node/v2/1": "frame-no"}
    assert inspect.short_ids(["abc"]) == {"abc": "abc"}


# --- sessions list ----------------------------------------------------------------------------------


def test_summary_of_the_first_demo_session(demo):
    first = demo.sessions[0]
    row = inspect.session_summary(discovery.examine(first.path))
    doc = row.to_json()
    assert doc["status"] == "ok" and doc["kind"] == "session" and doc["foreign"] is False
    assert doc["schema_version"] == 4
    assert doc["session_id"] == first.session_id
    assert doc["session_name"] == "Fix the flaky parser test"
    assert doc["model"] == "claude-sonnet-4-5"
    assert doc["relation"] == "root" and doc["parent_session_id"] is None
    assert doc["created_at"] == "2026-05-28T09:00:00Z" and doc["created_at_epoch_ms"] == 1_779_958_800_000
    assert doc["modified_at"] == "2026-05-28T09:12:20Z" and doc["modified_at_epoch_ms"] == 1_779_959_540_000
    assert (doc["head_revision"], doc["live_nodes"], doc["tombstoned_nodes"], doc["user_messages"]) == (3, 8, 2, 3)
    assert doc["blobs"] == 12 and doc["blob_bytes"] == 6038
    assert doc["size_bytes"] == first.path.stat().st_size
    assert doc["first_user_message"] == first.first_user_message
    assert doc["sidecars"] == {"effects": str(first.sidecars["effects"]), "processes": str(first.sidecars["processes"]),
                              "triggers": str(first.sidecars["triggers"])}


def test_list_sorts_limits_and_children(demo):
    ids = [s.session_id for s in demo.sessions]
    by_modified = [r.session_id for r in inspect.list_sessions(demo.root)]
    # Newest activity first: the parent's last turn (09:12) is after its child finished (09:07)...
    assert by_modified == [ids[3], ids[2], ids[1], ids[0], ids[4]]
    # ...but the child was created (09:03) after its parent (09:00).
    assert [r.session_id for r in inspect.list_sessions(demo.root, sort="created")] == \
        [ids[3], ids[2], ids[1], ids[4], ids[0]]
    assert [r.session_name for r in inspect.list_sessions(demo.root, sort="name", limit=2)] == \
        ["Fix the flaky parser test", "Investigate slow start-up"]
    sizes = [r.size_bytes for r in inspect.list_sessions(demo.root, sort="size")]
    assert sizes == sorted(sizes, reverse=True)
    child = [r for r in inspect.list_sessions(demo.root) if r.relation == "child"]
    assert len(child) == 1 and child[0].parent_session_id == ids[0]
    assert inspect.list_sessions(demo.root, limit=0) == []
    with pytest.raises(LookupFailed, match="unknown sort key"):
        inspect.list_sessions(demo.root, sort="colour")


def test_list_all_adds_other_databases(demo):
    shutil.copy(V38 / "effects.db", demo.root / "journal.db")
    (demo.root / "notes.db").write_bytes(b"not sqlite at all" * 100)
    assert len(inspect.list_sessions(demo.root)) == 5
    rows = {r.path.name: r for r in inspect.list_sessions(demo.root, include_all=True)}
    assert len(rows) == 10  # five sessions, the demo's journal, registry and trigger store, the two files above
    assert rows["journal.db"].kind == "effect replay" and rows["journal.db"].status == "foreign v11"
    assert rows["notes.db"].kind == "unreadable" and rows["notes.db"].status.startswith("unreadable: ")
    assert rows["journal.db"].session_id is None


def test_list_of_a_missing_root_is_refused(tmp_path):
    # Issue 10: a root that does not exist is an unusable target, not an empty list.
    from lashdb.engine.errors import RootUnusable

    with pytest.raises(RootUnusable, match="nothing: sessions root does not exist"):
        inspect.list_sessions(tmp_path / "nothing")


def test_foreign_session_in_the_list(tmp_path):
    root = tmp_path / "r"
    root.mkdir()
    shutil.copy(V38 / "durable-core.db", root / "upstream.db")
    (row,) = inspect.list_sessions(root)
    assert row.status == "foreign v38" and row.foreign and row.schema_version == 38
    assert row.session_id == "durable-read-fixture" and row.session_name is None and row.model is None
    assert (row.head_revision, row.live_nodes, row.user_messages, row.blob_count) == (3, 3, 1, 6)
    assert row.first_user_message == "durable read user message"


def test_damaged_head_makes_the_row_unreadable_but_keeps_what_was_read(demo):
    first = demo.sessions[0]
    _write(first.path, ("UPDATE session_head SET head_json = '{broken'", ()))
    row = inspect.session_summary(discovery.examine(first.path))
    assert row.status.startswith("unreadable: store backend error: decode session head")
    assert row.session_name == "Fix the flaky parser test" and row.live_nodes == 8 and row.head_revision is None


# --- sessions show ----------------------------------------------------------------------------------


def test_details_of_the_first_demo_session(demo):
    first = demo.sessions[0]
    doc = inspect.session_details(first.path, now_ms=NOW).to_json()
    assert set(doc) == {"path", "status", "foreign", "schema_version", "supported_schema_version", "meta",
                        "relation", "head", "user_messages", "token_ledger", "token_totals", "blobs",
                        "execution_lease", "queued_work", "attachments", "turn_commits", "sidecars", "files"}
    assert doc["meta"]["created_at_raw"] == "unix:1779958800"
    assert doc["relation"] == {"kind": "root"}
    assert doc["head"] == {"revision": 3, "leaf_node_id": first.leaf_node_id, "checkpoint_ref": first.checkpoint_ref,
                           "live_nodes": 8, "tombstoned_nodes": 2, "graph_node_count": 8}
    assert doc["token_totals"] == {"input_tokens": 10635, "output_tokens": 1096, "cached_input_tokens": 2400,
                                   "reasoning_tokens": 128, "total_tokens": 11859}
    blobs = doc["blobs"]
    assert (blobs["count"], blobs["stored_bytes"], blobs["logical_bytes"]) == (12, 6038, 25577)
    assert blobs["compressed_count"] == 3 and blobs["compressed_share"] == 0.25
    assert blobs["unreachable_count"] == 7 and blobs["unreachable_bytes"] == 3474
    assert blobs["by_kind"]["PluginSessionSnapshot"] == {"count": 3, "stored_bytes": 1566, "logical_bytes": 17261}
    assert blobs["by_format"] == {"cbor": 12} and blobs["artifact_refs"] == 1
    # Its runtime committed turns 1-3 and died in turn 4 (09:12:20), holding a five-minute lease.
    claimed = 1_779_959_540_000
    assert doc["execution_lease"] == {
        "state": "expired", "owner_id": "lash@demo-laptop:pid4711", "fencing_token": 4,
        "claimed_at": "2026-05-28T09:12:20Z", "claimed_at_epoch_ms": claimed,
        "expires_at": "2026-05-28T09:17:20Z", "expires_at_epoch_ms": claimed + 300_000,
        "expires_in_ms": claimed + 300_000 - NOW}
    assert doc["queued_work"] == {"batches": 0, "pending": 0, "claimed": 0, "ready": 0, "items": 0}
    assert doc["attachments"] == {"committed": 1, "uncommitted": 1, "oldest_uncommitted_at": "2026-05-28T09:12:20Z",
                                  "oldest_uncommitted_at_epoch_ms": claimed, "oldest_uncommitted_age_ms": NOW - claimed}
    assert doc["turn_commits"] == {"count": 3, "last_committed_at": "2026-05-28T09:09:20Z",
                                   "last_committed_at_epoch_ms": 1_779_959_360_000}
    assert doc["files"]["db_bytes"] == first.path.stat().st_size and doc["files"]["wal_bytes"] == 0


def test_details_of_the_child(demo):
    child = demo.child_sessions[0]
    doc = inspect.session_details(child.path, now_ms=NOW).to_json()
    assert doc["relation"]["kind"] == "child"
    assert doc["relation"]["parent_session_id"] == demo.sessions[0].session_id
    assert doc["blobs"]["unreachable_count"] == 0


def test_details_lease_queue_attachments_turn_commits(demo):
    first = demo.sessions[1]  # a session the demo wrote without runtime rows
    sid = first.session_id
    _write(
        first.path,
        ("INSERT INTO session_execution_leases VALUES (?, 'worker-1', 'tok', 4, ?, ?)", (sid, NOW - 1000, NOW + 60_000)),
        ("INSERT INTO queued_work_batches (batch_id, session_id, delivery_policy, slot_policy, merge_key_json, "
         "available_at_ms, enqueued_at_ms, claim_token, claim_expires_at_ms) VALUES "
         "('b1', ?, 'p', 's', 'null', 0, 0, NULL, 0), ('b2', ?, 'p', 's', 'null', ?, 0, NULL, 0), "
         "('b3', ?, 'p', 's', 'null', 0, 0, 'claimtok', ?), ('b4', ?, 'p', 's', 'null', 0, 0, 'old', ?)",
         (sid, sid, NOW + 5000, sid, NOW + 1000, sid, NOW - 1)),
        ("INSERT INTO queued_work_items VALUES ('b1', 0, 'b1:item:0', '{}'), ('b1', 1, 'b1:item:1', '{}')", ()),
        ("INSERT INTO attachment_manifest VALUES ('a1', ?, 'file:///x', ?, NULL), ('a2', ?, 'file:///y', ?, NULL), "
         "('a3', ?, 'file:///z', 10, 20)", (sid, NOW - 7_200_000, sid, NOW - 60_000, sid)),
        ("INSERT INTO runtime_turn_commits VALUES (?, 't1', 'h1', '{}', 1000), (?, 't2', 'h2', '{}', ?)",
         (sid, sid, NOW - 500)),
    )
    doc = inspect.session_details(first.path, now_ms=NOW).to_json()
    assert doc["execution_lease"] == {
        "state": "live", "owner_id": "worker-1", "fencing_token": 4,
        "claimed_at": inspect.iso_ms(NOW - 1000), "claimed_at_epoch_ms": NOW - 1000,
        "expires_at": inspect.iso_ms(NOW + 60_000), "expires_at_epoch_ms": NOW + 60_000, "expires_in_ms": 60_000}
    # b3 is held; b4's claim lapsed (free again); b2 is free but not yet available.
    assert doc["queued_work"] == {"batches": 4, "pending": 3, "claimed": 1, "ready": 2, "items": 2}
    assert doc["attachments"] == {"committed": 1, "uncommitted": 2,
                                  "oldest_uncommitted_at": inspect.iso_ms(NOW - 7_200_000),
                                  "oldest_uncommitted_at_epoch_ms": NOW - 7_200_000,
                                  "oldest_uncommitted_age_ms": 7_200_000}
    assert doc["turn_commits"] == {"count": 2, "last_committed_at": inspect.iso_ms(NOW - 500),
                                   "last_committed_at_epoch_ms": NOW - 500}
    later = inspect.session_details(first.path, now_ms=NOW + 60_000).to_json()["execution_lease"]
    assert later["state"] == "expired" and later["expires_in_ms"] == 0
    _write(first.path, ("UPDATE session_execution_leases SET lease_owner_id = NULL, lease_token = NULL, "
                        "lease_claimed_at_ms = 0, lease_expires_at_ms = 0", ()))
    released = inspect.session_details(first.path, now_ms=NOW).to_json()["execution_lease"]
    assert released["state"] == "released" and released["expires_at"] is None and released["fencing_token"] == 4


def test_details_report_an_undecodable_live_manifest(demo):
    first = demo.sessions[0]
    _write(first.path, ("UPDATE blobs SET content = x'a1' WHERE hash = ?", (first.checkpoint_ref,)))
    blobs = inspect.session_details(first.path, now_ms=NOW).to_json()["blobs"]
    assert blobs["unreachable_count"] is None
    assert blobs["reachability_note"].startswith("not computed: store backend error: gc: live checkpoint manifest")
    assert blobs["undecodable_count"] == 1


def test_details_sidecars(demo):
    first = demo.sessions[0]
    sidecar = Path(str(first.path) + ".effects.db")
    shutil.copy(V38 / "effects.db", sidecar)
    assert inspect.session_details(first.path).to_json()["sidecars"] == {
        "effects": str(sidecar), "processes": str(first.sidecars["processes"]), "triggers": str(first.sidecars["triggers"])}


def test_details_of_upstream_v38_in_place():
    before = (V38 / "durable-core.db").read_bytes()
    doc = inspect.session_details(V38 / "durable-core.db", now_ms=1_700_000_000_050).to_json()
    assert doc["status"] == "foreign v38" and doc["foreign"] is True and doc["schema_version"] == 38
    assert doc["meta"]["session_id"] == "durable-read-fixture" and doc["meta"]["session_name"] is None
    assert doc["head"]["revision"] == 3
    assert doc["head"]["leaf_node_id"] == "n_f6cedd50c7134f4570fe9e315994e09687c9b847f4dad77151723f0186932ee9"
    assert doc["head"]["checkpoint_ref"] == "5cae1f5e80c69846241f7314bdfe9db9b5ff4acd1778feb8e48715ed5c56fe68"
    assert doc["token_ledger"] == [{"source": "durable-read-turn", "model": "durable-read-model", "input_tokens": 21,
                                    "output_tokens": 12, "cached_input_tokens": 5, "reasoning_tokens": 2,
                                    "total_tokens": 35}]
    assert doc["blobs"]["count"] == 6 and doc["blobs"]["by_format"] == {"msgpack": 6}
    assert doc["blobs"]["unreachable_count"] is None and "foreign" in doc["blobs"]["reachability_note"]
    assert doc["execution_lease"]["state"] == "live" and doc["execution_lease"]["expires_in_ms"] == 50
    assert doc["queued_work"] == {"batches": 1, "pending": 1, "claimed": 0, "ready": 1, "items": 1}
    assert doc["attachments"]["committed"] == 1 and doc["turn_commits"]["count"] == 3
    assert (V38 / "durable-core.db").read_bytes() == before
    assert sorted(p.name for p in V38.iterdir()) == ["durable-core.db", "effects.db", "processes.db", "triggers.db"]


def test_details_refuse_what_is_not_a_session(tmp_path):
    with pytest.raises(NotALashDatabase):
        inspect.session_details(V38 / "effects.db")
    with pytest.raises(DatabaseNotFound):
        inspect.session_details(tmp_path / "gone.db")


# --- head dump --------------------------------------------------------------------------------------


def test_head_document_with_checkpoint(demo):
    first = demo.sessions[0]
    doc = inspect.head_document(first.path, with_checkpoint=True).to_json()
    assert doc["head_revision"] == 3 and doc["head"]["head_revision"] == 3
    assert doc["head"]["leaf_node_id"] == first.leaf_node_id
    assert doc["head"]["config"]["model"] == "claude-sonnet-4-5"
    cp = doc["checkpoint"]
    assert cp["ref"] == first.checkpoint_ref and cp["present"] and cp["format"] == "cbor" and cp["error"] is None
    assert cp["manifest"]["turn_state"]["turn_index"] == 3
    assert {c["role"]: (c["kind"], c["compression"]) for c in cp["children"]} == {
        "tool_state": ("ToolState", "None"), "plugin_snapshot": ("PluginSessionSnapshot", "Zlib"),
        "execution_state": ("ExecutionStateSnapshot", "None")}
    assert "checkpoint" not in inspect.head_document(first.path).to_json()


def test_head_revision_comes_from_the_column(demo):
    first = demo.sessions[0]
    _write(first.path, ("UPDATE session_head SET head_revision = 41", ()))
    doc = inspect.head_document(first.path).to_json()
    assert doc["head_revision"] == 41 and doc["head"]["head_revision"] == 41


def test_head_document_missing_manifest_and_no_head(demo, tmp_path):
    first = demo.sessions[0]
    _write(first.path, ("DELETE FROM blobs WHERE hash = ?", (first.checkpoint_ref,)))
    cp = inspect.head_document(first.path, with_checkpoint=True).to_json()["checkpoint"]
    assert cp["present"] is False and cp["manifest"] is None
    with Store.open(tmp_path / "fresh.db"):
        pass
    doc = inspect.head_document(tmp_path / "fresh.db", with_checkpoint=True).to_json()
    assert doc["head"] is None and doc["head_revision"] is None and doc["checkpoint"]["ref"] is None


def test_head_document_of_upstream_v38():
    doc = inspect.head_document(V38 / "durable-core.db", with_checkpoint=True).to_json()
    assert doc["status"] == "foreign v38" and doc["head"]["schema_version"] == 3
    assert doc["head"]["checkpoint_ref"] == doc["checkpoint"]["ref"]
    assert doc["checkpoint"]["format"] == "msgpack"
    assert {c["role"] for c in doc["checkpoint"]["children"]} == {"execution_state", "plugin_snapshot", "tool_state"}
    assert all(c["present"] and c["kind"] == "CheckpointComponent" for c in doc["checkpoint"]["children"])


def test_database_files_lists_db_and_sqlite_sidecars(tmp_path):
    db = tmp_path / "s.db"
    db.write_bytes(b"")
    Path(str(db) + "-wal").write_bytes(b"w")
    assert inspect.database_files(db) == [db, Path(str(db) + "-wal")]
    sizes = inspect.file_sizes(db)
    assert (sizes.db_bytes, sizes.wal_bytes, sizes.shm_bytes, sizes.size_bytes) == (0, 1, 0, 1)
