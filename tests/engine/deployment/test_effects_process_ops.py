"""Process operations as effects (runtime contract §6.5): layout, running, replay, failures."""

from __future__ import annotations

import threading
import time

import pytest

from lashdb.engine import (
    EffectCommand,
    EffectController,
    EffectControllerError,
    EffectEnvelope,
    EffectHost,
    EffectReplayOptions,
    ExecutionScope,
    RuntimeScope,
)
from lashdb.engine import (
    ProcessAwaitOutput,
    ProcessEventAppendRequest,
    ProcessEventType,
    ProcessExecutor,
    ProcessHandleDescriptor,
    ProcessRegistration,
    ProcessRegistry,
    SessionScope,
)
from lashdb.engine.canonical import dumps as canonical_dumps

from effects_support import JOIN_S, exec_envelope, in_thread, raw_row, returning, sql


def _process_envelope(effect_id: str, command: EffectCommand) -> EffectEnvelope:
    return EffectEnvelope.effect(RuntimeScope.for_turn("proc-session", "proc-turn", 1, 0), effect_id, effect_id,
                                 command)


def test_process_operations_run_against_the_supplied_registry_and_replay():
    scope = SessionScope("proc-session")
    with ProcessRegistry.memory() as registry, EffectHost.memory() as host:
        controller = host.scoped(ExecutionScope.turn("proc-session", "proc-turn"))
        executor = ProcessExecutor(registry)
        start = _process_envelope("process:start:job-1", EffectCommand.process_start(
            ProcessRegistration.external("job-1", {"name": "job"}).with_extra_event_types(
                ProcessEventType.plain("signal.note")), scope,
            ProcessHandleDescriptor("job", "Job one")))
        started = controller.execute_effect(start, executor)
        assert started["type"] == "process" and started["result"]["op"] == "start"
        assert started["result"]["record"] == registry.get_process("job-1").to_json()
        assert registry.has_handle_grant(scope, "job-1")

        listed = controller.execute_effect(_process_envelope("list", EffectCommand.process_list(scope)), executor)
        [[grant, record]] = listed["result"]["entries"]
        assert grant == {"session_id": "proc-session", "process_id": "job-1",
                         "descriptor": {"kind": "job", "label": "Job one"}}
        assert record["id"] == "job-1"

        signal = ProcessEventAppendRequest("signal.note", {"b": 2, "a": 1}, replay_key="note-1")
        signalled = controller.execute_effect(
            _process_envelope("signal", EffectCommand.process_signal("job-1", "note", "n1", signal)), executor)
        assert (signalled["result"]["op"], signalled["result"]["event"]["event_type"]) == ("signal", "signal.note")
        assert signalled["result"]["event"]["payload"] == {"a": 1, "b": 2}

        cancelled = controller.execute_effect(
            _process_envelope("cancel", EffectCommand.process_cancel("job-1", "no longer needed")), executor)
        assert cancelled["result"]["op"] == "cancel" and cancelled["result"]["record"]["id"] == "job-1"
        events = [e.event_type for e in registry.events_after("job-1")]
        assert events == ["signal.note", "process.cancel_requested"]

        registry.complete_process("job-1", ProcessAwaitOutput.success({"answer": 42}))
        awaited = controller.execute_effect(_process_envelope("await", EffectCommand.process_await("job-1")),
                                            executor)
        assert awaited["result"] == {"op": "await", "output": ProcessAwaitOutput.success({"answer": 42}).to_json()}

        moved = controller.execute_effect(_process_envelope("transfer", EffectCommand.process_transfer(
            scope, SessionScope("other-session"), ["job-1"])), executor)
        assert moved == {"type": "process", "result": {"op": "transfer"}}
        assert registry.has_handle_grant(SessionScope("other-session"), "job-1")

        deleted = controller.execute_effect(_process_envelope(
            "delete", EffectCommand.process_delete_session("other-session")), executor)
        assert deleted["result"]["op"] == "delete_session"
        assert deleted["result"]["report"]["session_id"] == "other-session"
        assert deleted["result"]["report"]["revoked_handle_count"] == 1

        # Strict replay hands back the recorded results without touching the registry.
        host.start_replay()
        replay_registry = ProcessRegistry.memory()
        assert controller.execute_effect(start, ProcessExecutor(replay_registry)) == started
        assert replay_registry.get_process("job-1") is None
        replay_registry.close()


def test_process_registry_failures_are_recorded_as_plugin_errors():
    with ProcessRegistry.memory() as registry, EffectHost.memory() as host:
        controller = host.scoped(ExecutionScope.turn("proc-session", "proc-turn"))
        envelope = _process_envelope("cancel-ghost", EffectCommand.process_cancel("ghost"))
        with pytest.raises(EffectControllerError) as err:
            controller.execute_effect(envelope, ProcessExecutor(registry))
        assert str(err.value) == "plugin: plugin session error: unknown process `ghost`"
        # A recorded failure is permanent: the same request replays it.
        registry.register_process(ProcessRegistration.external("ghost"))
        with pytest.raises(EffectControllerError) as again:
            controller.execute_effect(envelope, ProcessExecutor(registry))
        assert (again.value.code, again.value.message) == (err.value.code, err.value.message)


def test_process_commands_need_a_process_executor_and_it_runs_nothing_else():
    with ProcessRegistry.memory() as registry, EffectHost.memory() as host:
        controller = host.scoped(ExecutionScope.turn("proc-session", "proc-turn"))
        with pytest.raises(EffectControllerError) as err:
            controller.execute_effect(_process_envelope("await-x", EffectCommand.process_await("x")),
                                      returning("not a registry"))
        assert str(err.value) == ("runtime_effect_local_executor_unavailable: no process executor is available "
                                  "for process command")
        with pytest.raises(EffectControllerError) as mismatch:
            controller.execute_effect(exec_envelope("exec-by-process-executor", "x"), ProcessExecutor(registry))
        assert str(mismatch.value) == ("runtime_effect_local_executor_mismatch: process executor cannot execute "
                                       "exec_code command directly")


def test_process_command_layout_and_validation():
    command = EffectCommand.process_cancel("p-1")
    assert canonical_dumps(command.to_json()) == '{"type":"process","command":{"op":"cancel","process_id":"p-1",' \
                                                 '"reason":null}}'
    start = EffectCommand.process_start(ProcessRegistration.external("p-2"), "s-1")
    assert list(start.to_json()["command"]) == ["op", "registration", "grant"]
    assert list(start.to_json()["command"]["registration"])[:2] == ["id", "input"]
    assert EffectCommand.process_list("s-1", "all").to_json()["command"] == {
        "op": "list", "session_scope": {"session_id": "s-1"}, "mode": "all"}
    for bad in ({"op": "teleport"}, {"op": "await"}, {"op": "list", "session_scope": {"session_id": "s"},
                                                      "mode": "some"}, "await"):
        with pytest.raises(EffectControllerError) as err:
            EffectCommand.process(bad) if isinstance(bad, dict) else EffectCommand.of("process", {"command": bad})
        assert err.value.code == "runtime_effect_process_command"


def test_process_await_stops_when_the_lease_is_lost(tmp_path):
    path = tmp_path / "e.db"

    class EnteredSpy:
        """The registry, plus an event set when the controller starts awaiting on it."""

        def __init__(self, registry):
            self.registry, self.entered = registry, threading.Event()

        def await_process(self, process_id, *, timeout=None):
            self.entered.set()
            return self.registry.await_process(process_id, timeout=timeout)

    with ProcessRegistry.memory() as registry, EffectController.open(
            path, ExecutionScope.turn("proc-session", "proc-turn"), EffectReplayOptions(lease_ttl_ms=30)) as ctl:
        registry.register_process(ProcessRegistration.external("slow-job"))
        spy = EnteredSpy(registry)
        call = in_thread(lambda: ctl.execute_effect(
            _process_envelope("await-slow", EffectCommand.process_await("slow-job")), ProcessExecutor(spy)))
        assert spy.entered.wait(JOIN_S)
        assert sql(path, "UPDATE runtime_effect_replay SET lease_owner_id = 'thief', lease_token = 'thief:1', "
                         "lease_expires_at_ms = ? WHERE replay_key = 'await-slow'",
                   (time.time_ns() // 1_000_000 + 60_000,)) == 1
        assert call["done"].wait(JOIN_S)
        assert call["error"].code == "sqlite_effect_replay_lease_lost"
        row = raw_row(path, "await-slow")
        assert (row["status"], row["lease_owner_id"]) == ("in_progress", "thief")

