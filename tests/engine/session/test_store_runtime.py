"""The runtime-contract entry points of a session store (lashdb.engine.session.store_runtime; runtime
contract §2–§5, W19): arguments checked before the database is touched, one clock reading per
operation, and process execution envs rooted under their ref."""

from __future__ import annotations

import json

import pytest

from lashdb.engine import BackendError, GraphDelta, GraphNode, HeadRevisionConflict, RuntimeCommit, UnstorableValue
from runtime_support import LEASE_TTL, open_file, table_counts, text_draft


class CountingClock:
    """A fixed clock that counts how often it is read."""

    def __init__(self, now: int) -> None:
        self.now, self.reads = now, 0

    def __call__(self) -> int:
        self.reads += 1
        return self.now


def test_unstorable_arguments_are_refused_before_the_database_is_touched(tmp_path):
    with open_file(tmp_path / "s.db") as store:
        before = table_counts(store)
        refused = {
            "session_id": lambda: store.try_claim_session_execution_lease(None, "owner", LEASE_TTL),
            "owner_id": lambda: store.try_claim_session_execution_lease("s", 7, LEASE_TTL),
            "env_ref": lambda: store.put_process_execution_env(None, b"env"),
            "attachment_ids[1]": lambda: store.commit_refs("s", ["a", None]),
        }
        for name, call in refused.items():
            with pytest.raises(UnstorableValue) as err:
                call()
            assert str(err.value).startswith(f"{name}: cannot be stored"), name
        with pytest.raises(ValueError, match=r"lease_ttl_ms must not be negative \(got -1\)"):
            store.try_claim_session_execution_lease("s", "owner", -1)
        with pytest.raises(ValueError, match=r"older_than_epoch_ms must not be negative \(got -5\)"):
            store.list_uncommitted(-5)
        assert table_counts(store) == before  # total_changes included: not even a rolled-back write


def test_empty_claims_return_none_without_a_write(tmp_path):
    with open_file(tmp_path / "s.db") as store:
        lease = store.try_claim_session_execution_lease("s", "owner", LEASE_TTL)
        store.enqueue_queued_work(text_draft("s", "hello"))
        before = table_counts(store)
        assert store.claim_ready_queued_work("s", lease.fence(), "owner", "idle", LEASE_TTL, 0) is None
        assert store.claim_ready_queued_work_by_batch_ids("s", lease.fence(), "owner", "idle", LEASE_TTL, []) is None
        store.commit_refs("s", [])
        assert table_counts(store) == before
        assert len(store.list_pending_queued_work("s")) == 1


def test_each_operation_reads_the_clock_once(tmp_path):
    clock = CountingClock(1_700_000_000_000)
    with open_file(tmp_path / "s.db", clock) as store:
        reads = []

        def counted(call):
            start = clock.reads
            result = call()
            reads.append(clock.reads - start)
            return result

        lease = counted(lambda: store.try_claim_session_execution_lease("s", "owner", 5_000))
        assert (lease.claimed_at_epoch_ms, lease.expires_at_epoch_ms) == (1_700_000_000_000, 1_700_000_005_000)
        batch = counted(lambda: store.enqueue_queued_work(text_draft("s", "hello")))
        assert counted(lambda: [b.batch_id for b in store.list_pending_queued_work("s")]) == [batch.batch_id]
        clock.now += 1_000
        renewed = counted(lambda: store.renew_session_execution_lease(lease.fence(), 5_000))
        assert renewed.expires_at_epoch_ms == 1_700_000_006_000
        assert reads == [1, 1, 1, 1]


def test_process_execution_env_round_trips_and_survives_reopen(store_on):
    payload = json.dumps({"plugins": {}, "policy": {"model": "m"}}).encode() * 200
    with store_on.open() as store:
        assert store.durability_tier == "durable"
        blob_ref = store.put_process_execution_env("env:abc", payload)
        assert store.get_process_execution_env("env:abc") == payload
        assert store.get_process_execution_env("env:missing") is None
        assert store.get_blob_envelope(blob_ref).kind == "ProcessExecutionEnv"
    with store_on.open() as store:
        assert store.get_process_execution_env("env:abc") == payload
        store_on.sql(store, "DELETE FROM blobs", "DELETE FROM lash_blobs")
        with pytest.raises(BackendError, match="process execution env `env:abc` points at a missing blob"):
            store.get_process_execution_env("env:abc")


def test_a_head_written_by_another_connection_is_read_not_reused(store_on):
    # Each store keeps the head it last wrote to skip parsing it again; a head another connection
    # wrote since must be read: its revision for the compare-and-set, its count for the next head.
    def turn(store, fence, revision, *ids):
        nodes = [GraphNode.message(i, "User", f"text {i}", timestamp="2026-01-01T00:00:00Z") for i in ids]
        return store.commit_runtime_state(RuntimeCommit("root", {"model": "m"}, graph=GraphDelta.append(nodes, ids[-1]),
                                                        expected_head_revision=revision, session_execution_lease=fence))

    with store_on.open() as a, store_on.open() as b:
        fence = a.try_claim_session_execution_lease("root", "runtime", LEASE_TTL).fence()
        assert turn(a, fence, 0, "n1", "n2").head_revision == 1
        assert turn(b, fence, 1, "n3").head_revision == 2
        with pytest.raises(HeadRevisionConflict) as err:
            turn(a, fence, 1, "n4")
        assert (err.value.expected, err.value.actual) == (1, 2)
        assert turn(a, fence, 2, "n4").head_revision == 3
        assert turn(a, fence, 3, "n5").head_revision == 4  # a's own head, reused
        head = b.load_session_head_meta()
    assert (head.head_revision, head.graph_node_count, head.leaf_node_id) == (4, 5, "n5")


def test_stored_envelopes_are_the_codec_bytes_whether_or_not_reused(tmp_path):
    # Compressed snapshots are reused from a per-process cache, small ones are built every time;
    # either way the row holds exactly what the codec writes for that content.
    from lashdb.engine import HydratedCheckpoint, codec
    from lashdb.engine.codec import BlobProfile, Descriptor

    big = {"tools": [{"name": f"t{i}", "schema": "x" * 300} for i in range(30)]}
    with open_file(tmp_path / "s.db", deferred_compression_max=0) as store:
        fence = store.try_claim_session_execution_lease("root", "runtime", LEASE_TTL).fence()
        results = [store.commit_runtime_state(RuntimeCommit(
            "root", {}, checkpoint=HydratedCheckpoint(turn_state={"turn_index": t}, tool_state=big),
            expected_head_revision=t, session_execution_lease=fence)) for t in range(2)]
        rows = dict(store._conn.execute("SELECT hash, content FROM blobs").fetchall())
    tool_ref = results[0].manifest.tool_state_ref
    assert tool_ref == results[1].manifest.tool_state_ref
    content = codec.encode_value(big)
    assert rows[tool_ref] == codec.encode_envelope(Descriptor.tool_state(), content, BlobProfile.BALANCED)
    assert codec.should_compress(BlobProfile.BALANCED, Descriptor.tool_state(), len(content))
    for result in results:
        manifest = codec.encode_value(result.manifest.to_json())
        assert not codec.should_compress(BlobProfile.BALANCED, Descriptor.checkpoint_manifest(), len(manifest))
        assert rows[result.checkpoint_ref] == codec.encode_envelope(Descriptor.checkpoint_manifest(), manifest,
                                                                    BlobProfile.BALANCED)
    assert len(rows) == 3
