"""`lashdb sessions backup` while another process commits (issue 14), on a SQLite file and on PostgreSQL.

A spawn worker commits 200 turns, one graph node each; after turn 100 it sets an Event and goes on
committing. The parent waits for that Event only, then backs the session up while the worker is
still writing. The copy must open, verify, and hold a prefix of the committed turns: head revision
k in 100..200 and a graph of exactly the nodes of turns 1..k.
"""

from __future__ import annotations

import multiprocessing as mp
import queue as queue_module
import traceback
from pathlib import Path

import pytest

from crossprocess_support import BACKENDS, Target, target_for
from lashdb.engine import GraphDelta, GraphNode, Store
from lashdb.engine.ops import backup as ops
from lashdb.engine.ops.backend import open_backend
from lashdb.engine.ops.verify import verify_session
from runtime_support import commit_for

CTX = mp.get_context("spawn")
TURNS = 200
MIDWAY = 100


@pytest.fixture(params=BACKENDS)
def target(request, tmp_path) -> Target:
    """The session the worker writes: a SQLite file under its own root, or a fresh PostgreSQL database."""
    (tmp_path / "root").mkdir()
    return target_for(request, tmp_path / "root", "session")


def _commit_turns(target: Target, midway, results) -> None:
    try:
        with target.session() as store:
            fence = store.try_claim_session_execution_lease(target.root, "worker", 3_600_000).fence()
            for turn in range(1, TURNS + 1):
                node_id = f"t{turn}"
                commit = commit_for(target.root, expected_head_revision=turn - 1, session_execution_lease=fence, graph=GraphDelta.append(
                    [GraphNode.message(node_id, "User", node_id, timestamp="t")], node_id))
                assert store.commit_runtime_state(commit.stamped(node_id)).head_revision == turn
                if turn == MIDWAY:
                    midway.set()
        results.put(("ok", TURNS))
    except BaseException:
        midway.set()  # never leave the parent waiting on a worker that failed
        results.put(("error", traceback.format_exc()))


def test_backup_taken_while_another_process_commits_200_turns_opens_verifies_and_holds_a_prefix(target, tmp_path):
    midway, results = CTX.Event(), CTX.Queue()
    worker = CTX.Process(target=_commit_turns, args=(target, midway, results))
    worker.start()
    try:
        assert midway.wait(timeout=120)
        backend = open_backend(target.where if target.kind == "postgres" else Path(target.where).parent)
        session = backend.location(target.root) if target.kind == "postgres" else Path(target.where)
        report = ops.backup(backend, [session], tmp_path / "backup")
        getattr(backend, "close", lambda: None)()
    finally:
        try:
            kind, value = results.get(timeout=120)
        except queue_module.Empty:
            kind, value = "error", f"the worker reported nothing (exit code {worker.exitcode})"
        worker.join(timeout=60)
    assert kind == "ok", value
    assert worker.exitcode == 0
    assert [s.status for s in report.sessions] == [ops.COPIED], report.sessions[0].reason
    copy = Path(report.sessions[0].target)
    assert copy.parent == tmp_path / "backup"

    checked = verify_session(copy, jobs=1)
    assert checked.ok and checked.blobs > 0, checked.to_json()
    with Store.open_readonly(copy) as store:
        k = store.load_session_head_meta().head_revision
        nodes = [n.node_id for n in store.load_session_graph().nodes]
    assert MIDWAY <= k <= TURNS
    assert nodes == [f"t{turn}" for turn in range(1, k + 1)]
    with target.session() as live:
        assert live.load_session_head_meta().head_revision == TURNS  # the source went on to the end
