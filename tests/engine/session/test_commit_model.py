"""The commit's data: JSON round trips in upstream's form, and the §2.6 turn commit hash — stable
across revisions, leases, stamps, node ids and timestamps, and different for different content."""

from __future__ import annotations

import hashlib
import json

import pytest

from lashdb.engine.session.commit_model import (
    GraphDelta,
    RuntimeCommit,
    RuntimeCommitResult,
    SessionReadScope,
    TurnStamp,
    turn_commit_hash,
)
from lashdb.engine.session.leases import SessionExecutionLease
from lashdb.engine.session.model import GraphNode, HydratedCheckpoint, SessionCheckpoint, TokenLedgerEntry, TokenUsage
from lashdb.engine.session.queued_work_model import QueuedWorkCompletion

LEASE = SessionExecutionLease("root", "runner", "tok", 3, 100, 200)


def msg(node_id, parent=None, text="hi", ts="2026-01-01T00:00:00Z"):
    return GraphNode.message(node_id, "User", text, timestamp=ts, parent_node_id=parent)


def commit(**kw) -> RuntimeCommit:
    base = dict(session_id="root", config={"model": "m", "b": [1, 2]}, agent_frames=[{"id": "f"}],
                current_agent_frame_id="f", graph=GraphDelta.append([msg("n1"), msg("n2", "n1")], "n2"),
                checkpoint=HydratedCheckpoint(tool_state={"t": 1}, execution_state=b"\x01\x02"),
                usage_deltas=[TokenLedgerEntry("turn", "m", TokenUsage(1, 2, 3, 4))])
    base.update(kw)
    return RuntimeCommit(**base)


def _reference_hash(c: RuntimeCommit) -> str:
    """§2.6 computed independently: drop revision/lease/stamp, scrub volatile keys, sorted compact JSON."""
    doc = c.to_json()
    for key in ("session_execution_lease", "release_session_execution_lease"):
        doc.pop(key, None)
    doc["expected_head_revision"] = None
    doc["turn_commit"] = None

    def scrub(v):
        if isinstance(v, dict):
            message = ("role" in v and "parts" in v) or {"kind", "content", "prune_state"} <= v.keys()
            return {k: scrub(x) for k, x in v.items()
                    if k not in ("node_id", "parent_node_id", "leaf_node_id", "timestamp")
                    and not (message and k == "id")}
        if isinstance(v, list):
            return [scrub(x) for x in v]
        return v

    text = json.dumps(scrub(doc), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def test_the_hash_is_the_sorted_canonical_json_of_the_scrubbed_commit():
    c = commit()
    assert turn_commit_hash(c) == c.turn_commit_hash() == _reference_hash(c)
    # Pinned: a change here changes every stored turn's identity (replays would conflict).
    assert turn_commit_hash(c) == "37a4e2c51addeee9db953e06e49b83d55a4194accc35ee020e4ea1d1c4f312d1"


def test_the_hash_ignores_revision_lease_stamp_ids_and_timestamps():
    c = commit()
    h = turn_commit_hash(c)
    assert turn_commit_hash(c.with_expected_head_revision(7)) == h
    assert turn_commit_hash(c.under_lease(LEASE)) == h
    assert turn_commit_hash(c.stamped("turn-1")) == h
    renamed = commit(graph=GraphDelta.append([msg("x1", ts="2030-05-05T00:00:00Z"), msg("x2", "x1")], "x2"))
    assert turn_commit_hash(renamed) == h
    one = commit(agent_frames=[{"id": "m1", "role": "User", "parts": []}])
    other = commit(agent_frames=[{"id": "m2", "role": "User", "parts": []}])
    assert turn_commit_hash(one) == turn_commit_hash(other)  # a message's id is volatile


@pytest.mark.parametrize("change", [
    dict(config={"model": "other"}),
    dict(graph=GraphDelta.append([msg("n1", text="bye")], "n1")),
    dict(checkpoint=HydratedCheckpoint(tool_state={"t": 2})),
    dict(usage_deltas=[TokenLedgerEntry("turn", "m", TokenUsage(1, 2, 3, 5))]),
    dict(committed_attachment_ids=["a1"]),
    dict(current_agent_frame_id="g"),
    dict(agent_frames=[{"id": "g"}]),  # not a message: its id counts
])
def test_different_content_gives_a_different_hash(change):
    assert turn_commit_hash(commit(**change)) != turn_commit_hash(commit())


def test_stamped_carries_the_session_turn_and_own_hash():
    c = commit().stamped("t9")
    assert c.turn_commit == TurnStamp("root", "t9", turn_commit_hash(commit()))
    assert TurnStamp.from_json(c.turn_commit.to_json()) == c.turn_commit


def test_runtime_commit_round_trips_through_json():
    c = commit().under_lease(LEASE).stamped("t1").completing_queue_claim(
        QueuedWorkCompletion("root", "claim", "tok", ["b1"])).with_committed_attachments(["a1"])
    doc = c.to_json()
    assert list(doc)[:4] == ["session_id", "expected_head_revision", "session_execution_lease",
                             "release_session_execution_lease"]
    assert doc["checkpoint"]["execution_state"] == [1, 2]
    assert doc["graph"]["Append"]["leaf_node_id"] == "n2"
    back = RuntimeCommit.from_json(json.loads(json.dumps(doc)))
    assert back == c
    plain = commit().to_json()
    assert "session_execution_lease" not in plain and plain["turn_commit"] is None


@pytest.mark.parametrize("mutate, words", [
    (lambda d: d.pop("graph"), "runtime commit has no `graph`"),
    (lambda d: d.update(expected_head_revision=True), "expected_head_revision is not an integer"),
    (lambda d: d.update(agent_frames={}), "agent_frames is not a list"),
    (lambda d: d.update(committed_attachment_ids=[1]), "committed_attachment_ids is not a list of text"),
    (lambda d: d.update(session_id=5), "field `session_id` is int, expected a string"),
    (lambda d: d.update(graph={"Append": {}}), "Append graph delta has no `nodes` list"),
    (lambda d: d.update(graph={"Nope": {}}), "unknown graph delta variant 'Nope'"),
    (lambda d: d.update(graph={"Unchanged": {}, "Append": {}}), "exactly one variant key"),
])
def test_a_document_upstream_would_reject_is_a_value_error(mutate, words):
    doc = commit().to_json()
    mutate(doc)
    with pytest.raises(ValueError, match=words):
        RuntimeCommit.from_json(doc)


def test_graph_delta_variants_are_externally_tagged():
    assert GraphDelta.unchanged("l").to_json() == {"Unchanged": {"leaf_node_id": "l"}}
    assert GraphDelta.replace_full().to_json() == {"ReplaceFull": {"nodes": []}}
    assert GraphDelta.replace_full([], "l").to_json() == {"ReplaceFull": {"nodes": [], "leaf_node_id": "l"}}
    assert GraphDelta.from_json({"ReplaceFull": {}}) == GraphDelta.replace_full()
    with pytest.raises(ValueError, match="unknown graph delta 'X'"):
        GraphDelta("X")


def test_result_and_read_scope():
    manifest = SessionCheckpoint(tool_state_ref="cd")
    result = RuntimeCommitResult.from_json({"head_revision": 2, "checkpoint_ref": "ab", "manifest": manifest.to_json()})
    assert result == RuntimeCommitResult(2, "ab", manifest)
    assert RuntimeCommitResult.from_json(result.to_json()) == result
    with pytest.raises(ValueError, match="missing integer field `head_revision`"):
        RuntimeCommitResult.from_json({"head_revision": True})
    with pytest.raises(ValueError, match="missing field `manifest`"):
        RuntimeCommitResult.from_json({"head_revision": 1, "checkpoint_ref": "ab"})
    assert SessionReadScope.full_graph() == SessionReadScope()
    assert SessionReadScope.active_path("n") == SessionReadScope("active_path", "n")
