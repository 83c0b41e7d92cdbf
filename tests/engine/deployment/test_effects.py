"""Effect replay host: runtime-contract §6 and every case of §7.4, plus W21/W23 and the error catalogue."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import shutil
import threading
import time

import apsw
import pytest

from lashdb.engine import (
    EffectCancelled,
    EffectCommand,
    EffectController,
    EffectControllerError,
    EffectEnvelope,
    EffectHost,
    EffectInvocation,
    EffectReplayOptions,
    ExecutionScope,
    RuntimeScope,
    StoreError,
    durable_step_executor,
    prepared_tool_call,
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
from lashdb.engine.aio import memory_effect_host, open_effect_host
from lashdb.engine.canonical import dumps as canonical_dumps
from lashdb.engine.deployment.effects import busy_delay_ms
from lashdb.engine.errors import NotALashDatabase, SchemaVersionError

from runtime_support import FakeClock
from conftest import FIXTURES_DIR

FIXTURES = FIXTURES_DIR
JOIN_S = 10  # generous upper bound for a thread that should already be finishing


# --- builders -----------------------------------------------------------------------------------------


def exec_envelope(replay_key: str, code: str, *, session="effect-session", turn="effect-turn",
                  turn_index=1, effect_id: str | None = None) -> EffectEnvelope:
    return EffectEnvelope.effect(RuntimeScope.for_turn(session, turn, turn_index, 0), effect_id or replay_key,
                                 replay_key, EffectCommand.exec_code("code", code))


def exec_outcome(marker: str) -> dict:
    return {"type": "exec_code", "result": {"Ok": {
        "observations": [], "observation_truncation": [], "tool_calls": [], "images": [],
        "printed_images": [], "error": None, "duration_ms": 0, "terminal_finish": marker}}}


def marker_of(outcome: dict) -> str:
    assert outcome["type"] == "exec_code"
    return outcome["result"]["Ok"]["terminal_finish"]


def returning(marker: str):
    return lambda envelope, cancelled: exec_outcome(marker)


class FailingExecutor:
    """Records every call and fails it: replay must never reach it."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def __call__(self, envelope, cancelled):
        self.calls.append(envelope.invocation.effect_id)
        raise EffectControllerError("test_local_executor_called", "replay must not invoke the local executor")


def blocking(marker: str, entered: threading.Event, release: threading.Event, seen: dict | None = None):
    """An executor that signals entry, waits for ``release`` (or cancellation), then returns ``marker``."""

    def run(envelope, cancelled):
        if seen is not None:
            seen["cancelled"] = cancelled
        entered.set()
        while not release.wait(0.005):
            if cancelled.is_set():
                raise EffectControllerError("test_cancelled", "executor saw cancellation")
        return exec_outcome(marker)

    return run


def in_thread(fn):
    """Start ``fn()`` on a thread; the returned dict gets ``result`` or ``error`` and ``done`` is set."""
    box: dict = {"done": threading.Event()}

    def run():
        try:
            box["result"] = fn()
        except BaseException as exc:  # handed to the test
            box["error"] = exc
        finally:
            box["done"].set()

    threading.Thread(target=run, daemon=True).start()
    return box


def raw_row(path, replay_key: str) -> dict:
    conn = apsw.Connection(str(path), flags=apsw.SQLITE_OPEN_READONLY)
    try:
        cur = conn.execute("SELECT * FROM runtime_effect_replay WHERE replay_key = ?", (replay_key,))
        names = [d[0] for d in cur.getdescription()]
        row = cur.fetchone()
        return dict(zip(names, row)) if row else {}
    finally:
        conn.close()


def sql(path, statement: str, params=()) -> int:
    conn = apsw.Connection(str(path))
    conn.set_busy_timeout(5_000)
    try:
        conn.execute(statement, params)
        return conn.changes()
    finally:
        conn.close()


# --- envelope hash (§6.3) -----------------------------------------------------------------------------------


def test_exec_envelope_text_and_hash_match_upstream_vector():
    envelope = exec_envelope("exec-replay", "first")
    assert envelope.canonical_text() == (
        '{"invocation":{"scope":{"session_id":"effect-session","turn_id":"effect-turn","turn_index":1,'
        '"protocol_iteration":0},"subject":{"type":"effect","effect_id":"exec-replay","kind":"exec_code"},'
        '"replay":{"key":"exec-replay"}},"command":{"type":"exec_code","language":"code","code":"first"}}')
    assert envelope.stable_hash() == "30249b46fe4cf95cd612d8f2fbe1fb9371f6b43d40a90047ec7e2421305d85d5"


def test_sleep_envelope_hash_matches_upstream_vector():
    envelope = EffectEnvelope.effect(RuntimeScope.for_turn("session", "turn", 1, 0), "sleep", "sleep-key",
                                     EffectCommand.sleep(120))
    assert envelope.stable_hash() == "462582db46715459c57b0f3e0d5eb9ebbfacf7665b3038fe466f473bb6395e18"


def test_hash_of_the_upstream_fixture_row_is_reproduced():
    uri = "file:" + str(FIXTURES / "effects.db") + "?immutable=1"
    conn = apsw.Connection(uri, flags=apsw.SQLITE_OPEN_READONLY | apsw.SQLITE_OPEN_URI)
    try:
        stored_hash, envelope_json = conn.execute(
            "SELECT envelope_hash, envelope_json FROM runtime_effect_replay").fetchone()
    finally:
        conn.close()
    parsed = EffectEnvelope.from_json(json.loads(json.loads(envelope_json)["json"]))
    built = EffectEnvelope.effect(RuntimeScope.for_turn("durable-read-fixture", "durable-read-effect-turn", 7, 0),
                                  "durable-read-exec-effect", "durable-read-exec-replay",
                                  EffectCommand.exec_code("fixture", "return 887"))
    assert stored_hash == "0f8912550d39a8652f1db702550808102f5deb1b604ed1d408322f624db454f1"
    assert parsed.stable_hash() == stored_hash
    assert built.stable_hash() == stored_hash


def test_free_form_values_are_key_sorted_and_typed_records_keep_declared_order():
    envelope = EffectEnvelope.effect(RuntimeScope("s"), "step", "k",
                                     EffectCommand.durable_step("create", {"b": 1, "a": {"z": 1, "y": "é"}}),
                                     caused_by={"turn_id": "t", "type": "turn", "session_id": "s"})
    assert envelope.canonical_text() == (
        '{"invocation":{"scope":{"session_id":"s"},"subject":{"type":"effect","effect_id":"step",'
        '"kind":"durable_step"},"caused_by":{"type":"turn","session_id":"s","turn_id":"t"},'
        '"replay":{"key":"k"}},"command":{"type":"durable_step","step_id":"create",'
        '"input":{"a":{"y":"é","z":1},"b":1}}}')


def test_tool_attempt_call_layout():
    call = prepared_tool_call("call-slow", "tool:slow_tool", "slow_tool", {"call": "call-slow"},
                              prepared_payload={"prepared": "tool-attempt-slow"})
    command = EffectCommand.tool_attempt(call, 1, 1)
    assert json.dumps(command.to_json(), separators=(",", ":")) == (
        '{"type":"tool_attempt","call":{"call_id":"call-slow","tool_id":"tool:slow_tool","tool_name":"slow_tool",'
        '"args":{"call":"call-slow"},"prepared_payload":{"prepared":"tool-attempt-slow"}},'
        '"attempt":1,"max_attempts":1}')


def test_unserializable_envelope_reports_envelope_hash_code():
    envelope = EffectEnvelope.effect(RuntimeScope("s"), "x", "k", EffectCommand.of("exec_code", {"code": {1, 2}}))
    with pytest.raises(EffectControllerError) as err:
        envelope.stable_hash()
    assert err.value.code == "runtime_effect_envelope_hash"
    assert str(err.value).startswith("runtime_effect_envelope_hash: failed to serialize runtime effect envelope: ")


@pytest.mark.parametrize("build, code", [
    (lambda: EffectEnvelope(EffectInvocation.effect(RuntimeScope("s"), "e", "sleep", "k"),
                            EffectCommand.exec_code("c", "x")), "runtime_effect_invocation_kind"),
    (lambda: EffectEnvelope.effect(RuntimeScope("s"), "  ", "k", EffectCommand.exec_code("c", "x")),
     "runtime_effect_invocation_subject"),
    (lambda: EffectEnvelope.effect(RuntimeScope("s"), "e", "", EffectCommand.exec_code("c", "x")),
     "runtime_effect_replay_required"),
    (lambda: EffectEnvelope.effect(RuntimeScope("s"), "e", "k", EffectCommand.durable_step(" ", 1)),
     "runtime_effect_durable_step_id"),
    (lambda: EffectEnvelope.effect(RuntimeScope("s"), "e", "k", EffectCommand.tool_attempt(
        prepared_tool_call("c", "t", "t", {}), 2, 1)), "runtime_effect_tool_attempt_index"),
    (lambda: EffectEnvelope.effect(RuntimeScope("s"), "e", "k", EffectCommand.tool_attempt(
        prepared_tool_call("", "t", "t", {}), 1, 1)), "runtime_effect_tool_attempt_call_id"),
    (lambda: EffectCommand.of("teleport", {}), "runtime_effect_command_kind"),
])
def test_envelope_construction_rejects_invalid_invocations(build, code):
    with pytest.raises(EffectControllerError) as err:
        build()
    assert err.value.code == code


def test_controller_error_display_and_type():
    err = EffectControllerError("some_code", "some message")
    assert str(err) == "some_code: some message"
    assert isinstance(err, StoreError)
    assert err.to_json() == {"code": "some_code", "message": "some message"}


# --- scopes (§6.1, §6.2) ------------------------------------------------------------------------------------


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


# --- replay (§7.4) ---------------------------------------------------------------------------------------------


def _concurrent_first_pass(controller, slow_env, fast_env, slow_out, fast_out):
    gate = threading.Barrier(2, timeout=JOIN_S)
    release_slow = threading.Event()
    order: list[str] = []

    def slow(envelope, cancelled):
        gate.wait()
        assert release_slow.wait(JOIN_S)
        order.append("slow")
        return slow_out

    def fast(envelope, cancelled):
        gate.wait()
        order.append("fast")
        release_slow.set()
        return fast_out

    a = in_thread(lambda: controller.execute_effect(slow_env, slow))
    b = in_thread(lambda: controller.execute_effect(fast_env, fast))
    assert a["done"].wait(JOIN_S) and b["done"].wait(JOIN_S)
    assert order == ["fast", "slow"]
    return a["result"], b["result"]


def _concurrent_replay(controller, first_env, second_env):
    failing = FailingExecutor()
    a = in_thread(lambda: controller.execute_effect(first_env, failing))
    b = in_thread(lambda: controller.execute_effect(second_env, failing))
    assert a["done"].wait(JOIN_S) and b["done"].wait(JOIN_S)
    assert failing.calls == []
    return a["result"], b["result"]


def test_concurrent_exec_effects_record_their_own_markers_and_replay_by_key():
    controller = EffectController.memory(ExecutionScope.turn("effect-conformance-session", "effect-conformance-turn"))
    slow = exec_envelope("effect-conformance:effect-conformance-turn:effect-slow", "emit effect-slow",
                         effect_id="effect-slow", turn_index=7)
    fast = exec_envelope("effect-conformance:effect-conformance-turn:effect-fast", "emit effect-fast",
                         effect_id="effect-fast", turn_index=7)
    first_slow, first_fast = _concurrent_first_pass(controller, slow, fast, exec_outcome("effect-slow"),
                                                    exec_outcome("effect-fast"))
    assert (marker_of(first_slow), marker_of(first_fast)) == ("effect-slow", "effect-fast")
    controller.start_replay()
    replay_fast, replay_slow = _concurrent_replay(controller, fast, slow)
    assert (marker_of(replay_fast), marker_of(replay_slow)) == ("effect-fast", "effect-slow")
    controller.close()


def _tool_envelope(effect_id: str, call_id: str, tool: str) -> EffectEnvelope:
    call = prepared_tool_call(call_id, f"tool:{tool}", tool, {"call": call_id},
                              prepared_payload={"prepared": effect_id})
    return EffectEnvelope.effect(
        RuntimeScope.for_turn("tool-attempt-conformance-session", "tool-attempt-conformance-turn", 7, 0),
        effect_id, f"tool-attempt-conformance:tool-attempt-conformance-turn:{effect_id}",
        EffectCommand.tool_attempt(call, 1, 1))


def _tool_outcome(call_id: str, tool: str) -> dict:
    return {"type": "tool_attempt", "launch": {"status": "done", "record": {
        "call_id": call_id, "tool": tool, "args": {"call": call_id},
        "output": {"call": call_id, "tool": tool}, "duration_ms": 0}}}


def test_concurrent_tool_attempts_replay_in_reverse_order():
    with EffectHost.memory() as host:
        controller = host.scoped(ExecutionScope.turn("tool-attempt-conformance-session",
                                                     "tool-attempt-conformance-turn"))
        slow = _tool_envelope("tool-attempt-slow", "call-slow", "slow_tool")
        fast = _tool_envelope("tool-attempt-fast", "call-fast", "fast_tool")
        first_slow, first_fast = _concurrent_first_pass(controller, slow, fast,
                                                        _tool_outcome("call-slow", "slow_tool"),
                                                        _tool_outcome("call-fast", "fast_tool"))
        assert first_slow["launch"]["record"]["call_id"] == "call-slow"
        assert first_fast["launch"]["record"]["tool"] == "fast_tool"
        host.start_replay()
        assert controller.replay_mode
        replay_fast, replay_slow = _concurrent_replay(controller, fast, slow)
        assert replay_fast == _tool_outcome("call-fast", "fast_tool")
        assert replay_slow == _tool_outcome("call-slow", "slow_tool")


def _step(step_id: str, value) -> EffectEnvelope:
    return EffectEnvelope.effect(RuntimeScope.for_turn("durable-step-session", "durable-step-turn", 7, 0),
                                 f"durable-step:{step_id}", f"durable-step-replay:{step_id}",
                                 EffectCommand.durable_step(step_id, value))


def test_durable_steps_hash_record_fail_and_replay():
    assert _step("create", {"x": 1}).stable_hash() == _step("create", {"x": 1}).stable_hash()
    assert _step("create", {"x": 1}).stable_hash() != _step("create", {"x": 2}).stable_hash()
    controller = EffectController.memory(ExecutionScope.turn("durable-step-session", "durable-step-turn"))
    outcome = controller.execute_effect(_step("create", {"x": 1}),
                                        durable_step_executor(lambda value: {"recorded": value}))
    assert outcome == {"type": "durable_step", "value": {"recorded": {"x": 1}}}

    def fail(value):
        raise EffectControllerError("durable_step_conformance_error", "durable step failed")

    with pytest.raises(EffectControllerError) as err:
        controller.execute_effect(_step("error", {"x": 1}), durable_step_executor(fail))
    assert err.value.code == "durable_step_conformance_error"

    success, error = _step("replay-success", {"n": 1}), _step("replay-error", {"n": 2})
    assert controller.execute_effect(success, durable_step_executor(lambda v: {"first": v}))["value"] == \
        {"first": {"n": 1}}

    def recorded_error(value):
        raise EffectControllerError("durable_step_replay_error", "recorded error")

    with pytest.raises(EffectControllerError):
        controller.execute_effect(error, durable_step_executor(recorded_error))
    controller.start_replay()
    calls = []

    def must_not_run(value):
        calls.append(value)
        raise EffectControllerError("durable_step_replay_local_executor_called", "no")

    assert controller.execute_effect(success, durable_step_executor(must_not_run)) == \
        {"type": "durable_step", "value": {"first": {"n": 1}}}
    with pytest.raises(EffectControllerError) as replayed:
        controller.execute_effect(error, durable_step_executor(must_not_run))
    assert (replayed.value.code, replayed.value.message) == ("durable_step_replay_error", "recorded error")
    assert calls == []


def test_recorded_exec_effect_replays_in_strict_mode_without_executor():
    controller = EffectController.memory(ExecutionScope.turn("session", "turn"))
    envelope = exec_envelope("exec-replay", "first")
    assert marker_of(controller.execute_effect(envelope, returning("recorded"))) == "recorded"
    controller.start_replay()
    failing = FailingExecutor()
    assert marker_of(controller.execute_effect(envelope, failing)) == "recorded"
    assert failing.calls == []


def test_reused_key_with_changed_envelope_is_a_hash_conflict():
    controller = EffectController.memory(ExecutionScope.turn("session", "turn"))
    controller.execute_effect(exec_envelope("same-key", "first"), returning("first"))
    with pytest.raises(EffectControllerError) as err:
        controller.execute_effect(exec_envelope("same-key", "changed"), returning("changed"))
    assert err.value.code == "sqlite_effect_replay_hash_conflict"
    assert err.value.message == ("runtime effect replay key `same-key` in scope `turn` was reused with a "
                                 "different envelope hash")


def test_strict_replay_of_a_missing_row_fails():
    controller = EffectController.memory(ExecutionScope.turn("session", "turn"))
    controller.start_replay()
    with pytest.raises(EffectControllerError) as err:
        controller.execute_effect(exec_envelope("never", "x"), returning("x"))
    assert str(err.value) == ("sqlite_effect_replay_missing: no recorded runtime effect for scope `turn` and "
                              "replay key `never`")


def test_envelope_without_replay_key_is_refused():
    envelope = EffectEnvelope(EffectInvocation(RuntimeScope("s"), {"type": "effect", "effect_id": "e",
                                                                   "kind": "exec_code"}),
                              EffectCommand.exec_code("c", "x"))
    controller = EffectController.memory(ExecutionScope.turn("session", "turn"))
    with pytest.raises(EffectControllerError) as err:
        controller.execute_effect(envelope, returning("x"))
    assert str(err.value) == "sqlite_effect_replay_key_missing: runtime effect envelope requires replay.key"


def test_recorded_failure_is_permanent_and_missing_executor_is_recorded():
    """A failure is recorded and replays as permanent: the executor is never asked again (W22)."""
    controller = EffectController.memory(ExecutionScope.turn("session", "turn"))
    with pytest.raises(EffectControllerError) as first:
        controller.execute_effect(exec_envelope("no-executor", "x"), None)
    assert str(first.value) == ("runtime_effect_local_executor_unavailable: no local executor is available "
                                "for exec_code")
    failing = FailingExecutor()
    with pytest.raises(EffectControllerError) as again:
        controller.execute_effect(exec_envelope("no-executor", "x"), failing)
    assert again.value.code == "runtime_effect_local_executor_unavailable"
    assert failing.calls == []


def test_a_turn_and_a_process_with_the_same_id_share_replay_history(tmp_path):
    """Rows are keyed by the bare scope id, so equal ids of different scope kinds collide (W20)."""
    envelope = exec_envelope("shared-key", "x")
    with EffectHost.open(tmp_path / "e.db") as host:
        assert marker_of(host.scoped(ExecutionScope.turn("s", "same-id")).execute_effect(
            envelope, returning("from-turn"))) == "from-turn"
        failing = FailingExecutor()
        assert marker_of(host.scoped(ExecutionScope.process("same-id")).execute_effect(envelope, failing)) == \
            "from-turn"
        assert failing.calls == []
        assert marker_of(host.scoped(ExecutionScope.process("other-id")).execute_effect(
            envelope, returning("from-process"))) == "from-process"
    conn = apsw.Connection(str(tmp_path / "e.db"), flags=apsw.SQLITE_OPEN_READONLY)
    try:
        assert sorted(conn.execute("SELECT scope_id, replay_key FROM runtime_effect_replay").fetchall()) == [
            ("other-id", "shared-key"), ("same-id", "shared-key")]
    finally:
        conn.close()


def test_completed_and_failed_rows_are_kept_across_reopen_and_replays(tmp_path):
    """Nothing deletes effect rows: a recorded failure replays as permanent after reopening (W22)."""
    path, scope = tmp_path / "e.db", ExecutionScope.turn("s", "turn")

    def broken(envelope, cancelled):
        raise EffectControllerError("transient_error", "flaky network")

    with EffectHost.open(path) as host:
        controller = host.scoped(scope)
        assert marker_of(controller.execute_effect(exec_envelope("ok", "x"), returning("done"))) == "done"
        with pytest.raises(EffectControllerError):
            controller.execute_effect(exec_envelope("bad", "y"), broken)
    before = {key: raw_row(path, key) for key in ("ok", "bad")}
    assert (before["ok"]["status"], before["bad"]["status"]) == ("completed", "failed")
    for _ in range(2):
        with EffectHost.open(path) as host:
            controller = host.scoped(scope)
            failing = FailingExecutor()
            assert marker_of(controller.execute_effect(exec_envelope("ok", "x"), failing)) == "done"
            with pytest.raises(EffectControllerError) as err:
                controller.execute_effect(exec_envelope("bad", "y"), returning("would succeed now"))
            assert (err.value.code, err.value.message) == ("transient_error", "flaky network")
            assert failing.calls == []
    assert {key: raw_row(path, key) for key in ("ok", "bad")} == before


# --- leases: two controllers, theft, expiry (§6.5–§6.7) ------------------------------------------------------


class Timeline:
    """Injected time shared by several controllers; each view counts its reads so a test can wait
    for "the controller has looked at the clock again" instead of sleeping."""

    def __init__(self, now: int) -> None:
        self.now = now
        self.changed = threading.Condition()

    def advance(self, ms: int) -> None:
        with self.changed:
            self.now += ms

    def view(self) -> "ClockView":
        return ClockView(self)


class ClockView:
    def __init__(self, timeline: Timeline) -> None:
        self.timeline = timeline
        self.reads = 0

    def __call__(self) -> int:
        with self.timeline.changed:
            self.reads += 1
            self.timeline.changed.notify_all()
            return self.timeline.now

    def wait_reads(self, count: int) -> bool:
        with self.timeline.changed:
            return self.timeline.changed.wait_for(lambda: self.reads >= count, JOIN_S)


def _renewal_case(path, options, first_clock=None, second_clock=None):
    """Two controllers on one file; the first blocks inside its executor until released."""
    first = EffectController.open(path, ExecutionScope.turn("session", "turn"), options, clock=first_clock)
    second = EffectController.open(path, ExecutionScope.turn("session", "turn"), options, clock=second_clock)
    envelope = exec_envelope("renewed-lease", "work")
    entered, release = threading.Event(), threading.Event()
    owner = in_thread(lambda: first.execute_effect(envelope, blocking("stale-owner", entered, release)))
    assert entered.wait(JOIN_S)
    return first, second, envelope, owner, release


def _finish_renewal_case(first, second, envelope, owner, competitor, release):
    release.set()
    assert owner["done"].wait(JOIN_S) and competitor["done"].wait(JOIN_S)
    assert marker_of(owner["result"]) == "stale-owner"
    assert marker_of(competitor["result"]) == "stale-owner"  # it replayed instead of re-running
    second.start_replay()
    assert marker_of(second.execute_effect(envelope, FailingExecutor())) == "stale-owner"
    first.close()
    second.close()


def test_renewed_lease_keeps_a_second_controller_busy_then_it_replays(tmp_path):
    # §7.4 with its TTL of 20 ms, on injected time: three TTLs pass while the owner renews.
    path = tmp_path / "effect-renewal.db"
    timeline = Timeline(1_700_000_000_000)
    owner_clock, rival_clock = timeline.view(), timeline.view()
    first, second, envelope, owner, release = _renewal_case(path, EffectReplayOptions(lease_ttl_ms=20),
                                                            owner_clock, rival_clock)
    for _ in range(6):
        timeline.advance(10)
        # While its executor blocks, the owner reads the clock only to renew; the second read
        # after the advance means a renewal at the new time has committed.
        assert owner_clock.wait_reads(owner_clock.reads + 2)
    row = raw_row(path, "renewed-lease")
    assert (row["lease_owner_id"], row["lease_expires_at_ms"]) == (first.owner_id, 1_700_000_000_080)
    assert row["created_at_ms"] == 1_700_000_000_000
    competitor = in_thread(lambda: second.execute_effect(envelope, returning("stolen-owner")))
    # Each busy round reads the clock twice (prepare, back-off): two rounds and it is still waiting.
    assert rival_clock.wait_reads(rival_clock.reads + 4)
    assert not competitor["done"].is_set(), "a renewed in-progress lease must keep the competitor busy"
    _finish_renewal_case(first, second, envelope, owner, competitor, release)


def test_renewal_on_the_wall_clock_keeps_a_second_controller_busy(tmp_path):
    # The same case on real time. Its TTL is 100 ms, not 20: on a loaded two-core box a Python
    # thread can go unscheduled for longer than 20 ms, and then the lease is genuinely lost.
    first, second, envelope, owner, release = _renewal_case(tmp_path / "effect-renewal.db",
                                                            EffectReplayOptions(lease_ttl_ms=100))
    time.sleep(0.3)  # the contract is about elapsed time: three TTLs pass while the owner renews
    competitor = in_thread(lambda: second.execute_effect(envelope, returning("stolen-owner")))
    assert not competitor["done"].wait(0.3), "a renewed in-progress lease must keep the competitor busy"
    _finish_renewal_case(first, second, envelope, owner, competitor, release)


def test_stolen_lease_fails_the_running_owner_with_lease_lost(tmp_path):
    path = tmp_path / "effect-stolen.db"
    controller = EffectController.open(path, ExecutionScope.turn("session", "turn"),
                                       EffectReplayOptions(lease_ttl_ms=30))
    envelope = exec_envelope("stolen-lease", "work")
    entered, never = threading.Event(), threading.Event()
    seen: dict = {}
    call = in_thread(lambda: controller.execute_effect(envelope, blocking("should-not-finalize", entered, never,
                                                                           seen)))
    assert entered.wait(JOIN_S)
    stolen_until = time.time_ns() // 1_000_000 + 10_000
    assert sql(path, "UPDATE runtime_effect_replay SET lease_owner_id = 'stolen-owner', "
                     "lease_token = 'stolen-token', lease_expires_at_ms = ? WHERE replay_key = ?",
               (stolen_until, "stolen-lease")) == 1
    stolen_at = time.monotonic()
    assert call["done"].wait(JOIN_S)
    assert time.monotonic() - stolen_at < 2.0  # contract: within 500 ms; bound kept generous for CI
    assert call["error"].code == "sqlite_effect_replay_lease_lost"
    assert "lost" in call["error"].message and "`stolen-lease`" in call["error"].message
    assert seen["cancelled"].is_set(), "the executor is told to stop"
    row = raw_row(path, "stolen-lease")
    assert (row["status"], row["lease_owner_id"], row["lease_token"]) == ("in_progress", "stolen-owner",
                                                                         "stolen-token")
    controller.close()


def test_lease_expired_before_finalize_is_lease_lost_and_the_row_is_retaken(tmp_path):
    path = tmp_path / "effect-expired-finalize.db"
    clock = FakeClock(1_700_000_000_000)
    controller = EffectController.open(path, ExecutionScope.turn("session", "turn"),
                                       EffectReplayOptions(lease_ttl_ms=30_000), clock=clock)
    envelope = exec_envelope("expired-before-finalize", "work")
    entered, release = threading.Event(), threading.Event()
    call = in_thread(lambda: controller.execute_effect(envelope, blocking("expired-owner", entered, release)))
    assert entered.wait(JOIN_S)
    assert sql(path, "UPDATE runtime_effect_replay SET lease_expires_at_ms = 0 WHERE replay_key = ?",
               ("expired-before-finalize",)) == 1
    release.set()
    assert call["done"].wait(JOIN_S)
    assert str(call["error"]) == (
        "sqlite_effect_replay_lease_lost: runtime effect replay lease was lost before finalizing scope `turn` "
        "replay key `expired-before-finalize`")
    row = raw_row(path, "expired-before-finalize")
    assert (row["status"], row["outcome_json"], row["lease_expires_at_ms"]) == ("in_progress", None, 0)
    # At-least-once: the next request takes the dead lease over and runs the effect again.
    assert marker_of(controller.execute_effect(envelope, returning("second-run"))) == "second-run"
    assert raw_row(path, "expired-before-finalize")["created_at_ms"] == 1_700_000_000_000
    controller.close()


def test_take_over_of_an_expired_row_keeps_created_at_and_uses_one_clock_reading(tmp_path):
    """Taking over an expired row stamps lease expiry and update time from one clock reading (W19)."""
    path = tmp_path / "e.db"
    clock = FakeClock(1_000_000)
    envelope = exec_envelope("k", "x")
    with EffectHost.open(path, EffectReplayOptions(lease_ttl_ms=500), clock=clock):
        pass
    sql(path, "INSERT INTO runtime_effect_replay (scope_id, replay_key, envelope_hash, status, lease_owner_id, "
              "lease_token, lease_expires_at_ms, created_at_ms, updated_at_ms) "
              "VALUES ('turn', 'k', ?, 'in_progress', 'dead', 'dead:1', 999000, 900000, 900000)",
        (envelope.stable_hash(),))
    seen = {}

    def peek(env, cancelled):
        seen.update(raw_row(path, "k"))
        return exec_outcome("x")

    with EffectHost.open(path, EffectReplayOptions(lease_ttl_ms=500), clock=clock) as host:
        host.scoped(ExecutionScope.turn("s", "turn")).execute_effect(envelope, peek)
        assert seen["lease_owner_id"] == host.owner_id
    assert (seen["lease_expires_at_ms"], seen["updated_at_ms"], seen["created_at_ms"]) == (1_000_500, 1_000_000,
                                                                                          900_000)
    row = raw_row(path, "k")
    assert (row["status"], row["lease_owner_id"], row["lease_expires_at_ms"]) == ("completed", None, 0)


def test_strict_in_flight_replay_is_opt_in(tmp_path):
    path = tmp_path / "e.db"
    envelope = exec_envelope("k", "x")
    with EffectHost.open(path):
        pass
    sql(path, "INSERT INTO runtime_effect_replay (scope_id, replay_key, envelope_hash, status, "
              "lease_expires_at_ms, created_at_ms, updated_at_ms) VALUES ('turn', 'k', ?, 'in_progress', 1, 1, 1)",
        (envelope.stable_hash(),))
    strict = EffectController.open(path, ExecutionScope.turn("s", "turn"),
                                   EffectReplayOptions(strict_in_flight_replay=True))
    strict.start_replay()
    with pytest.raises(EffectControllerError) as err:
        strict.execute_effect(envelope, returning("x"))
    assert err.value.code == "sqlite_effect_replay_missing"
    strict.close()
    default = EffectController.open(path, ExecutionScope.turn("s", "turn"))
    default.start_replay()
    assert marker_of(default.execute_effect(envelope, returning("executed-in-replay"))) == "executed-in-replay"
    default.close()


def test_busy_backoff_starts_at_25ms_caps_and_never_passes_the_expiry():
    assert [busy_delay_ms(n, 10_000, 0) for n in range(6)] == [25, 50, 100, 200, 200, 200]
    assert busy_delay_ms(0, 10, 0) == 10
    assert busy_delay_ms(5, 1_070, 1_000) == 70
    assert busy_delay_ms(3, 1_000, 1_000) == 1
    assert all(busy_delay_ms(n, 1_000 + d, 1_000) <= d for n in range(40) for d in (1, 24, 199, 5000))


def test_caller_cancel_stops_a_busy_wait(tmp_path):
    path = tmp_path / "e.db"
    envelope = exec_envelope("k", "x")
    holder = EffectController.open(path, ExecutionScope.turn("s", "turn"))
    waiter = EffectController.open(path, ExecutionScope.turn("s", "turn"))
    entered, release = threading.Event(), threading.Event()
    held = in_thread(lambda: holder.execute_effect(envelope, blocking("held", entered, release)))
    assert entered.wait(JOIN_S)
    cancel = threading.Event()
    waiting = in_thread(lambda: waiter.execute_effect(envelope, returning("other"), cancel=cancel))
    cancel.set()
    assert waiting["done"].wait(JOIN_S)
    assert isinstance(waiting["error"], EffectCancelled)
    release.set()
    assert held["done"].wait(JOIN_S) and marker_of(held["result"]) == "held"
    holder.close()
    waiter.close()


# --- sleep (§6.8) -------------------------------------------------------------------------------------------


def test_sleep_waits_for_its_due_time_and_replay_returns_at_once():
    controller = EffectController.memory(ExecutionScope.turn("session", "turn"))
    envelope = EffectEnvelope.effect(RuntimeScope.for_turn("session", "turn", 1, 0), "sleep", "sleep-key",
                                     EffectCommand.sleep(120))
    started = time.monotonic()
    assert controller.execute_effect(envelope) == {"type": "sleep"}
    assert time.monotonic() - started >= 0.1
    controller.start_replay()
    started = time.monotonic()
    assert controller.execute_effect(envelope, FailingExecutor()) == {"type": "sleep"}
    assert time.monotonic() - started < 0.1


def test_taken_over_sleep_keeps_its_recorded_due_time(tmp_path):
    path = tmp_path / "e.db"
    clock = FakeClock(5_000_000)
    envelope = EffectEnvelope.effect(RuntimeScope("s"), "nap", "nap", EffectCommand.sleep(600_000))
    with EffectHost.open(path):
        pass
    # A crashed first attempt recorded due = 5 000 020 (20 ms from "now"), lease long dead.
    sql(path, "INSERT INTO runtime_effect_replay (scope_id, replay_key, envelope_hash, status, "
              "lease_expires_at_ms, due_at_ms, created_at_ms, updated_at_ms) "
              "VALUES ('turn', 'nap', ?, 'in_progress', 1, 5000020, 1, 1)", (envelope.stable_hash(),))
    controller = EffectController.open(path, ExecutionScope.turn("s", "turn"), clock=clock)
    started = time.monotonic()
    assert controller.execute_effect(envelope) == {"type": "sleep"}
    assert time.monotonic() - started < 5, "the timer resumed instead of restarting a 10-minute sleep"
    row = raw_row(path, "nap")
    assert (row["status"], row["due_at_ms"], row["outcome_json"]) == ("completed", 5_000_020, '{"type":"sleep"}')
    controller.close()


# --- corrupt rows, encode failures, unrecorded exceptions ------------------------------------------------------


@pytest.mark.parametrize("status, outcome, error, code, message", [
    ("completed", None, None, "sqlite_effect_replay_corrupt_row",
     "completed runtime effect row is missing outcome_json"),
    ("failed", None, None, "sqlite_effect_replay_corrupt_row", "failed runtime effect row is missing error_json"),
    ("completed", "{not json", None, "sqlite_effect_replay_decode", None),
    ("failed", None, '{"code": 3}', "sqlite_effect_replay_decode", None),
    ("completed", "NaN", None, "sqlite_effect_replay_decode", None),
    ("paused", None, None, "sqlite_effect_replay_corrupt_row", "unknown runtime effect replay status `paused`"),
])
def test_corrupt_rows_raise_typed_codes(tmp_path, status, outcome, error, code, message):
    path = tmp_path / "e.db"
    envelope = exec_envelope("k", "x")
    with EffectHost.open(path):
        pass
    sql(path, "INSERT INTO runtime_effect_replay (scope_id, replay_key, envelope_hash, status, outcome_json, "
              "error_json, created_at_ms, updated_at_ms) VALUES ('turn', 'k', ?, ?, ?, ?, 1, 1)",
        (envelope.stable_hash(), status, outcome, error))
    with EffectController.open(path, ExecutionScope.turn("s", "turn")) as controller:
        with pytest.raises(EffectControllerError) as err:
            controller.execute_effect(envelope, returning("x"))
    assert err.value.code == code
    if message is not None:
        assert err.value.message == message
    else:
        assert err.value.message.startswith("failed to decode runtime effect replay row: ")


def test_unencodable_outcome_is_an_encode_error_and_nothing_is_recorded(tmp_path):
    path = tmp_path / "e.db"
    with EffectController.open(path, ExecutionScope.turn("s", "turn")) as controller:
        with pytest.raises(EffectControllerError) as err:
            controller.execute_effect(exec_envelope("k", "x"), lambda e, c: {"type": "exec_code", "bad": {1}})
        assert err.value.code == "sqlite_effect_replay_encode"
        assert raw_row(path, "k")["status"] == "in_progress"


def test_unexpected_executor_exception_propagates_and_releases_the_claim(tmp_path):
    path = tmp_path / "e.db"
    with EffectController.open(path, ExecutionScope.turn("s", "turn")) as controller:
        def broken(envelope, cancelled):
            raise ZeroDivisionError("bug in executor")

        with pytest.raises(ZeroDivisionError):
            controller.execute_effect(exec_envelope("k", "x"), broken)
        row = raw_row(path, "k")
        assert (row["status"], row["lease_owner_id"], row["lease_expires_at_ms"]) == ("in_progress", None, 0)
        assert marker_of(controller.execute_effect(exec_envelope("k", "x"), returning("retried"))) == "retried"


def test_first_run_returns_exactly_what_replay_returns():
    controller = EffectController.memory(ExecutionScope.turn("s", "turn"))
    first = controller.execute_effect(exec_envelope("k", "x"), lambda e, c: {"type": "exec_code", "v": (1, 2)})
    assert first == {"type": "exec_code", "v": [1, 2]}
    assert controller.execute_effect(exec_envelope("k", "x"), FailingExecutor()) == first


def test_sqlite_failure_is_a_store_error():
    host = EffectHost.memory()
    controller = host.scoped(ExecutionScope.turn("s", "turn"))
    host.close()
    with pytest.raises(EffectControllerError) as err:
        controller.execute_effect(exec_envelope("k", "x"), returning("x"))
    assert err.value.code == "sqlite_effect_replay_store"


# --- options, files -----------------------------------------------------------------------------------------


def test_lease_ttl_option(tmp_path):
    assert EffectReplayOptions(lease_ttl_ms=0).effective_ttl_ms == 1
    assert EffectReplayOptions().effective_ttl_ms == 30_000
    with pytest.raises(ValueError):
        EffectReplayOptions(lease_ttl_ms=-1)
    path = tmp_path / "e.db"
    clock = FakeClock(2_000_000)
    seen = {}

    def peek(envelope, cancelled):
        seen.update(raw_row(path, "k"))
        return exec_outcome("x")

    with EffectController.open(path, ExecutionScope.turn("s", "turn"), EffectReplayOptions(lease_ttl_ms=7_000),
                               clock=clock) as controller:
        controller.execute_effect(exec_envelope("k", "x"), peek)
    assert (seen["lease_expires_at_ms"], seen["created_at_ms"], seen["due_at_ms"]) == (2_007_000, 2_000_000, None)
    assert raw_row(path, "k")["outcome_json"] == json.dumps(exec_outcome("x"), separators=(",", ":"))


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


def test_other_kind_file_is_refused(tmp_path):
    other = tmp_path / "processes.db"
    shutil.copyfile(FIXTURES / "processes.db", other)
    with pytest.raises(NotALashDatabase):
        EffectController.open(other, ExecutionScope.turn("s", "t"))


# --- asyncio -------------------------------------------------------------------------------------------------


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


# --- process operations (§6.5) ----------------------------------------------------------------------------


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
