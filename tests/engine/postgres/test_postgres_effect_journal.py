"""The effect journal on PostgreSQL rows (postgres/effect_journal.py), run as one body over SQLite
(memory, file) and PostgreSQL: the controller's prepare → finalize → replay, and the rows' guards."""

from __future__ import annotations

import pytest

import pg_support
from lashdb.engine import (
    EffectCommand,
    EffectController,
    EffectControllerError,
    EffectEnvelope,
    EffectReplayOptions,
    ExecutionScope,
    RuntimeScope,
)
from lashdb.engine.deployment.effects.controller import _Shared

T0 = 1_700_000_000_000


@pytest.fixture(params=pg_support.DEPLOYMENT_KINDS)
def open_backend(request, tmp_path):
    return pg_support.deployment_opener(request, tmp_path, "effect_journal")


def controller(backend, scope=None) -> EffectController:
    shared = _Shared(backend, EffectReplayOptions(owner_id="host-1"), lambda: T0)
    return EffectController(shared, scope or ExecutionScope.turn("session-a", "turn"), owns=True)


def exec_envelope(replay_key: str, code: str) -> EffectEnvelope:
    return EffectEnvelope.effect(RuntimeScope.for_turn("session-a", "turn", 1, 0), replay_key, replay_key,
                                 EffectCommand.exec_code("code", code))


def outcome(marker: str) -> dict:
    return {"type": "exec_code", "result": {"Ok": {
        "observations": [], "observation_truncation": [], "tool_calls": [], "images": [],
        "printed_images": [], "error": None, "duration_ms": 0, "terminal_finish": marker}}}


def test_prepare_finalize_replay_returns_the_recorded_outcome(open_backend):
    calls = []

    def run(marker):
        def executor(envelope, cancelled):
            calls.append(envelope.replay_key)
            return outcome(marker)
        return executor

    with controller(open_backend("session-a")) as effects:
        envelope = exec_envelope("exec-1", "first")
        assert effects.execute_effect(envelope, run("recorded")) == outcome("recorded")
        assert effects.execute_effect(envelope, run("again")) == outcome("recorded")  # replayed, not rerun
        assert calls == ["exec-1"]
        with pytest.raises(EffectControllerError) as conflict:
            effects.execute_effect(exec_envelope("exec-1", "changed"), run("x"))
        assert conflict.value.code == "sqlite_effect_replay_hash_conflict"
        with pytest.raises(EffectControllerError) as missing:
            effects.execute_effect(exec_envelope("no-executor", "x"), None)
        assert missing.value.code == "runtime_effect_local_executor_unavailable"
        effects.start_replay()
        assert effects.execute_effect(envelope, run("never")) == outcome("recorded")
        with pytest.raises(EffectControllerError) as failed:
            effects.execute_effect(exec_envelope("no-executor", "x"), run("never"))  # a failure is permanent
        assert failed.value.code == "runtime_effect_local_executor_unavailable"
        with pytest.raises(EffectControllerError) as absent:
            effects.execute_effect(exec_envelope("never-recorded", "x"), run("never"))
        assert absent.value.code == "sqlite_effect_replay_missing"
        assert calls == ["exec-1"]


def test_rows_guard_the_lease_and_return_the_same_shapes(open_backend):
    backend = open_backend("session-a")
    try:
        backend.write(lambda rows: rows.insert("turn", "k", "hash-1", "in_progress", "owner-a", "tok-1",
                                               T0 + 100, None, T0))
        assert backend.read(lambda rows: rows.get("turn", "k")) == ("hash-1", "in_progress", None, None, T0 + 100, None)
        assert backend.read(lambda rows: rows.get("turn", "other")) is None
        assert backend.write(lambda rows: rows.renew("turn", "k", "hash-1", "owner-a", "tok-2", T0 + 200, T0)) is False
        assert backend.write(lambda rows: rows.renew("turn", "k", "hash-1", "owner-a", "tok-1", T0 + 200, T0)) is True
        # Expired at now: the guard no longer matches.
        assert backend.write(lambda rows: rows.release("turn", "k", "hash-1", "owner-a", "tok-1", T0 + 200)) is False
        backend.write(lambda rows: rows.claim("turn", "k", "owner-b", "tok-3", T0 + 300, T0 + 50, T0 + 1))
        assert backend.write(lambda rows: rows.finalize("turn", "k", "hash-1", "owner-b", "tok-3", "completed",
                                                        '{"ok":1}', None, T0 + 2)) is True
        assert backend.read(lambda rows: rows.get("turn", "k")) == ("hash-1", "completed", '{"ok":1}', None, 0, T0 + 50)
        assert backend.write(lambda rows: rows.finalize("turn", "k", "hash-1", "owner-b", "tok-3", "failed",
                                                        None, "{}", T0 + 3)) is False
    finally:
        backend.close()
