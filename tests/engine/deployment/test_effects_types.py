"""Effect scopes, commands and envelopes (runtime contract §6.1–§6.3): layout and the byte-exact hash."""

from __future__ import annotations

import json

import apsw
import pytest

from lashdb.engine import (
    EffectCommand,
    EffectControllerError,
    EffectEnvelope,
    EffectInvocation,
    RuntimeScope,
    prepared_tool_call,
)

from effects_support import FIXTURES, exec_envelope


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

