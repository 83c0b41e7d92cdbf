"""Commits, claims and leases raced by separate processes on one session store (runtime contract
§0.2, §2–§4), each test body run on a SQLite file and on a PostgreSQL database (postgres.md §6).

Processes start together behind a Barrier; nothing waits on a sleep. Every worker reports what it
saw through a queue, and the parent checks the store afterwards.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import queue as queue_module
import traceback

import pytest

from lashdb.engine import (
    GraphDelta,
    GraphNode,
    HeadRevisionConflict,
    MergeKey,
    SessionExecutionLeaseExpired,
)
from crossprocess_support import BACKENDS, Target, target_for
from runtime_support import FakeClock, commit_for, text_draft

CTX = mp.get_context("spawn")
PROCESSES = 4
TURNS = 200


@pytest.fixture(params=BACKENDS)
def target(request, tmp_path) -> Target:
    """The session store the race runs on: a SQLite file or a fresh PostgreSQL database."""
    return target_for(request, tmp_path, "session")


def _report(queue, fn, *args) -> None:
    try:
        queue.put(("ok", fn(*args)))
    except BaseException:  # the parent fails the test with this text
        queue.put(("error", traceback.format_exc()))


def _collect(procs, queue) -> list:
    results = []
    while len(results) < len(procs):
        try:
            results.append(queue.get(timeout=1))
        except queue_module.Empty:
            # A worker that died before reporting would otherwise leave us waiting forever.
            dead = [p.exitcode for p in procs if p.exitcode not in (None, 0)]
            assert not dead, f"worker exited with {dead} before reporting"
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    errors = [text for kind, text in results if kind == "error"]
    assert not errors, errors[0]
    return [value for _, value in results]


# --- 4 processes x 200 turns of compare-and-set -------------------------------------------------------


def _turns(target: Target, worker: int, fence, gate) -> dict:
    successes: list[tuple[str, int]] = []
    conflicts = 0
    with target.session() as store:
        gate.wait()
        for turn in range(TURNS):
            node_id = f"w{worker}-t{turn}"
            while True:
                head = store.load_session_head_meta()
                revision = head.head_revision if head else 0
                commit = commit_for(
                    expected_head_revision=revision, session_execution_lease=fence,
                    graph=GraphDelta.append([GraphNode.message(node_id, "User", node_id, timestamp="t")], node_id))
                try:
                    result = store.commit_runtime_state(commit.stamped(node_id))
                except HeadRevisionConflict as exc:
                    assert exc.expected == revision and exc.actual > revision
                    conflicts += 1
                    continue
                assert result.head_revision == revision + 1
                successes.append((node_id, result.head_revision))
                break
    return {"successes": successes, "conflicts": conflicts}


def test_four_processes_compare_and_set_two_hundred_turns_each(target):
    with target.session() as store:
        # One long-lived lease shared by every contender: the fence check verifies the token, not
        # the caller, so the race is decided by the compare-and-set alone.
        fence = store.try_claim_session_execution_lease("root", "parent", 3_600_000).fence()
    queue, gate = CTX.Queue(), CTX.Barrier(PROCESSES)
    procs = [CTX.Process(target=_report, args=(queue, _turns, target, w, fence, gate)) for w in range(PROCESSES)]
    for p in procs:
        p.start()
    results = _collect(procs, queue)

    assert sum(r["conflicts"] for r in results) > 0  # the processes really did contend
    revisions = sorted(rev for r in results for _, rev in r["successes"])
    assert revisions == list(range(1, PROCESSES * TURNS + 1))  # +1 per success, none lost or doubled
    with target.session() as store:
        read = store.load_session()
        assert read.head_revision == PROCESSES * TURNS
        node_ids = [n.node_id for n in read.graph.nodes]
        assert sorted(node_ids) == sorted(f"w{w}-t{t}" for w in range(PROCESSES) for t in range(TURNS))
        recorded = {turn: json.loads(result)["head_revision"]
                    for turn, result in target.rows("runtime_turn_commits", "turn_id, result_json")}
        assert recorded == {turn: rev for r in results for turn, rev in r["successes"]}
        # Graph rows were appended in revision order: each commit saw every earlier one.
        by_revision = sorted((rev, turn) for r in results for turn, rev in r["successes"])
        assert node_ids == [turn for _, turn in by_revision]


# --- queued-work claims raced by 4 processes ----------------------------------------------------------


def _claims(target: Target, worker: int, fence, gate) -> list[tuple[str, tuple[str, ...], int]]:
    claimed = []
    with target.session() as store:
        gate.wait()
        while True:
            claim = store.claim_ready_queued_work("root", fence, f"owner-{worker}", "idle", 3_600_000, 3)
            if claim is None:
                return claimed
            claimed.append((claim.owner_id, claim.batch_ids, claim.fencing_token))


def test_four_processes_claiming_queued_work_each_batch_has_one_owner(target):
    with target.session() as store:
        fence = store.try_claim_session_execution_lease("root", "parent", 3_600_000).fence()
        batch_ids = []
        for i in range(120):
            # Exclusive batches interleaved with small join groups, so claims take 1 to 3 batches.
            slot = "exclusive" if i % 4 == 0 else "join"
            batch_ids.append(store.enqueue_queued_work(
                text_draft("root", f"b{i}", slot=slot, merge_key=MergeKey.group(f"g{i // 4}"))).batch_id)
    queue, gate = CTX.Queue(), CTX.Barrier(PROCESSES)
    procs = [CTX.Process(target=_report, args=(queue, _claims, target, w, fence, gate)) for w in range(PROCESSES)]
    for p in procs:
        p.start()
    results = _collect(procs, queue)

    owner_of = {}
    for claims in results:
        for owner, ids, fencing in claims:
            assert fencing == 1  # nobody reclaimed anything: every claim was a first claim
            for batch_id in ids:
                assert batch_id not in owner_of, f"{batch_id} claimed twice"
                owner_of[batch_id] = owner
    assert sorted(owner_of) == sorted(batch_ids)
    assert dict(target.rows("queued_work_batches", "batch_id, claim_owner_id")) == owner_of
    with target.session() as store:
        assert store.list_pending_queued_work("root") == []


# --- expired leases across processes, on injected clocks ------------------------------------------


def _take_over(target: Target, now: int, lease) -> dict:
    with target.session(FakeClock(now)) as store:
        try:
            store.commit_runtime_state(commit_for().under_lease(lease))
            stale = "committed"
        except SessionExecutionLeaseExpired as exc:
            stale = str(exc)
        fresh = store.try_claim_session_execution_lease("root", "taker", 60_000)
        result = store.commit_runtime_state(commit_for().with_session_execution_lease(fresh.fence()))
        return {"stale": stale, "fencing": fresh.fencing_token, "revision": result.head_revision}


def test_expired_lease_is_rejected_in_another_process_and_taken_over(target):
    clock = FakeClock(10_000)
    with target.session(clock) as store:
        lease = store.try_claim_session_execution_lease("root", "holder", 500)
    queue = CTX.Queue()
    proc = CTX.Process(target=_report, args=(queue, _take_over, target, 10_500, lease))
    proc.start()
    (seen,) = _collect([proc], queue)
    assert seen == {"stale": "session execution lease for session `root` is missing or expired",
                    "fencing": 2, "revision": 1}
    clock.now = 10_499  # by its own clock the old holder is still in time, but its token is gone
    with target.session(clock) as store:
        with pytest.raises(SessionExecutionLeaseExpired):
            store.commit_runtime_state(commit_for().under_lease(lease))
        assert store.load_session().head_revision == 1


# --- an idempotent retry from another process writes nothing ------------------------------------


def _retry(target: Target, commit) -> tuple:
    with target.session() as store:
        before = target.write_mark(store)
        result = store.commit_runtime_state(commit)
        return result, target.write_mark(store) == before


def test_retry_of_a_committed_turn_in_another_process_returns_the_recorded_result(target):
    with target.session() as store:
        lease = store.try_claim_session_execution_lease("root", "runner", 60_000)
        commit = commit_for(graph=GraphDelta.replace_full([GraphNode.message("n", "User", "hi", timestamp="t")], "n")) \
            .under_lease(lease).stamped("turn-1")
        first = store.commit_runtime_state(commit)
    before = target.footprint()
    assert target.rows("runtime_turn_commits", "turn_id") == [("turn-1",)]
    queue = CTX.Queue()
    proc = CTX.Process(target=_report, args=(queue, _retry, target, commit))
    proc.start()
    ((result, unchanged),) = _collect([proc], queue)
    assert result == first and unchanged  # the recorded result, and not one row (re)written
    assert target.footprint() == before
