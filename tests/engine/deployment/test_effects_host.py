"""The effect host (runtime contract §6): scoped controllers, owner ids, opening files, asyncio views."""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import shutil
import threading

import apsw
import pytest

from lashdb.engine import EffectController, EffectControllerError, EffectHost, ExecutionScope
from lashdb.engine.aio import memory_effect_host, open_effect_host
from lashdb.engine.errors import SchemaVersionError

from runtime_support import FakeClock
from effects_support import (
    FIXTURES,
    JOIN_S,
    FailingExecutor,
    blocking,
    exec_envelope,
    exec_outcome,
    marker_of,
    raw_row,
)


def test_host_scoped_controllers_keep_scope_metadata():
    with EffectHost.memory() as host:
        drain = host.scoped(ExecutionScope.queue_drain("session-1", "drain-1"))
        assert drain.scope == ExecutionScope.queue_drain("session-1", "drain-1")
        assert (drain.scope_id, drain.turn_id) == ("drain-1", None)
        turn = host.scoped(ExecutionScope.turn("session-1", "turn-1"))
        assert turn.scope == ExecutionScope.turn("session-1", "turn-1")
        assert (turn.scope_id, turn.turn_id) == ("turn-1", "turn-1")
        static = host.scoped_static(ExecutionScope.runtime_operation("static-runtime-op"))
        assert static.scope == ExecutionScope.runtime_operation("static-runtime-op")
        assert static.scope_id == "static-runtime-op"
        assert drain.owner_id == turn.owner_id == host.owner_id


@pytest.mark.parametrize("scope", [
    ExecutionScope.turn("", "turn"), ExecutionScope.turn("session", ""), ExecutionScope.process(""),
    ExecutionScope.queue_drain("session", ""), ExecutionScope.queue_drain(" ", "drain"),
    ExecutionScope.session_delete(""), ExecutionScope.runtime_operation(""),
    ExecutionScope.turn("session", " \t\u3000"),
])
def test_blank_scope_ids_are_refused_everywhere(scope, tmp_path):
    """Blank scope ids are refused by every entry point before anything is opened (W20)."""
    with EffectHost.memory() as host:
        with pytest.raises(EffectControllerError) as err:
            host.scoped(scope)
    assert err.value.code == "missing_execution_scope_id"
    assert str(err.value) == "missing_execution_scope_id: execution scopes require non-empty stable ids"
    with pytest.raises(EffectControllerError):
        EffectController.memory(scope)
    with pytest.raises(EffectControllerError):
        EffectController.open(tmp_path / "e.db", scope)
    assert not (tmp_path / "e.db").exists()


def test_owner_id_and_lease_tokens_count_every_attempt(tmp_path):
    path = tmp_path / "effects.db"
    clock = FakeClock(1_700_000_000_000)
    with EffectHost.open(path, clock=clock) as host:
        assert re.fullmatch(rf"pid{os.getpid()}-\d+-1700000000000", host.owner_id)
        controller = host.scoped(ExecutionScope.turn("s", "t"))
        seen = []

        def peek(envelope, cancelled):
            seen.append(raw_row(path, envelope.replay_key)["lease_token"])
            return exec_outcome("x")

        controller.execute_effect(exec_envelope("a", "a"), peek)
        controller.execute_effect(exec_envelope("a", "a"), peek)  # replay: uses token 2
        controller.execute_effect(exec_envelope("b", "b"), peek)
        assert seen == [f"{host.owner_id}:1", f"{host.owner_id}:3"]
        second = EffectHost.memory()
        assert int(second.owner_id.split("-")[1]) > int(host.owner_id.split("-")[1])
        second.close()


def test_effects_file_is_created_with_schema_version_1(tmp_path):
    path = tmp_path / "session.db.effects.db"
    EffectHost.open(path).close()
    conn = apsw.Connection(str(path), flags=apsw.SQLITE_OPEN_READONLY)
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        conn.close()


def test_foreign_upstream_file_is_refused_untouched(tmp_path):
    copy = tmp_path / "effects.db"
    shutil.copyfile(FIXTURES / "effects.db", copy)
    before = hashlib.sha256(copy.read_bytes()).hexdigest()
    with pytest.raises(SchemaVersionError) as err:
        EffectHost.open(copy)
    assert (err.value.expected, err.value.found) == (1, 11)
    assert hashlib.sha256(copy.read_bytes()).hexdigest() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["effects.db"]


def test_async_host_runs_effects_concurrently_and_replays():
    async def main():
        async with await memory_effect_host() as host:
            controller = host.scoped(ExecutionScope.turn("s", "turn"))
            gate = threading.Barrier(2, timeout=JOIN_S)

            def meet(marker):
                def run(envelope, cancelled):
                    gate.wait()  # both effects must be running at once to pass
                    return exec_outcome(marker)
                return run

            a, b = await asyncio.gather(controller.execute_effect(exec_envelope("a", "a"), meet("a")),
                                        controller.execute_effect(exec_envelope("b", "b"), meet("b")))
            host.start_replay()
            again = await controller.execute_effect(exec_envelope("b", "b"), FailingExecutor())
            return marker_of(a), marker_of(b), marker_of(again)

    assert asyncio.run(main()) == ("a", "b", "b")


def test_async_task_cancellation_cancels_the_running_effect(tmp_path):
    path = tmp_path / "e.db"
    entered = threading.Event()
    seen: dict = {}

    async def main():
        async with await open_effect_host(path) as host:
            controller = host.scoped(ExecutionScope.turn("s", "turn"))
            task = asyncio.create_task(controller.execute_effect(
                exec_envelope("k", "x"), blocking("x", entered, threading.Event(), seen)))
            await asyncio.get_running_loop().run_in_executor(None, entered.wait, JOIN_S)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert await asyncio.get_running_loop().run_in_executor(None, seen["cancelled"].wait, JOIN_S)

    asyncio.run(main())

