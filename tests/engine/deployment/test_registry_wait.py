"""Waiting on the process registry (deployment-stores §1.9): change generation and listeners,
blocking waits woken by writes, timeouts, and the asyncio facade's waits."""

from __future__ import annotations

import asyncio
import threading

import pytest

from lashdb.engine.deployment.aio import memory_process_registry
from lashdb.engine.deployment.process_model import (
    ProcessAwaitOutput,
    ProcessEventAppendRequest,
    ProcessEventType,
    ProcessRegistration,
)
from lashdb.engine.deployment.process_registry import ProcessRegistry
from lashdb.engine.deployment.registry_wait import AsyncProcessRegistry, ProcessWaitTimeout

JOIN_S = 10  # generous upper bound for a thread that should already be finishing


def _job(process_id: str) -> ProcessRegistration:
    return ProcessRegistration.external(process_id).with_extra_event_types(ProcessEventType.plain("signal.note"))


def test_waking_writes_bump_the_generation_and_call_listeners_until_removed():
    with ProcessRegistry.memory() as registry:
        seen: list[int] = []

        def listener():
            seen.append(registry.change_generation)

        assert registry.change_generation == 0
        registry.add_change_listener(listener)
        registry.register_process(_job("job-1"))
        request = ProcessEventAppendRequest("signal.note", {"n": 1}, replay_key="note-1")
        registry.append_event("job-1", request)
        assert seen == [1, 2]
        registry.append_event("job-1", request)  # a replayed append changes nothing and wakes no one
        assert registry.change_generation == 2
        registry.remove_change_listener(listener)
        registry.remove_change_listener(listener)  # removing twice is harmless
        registry.complete_process("job-1", ProcessAwaitOutput.success(1))
        assert (registry.change_generation, seen) == (3, [1, 2])


def test_a_blocking_wait_is_woken_by_an_append_and_a_spent_timeout_names_what_it_waited_for():
    with ProcessRegistry.memory() as registry:
        registry.register_process(_job("job-1"))
        with pytest.raises(ProcessWaitTimeout) as err:
            registry.await_process("job-1", timeout=0)
        assert str(err.value).startswith("timed out waiting for process `job-1` to finish")
        box: dict = {}
        waiter = threading.Thread(target=lambda: box.update(
            event=registry.wait_event_after("job-1", "signal.note", 0, timeout=JOIN_S)))
        waiter.start()
        registry.append_event("job-1", ProcessEventAppendRequest("signal.note", {"n": 7}))
        waiter.join(JOIN_S)
        assert (box["event"].sequence, box["event"].payload) == (1, {"n": 7})
        registry.complete_process("job-1", ProcessAwaitOutput.success({"answer": 42}))
        assert registry.await_process("job-1", timeout=0) == ProcessAwaitOutput.success({"answer": 42})


def test_async_waits_are_woken_by_a_write_through_the_facade():
    async def main():
        async with await memory_process_registry() as registry:
            assert isinstance(registry, AsyncProcessRegistry)
            await registry.register_process(_job("job-1"))
            with pytest.raises(ProcessWaitTimeout) as err:
                await registry.wait_event_after("job-1", "signal.note", 0, timeout=0)
            assert str(err.value).startswith("timed out waiting for a `signal.note` event of process `job-1`")
            waiting = asyncio.create_task(registry.await_process("job-1", timeout=JOIN_S))
            await registry.complete_process("job-1", ProcessAwaitOutput.success("done"))
            return await waiting

    assert asyncio.run(main()) == ProcessAwaitOutput.success("done")
