"""commit_runtime_state, load_session and the turn commit hash (runtime contract §2, §7.1–§7.3, §7.5)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging

import apsw
import pytest

from lashdb.engine import (
    AttachmentIntent,
    BackendError,
    Descriptor,
    GcPolicy,
    GraphDelta,
    GraphNode,
    HeadRevisionConflict,
    HydratedCheckpoint,
    MissingCheckpoint,
    RuntimeCommit,
    RuntimeCommitResult,
    RuntimeTurnCommitConflict,
    SchemaVersionError,
    SessionBindingMismatch,
    SessionExecutionLeaseExpired,
    SessionMeta,
    SessionReadScope,
    SessionRelation,
    Store,
    TokenLedgerEntry,
    TokenUsage,
    turn_commit_hash,
)
from runtime_support import CONFIG, LEASE_TTL, FakeClock, commit_for, open_file, race, text_draft


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store(store_on, clock):
    """A store on the test's backend (``[sqlite]``/``[postgres]``), on the injected clock."""
    return store_on.open(clock=clock)


@pytest.fixture
def sqlite_store(tmp_path, clock):
    """A SQLite file store, for the tests about its file and tables."""
    with open_file(tmp_path / "session.db", clock) as s:
        yield s


def lease_for(store: Store, session_id: str = "root", owner: str = "runner"):
    return store.try_claim_session_execution_lease(session_id, owner, LEASE_TTL)


def node(node_id: str, parent: str | None = None, text: str | None = None) -> GraphNode:
    return GraphNode.message(node_id, "User", text or node_id, timestamp="2026-01-01T00:00:00Z",
                             parent_node_id=parent)


def turn_state(index: int) -> dict:
    return {"turn_index": index,
            "token_usage": {"input_tokens": 0, "output_tokens": 0, "cached_input_tokens": 0, "reasoning_tokens": 0},
            "protocol_turn_options": {"payload": {}}}


# A duplicate node id in one commit breaks the backend's unique key; each names it its own way.
DUPLICATE_NODE = {"sqlite": "UNIQUE constraint failed: graph_nodes.node_id",
                  "postgres": "duplicate key value violates unique constraint \"lash_graph_nodes_pkey\""}


# --- §7.1 storage fixes -----------------------------------------------------------------------------


def test_cas_across_two_connections_gives_one_winner_and_one_clean_conflict(store_on):
    with store_on.open() as setup:
        fence = lease_for(setup, owner="session-owner").fence()
    stores = [store_on.open() for _ in range(2)]
    outcomes = race(lambda i: stores[i].commit_runtime_state(
        commit_for(expected_head_revision=0, session_execution_lease=fence)), 2)
    for s in stores:
        s.close()
    assert sum(isinstance(o, RuntimeCommitResult) for o in outcomes) == 1, outcomes
    conflicts = [o for o in outcomes if isinstance(o, HeadRevisionConflict)]
    assert len(conflicts) == 1 and (conflicts[0].expected, conflicts[0].actual) == (0, 1)
    assert str(conflicts[0]) == "store head revision conflict: expected Some(0), actual 1"
    with store_on.open() as reopened:
        assert reopened.load_session().head_revision == 1


def test_gc_keeps_the_committed_checkpoint_and_its_children_and_drops_an_orphan(store):
    orphan = store.put_artifact_blob(Descriptor.plugin_session_snapshot(), b"orphan-blob")
    lease = lease_for(store, owner="gc-test")
    checkpoint = HydratedCheckpoint(tool_state={"generation": 3}, plugin_snapshot={"plugins": {}},
                                    plugin_snapshot_revision=5, execution_state=bytes.fromhex("DEADBEEF"))
    result = store.commit_runtime_state(
        commit_for(expected_head_revision=0, checkpoint=checkpoint).under_lease(lease))
    report = store.gc_unreachable()
    assert report.deleted_blob_count >= 1
    assert store.get_blob(orphan) is None
    assert store.get_blob(result.checkpoint_ref) is not None
    manifest = store.get_checkpoint(result.checkpoint_ref)
    children = [manifest.tool_state_ref, manifest.plugin_snapshot_ref, manifest.execution_state_ref]
    assert all(children) and all(store.get_blob(ref) is not None for ref in children)
    assert manifest.execution_state == bytes.fromhex("DEADBEEF") and manifest.plugin_snapshot_revision == 5


def test_foreign_schema_version_is_refused_with_both_versions(tmp_path):
    path = tmp_path / "legacy.db"
    conn = apsw.Connection(str(path))
    conn.execute("CREATE TABLE legacy (x); PRAGMA user_version = 99;")
    conn.close()
    with pytest.raises(SchemaVersionError) as err:
        Store.open(path)
    assert "99" in str(err.value) and "schema version 4" in str(err.value)
    assert "version 1 only" not in str(err.value)


def test_sixteen_threads_opening_a_new_file_all_succeed(tmp_path):
    path = tmp_path / "fresh.db"
    assert race(lambda i: Store.open(path).close(), 16) == [None] * 16
    conn = apsw.Connection(str(path))
    assert conn.execute("PRAGMA user_version").fetchall() == [(4,)]
    conn.close()


# --- §7.3 runtime persistence suite ----------------------------------------------------------------


def test_durability_tier(store):
    assert store.durability_tier == "durable"


def test_agent_frames_and_execution_state_round_trip(store):
    frames = ({"frame_id": "frame-1", "reason": "root"},
              {"frame_id": "frame-2", "reason": "plan_mode", "execution_snapshot": list(b"frame-vm")})
    commit = commit_for(agent_frames=frames, current_agent_frame_id="frame-2",
                        checkpoint=HydratedCheckpoint(execution_state=b"frame-vm"))
    store.commit_runtime_state(commit.under_lease(lease_for(store)))
    read = store.load_session(SessionReadScope.full_graph())
    assert read.current_agent_frame_id == "frame-2"
    assert len(read.agent_frames) == 2
    assert read.agent_frames[1]["reason"] == "plan_mode"
    assert bytes(read.agent_frames[1]["execution_snapshot"]) == b"frame-vm"
    assert read.checkpoint.execution_state == b"frame-vm"


def test_store_binds_to_the_first_committed_session(store):
    store.commit_runtime_state(commit_for("alpha").under_lease(lease_for(store, "alpha")))
    with pytest.raises(SessionBindingMismatch) as err:
        store.commit_runtime_state(commit_for("beta").under_lease(lease_for(store, "beta")))
    assert str(err.value) == "store is already bound to session `alpha` and cannot be reused for `beta`"
    assert store.load_session().session_id == "alpha"


def test_hydrated_checkpoint_and_ledger(store):
    checkpoint = HydratedCheckpoint(tool_state={"generation": 9}, plugin_snapshot={"plugins": {"p": 1}},
                                    plugin_snapshot_revision=12)
    usage = (TokenLedgerEntry("turn", "test-model", TokenUsage(11, 7, 3, 5)),)
    store.commit_runtime_state(commit_for("hydrated", checkpoint=checkpoint, usage_deltas=usage)
                               .under_lease(lease_for(store, "hydrated")))
    read = store.load_session()
    assert read.session_id == "hydrated"
    assert read.checkpoint.tool_state["generation"] == 9
    assert read.checkpoint.plugin_snapshot_revision == 12
    assert read.checkpoint.plugin_snapshot == {"plugins": {"p": 1}}
    assert read.token_ledger == usage and read.token_ledger[0].usage.input_tokens == 11


def test_branchy_graph_reads(store):
    nodes = [node("root"), node("left", "root"), node("left-leaf", "left"), node("right-leaf", "root")]
    store.commit_runtime_state(commit_for(graph=GraphDelta.replace_full(nodes, "left-leaf"))
                               .under_lease(lease_for(store)))
    full = store.load_session(SessionReadScope.full_graph()).graph
    assert [n.node_id for n in full.nodes] == ["root", "left", "left-leaf", "right-leaf"]
    assert full.leaf_node_id == "left-leaf"
    path = store.load_session(SessionReadScope.active_path()).graph
    assert ([n.node_id for n in path.nodes], path.leaf_node_id) == (["root", "left", "left-leaf"], "left-leaf")
    right = store.load_session(SessionReadScope.active_path("right-leaf")).graph
    assert ([n.node_id for n in right.nodes], right.leaf_node_id) == (["root", "right-leaf"], "right-leaf")
    missing = store.load_session(SessionReadScope.active_path("ghost")).graph
    assert (missing.nodes, missing.leaf_node_id) == ((), "ghost")


def test_commit_needs_a_live_fence_and_releasing_commit_frees_the_lease(store):
    with pytest.raises(SessionExecutionLeaseExpired) as err:
        store.commit_runtime_state(commit_for())
    assert err.value.session_id == "root" and store.load_session() is None
    lease = lease_for(store)
    assert store.commit_runtime_state(commit_for().under_lease(lease)).head_revision == 1
    assert lease_for(store, owner="next").fencing_token == lease.fencing_token + 1


def test_stamped_commit_retried_without_a_lease_replays(store):
    lease = lease_for(store)
    commit = commit_for().under_lease(lease).stamped("lease-replay-turn")
    first = store.commit_runtime_state(commit)
    retry = dataclasses.replace(commit, session_execution_lease=None, release_session_execution_lease=None)
    assert store.commit_runtime_state(retry) == first
    with pytest.raises(SessionExecutionLeaseExpired):  # the released fence cannot make a new commit
        store.commit_runtime_state(commit_for().under_lease(lease))


def test_session_meta_round_trip(store):
    meta = SessionMeta("root", "My session", "unix:1700000000", "test-model", "/tmp/work", SessionRelation.root())
    store.save_session_meta(meta)
    assert store.load_session_meta() == meta


def test_tombstoned_node_is_invisible_and_vacuumed(store):
    store.commit_runtime_state(commit_for(graph=GraphDelta.replace_full(
        [node("node-live"), node("node-delete", "node-live")], "node-live")).under_lease(lease_for(store)))
    store.tombstone_nodes(["node-delete"])
    assert store.load_node("node-delete") is None
    assert [n.node_id for n in store.load_session().graph.nodes] == ["node-live"]
    assert store.vacuum().removed_node_count <= 1
    store.gc_unreachable()


def test_provider_turn_replay_hash_and_conflict(store):
    lease = lease_for(store)
    base = commit_for(checkpoint=HydratedCheckpoint(turn_state=turn_state(0)))
    stamped = base.under_lease(lease).stamped("provider-turn")
    first = store.commit_runtime_state(stamped)
    retry = dataclasses.replace(stamped, session_execution_lease=None, release_session_execution_lease=None)
    again = store.commit_runtime_state(retry)
    assert (again.head_revision, again.checkpoint_ref) == (first.head_revision, first.checkpoint_ref)
    assert turn_commit_hash(base.with_expected_head_revision(first.head_revision)) == \
        stamped.turn_commit.turn_commit_hash
    changed = commit_for(checkpoint=HydratedCheckpoint(turn_state=turn_state(1))).stamped("provider-turn")
    with pytest.raises(RuntimeTurnCommitConflict) as err:  # the turn check runs before the lease check
        store.commit_runtime_state(changed)
    assert str(err.value) == ("runtime turn `provider-turn` for session `root` was already committed with a "
                              "different commit hash")


def test_everything_survives_reopen(store_on, clock):
    with store_on.open(clock=clock) as store:
        store.save_session_meta(SessionMeta("root", "Reopened", "unix:1", "m"))
        store.commit_runtime_state(commit_for(checkpoint=HydratedCheckpoint(tool_state={"generation": 77}))
                                   .under_lease(lease_for(store)))
        batch = store.enqueue_queued_work(text_draft("root", "queued", source_key="reopen:queued"))
        store.record_intent(AttachmentIntent("att", "root", "file:///att", 10))
    with store_on.open(clock=clock) as store:
        assert store.load_session_meta().session_name == "Reopened"
        read = store.load_session()
        assert read.session_id == "root" and read.checkpoint.tool_state["generation"] == 77
        listed = store.list_queued_work("root")
        assert [(b.batch_id, b.texts) for b in listed] == [(batch.batch_id, ["queued"])]
        assert [e.attachment_id for e in store.list_uncommitted(10)] == ["att"]


# --- §7.5 -------------------------------------------------------------------------------------------


def test_new_file_has_turn_commits_table_and_no_legacy_tables(sqlite_store):
    names = {r[0] for r in sqlite_store.read(lambda c: c.execute("SELECT name FROM sqlite_master WHERE type = 'table'"))}
    assert "runtime_turn_commits" in names
    assert "runtime_turn_checkpoints" not in names and "runtime_effect_journal" not in names


# --- §2 in detail -------------------------------------------------------------------------------------


def test_replay_writes_nothing_and_returns_the_recorded_result(store, store_on):
    lease = lease_for(store)
    stamped = commit_for(usage_deltas=[TokenLedgerEntry("turn", "m", TokenUsage(1, 1, 0, 0))],
                         graph=GraphDelta.replace_full([node("a")], "a"),
                         checkpoint=HydratedCheckpoint(tool_state={"t": 1})).under_lease(lease).stamped("t1")
    first = store.commit_runtime_state(stamped)
    # The head moves on; the replay still answers with the first result.
    later = lease_for(store, owner="later")
    store.commit_runtime_state(commit_for(graph=GraphDelta.unchanged("a")).under_lease(later))
    before = store_on.footprint(store)
    head_before = store.load_session_head_meta()
    assert store.commit_runtime_state(stamped) == first
    assert store_on.footprint(store) == before
    assert store.load_session_head_meta() == head_before and head_before.head_revision == 2


def test_replay_performs_only_the_requested_release(store):
    lease = lease_for(store)
    stamped = commit_for().with_session_execution_lease(lease.fence()).stamped("t1")
    store.commit_runtime_state(stamped)
    assert lease_for(store, owner="other") is None  # the first commit did not release
    store.commit_runtime_state(stamped.releasing_session_execution_lease(lease.completion()))
    assert lease_for(store, owner="other") is not None


def test_writes_land_in_head_rows_and_turn_record(store, store_on, clock):
    lease = lease_for(store)
    nodes = [node("n1"), node("n2", "n1")]
    commit = commit_for(config=CONFIG, current_agent_frame_id="", graph=GraphDelta.replace_full(nodes, "n2"),
                        usage_deltas=[TokenLedgerEntry("turn", "m", TokenUsage(1, 2, 3, 4))]) \
        .under_lease(lease).stamped("turn-1")
    result = store.commit_runtime_state(commit)
    head_json, column, session_id = store_on.sql(
        store, "SELECT head_json, head_revision, session_id FROM session_head",
        "SELECT head_json, head_revision, head_session_id FROM lash_sessions WHERE session_id = 'root'")[0]
    assert (column, session_id) == (1, "root")
    # SQLite heads also carry lashdb's graph summary (what `sessions list` reads); PostgreSQL keeps none.
    blobs = store_on.sql(store, "SELECT count(*), sum(length(content)) FROM blobs", "SELECT 1")[0]
    summary = {"lashdb_list_summary": {"live": 2, "tombstoned": 0, "user_messages": 2, "first_user_node_id": "n1",
                                       "blobs": blobs[0], "blob_bytes": blobs[1]}} if store_on.is_sqlite else {}
    assert json.loads(head_json) == {"session_id": "root", "head_revision": 1, "config": CONFIG,
                                     "agent_frames": [], "checkpoint_ref": result.checkpoint_ref,
                                     "leaf_node_id": "n2", "graph_node_count": 2, **summary}
    record = store_on.sql(
        store, "SELECT session_id, turn_id, turn_commit_hash, result_json, committed_at_ms FROM runtime_turn_commits",
        "SELECT session_id, turn_id, turn_commit_hash, result_json, committed_at_ms FROM lash_runtime_turn_commits")
    assert record == [("root", "turn-1", commit.turn_commit.turn_commit_hash,
                       json.dumps(result.to_json(), separators=(",", ":")), clock.now)]
    assert RuntimeCommitResult.from_json(json.loads(record[0][3])) == result
    assert store.load_usage_deltas() == [TokenLedgerEntry("turn", "m", TokenUsage(1, 2, 3, 4))]


def test_append_unchanged_and_replace_full_graph_deltas(store, store_on):
    lease = lease_for(store)
    fence = lease.fence()
    store.commit_runtime_state(commit_for(graph=GraphDelta.replace_full([node("a")], "a"),
                                          session_execution_lease=fence))
    store.commit_runtime_state(commit_for(graph=GraphDelta.append([node("b", "a"), node("c", "b")], "c"),
                                          session_execution_lease=fence))
    assert [n.node_id for n in store.load_session().graph.nodes] == ["a", "b", "c"]
    store.tombstone_nodes(["c"])
    store.commit_runtime_state(commit_for(graph=GraphDelta.unchanged("b"), session_execution_lease=fence))
    head = store.load_session_head_meta()
    assert (head.leaf_node_id, head.graph_node_count, head.head_revision) == ("b", 2, 3)
    with pytest.raises(BackendError, match=DUPLICATE_NODE[store_on.name]):
        # "c" is tombstoned but its row still exists.
        store.commit_runtime_state(commit_for(graph=GraphDelta.append([node("c")], "c"),
                                              session_execution_lease=fence))
    store.commit_runtime_state(commit_for(graph=GraphDelta.replace_full([node("c")], "c"),
                                          session_execution_lease=fence))
    assert store_on.sql(store, "SELECT node_id, tombstoned = 1 FROM graph_nodes",
                        "SELECT node_id, tombstoned FROM lash_graph_nodes") == [("c", False)]


def test_failed_write_rolls_back_every_table(store, store_on):
    lease = lease_for(store)
    store.commit_runtime_state(commit_for(graph=GraphDelta.replace_full([node("a")], "a"),
                                          session_execution_lease=lease.fence()))
    before = store_on.footprint(store)
    blobs_before = store.blob_hashes()
    bad = commit_for(graph=GraphDelta.append([node("x"), node("x")], "x"),
                     checkpoint=HydratedCheckpoint(tool_state={"new": True}, execution_state=b"new"),
                     usage_deltas=[TokenLedgerEntry("turn", "m", TokenUsage(5, 5, 5, 5))]) \
        .under_lease(lease).stamped("dup")
    with pytest.raises(BackendError):
        store.commit_runtime_state(bad)
    after = store_on.footprint(store)
    after.pop("writes"), before.pop("writes")
    assert after == before and store.blob_hashes() == blobs_before
    assert lease_for(store, owner="other") is None  # the release was rolled back too


def test_check_order_and_messages(store):
    lease = lease_for(store)
    store.commit_runtime_state(commit_for(session_execution_lease=lease.fence()))
    with pytest.raises(HeadRevisionConflict) as err:
        store.commit_runtime_state(commit_for(expected_head_revision=3, session_execution_lease=lease.fence()))
    assert str(err.value) == "store head revision conflict: expected Some(3), actual 1"
    # No expected revision: unconditional.
    assert store.commit_runtime_state(commit_for(session_execution_lease=lease.fence())).head_revision == 2
    # A stamp for another session is a turn conflict, reported before the missing lease.
    foreign_stamp = commit_for().stamped("t")
    foreign_stamp = dataclasses.replace(foreign_stamp, turn_commit=dataclasses.replace(
        foreign_stamp.turn_commit, session_id="other"))
    with pytest.raises(RuntimeTurnCommitConflict) as err:
        store.commit_runtime_state(foreign_stamp)
    assert (err.value.session_id, err.value.turn_id) == ("other", "t")
    # Binding is checked before everything else.
    with pytest.raises(SessionBindingMismatch):
        store.commit_runtime_state(commit_for("beta").stamped("t"))


def test_release_completion_must_belong_to_the_commit_session(store):
    """A release completion for another session is refused up front and writes nothing (W9)."""
    lease = lease_for(store)
    other = lease_for(store, "other")
    commit = commit_for().with_session_execution_lease(lease.fence()).releasing_session_execution_lease(
        other.completion())
    with pytest.raises(SessionExecutionLeaseExpired):
        store.commit_runtime_state(commit)
    assert store.load_session() is None and lease_for(store, "other", "x") is None


def test_each_entry_point_reads_the_clock_once_and_a_commit_stamps_from_that_reading(store_on):
    """Lease, enqueue, claim and commit each read the clock once; a commit's fence check, attachment
    stamp and turn record all use that one reading, and a refused commit reads it once too (W19)."""
    reads: list[int] = []

    def clock() -> int:
        reads.append(1_000_000 + len(reads))  # every reading is a new millisecond
        return reads[-1]

    with store_on.open(clock=clock) as store:
        start = len(reads)
        lease = store.try_claim_session_execution_lease("root", "runner", 4)
        assert len(reads) == start + 1 and lease.claimed_at_epoch_ms == reads[-1]
        store.enqueue_queued_work(text_draft("root", "x"))
        c = store.claim_ready_queued_work("root", lease.fence(), "w", "idle", LEASE_TTL, 1)
        assert len(reads) == start + 3 and c.claimed_at_epoch_ms == reads[-1]
        store.record_intent(AttachmentIntent("att", "root", "file:///att", 10))
        before = len(reads)
        store.commit_runtime_state(commit_for().under_lease(lease).completing_queue_claim(c.completion())
                                   .with_committed_attachments(["att"]).stamped("turn"))
        assert len(reads) == before + 1
        stamped = store_on.sql(
            store, "SELECT (SELECT committed_at_ms FROM runtime_turn_commits), "
            "(SELECT committed_at_ms FROM attachment_manifest)",
            "SELECT (SELECT committed_at_ms FROM lash_runtime_turn_commits), "
            "(SELECT committed_at_ms FROM lash_attachment_manifest)")
        assert stamped == [(reads[-1], reads[-1])]
        # The lease (TTL 4 ms) expires at exactly this reading: refused, after one reading.
        before = len(reads)
        with pytest.raises(SessionExecutionLeaseExpired):
            store.commit_runtime_state(commit_for().under_lease(lease))
        assert len(reads) == before + 1 and store.load_session_head_meta().head_revision == 1


def test_invalid_numbers_are_refused_before_the_database(store, store_on):
    """Negative or above-2^63-1 numbers in a commit are refused before the database is touched (W17)."""
    lease = lease_for(store)
    before = store_on.footprint(store)
    with pytest.raises(ValueError):
        store.commit_runtime_state(commit_for(expected_head_revision=-1).under_lease(lease))
    with pytest.raises(ValueError):
        store.commit_runtime_state(commit_for(usage_deltas=[TokenLedgerEntry("t", "m", TokenUsage(1 << 63))])
                                   .under_lease(lease))
    with pytest.raises(TypeError):
        store.commit_runtime_state({"session_id": "root"})
    assert store_on.footprint(store) == before


def test_undecodable_recorded_result_is_a_backend_error(store, store_on):
    lease = lease_for(store)
    stamped = commit_for().with_session_execution_lease(lease.fence()).stamped("t1")
    store.commit_runtime_state(stamped)
    store_on.sql(store, "UPDATE runtime_turn_commits SET result_json = '{\"head_revision\": 1}'",
                 "UPDATE lash_runtime_turn_commits SET result_json = '{\"head_revision\": 1}'")
    with pytest.raises(BackendError, match="failed to decode runtime turn commit result"):
        store.commit_runtime_state(stamped)


def test_undecodable_head_is_a_backend_error(store, store_on):
    store_on.sql(store, "INSERT INTO session_head (singleton, head_json) VALUES (1, 'nope')",
                 "INSERT INTO lash_sessions (session_id, head_json, created_at_ms, updated_at_ms) "
                 "VALUES ('root', 'nope', 0, 0) ON CONFLICT (session_id) DO UPDATE SET head_json = 'nope'")
    with pytest.raises(BackendError, match="decode session head"):
        store.commit_runtime_state(commit_for().under_lease(lease_for(store)))
    with pytest.raises(BackendError, match="decode session head"):
        store.load_session()


def test_load_session_checkpoint_parts_and_cycles(store, store_on):
    assert store.load_session() is None
    lease = lease_for(store)
    result = store.commit_runtime_state(commit_for(
        graph=GraphDelta.replace_full([node("a", "b"), node("b", "a")], "a"),
        checkpoint=HydratedCheckpoint(tool_state={"t": 1}, plugin_snapshot={"p": 2})).under_lease(lease))
    with pytest.raises(BackendError, match="cycle"):
        store.load_session(SessionReadScope.active_path())
    tool_ref = result.manifest.tool_state_ref
    store_on.sql(store, "DELETE FROM blobs WHERE hash = ?", "DELETE FROM lash_blobs WHERE hash = %s", (tool_ref,))
    read = store.load_session()
    assert read.checkpoint.tool_state is None and read.checkpoint.tool_state_ref == tool_ref
    assert read.checkpoint.plugin_snapshot == {"p": 2}
    store_on.sql(store, "UPDATE blobs SET content = X'A1' WHERE hash = ?",
                 "UPDATE lash_blobs SET content = '\\xa1'::bytea WHERE hash = %s", (result.checkpoint_ref,))
    with pytest.raises(BackendError, match=result.checkpoint_ref):
        store.load_session()
    store_on.sql(store, "DELETE FROM blobs WHERE hash = ?", "DELETE FROM lash_blobs WHERE hash = %s",
                 (result.checkpoint_ref,))
    with pytest.raises(MissingCheckpoint, match=result.checkpoint_ref) as err:  # damage, never "no checkpoint"
        store.load_session()
    assert err.value.blob_hash == result.checkpoint_ref


def test_ledger_drops_zero_totals_and_merges_pairs(store):
    deltas = [TokenLedgerEntry("turn", "m", TokenUsage(1, 0, 0, 0)),
              TokenLedgerEntry("turn", "m", TokenUsage(0, 0, 9, 0)),  # cached only: dropped
              TokenLedgerEntry("subagent", "m", TokenUsage(0, 2, 0, 0)),
              TokenLedgerEntry("turn", "m", TokenUsage(3, 0, 1, 1))]
    store.commit_runtime_state(commit_for(usage_deltas=deltas).under_lease(lease_for(store)))
    assert store.load_session().token_ledger == (TokenLedgerEntry("turn", "m", TokenUsage(4, 0, 1, 1)),
                                                 TokenLedgerEntry("subagent", "m", TokenUsage(0, 2, 0, 0)))


# --- auto-GC ------------------------------------------------------------------------------------------


def test_auto_gc_after_every_commit_collects_an_orphan(store_on):
    store = store_on.open(gc_policy=GcPolicy(auto_run_every_commits=1))
    orphan = store.put_artifact_blob(Descriptor.plugin_session_snapshot(), b"orphan")
    store.commit_runtime_state(commit_for().under_lease(lease_for(store)))
    assert store.get_blob(orphan) is None
    assert store.commit_count == 1 and store.last_auto_gc_error is None


def test_auto_gc_cadence_counts_commits_and_replays_only(store_on, clock):
    store = store_on.open(clock=clock, gc_policy=GcPolicy(auto_run_every_commits=2))
    lease = lease_for(store)
    orphan = store.put_blob(b"orphan")
    stamped = commit_for().with_session_execution_lease(lease.fence()).stamped("t")
    store.commit_runtime_state(stamped)
    for _ in range(3):  # enqueues must not shift the cadence (W8)
        store.enqueue_queued_work(text_draft("root", "x"))
    assert store.get_blob(orphan) is not None and store.commit_count == 1
    store.commit_runtime_state(stamped)  # a replay counts
    assert store.get_blob(orphan) is None and store.commit_count == 2


def test_auto_gc_failure_is_recorded_and_logged_but_the_commit_succeeds(store_on, caplog):
    store = store_on.open(gc_policy=GcPolicy(auto_run_every_commits=1))
    lease = lease_for(store)
    first = store.commit_runtime_state(commit_for(session_execution_lease=lease.fence()))
    store_on.sql(store, "UPDATE blobs SET content = X'A1' WHERE hash = ?",
                 "UPDATE lash_blobs SET content = '\\xa1'::bytea WHERE hash = %s", (first.checkpoint_ref,))
    stamped = commit_for(session_execution_lease=lease.fence()).stamped("again")
    # Make the next commit's manifest identical to the damaged one, so GC trips over it.
    with caplog.at_level(logging.WARNING, logger="lashdb.engine.commit"):
        result = store.commit_runtime_state(stamped)
    assert result.checkpoint_ref == first.checkpoint_ref and result.head_revision == 2
    assert isinstance(store.last_auto_gc_error, BackendError)
    assert any("auto-GC" in r.getMessage() for r in caplog.records)


def test_auto_gc_zero_never_runs(store_on):
    store = store_on.open(gc_policy=GcPolicy(auto_run_every_commits=0))
    orphan = store.put_blob(b"orphan")
    store.commit_runtime_state(commit_for().under_lease(lease_for(store)))
    assert store.get_blob(orphan) is not None


# --- the turn commit hash -----------------------------------------------------------------------------


def test_hash_is_sha256_of_sorted_canonical_text():
    commit = RuntimeCommit("s", {"b": 1, "a": 2.5}, graph=GraphDelta.unchanged("leaf"),
                           checkpoint=HydratedCheckpoint(turn_state={"turn_index": 1}))
    text = ('{"agent_frames":[],"checkpoint":{"execution_state":null,"execution_state_ref":null,'
            '"plugin_snapshot":null,"plugin_snapshot_ref":null,"plugin_snapshot_revision":null,'
            '"tool_state":null,"tool_state_ref":null,"turn_state":{"turn_index":1}},'
            '"committed_attachment_ids":[],"completed_queue_claims":[],"config":{"a":2.5,"b":1},'
            '"current_agent_frame_id":"","expected_head_revision":null,"graph":{"Unchanged":{}},'
            '"session_id":"s","turn_commit":null,"usage_deltas":[]}')
    assert turn_commit_hash(commit) == hashlib.sha256(text.encode()).hexdigest()


def test_hash_ignores_revision_leases_stamp_ids_and_timestamps(store):
    lease = lease_for(store)
    message = {"role": "User", "id": "msg-1", "parts": [
        {"kind": "Text", "content": "hi", "prune_state": "Intact", "id": "part-1"}]}
    base = commit_for(graph=GraphDelta.append([GraphNode("n1", "t1", {"kind": "event", "event": message})], "n1"))
    renamed = {"role": "User", "id": "msg-2", "parts": [
        {"kind": "Text", "content": "hi", "prune_state": "Intact", "id": "part-2"}]}
    other_ids = commit_for(graph=GraphDelta.append(
        [GraphNode("n9", "t9", {"kind": "event", "event": renamed}, parent_node_id="n0")], "n9"))
    variants = [base.with_expected_head_revision(7), base.under_lease(lease), base.stamped("x"), other_ids]
    assert {turn_commit_hash(v) for v in variants} == {turn_commit_hash(base)}
    plain_id = commit_for(config={"id": "kept", **CONFIG})  # an `id` outside messages counts
    assert turn_commit_hash(plain_id) != turn_commit_hash(commit_for())
    assert turn_commit_hash(commit_for(usage_deltas=[TokenLedgerEntry("t", "m", TokenUsage(1))])) != \
        turn_commit_hash(commit_for())


def test_runtime_commit_json_round_trip(store):
    lease = lease_for(store)
    store.enqueue_queued_work(text_draft("root", "x"))
    claim = store.claim_ready_queued_work("root", lease.fence(), "w", "idle", LEASE_TTL, 1)
    commit = commit_for(agent_frames=[{"f": 1}], current_agent_frame_id="f",
                        graph=GraphDelta.append([node("a")], "a"),
                        checkpoint=HydratedCheckpoint(turn_state=turn_state(2), tool_state={"t": 1},
                                                      execution_state=b"\x00\x01"),
                        usage_deltas=[TokenLedgerEntry("turn", "m", TokenUsage(1, 2, 3, 4))],
                        expected_head_revision=4) \
        .under_lease(lease).completing_queue_claim(claim.completion()) \
        .with_committed_attachments(["att"]).stamped("turn")
    doc = commit.to_json()
    assert list(doc) == ["session_id", "expected_head_revision", "session_execution_lease",
                         "release_session_execution_lease", "config", "agent_frames", "current_agent_frame_id",
                         "graph", "checkpoint", "usage_deltas", "turn_commit", "completed_queue_claims",
                         "committed_attachment_ids"]
    assert RuntimeCommit.from_json(json.loads(json.dumps(doc))) == commit
    assert "session_execution_lease" not in commit_for().to_json()
    assert commit_for().to_json()["turn_commit"] is None
    assert GraphDelta.replace_full().to_json() == {"ReplaceFull": {"nodes": []}}
    assert GraphDelta.from_json({"ReplaceFull": {}}) == GraphDelta.replace_full()
    assert GraphDelta.append([], None).to_json() == {"Append": {"nodes": [], "leaf_node_id": None}}


def test_graph_node_count_stays_exact_across_connections_and_outside_writes(store_on, clock):
    with store_on.open(clock=clock) as store, store_on.open(clock=clock) as other:
        fence = lease_for(store).fence()

        def append(ids: list[str]) -> int:
            store.commit_runtime_state(commit_for(graph=GraphDelta.append([node(i) for i in ids], ids[-1]),
                                                  session_execution_lease=fence))
            return store.load_session_head_meta().graph_node_count

        assert append(["a", "b"]) == 2
        assert append(["c"]) == 3  # back to back on one connection
        other.tombstone_nodes(["a"])  # another connection changes the graph in between
        assert append(["d"]) == 3
        store.tombstone_nodes(["b"])  # this connection, outside a commit
        assert append(["e"]) == 3
        other.append_session_graph_nodes([node("x"), node("y")])
        assert append(["f"]) == 6
        assert append(["g"]) == 7
        live = store_on.sql(store, "SELECT count(*) FROM graph_nodes WHERE tombstoned = 0",
                            "SELECT count(*) FROM lash_graph_nodes WHERE NOT tombstoned")
        assert live == [(7,)]
