"""The session contract on both backends: one test body, run on SQLite and on PostgreSQL.

Each test builds ``Store(backend, options)`` over the SQLite file backend or over
``postgres.session`` on a fresh database, and asserts the same values on both.
"""

from __future__ import annotations

import dataclasses

import pytest

from lashdb.engine import (
    AttachmentIntent,
    AttachmentManifestEntry,
    GraphDelta,
    GraphNode,
    HeadRevisionConflict,
    HydratedCheckpoint,
    QueuedWorkClaimBoundary,
    RuntimeTurnCommitConflict,
    SessionExecutionLeaseExpired,
    SessionMeta,
    SessionRelation,
    Store,
    StoreOptions,
    TokenLedgerEntry,
    TokenUsage,
)
from lashdb.engine.base import backends
from lashdb.engine.base.errors import BackendError
from runtime_support import LEASE_TTL, FakeClock, commit_for, text_draft

IDLE = QueuedWorkClaimBoundary.IDLE


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(5_000)


@pytest.fixture(params=["sqlite", "postgres"])
def backend_name(request) -> str:
    return request.param


def open_store(name: str, tmp_path, request, clock: FakeClock, session_id: str = "root") -> Store:
    """A store of ``name``'s backend on the injected clock."""
    options = StoreOptions(clock=clock)
    if name == "sqlite":
        return Store.open_with_options(tmp_path / f"{session_id}.db", options)
    url = request.getfixturevalue("pg_url")
    return Store(backends.open_with("postgres.session", url, session_id), options)


@pytest.fixture
def store(backend_name, tmp_path, request, clock):
    with open_store(backend_name, tmp_path, request, clock) as s:
        yield s


def lease_for(store: Store, owner: str = "runner"):
    return store.try_claim_session_execution_lease("root", owner, LEASE_TTL)


def node(node_id: str, parent: str | None = None) -> GraphNode:
    return GraphNode.message(node_id, "User", node_id, timestamp="2026-01-01T00:00:00Z", parent_node_id=parent)


def turn_state(index: int) -> dict:
    return {"turn_index": index,
            "token_usage": {"input_tokens": 0, "output_tokens": 0, "cached_input_tokens": 0, "reasoning_tokens": 0},
            "protocol_turn_options": {"payload": {}}}


# --- commits ----------------------------------------------------------------------------------------


def test_commit_happy_path_and_replay_returns_the_same_result(store):
    lease = lease_for(store)
    commit = commit_for(graph=GraphDelta.replace_full([node("n1"), node("n2", "n1")], "n2"),
                        checkpoint=HydratedCheckpoint(turn_state=turn_state(0), tool_state={"t": 1}),
                        usage_deltas=[TokenLedgerEntry("turn", "m", TokenUsage(1, 2, 3, 4))]) \
        .under_lease(lease).stamped("turn-1")
    first = store.commit_runtime_state(commit)
    assert first.head_revision == 1
    retry = dataclasses.replace(commit, session_execution_lease=None, release_session_execution_lease=None)
    assert store.commit_runtime_state(retry) == first
    loaded = store.load_session()
    assert [n.node_id for n in loaded.graph.nodes] == ["n1", "n2"]
    assert loaded.checkpoint.tool_state == {"t": 1}
    assert store.load_usage_deltas() == [TokenLedgerEntry("turn", "m", TokenUsage(1, 2, 3, 4))]
    assert store.load_session_head_meta().head_revision == 1
    assert [n.node_id for n in store.load_active_path("n2").nodes] == ["n1", "n2"]


def test_stale_expected_revision_is_a_head_revision_conflict(store):
    fence = lease_for(store).fence()  # kept: these commits do not release it
    assert store.commit_runtime_state(commit_for().with_session_execution_lease(fence)).head_revision == 1
    assert store.commit_runtime_state(
        commit_for(expected_head_revision=1).with_session_execution_lease(fence)).head_revision == 2
    with pytest.raises(HeadRevisionConflict) as err:
        store.commit_runtime_state(commit_for(expected_head_revision=1).with_session_execution_lease(fence))
    assert (err.value.expected, err.value.actual) == (1, 2)
    assert store.load_session_head_meta().head_revision == 2


def test_same_turn_with_other_content_is_a_turn_commit_conflict(store):
    lease = lease_for(store)
    store.commit_runtime_state(commit_for(checkpoint=HydratedCheckpoint(turn_state=turn_state(0)))
                               .under_lease(lease).stamped("provider-turn"))
    changed = commit_for(checkpoint=HydratedCheckpoint(turn_state=turn_state(1))).stamped("provider-turn")
    with pytest.raises(RuntimeTurnCommitConflict) as err:
        store.commit_runtime_state(changed)
    assert str(err.value) == ("runtime turn `provider-turn` for session `root` was already committed with a "
                              "different commit hash")


def test_meta_round_trip(store):
    meta = SessionMeta("root", "named", "2026-01-01T00:00:00Z", "m", "/tmp", SessionRelation.child("parent-1"))
    assert store.load_session_meta() is None
    store.save_session_meta(meta)
    assert store.load_session_meta() == meta


# --- leases -----------------------------------------------------------------------------------------


def test_lease_claim_renew_release_and_fencing(store, clock):
    lease = lease_for(store)
    assert (lease.owner_id, lease.fencing_token, lease.expires_at_epoch_ms) == ("runner", 1, clock.now + LEASE_TTL)
    assert lease_for(store, "other") is None
    clock.advance(10)
    renewed = store.renew_session_execution_lease(lease.fence(), LEASE_TTL)
    assert (renewed.lease_token, renewed.expires_at_epoch_ms) == (lease.lease_token, clock.now + LEASE_TTL)
    store.release_session_execution_lease(lease.completion())
    second = lease_for(store, "other")
    assert second.fencing_token == 2
    with pytest.raises(SessionExecutionLeaseExpired):  # the stale fence is rejected
        store.renew_session_execution_lease(lease.fence(), LEASE_TTL)
    with pytest.raises(SessionExecutionLeaseExpired):
        store.commit_runtime_state(commit_for().under_lease(lease))
    assert store.commit_runtime_state(commit_for().under_lease(second)).head_revision == 1


# --- queued work ------------------------------------------------------------------------------------


def test_queued_work_enqueue_dedupe_claim_and_abandon(store, clock):
    fence = lease_for(store).fence()
    first = store.enqueue_queued_work(text_draft("root", "a", source_key="src-1"))
    again = store.enqueue_queued_work(text_draft("root", "a", source_key="src-1"))
    second = store.enqueue_queued_work(text_draft("root", "b"))
    assert again.batch_id == first.batch_id and (first.enqueue_seq, second.enqueue_seq) == (1, 2)
    assert [b.texts for b in store.list_queued_work("root")] == [["a"], ["b"]]
    c = store.claim_ready_queued_work("root", fence, "worker", IDLE, LEASE_TTL, 1)
    assert c.batches == (first,) and (c.claim_id, c.fencing_token) == ("qwc:1:1", 1)
    assert store.claim_ready_queued_work("root", fence, "worker", IDLE, LEASE_TTL, 1).batches == (second,)
    store.abandon_queued_work_claim(c)
    again = store.claim_ready_queued_work("root", fence, "worker", IDLE, LEASE_TTL, 1)
    assert again.batches == (first,) and again.fencing_token == 2
    clock.advance(3)
    assert store.renew_queued_work_claim(again, LEASE_TTL).expires_at_epoch_ms == clock.now + LEASE_TTL


# --- attachments ------------------------------------------------------------------------------------


def test_attachments_record_commit_list_forget(store, clock):
    for name in ("b", "a", "c"):
        store.record_intent(AttachmentIntent(name, "root", f"file:///blobs/{name}", 100))
    assert [e.attachment_id for e in store.list_uncommitted(200)] == ["a", "b", "c"]
    assert store.list_uncommitted(99) == []
    store.commit_refs("root", ["a", "b"])
    assert store.list_uncommitted(200) == [AttachmentManifestEntry("c", "root", "file:///blobs/c", 100, None)]
    store.forget("c")
    store.forget("c")
    assert store.list_uncommitted(200) == []


# --- blobs and maintenance --------------------------------------------------------------------------


def test_blob_round_trips_and_the_envelope_is_identical_on_both_backends(tmp_path, request, clock):
    value = {"k": [1, 2, 3], "s": "x" * 2000}
    envelopes = {}
    for name in ("sqlite", "postgres"):
        with open_store(name, tmp_path, request, clock) as s:
            ref = s.put_blob(b"raw bytes")
            assert s.get_blob(ref) == b"raw bytes" and s.blob_exists(ref)
            typed = s.put_typed_blob(value)
            assert s.get_typed_blob(typed) == value
            assert s.blob_hashes(typed[:6]) == [typed]
            envelopes[name] = (ref, typed, [row for row in s.iter_blob_rows()])
    assert envelopes["sqlite"] == envelopes["postgres"]


def test_gc_dry_run_matches_the_real_run_and_keeps_live_blobs(store):
    lease = lease_for(store)
    store.commit_runtime_state(commit_for(checkpoint=HydratedCheckpoint(turn_state=turn_state(0),
                                                                        tool_state={"g": 1})).under_lease(lease))
    module = store.put_module_artifact("lashlang:module/main@1", b"module " * 100)
    live = set(store.blob_hashes())
    garbage = {store.put_blob(b"orphan"), store.put_typed_blob({"loose": 1})}
    dry = store.gc_unreachable(dry_run=True)
    assert set(store.blob_hashes()) == live | garbage
    real = store.gc_unreachable()
    assert real.to_json() == {**dry.to_json(), "dry_run": False}
    assert real.deleted_blob_count == 2 and real.retained_blob_count == len(live)
    assert set(store.blob_hashes()) == live
    assert store.get_module_artifact("lashlang:module/main@1") == b"module " * 100 and module in live
    assert store.load_session().checkpoint.tool_state == {"g": 1}


def test_vacuum_removes_tombstoned_nodes(store):
    lease = lease_for(store)
    store.commit_runtime_state(commit_for(graph=GraphDelta.replace_full(
        [node("keep"), node("drop", "keep")], "keep")).under_lease(lease))
    store.tombstone_nodes(["drop"])
    assert store.load_node("drop") is None
    assert store.vacuum().removed_node_count == 1
    assert store.vacuum().removed_node_count == 0
    assert [n.node_id for n in store.load_session().graph.nodes] == ["keep"]


# --- PostgreSQL only --------------------------------------------------------------------------------


def test_postgres_rows_are_scoped_by_session_and_keep_the_listing_columns(pg_url, clock):
    import psycopg

    stores = {sid: Store(backends.open_with("postgres.session", pg_url, sid), StoreOptions(clock=clock))
              for sid in ("root", "child")}
    try:
        root, child = stores["root"], stores["child"]
        ref = root.put_blob(b"only in root")
        assert child.get_blob(ref) is None and child.blob_hashes() == []
        child.save_session_meta(SessionMeta("child", "kid", "2026-01-01T00:00:00Z", "m", None,
                                            SessionRelation.child("root")))
        lease = child.try_claim_session_execution_lease("child", "runner", LEASE_TTL)
        child.commit_runtime_state(commit_for("child", graph=GraphDelta.replace_full(
            [node("a"), node("b", "a")], "b")).under_lease(lease))
        child.tombstone_nodes(["b"])
        assert root.load_session() is None and child.load_session().head_revision == 1
        assert child.size_on_disk() > 0
        assert child.vacuum(compact=True).compacted
        # The escape hatch hands this session's transaction, not a connection to every session.
        assert child.read(lambda tx: (tx.backend_name, tx.session_id)) == ("postgres", "child")
        with pytest.raises(BackendError, match="SQLite"):
            child.write(lambda conn: None)
    finally:
        for s in stores.values():
            s.close()
    with psycopg.connect(pg_url) as conn:
        rows = conn.execute("SELECT session_id, parent_session_id, live_nodes, head_revision FROM lash_sessions "
                            "ORDER BY session_id").fetchall()
    assert rows == [("child", "root", 1, 1), ("root", None, 0, 0)]


def test_gc_batches_commit_without_waiting_for_the_wal_flush_and_nothing_else_does(pg_url):
    # GC's batch transactions set synchronous_commit off (a crash can only lose deletions of
    # garbage); a commit from another thread through the same backend during the GC keeps the
    # server's setting, as does this thread's after the GC.
    import threading

    backend = backends.open_with("postgres.session", pg_url, "root")
    show = lambda: backend.write(lambda tx: tx.conn.execute("SHOW synchronous_commit").fetchone()[0])  # noqa: E731
    try:
        server = show()
        assert server == "on"
        other: list[str] = []
        with backend.gc_batches():
            inside = show()
            worker = threading.Thread(target=lambda: other.append(show()))
            worker.start()
            worker.join()
        assert (inside, other, show()) == ("off", [server], server)
    finally:
        backend.close()


def test_gc_of_a_session_never_analyzed_probes_the_key(pg_url):
    # Before a table's first ANALYZE the planner read every blob of the session for `hash = ANY(...)`;
    # the sweep's delete joins the array and probes the primary key whatever the statistics say.
    import psycopg

    from lashdb.engine.postgres.session_blobs import SWEEP_DELETE

    store = Store(backends.open_with("postgres.session", pg_url, "fresh"), StoreOptions())
    try:
        refs = [store.put_blob(f"blob {i}".encode()) for i in range(300)]
        with psycopg.connect(pg_url) as conn:
            analyzed = conn.execute("SELECT last_analyze, last_autoanalyze FROM pg_stat_user_tables "
                                    "WHERE relname = 'lash_blobs'").fetchone()
            plan = "\n".join(r[0] for r in conn.execute("EXPLAIN " + SWEEP_DELETE, (refs[:50], "fresh")).fetchall())
            conn.rollback()
        assert analyzed == (None, None)
        # A join with the array (on 100,000 blobs the planner probes the key per hash; here, on a few
        # hundred, it may hash them), never a filter of every row of the session by `= ANY`.
        assert "Function Scan on unnest d" in plan and "ANY" not in plan
        assert store.gc_unreachable().deleted_blob_count == 300
    finally:
        store.close()
