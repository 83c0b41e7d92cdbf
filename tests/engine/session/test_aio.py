"""The asyncio facade over the session store (lashdb.engine.aio) driving the runtime-contract operations."""

from __future__ import annotations

import asyncio

import pytest

from lashdb.engine import GraphDelta, GraphNode, HeadRevisionConflict, SessionReadScope
from lashdb.engine.aio import memory_store, open_store
from runtime_support import LEASE_TTL, commit_for, text_draft

COMMITS = 100


def test_hundred_concurrent_commits_do_not_block_the_event_loop(tmp_path):
    async def main() -> tuple[list, list[int], object]:
        store = await open_store(tmp_path / "aio.db")
        try:
            lease = await store.try_claim_session_execution_lease("root", "runner", LEASE_TTL)
            done = 0
            finished = asyncio.Event()
            # What the ticker saw: the number of finished commits at each of its turns.
            seen_while_running: list[int] = []

            async def ticker() -> None:
                while not finished.is_set():
                    seen_while_running.append(done)
                    await asyncio.sleep(0)

            async def one(i: int):
                nonlocal done
                node_id = f"n{i}"
                result = await store.commit_runtime_state(
                    commit_for(session_execution_lease=lease.fence(),
                               graph=GraphDelta.append([GraphNode.message(node_id, "User", "x", timestamp="t")],
                                                       node_id)).stamped(node_id))
                done += 1
                return result

            tick_task = asyncio.create_task(ticker())
            results = await asyncio.gather(*(one(i) for i in range(COMMITS)))
            finished.set()
            await tick_task
            read = await store.load_session(SessionReadScope.full_graph())
            return results, seen_while_running, read
        finally:
            await store.close()

    results, seen, read = asyncio.run(main())
    assert sorted(r.head_revision for r in results) == list(range(1, COMMITS + 1))
    assert read.head_revision == COMMITS and len(read.graph.nodes) == COMMITS
    # The loop kept running the ticker while commits were still in flight on the worker thread.
    assert any(0 < d < COMMITS for d in seen)
    assert seen == sorted(seen)


def test_facade_raises_the_store_errors_and_runs_queue_operations():
    async def main() -> None:
        store = await memory_store()
        async with store:
            lease = await store.try_claim_session_execution_lease("root", "runner", LEASE_TTL)
            await store.commit_runtime_state(commit_for(session_execution_lease=lease.fence()))
            with pytest.raises(HeadRevisionConflict):
                await store.commit_runtime_state(
                    commit_for(expected_head_revision=0, session_execution_lease=lease.fence()))
            batch = await store.enqueue_queued_work(text_draft("root", "async work"))
            claim = await store.claim_ready_queued_work("root", lease.fence(), "w", "idle", LEASE_TTL, 5)
            assert claim.batches == (batch,)
            await store.commit_runtime_state(commit_for(session_execution_lease=lease.fence())
                                             .completing_queue_claim(claim.completion()))
            assert await store.list_queued_work("root") == []

    asyncio.run(main())
