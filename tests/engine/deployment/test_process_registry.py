"""Process registry (deployment-stores §1): upstream conformance cases (§3.1, §3.2), hashes,
validation messages, semantics, leases and the asyncio facade — each on a fresh file."""

from __future__ import annotations

import asyncio
import json
import threading

import apsw
import pytest

from lashdb.engine import aio
from lashdb.engine.canonical import dumps, format_float, json_equal, sha256_hex, sorted_json, string_form
from lashdb.engine.errors import ProcessRegistryError, StoreError
from lashdb.engine.deployment.process_model import (
    CausalRef,
    DedupeKey,
    InvalidDeploymentValue,
    ProcessAwaitOutput,
    ProcessEventAppendRequest,
    ProcessEventType,
    ProcessExternalRef,
    ProcessHandleDescriptor,
    ProcessIdentity,
    ProcessInput,
    ProcessLeaseCompletion,
    ProcessListFilter,
    ProcessOriginator,
    ProcessProvenance,
    ProcessRegistration,
    Selector,
    SessionScope,
    TerminalSpec,
    WaitState,
    WakeSpec,
)
from lashdb.engine.deployment.process_registry import ProcessRegistry, ProcessWaitTimeout, lease_token
from lashdb.engine.deployment.semantics import validate_payload

T0 = 1_700_000_000_000


class Clock:
    """A settable epoch-ms clock."""

    def __init__(self, now: int = T0) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now

    def advance(self, ms: int) -> None:
        self.now += ms


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def registry(tmp_path, clock):
    with ProcessRegistry.open(tmp_path / "processes.db", clock=clock) as reg:
        yield reg


def registration(process_id: str) -> ProcessRegistration:
    return ProcessRegistration.external(process_id)


def wake_type(name: str) -> ProcessEventType:
    return ProcessEventType(name, {}, wake=WakeSpec(Selector.pointer("/wake_input"),
                                                    when=Selector.present("/wake_input")))


def plain_type(name: str) -> ProcessEventType:
    return ProcessEventType.plain(name)


def success(value) -> ProcessAwaitOutput:
    return ProcessAwaitOutput.success(value)


# --- canonical JSON and golden hashes (§0.4, §1.4) -----------------------------------------------


def test_canonical_text_matches_upstream_serializer():
    assert dumps({"b": 1, "a": [True, None, "é\n\u0001\x7f"]}) == '{"b":1,"a":[true,null,"é\\n\\u0001\x7f"]}'
    assert [format_float(v) for v in (1.0, 1e20, 1e16, 1e15, 0.001, 1e-5, 1e-7, 1.5e-7, -2.5, 1.2345e20)] == [
        "1.0", "1e20", "1e16", "1000000000000000.0", "0.001", "0.00001", "1e-7", "1.5e-7", "-2.5", "1.2345e20"]
    assert dumps([float("nan"), -0.0]) == "[null,-0.0]"
    assert dumps(sorted_json({"z": {"y": 1, "b": 2}, "a": 0})) == '{"a":0,"z":{"b":2,"y":1}}'
    assert string_form("text") == "text" and string_form(7) == "7"
    assert string_form({"b": 1, "a": None}) == '{"a":null,"b":1}'
    assert json_equal(1, 1) and not json_equal(1, 1.0) and not json_equal(True, 1) and json_equal({"a": [1]}, {"a": [1]})


def test_registration_hash_golden_value_and_canonical_text():
    reg = registration("proc-idempotent").completed()
    text = dumps(reg.to_json())
    assert text.startswith('{"id":"proc-idempotent","input":{"type":"external","metadata":null},'
                           '"identity":{"kind":"external"},"event_types":[{"name":"process.cancel_requested",'
                           '"payload_schema":{"schema":{}},"semantics":{}},')
    assert ('{"name":"process.completed","payload_schema":{"schema":{}},"semantics":{"terminal":'
            '{"state":"completed","await_output":{"pointer":"/await_output"}}}}') in text
    assert text.endswith('],"provenance":{"originator":{"type":"host"}}}')
    assert sha256_hex(reg.to_json()) == "9c316c424785ad33f82e1d30158badd136cdc3aa117fe0baf2939f13becf0b52"


def test_payload_wake_and_lease_golden_hashes(registry, clock):
    payload = {"await_output": success({"ok": True}).to_json()}
    assert dumps(["process.completed", payload]) == \
        '["process.completed",{"await_output":{"type":"success","value":{"ok":true}}}]'
    assert sha256_hex(["process.completed", payload]) == \
        "282694fb3712c6d722645255f06498f6d8b14b9430973659f0352313744662ed"
    assert "wake:" + sha256_hex(["session:session", "proc-wake:1"]) == \
        "wake:9139c975e42a7d703f7e1fae04306248789f18b2af461fea0c8af565c1b9a700"
    assert lease_token("proc-a", "owner-a", 1700000000000, 1) == \
        "55f692c171e47098c2d5e8000e6e26d4bf4a1a87e944cfb5639ee771d0a5050f"
    # The stored column carries the same payload hash.
    registry.register_process(registration("proc-a"))
    registry.complete_process("proc-a", success({"ok": True}))
    row = registry._conn.execute("SELECT payload_hash, idempotency_key FROM process_events").fetchall()
    assert row == [("282694fb3712c6d722645255f06498f6d8b14b9430973659f0352313744662ed",
                    "process:proc-a:terminal:process.completed")]
    lease = registry.claim_process_lease("proc-a", "owner-a", 1000)
    assert lease.lease_token == lease_token("proc-a", "owner-a", T0, 1)


def test_free_form_values_hash_with_sorted_keys_and_upstream_floats():
    request = ProcessEventAppendRequest("x", {"b": 1e20, "a": {"d": 1.0, "c": 2}})
    assert dumps(["x", request.payload]) == '["x",{"a":{"c":2,"d":1.0},"b":1e20}]'
    failure = ProcessAwaitOutput.failure("execution", "boom", "it broke", raw={"z": 1, "a": 2})
    assert dumps(failure.to_json()) == \
        '{"type":"failure","class":"execution","code":"boom","message":"it broke","raw":{"a":2,"z":1}}'
    assert dumps(sorted_json(failure.to_json())) == \
        '{"class":"execution","code":"boom","message":"it broke","raw":{"a":2,"z":1},"type":"failure"}'


# --- §3.1 conformance ----------------------------------------------------------------------------------


def test_durability_tier_is_durable(registry):
    assert registry.durability_tier == "durable"
    assert ProcessRegistry.memory().durability_tier == "durable"


def test_registration_is_idempotent_and_hash_conflicts_fail(registry, clock):
    first = registry.register_process(registration("proc-idempotent"))
    clock.advance(500)
    second = registry.register_process(registration("proc-idempotent"))
    assert first.registration_hash == second.registration_hash == \
        "9c316c424785ad33f82e1d30158badd136cdc3aa117fe0baf2939f13becf0b52"
    assert second.created_at_ms == second.updated_at_ms == T0  # a replay moves no timestamp
    with pytest.raises(ProcessRegistryError) as err:
        registry.register_process(registration("proc-idempotent").with_extra_event_types(wake_type("producer.wake")))
    changed = registration("proc-idempotent").with_extra_event_types(wake_type("producer.wake")).completed()
    assert str(err.value) == (f"process `proc-idempotent` registration hash conflict: existing "
                              f"{first.registration_hash}, new {sha256_hex(changed.to_json())}")
    assert isinstance(err.value, StoreError)
    row = registry._conn.execute(
        "SELECT registration_hash, owner_scope_id, created_at_ms, updated_at_ms, status FROM processes").fetchall()
    assert row == [(first.registration_hash, "host", T0, T0, "running")]


@pytest.mark.parametrize("variant", ["label", "wake_target", "reordered"])
def test_any_change_in_hashed_fields_is_a_conflict(registry, variant):
    base = registration("p").with_extra_event_types(plain_type("a"), plain_type("b"))
    registry.register_process(base)
    if variant == "label":
        changed = ProcessRegistration("p", base.input, ProcessIdentity("external", "renamed"), base.event_types)
    elif variant == "wake_target":
        changed = ProcessRegistration("p", base.input, event_types=base.event_types, wake_target=SessionScope("s"))
    else:
        types = list(base.event_types)
        types[-1], types[-2] = types[-2], types[-1]
        changed = ProcessRegistration("p", base.input, event_types=types)
    with pytest.raises(ProcessRegistryError, match="registration hash conflict"):
        registry.register_process(changed)


def test_registration_validation_messages(registry):
    def fails(reg: ProcessRegistration, message: str) -> None:
        with pytest.raises(ProcessRegistryError) as err:
            registry.register_process(reg)
        assert str(err.value) == message

    fails(registration("  "), "process id must be a non-empty string")
    fails(ProcessRegistration("e", ProcessInput.engine("worker")), "process `e` requires a captured execution env")
    fails(ProcessRegistration("t", ProcessInput.tool_call("c1", "tool:x", "x", {})),
          "process `t` requires a captured execution env")
    fails(ProcessRegistration("x", ProcessInput.external(), env_ref="process-env:1"),
          "process `x` must not capture an execution env for this input kind")
    fails(registration("x").with_extra_event_types(plain_type(" ")), "process `x` declares an empty event type")
    fails(registration("x").with_extra_event_types(plain_type("a"), plain_type("a")),
          "process `x` declares duplicate event type `a`")
    fails(registration("x").with_extra_event_types(ProcessEventType("x.fail", {}, TerminalSpec("failed"))),
          "terminal event `x.fail` for process `x` must declare await output")
    assert registry.list_processes(ProcessListFilter("any")) == []
    # An engine process with its env, and a completed-state terminal without selector, are fine.
    record = registry.register_process(ProcessRegistration(
        "ok", ProcessInput.engine("worker", {"n": 1}), env_ref="process-env:1").with_extra_event_types(
        ProcessEventType("x.done", {}, TerminalSpec("completed"))))
    assert record.identity == ProcessIdentity("worker") and record.env_ref == "process-env:1"


def test_core_types_are_appended_after_custom_ones_and_not_duplicated(registry):
    record = registry.register_process(ProcessRegistration(
        "proc-event-queries", ProcessInput.external(), event_types=[plain_type("signal.a"), plain_type("b"),
                                                                     plain_type("process.waiting")]))
    assert [t.name for t in record.event_types] == [
        "signal.a", "b", "process.waiting", "process.cancel_requested", "process.resumed", "process.completed",
        "process.failed", "process.cancelled"]


def test_default_identity_from_input():
    assert ProcessInput.tool_call("c", "tool:t", "grep", {}).default_identity() == ProcessIdentity("tool", "grep")
    assert ProcessInput.engine("cron").default_identity() == ProcessIdentity("cron")
    assert ProcessInput.external({"name": "job", "title": "t"}).default_identity() == ProcessIdentity("external", "job")
    assert ProcessInput.external({"label": 3, "name": "job"}).default_identity() == ProcessIdentity("external")
    turn = ProcessInput.session_turn({"usage_source": "subagent", "session_id": "s"}, {}, {})
    assert turn.default_identity() == ProcessIdentity("session_turn", "subagent")
    turn = ProcessInput.session_turn({"subagent": {"capability": "explore"}, "session_id": "s"}, {}, {})
    assert turn.default_identity() == ProcessIdentity("session_turn", "explore")


def test_external_refs_round_trip_and_unknown_process_fails(registry, clock):
    with pytest.raises(ProcessRegistryError, match="^unknown process `missing-process`$"):
        registry.set_external_ref("missing-process", ProcessExternalRef("test", "missing"))
    registry.register_process(registration("proc-external-ref"))
    ref = ProcessExternalRef("worker", "job-123", {"queue": "critical"})
    clock.advance(7)
    updated = registry.set_external_ref("proc-external-ref", ref)
    assert updated.external_ref == ref and updated.updated_at_ms == T0 + 7
    reread = registry.get_process("proc-external-ref")
    assert reread.external_ref == ref
    assert json.loads(registry._conn.execute("SELECT record_json FROM processes").fetchall()[0][0])["external_ref"] == \
        {"backend": "worker", "id": "job-123", "metadata": {"queue": "critical"}}


def test_handle_grant_membership_round_trip(registry):
    owner = SessionScope("grant-owner")
    registry.register_process(registration("proc-external-ref"))
    assert registry.has_handle_grant(owner, "proc-external-ref") is False
    grant = registry.grant_handle(owner, "proc-external-ref", ProcessHandleDescriptor("test", "external ref"))
    assert grant.to_json() == {"session_id": "grant-owner", "process_id": "proc-external-ref",
                               "descriptor": {"kind": "test", "label": "external ref"}}
    assert registry.has_handle_grant(owner, "proc-external-ref") is True
    registry.revoke_handle(owner, "proc-external-ref")
    assert registry.has_handle_grant(owner, "proc-external-ref") is False
    assert registry.list_handle_grants(owner) == []
    registry.revoke_handle(owner, "no-such-process")  # absent rows and unknown processes are fine
    with pytest.raises(ProcessRegistryError, match="^unknown process `nope`$"):
        registry.grant_handle(owner, "nope")


def test_custom_events_validate_and_materialize_wakes(registry):
    event_type = ProcessEventType(
        "producer.line",
        {"type": "object", "properties": {"line": {"type": "string"}, "wake_input": {"type": "string"}},
         "required": ["line"], "additionalProperties": True},
        wake=WakeSpec(Selector.pointer("/wake_input"), when=Selector.present("/wake_input")))
    registry.register_process(registration("proc-1").with_extra_event_types(event_type))
    result = registry.append_event("proc-1", ProcessEventAppendRequest(
        "producer.line", {"line": "deploy failed", "wake_input": "Process event: deploy failed"},
        wake_target_scope=SessionScope("s1")))
    assert result.event.sequence == 1
    assert result.event.semantics.wake.input == "Process event: deploy failed"
    assert result.wake_delivery.target_scope_id == "session:s1"
    assert [e.sequence for e in registry.wake_events_after("proc-1", 0)] == [1]
    registry.ack_wake("proc-1", 1)
    registry.ack_wake("proc-1", 1)  # duplicate acks are ignored
    assert registry.wake_events_after("proc-1", 0) == []
    with pytest.raises(ProcessRegistryError) as err:
        registry.append_event("proc-1", ProcessEventAppendRequest("producer.line", {"wake_input": "missing required line"}))
    assert str(err.value) == "invalid `producer.line` payload: line: required property missing"
    assert len(registry.events_after("proc-1", 0)) == 1
    with pytest.raises(ProcessRegistryError, match="^unknown process `nope`$"):
        registry.ack_wake("nope", 1)


def test_custom_wake_events_preserve_typed_provenance_and_replay(registry):
    target = SessionScope("target-session", "target-frame")
    cause = CausalRef.session_node("target-session", "trigger:button")
    registry.register_process(ProcessRegistration(
        "proc-provenance", ProcessInput.external(),
        provenance=ProcessProvenance(ProcessOriginator.session("owner-session"), cause),
    ).with_extra_event_types(wake_type("producer.custom_wake")))
    request = ProcessEventAppendRequest("producer.custom_wake",
                                        {"line": "build failed", "wake_input": "custom wake: build failed"},
                                        "custom-wake:build-failed", target)
    first = registry.append_event("proc-provenance", request)
    replay = registry.append_event("proc-provenance", request)
    assert first.event.sequence == replay.event.sequence == 1
    assert len(registry.events_after("proc-provenance", 0)) == 1
    assert first.event.invocation == {
        "scope": {"session_id": "runtime"},
        "subject": {"type": "process_event", "process_id": "proc-provenance", "sequence": 1,
                    "event_type": "producer.custom_wake"},
        "caused_by": {"type": "process", "process_id": "proc-provenance"},
        "replay": {"key": "custom-wake:build-failed"},
    }
    wake = first.wake_delivery
    assert wake.event_type == "producer.custom_wake"
    assert wake.event_invocation == first.event.invocation
    assert wake.process_caused_by == {"type": "session_node", "session_id": "target-session", "node_id": "trigger:button"}
    assert (wake.target_session_id, wake.target_scope_id) == ("target-session", "session:target-session/frame:target-frame")
    assert (wake.process_id, wake.sequence, wake.dedupe_key, wake.input) == \
        ("proc-provenance", 1, "proc-provenance:1", "custom wake: build failed")
    assert wake.wake_id == "wake:" + sha256_hex(["session:target-session/frame:target-frame", "proc-provenance:1"])
    assert replay.wake_delivery.wake_id == wake.wake_id
    assert registry.get_process("proc-provenance").originator_scope_id == "session:owner-session"


def test_event_streams_filter_order_and_wait(registry):
    registry.register_process(registration("proc-stream").with_extra_event_types(
        plain_type("producer.line"), wake_type("producer.wake"), plain_type("producer.future")))
    registry.append_event("proc-stream", ProcessEventAppendRequest("producer.line", {"line": "one"}))
    registry.append_event("proc-stream", ProcessEventAppendRequest(
        "producer.wake", {"wake_input": "wake two"}, wake_target_scope=SessionScope("root")))
    registry.append_event("proc-stream", ProcessEventAppendRequest("producer.line", {"line": "three"}))
    assert [(e.sequence, e.event_type) for e in registry.events_after("proc-stream", 1)] == \
        [(2, "producer.wake"), (3, "producer.line")]
    assert registry.events_after("proc-stream", 3) == []
    assert [(e.sequence, e.event_type) for e in registry.wake_events_after("proc-stream", 1)] == [(2, "producer.wake")]
    assert registry.wake_events_after("proc-stream", 2) == []
    assert registry.wait_event_after("proc-stream", "producer.line", 1).sequence == 3

    started = threading.Event()
    results: list = []

    def waiter() -> None:
        started.set()
        results.append(registry.wait_event_after("proc-stream", "producer.future", 3, timeout=30))

    thread = threading.Thread(target=waiter)
    thread.start()
    started.wait()
    registry.append_event("proc-stream", ProcessEventAppendRequest("producer.future", {"line": "four"}))
    thread.join()
    assert [(e.sequence, e.payload) for e in results] == [(4, {"line": "four"})]


def test_wait_with_timeout_raises_typed_error(registry):
    registry.register_process(registration("idle"))
    with pytest.raises(ProcessWaitTimeout) as err:
        registry.await_process("idle", timeout=0)
    assert isinstance(err.value, ProcessRegistryError)
    with pytest.raises(ProcessRegistryError, match="^unknown process `ghost`$"):
        registry.await_process("ghost", timeout=0)
    with pytest.raises(ProcessRegistryError, match="^unknown process `ghost`$"):
        registry.wait_event_after("ghost", "x", 0, timeout=0)


def test_wake_semantics_matrix(registry):
    def wake(name, input, when=None, dedupe=DedupeKey.event_identity()):
        return ProcessEventType(name, {}, wake=WakeSpec(input, when, dedupe))

    registry.register_process(registration("proc-wake-matrix").with_extra_event_types(
        wake("matrix.when_false", Selector.const("must not wake"), when=Selector.const(False)),
        wake("matrix.payload", Selector.payload()),
        wake("matrix.const_input", Selector.const("constant wake input")),
        wake("matrix.template", Selector.template("line {line} #{n}", {"line": Selector.pointer("/line"),
                                                                        "n": Selector.pointer("/n")})),
        wake("matrix.selector_dedupe", Selector.pointer("/wake_input"),
             dedupe=DedupeKey.selector(Selector.pointer("/dedupe"))),
        wake("matrix.const_dedupe", Selector.pointer("/wake_input"), dedupe=DedupeKey.const("constant-dedupe")),
    ))
    root = SessionScope("root")

    def append(event_type, payload):
        return registry.append_event("proc-wake-matrix",
                                     ProcessEventAppendRequest(event_type, payload, wake_target_scope=root))

    assert append("matrix.when_false", {}).wake_delivery is None
    payload = append("matrix.payload", "payload wake").wake_delivery
    assert (payload.input, payload.dedupe_key) == ("payload wake", "proc-wake-matrix:2")
    assert append("matrix.const_input", {}).wake_delivery.input == "constant wake input"
    assert append("matrix.template", {"line": "done", "n": 7}).wake_delivery.input == "line done #7"
    one = append("matrix.selector_dedupe", {"wake_input": "selector one", "dedupe": "group-a"}).wake_delivery
    two = append("matrix.selector_dedupe", {"wake_input": "selector two", "dedupe": "group-a"}).wake_delivery
    assert one.dedupe_key == "group-a" and one.wake_id == two.wake_id and one.input != two.input
    c1 = append("matrix.const_dedupe", {"wake_input": "const one"}).wake_delivery
    c2 = append("matrix.const_dedupe", {"wake_input": "const two"}).wake_delivery
    assert c1.dedupe_key == "constant-dedupe" and c1.wake_id == c2.wake_id
    assert [e.sequence for e in registry.wake_events_after("proc-wake-matrix", 0)] == [2, 3, 4, 5, 6, 7, 8]


def test_keyed_events_materialize_idempotent_wakes(registry, clock):
    registry.register_process(registration("proc-wake").with_extra_event_types(wake_type("process.wake")))
    request = ProcessEventAppendRequest("process.wake", {"message": "deploy failed",
                                                         "wake_input": "Process wake: deploy failed"},
                                        "wake:deploy failed", SessionScope("session"))
    first = registry.append_event("proc-wake", request)
    clock.advance(1000)
    second = registry.append_event("proc-wake", request)
    assert first.event.sequence == second.event.sequence == 1
    assert first.wake_delivery == second.wake_delivery
    assert second.wake_delivery.created_at_ms == T0  # rebuilt from the stored event's time
    wake = first.wake_delivery
    assert (wake.input, wake.target_scope_id, wake.process_id, wake.sequence) == \
        ("Process wake: deploy failed", "session:session", "proc-wake", 1)
    assert wake.wake_id == "wake:9139c975e42a7d703f7e1fae04306248789f18b2af461fea0c8af565c1b9a700"
    with pytest.raises(ProcessRegistryError) as err:
        registry.append_event("proc-wake", ProcessEventAppendRequest(
            "process.wake", {"message": "other", "wake_input": "Process wake: other"}, "wake:deploy failed"))
    assert str(err.value) == \
        "process `proc-wake` event replay key `wake:deploy failed` conflicts with an existing event"
    assert registry._conn.execute("SELECT COUNT(*) FROM process_events").fetchall() == [(1,)]


def test_wake_without_target_is_stored_without_delivery(registry):
    registry.register_process(registration("proc-missing-wake-target").with_extra_event_types(wake_type("process.wake")))
    appended = registry.append_event("proc-missing-wake-target", ProcessEventAppendRequest(
        "process.wake", {"message": "target missing", "wake_input": "Process wake: target missing"},
        "wake:missing-target"))
    assert appended.event.sequence == 1 and appended.wake_delivery is None
    assert appended.event.semantics.wake.input == "Process wake: target missing"
    assert len(registry.events_after("proc-missing-wake-target", 0)) == 1


def test_registration_wake_target_is_the_default_target(registry):
    registry.register_process(ProcessRegistration.external("p", wake_target=SessionScope("home", "f1"))
                              .with_extra_event_types(wake_type("w")))
    delivery = registry.append_event("p", ProcessEventAppendRequest("w", {"wake_input": "hi"})).wake_delivery
    assert (delivery.target_session_id, delivery.target_scope_id) == ("home", "session:home/frame:f1")


def test_terminal_and_cancel_events_require_keys(registry):
    registry.register_process(registration("proc-terminal"))
    with pytest.raises(ProcessRegistryError) as err:
        registry.append_event("proc-terminal", ProcessEventAppendRequest("process.cancel_requested", {"reason": "stop"}))
    assert str(err.value) == "process `proc-terminal` event `process.cancel_requested` requires a deterministic replay key"
    with pytest.raises(ProcessRegistryError, match="requires a deterministic replay key"):
        registry.append_event("proc-terminal", ProcessEventAppendRequest(
            "process.completed", {"await_output": success(1).to_json()}, ""))
    cancel = ProcessEventAppendRequest.cancel_requested("proc-terminal", "stop")
    assert cancel.replay_key == "process:proc-terminal:cancel_requested:" + sha256_hex(
        ["process.cancel_requested", {"reason": "stop"}])
    registry.append_event("proc-terminal", cancel)
    record = registry.complete_process("proc-terminal", ProcessAwaitOutput.cancelled("stopped"))
    assert record.status == "cancelled"
    assert registry.get_process("proc-terminal").await_output == ProcessAwaitOutput.cancelled("stopped")
    with pytest.raises(ProcessRegistryError, match="^process `proc-terminal` emitted undeclared event type `nope`$"):
        registry.append_event("proc-terminal", ProcessEventAppendRequest("nope", {}))


def test_await_reads_terminal_materialized_output(registry):
    registry.register_process(registration("proc-2"))
    record = registry.complete_process("proc-2", success({"ok": True}))
    assert record.is_terminal and record.status_json() == {
        "state": "completed", "await_output": {"type": "success", "value": {"ok": True}}}
    assert registry.await_process("proc-2") == success({"ok": True})
    assert registry.get_process("proc-2").is_terminal


def test_completion_is_replayable_conflicting_or_already_terminal(registry, clock):
    registry.register_process(registration("p"))
    done = registry.complete_process("p", success({"ok": True}))
    clock.advance(10)
    again = registry.complete_process("p", success({"ok": True}))
    assert again == done and again.updated_at_ms == T0
    with pytest.raises(ProcessRegistryError,
                       match="^process `p` event replay key `process:p:terminal:process.completed` conflicts"):
        registry.complete_process("p", success({"ok": False}))
    with pytest.raises(ProcessRegistryError, match="^process `p` is already terminal$"):
        registry.complete_process("p", ProcessAwaitOutput.failure("timeout", "slow", "too slow"))
    # A late non-terminal event is still accepted on a terminal process.
    late = registry.append_event("p", ProcessEventAppendRequest.cancel_requested("p", None))
    assert late.event.sequence == 2
    with pytest.raises(ProcessRegistryError, match="^unknown process `ghost`$"):
        registry.complete_process("ghost", success(1))


def test_terminal_selection_falls_back_by_state(registry):
    registry.register_process(registration("f").with_extra_event_types(
        ProcessEventType("job.failed", {}, TerminalSpec("failed", Selector.pointer("/error")))))
    registry.append_event("f", ProcessEventAppendRequest("job.failed", {"error": {"code": 9}}, "k"))
    record = registry.get_process("f")
    assert record.status == "failed"
    assert record.await_output == ProcessAwaitOutput.failure("execution", "process_failed", '{"code":9}', {"code": 9})
    registry.register_process(registration("c").with_extra_event_types(
        ProcessEventType("job.stop", {}, TerminalSpec("cancelled", Selector.pointer("/why")))))
    registry.append_event("c", ProcessEventAppendRequest("job.stop", {"why": "user"}, "k"))
    assert registry.get_process("c").await_output == ProcessAwaitOutput.cancelled("user", "user")
    registry.register_process(registration("d").with_extra_event_types(
        ProcessEventType("job.done", {}, TerminalSpec("completed"))))
    registry.append_event("d", ProcessEventAppendRequest("job.done", {"rows": 3}, "k"))
    assert registry.get_process("d").await_output == success({"rows": 3})
    registry.register_process(registration("m").with_extra_event_types(
        ProcessEventType("job.fin", {}, TerminalSpec("completed", Selector.pointer("/missing")))))
    with pytest.raises(ProcessRegistryError, match="^payload pointer `/missing` did not match$"):
        registry.append_event("m", ProcessEventAppendRequest("job.fin", {}, "k"))
    assert registry.get_process("m").status == "running" and registry.events_after("m", 0) == []


def test_replayed_terminal_event_repairs_a_lost_status(registry, clock):
    registry.register_process(registration("r"))
    registry.complete_process("r", success(5))
    # Simulate a status projection lost after the event was stored.
    stale = json.loads(registry._conn.execute("SELECT record_json FROM processes").fetchall()[0][0])
    stale["status"] = {"state": "running"}
    registry._conn.execute("UPDATE processes SET status = 'running', record_json = ?", (json.dumps(stale),))
    assert registry.get_process("r").status == "running"
    clock.advance(99)
    record = registry.complete_process("r", success(5))
    assert record.status == "completed" and record.await_output == success(5)
    assert record.updated_at_ms == T0  # the stored terminal event's time
    assert registry._conn.execute("SELECT status FROM processes").fetchall() == [("completed",)]


def test_wait_state_round_trips_filters_and_clears_on_terminal(registry, clock):
    with pytest.raises(ProcessRegistryError, match="^unknown process `missing`$"):
        registry.set_process_wait("missing", WaitState.signal("missing", "ready", 1, 1234))
    registry.register_process(registration("proc-wait-roundtrip"))
    wait = WaitState.signal("proc-wait-roundtrip", "ready", 1, 1234)
    assert wait.to_json() == {"kind": {"kind": "signal", "name": "ready", "event_type": "signal.ready",
                                       "key": "process:proc-wait-roundtrip:signal.ready:1", "ordinal": 1},
                              "since_ms": 1234}
    assert registry.set_process_wait("proc-wait-roundtrip", wait).wait == wait
    assert registry.get_process("proc-wait-roundtrip").wait == wait
    assert [r.id for r in registry.list_processes(ProcessListFilter(waiting=True))] == ["proc-wait-roundtrip"]
    assert registry.list_processes(ProcessListFilter(waiting=False)) == []
    assert registry.clear_process_wait("proc-wait-roundtrip").wait is None
    assert registry.get_process("proc-wait-roundtrip").wait is None
    registry.set_process_wait("proc-wait-roundtrip", wait)
    completed = registry.complete_process("proc-wait-roundtrip", success({"done": True}))
    assert completed.wait is None
    with pytest.raises(ProcessRegistryError) as err:
        registry.set_process_wait("proc-wait-roundtrip", WaitState.signal("proc-wait-roundtrip", "again", 1, 5678))
    assert str(err.value) == "terminal process `proc-wait-roundtrip` cannot enter a wait state"
    assert registry.clear_process_wait("proc-wait-roundtrip").wait is None  # allowed on terminal processes


def test_list_processes_filters_by_status_waiting_and_definition(registry):
    registry.register_process(registration("a-running"))
    registry.register_process(registration("b-waiting"))
    registry.register_process(ProcessRegistration("c-done", ProcessInput.external(),
                                                  ProcessIdentity("external", definition={"v": 1, "k": "x"})))
    registry.set_process_wait("b-waiting", WaitState.signal("b-waiting", "go", 1, 1))
    registry.complete_process("c-done", success(None))

    def ids(**kwargs):
        return [r.id for r in registry.list_processes(ProcessListFilter(**kwargs))]

    assert ids(status="any") == ["a-running", "b-waiting", "c-done"]
    assert [r.id for r in registry.list_processes()] == ["a-running", "b-waiting"]
    assert ids(status="completed") == ["c-done"] and ids(status="failed") == []
    assert ids(status="any", waiting=True) == ["b-waiting"]
    assert ids(status="running", waiting=False) == ["a-running"]
    assert ids(status="any", definition={"k": "x", "v": 1}) == ["c-done"]
    assert ids(status="any", definition={"k": "x", "v": 1.0}) == []
    with pytest.raises(InvalidDeploymentValue, match="process list status must be"):
        ProcessListFilter("paused")


def test_count_and_recent_events_match_the_log(registry):
    for call in (lambda: registry.count_events_through("missing-process", "signal.ready", 10),
                 lambda: registry.recent_events("missing-process", 4)):
        with pytest.raises(ProcessRegistryError, match="^unknown process `missing-process`$"):
            call()
    registry.register_process(ProcessRegistration("proc-event-queries", ProcessInput.external(),
                                                  event_types=[plain_type("signal.a"), plain_type("b")]))
    for index, event_type in enumerate(["signal.a", "b", "signal.a", "signal.a", "b"]):
        registry.append_event("proc-event-queries", ProcessEventAppendRequest(
            event_type, {"n": index}, f"proc-event-queries:{index}"))
    assert registry.count_events_through("proc-event-queries", "signal.a", 5) == 3
    assert registry.count_events_through("proc-event-queries", "signal.a", 3) == 2
    assert registry.count_events_through("proc-event-queries", "unknown", 2**64 - 1) == 0
    assert registry.count_events_through("proc-event-queries", "b", 2**64 - 1) == 2  # clamped, not cast negative
    full = registry.events_after("proc-event-queries", 0)
    assert [e.payload["n"] for e in full] == [0, 1, 2, 3, 4]
    assert registry.recent_events("proc-event-queries", 2) == full[-2:]
    assert registry.recent_events("proc-event-queries", 100) == full
    assert registry.recent_events("proc-event-queries", 0) == []
    assert registry.events_after("proc-event-queries", 2**64 - 1) == []


def test_transfer_moves_addressability_without_events(registry):
    s1, s2 = SessionScope("s1"), SessionScope("s2")
    registry.register_process(registration("proc-3"))
    registry.grant_handle(s1, "proc-3", ProcessHandleDescriptor("tool", "demo"))
    registry.transfer_handle_grants(s1, s2, ["proc-3"])
    assert registry.list_handle_grants(s1) == []
    [(grant, record)] = registry.list_handle_grants(s2)
    assert grant.descriptor == ProcessHandleDescriptor("tool", "demo") and record.id == "proc-3"
    assert registry.events_after("proc-3", 0) == []
    registry.transfer_handle_grants(s1, s2, [])  # empty list: no-op


def test_failed_transfer_rolls_back_every_move(registry):
    s1, s2 = SessionScope("s1"), SessionScope("s2")
    for pid in ("a", "b"):
        registry.register_process(registration(pid))
    registry.grant_handle(s1, "a")
    with pytest.raises(ProcessRegistryError) as err:
        registry.transfer_handle_grants(s1, s2, ["a", "b"])
    assert str(err.value) == "process handle `b` is not granted to session `s1`"
    assert [g.process_id for g, _ in registry.list_handle_grants(s1)] == ["a"]
    assert registry.list_handle_grants(s2) == []


def test_multiple_sessions_can_hold_grants(registry):
    s1, s2, s3 = SessionScope("s1"), SessionScope("s2"), SessionScope("s3")
    registry.register_process(registration("proc-5"))
    registry.grant_handle(s1, "proc-5", ProcessHandleDescriptor("tool", "demo"))
    registry.grant_handle(s2, "proc-5", ProcessHandleDescriptor("worker", "demo"))
    assert [g.session_id for g in registry.handle_grants_for_process("proc-5")] == ["s1", "s2"]
    registry.transfer_handle_grants(s1, s3, ["proc-5"])
    grants = registry.handle_grants_for_process("proc-5")
    assert [(g.session_id, g.descriptor.kind) for g in grants] == [("s2", "worker"), ("s3", "tool")]
    assert registry.events_after("proc-5", 0) == []
    registry.grant_handle(SessionScope("s2", "frame-x"), "proc-5")
    assert [g.session_id for g in registry.handle_grants_for_process("proc-5")] == ["s2", "s2", "s3"]
    with pytest.raises(ProcessRegistryError, match="^unknown process `ghost`$"):
        registry.handle_grants_for_process("ghost")


def test_processes_can_exist_with_zero_grants(registry):
    registry.register_process(registration("proc-4"))
    assert registry.list_handle_grants(SessionScope("s1")) == []


def test_delete_session_revokes_handles_by_session(registry, clock):
    deleted, remaining = SessionScope("deleted"), SessionScope("remaining")
    for pid in ("sole", "shared", "terminal"):
        registry.register_process(ProcessRegistration.external(pid, wake_target=deleted)
                                  .with_extra_event_types(wake_type("producer.wake")))
        registry.grant_handle(deleted, pid, ProcessHandleDescriptor("test", pid))
    registry.grant_handle(remaining, "shared", ProcessHandleDescriptor("test", "shared"))
    registry.complete_process("terminal", success(None))
    registry.append_event("sole", ProcessEventAppendRequest("producer.wake", {"wake_input": "wake deleted"},
                                                            wake_target_scope=deleted))
    shared_wake = registry.append_event("shared", ProcessEventAppendRequest(
        "producer.wake", {"wake_input": "wake shared"}, wake_target_scope=remaining))
    registry.ack_wake("shared", shared_wake.event.sequence)
    assert registry.wake_events_after("shared", 0) == []
    clock.advance(42)
    report = registry.delete_session_process_state("deleted")
    assert report.to_json() == {"session_id": "deleted", "revoked_handle_count": 3, "deleted_wake_count": 0,
                                "orphaned_process_ids": ["sole"], "preserved_process_ids": ["shared"]}
    for pid in ("sole", "shared", "terminal"):
        record = registry.get_process(pid)
        assert record.wake_target is None and record.updated_at_ms == T0 + 42
    assert registry.list_handle_grants(deleted) == []
    assert len(registry.list_handle_grants(remaining)) == 1
    assert registry.wake_events_after("shared", 0) == []
    assert registry._conn.execute("SELECT COUNT(*) FROM process_wake_acks").fetchall() == [(1,)]


def test_delete_session_covers_every_frame_and_only_that_session(registry):
    registry.register_process(registration("p"))
    registry.register_process(registration("q"))
    registry.grant_handle(SessionScope("gone"), "p")
    registry.grant_handle(SessionScope("gone", "frame-1"), "p")
    registry.grant_handle(SessionScope("gone", "frame-2"), "q")
    registry.grant_handle(SessionScope("gone-too"), "q")
    report = registry.delete_session_process_state("gone")
    assert (report.revoked_handle_count, report.orphaned_process_ids, report.preserved_process_ids) == (3, ("p",), ("q",))
    assert [g.session_id for g in registry.handle_grants_for_process("q")] == ["gone-too"]
    assert registry.delete_session_process_state("nobody").revoked_handle_count == 0


def test_list_non_terminal_and_live_grants_exclude_terminal(registry):
    registry.register_process(registration("proc-live"))
    registry.register_process(registration("proc-done"))
    registry.complete_process("proc-done", success(None))
    assert [r.id for r in registry.list_non_terminal()] == ["proc-live"]
    scope = SessionScope("history-owner")
    for pid in ("proc-live-grant", "proc-done-grant"):
        registry.register_process(registration(pid))
        registry.grant_handle(scope, pid, ProcessHandleDescriptor("test", pid))
    registry.complete_process("proc-done-grant", success(None))
    assert [g.process_id for g, _ in registry.list_live_handle_grants(scope)] == ["proc-live-grant"]
    assert [g.process_id for g, _ in registry.list_handle_grants(scope)] == ["proc-done-grant", "proc-live-grant"]


# --- leases (§1.11) --------------------------------------------------------------------------------------


def test_active_lease_fences_competing_owner(registry, clock):
    registry.register_process(registration("proc-lease-active"))
    first = registry.claim_process_lease("proc-lease-active", "owner-a", 60_000)
    assert (first.fencing_token, first.claimed_at_epoch_ms, first.expires_at_epoch_ms) == (1, T0, T0 + 60_000)
    with pytest.raises(ProcessRegistryError) as err:
        registry.claim_process_lease("proc-lease-active", "owner-b", 60_000)
    assert str(err.value) == f"process `proc-lease-active` is already leased by `owner-a` until {T0 + 60_000}"
    clock.advance(1)
    again = registry.claim_process_lease("proc-lease-active", "owner-a", 60_000)
    assert again.fencing_token == 2 and again.lease_token != first.lease_token
    with pytest.raises(ProcessRegistryError, match="missing or expired"):
        registry.renew_process_lease(first, 1000)  # the owner's previous lease object is fenced off
    with pytest.raises(ProcessRegistryError, match="^unknown process `ghost`$"):
        registry.claim_process_lease("ghost", "owner-a", 1)


def test_superseded_lease_cannot_renew(registry):
    registry.register_process(registration("proc-lease-superseded"))
    old = registry.claim_process_lease("proc-lease-superseded", "owner-a", 0)
    assert old.expires_at_epoch_ms == old.claimed_at_epoch_ms  # ttl 0: already expired
    registry.claim_process_lease("proc-lease-superseded", "owner-b", 60_000)
    with pytest.raises(ProcessRegistryError) as err:
        registry.renew_process_lease(old, 60_000)
    assert str(err.value) == "process lease for `proc-lease-superseded` is missing or expired"


def test_renewed_lease_survives_original_expiry(registry, clock):
    registry.register_process(registration("proc-lease-renew"))
    lease = registry.claim_process_lease("proc-lease-renew", "owner-a", 20)
    renewed = registry.renew_process_lease(lease, 60_000)
    assert renewed.expires_at_epoch_ms == T0 + 60_000 and renewed.claimed_at_epoch_ms == T0
    clock.advance(30)
    again = registry.renew_process_lease(renewed, 60_000)
    assert again.expires_at_epoch_ms == T0 + 30 + 60_000 and again.fencing_token == lease.fencing_token
    clock.advance(60_000)
    with pytest.raises(ProcessRegistryError, match="missing or expired"):
        registry.renew_process_lease(again, 1)  # expires == now is no longer live


def test_completed_lease_releases_and_reclaim_bumps_fencing(registry):
    registry.register_process(registration("proc-lease-complete"))
    first = registry.claim_process_lease("proc-lease-complete", "owner-a", 60_000)
    registry.complete_process_lease(ProcessLeaseCompletion.from_lease(first))
    row = registry._conn.execute("SELECT lease_owner_id, lease_token, lease_fencing_token, lease_claimed_at_ms, "
                                 "lease_expires_at_ms FROM process_leases").fetchall()
    assert row == [(None, None, 1, 0, 0)]
    second = registry.claim_process_lease("proc-lease-complete", "owner-b", 60_000)
    assert second.fencing_token == 2 > first.fencing_token
    registry.complete_process_lease(ProcessLeaseCompletion("ghost", "token"))  # unknown: silent no-op


def test_stale_lease_completion_cannot_release_live_lease(registry):
    registry.register_process(registration("proc-lease-stale-complete"))
    old = registry.claim_process_lease("proc-lease-stale-complete", "owner-a", 0)
    current = registry.claim_process_lease("proc-lease-stale-complete", "owner-b", 60_000)
    registry.complete_process_lease(ProcessLeaseCompletion.from_lease(old))
    with pytest.raises(ProcessRegistryError, match="already leased"):
        registry.claim_process_lease("proc-lease-stale-complete", "owner-c", 60_000)
    assert registry.renew_process_lease(current, 60_000).owner_id == "owner-b"


def test_expired_unsuperseded_lease_can_still_be_released(registry, clock):
    registry.register_process(registration("p"))
    lease = registry.claim_process_lease("p", "owner-a", 10)
    clock.advance(100)
    registry.complete_process_lease(lease)
    assert registry._conn.execute("SELECT lease_token FROM process_leases").fetchall() == [(None,)]


def test_huge_ttl_saturates_and_round_trips_as_unsigned(registry):
    registry.register_process(registration("p"))
    lease = registry.claim_process_lease("p", "owner-a", 2**64 - 1)
    assert lease.expires_at_epoch_ms == 2**64 - 1
    assert registry._conn.execute("SELECT lease_expires_at_ms FROM process_leases").fetchall() == [(-1,)]
    with pytest.raises(ProcessRegistryError, match=f"until {2**64 - 1}$"):
        registry.claim_process_lease("p", "owner-b", 1)


# --- reopen (§3.1 last case, §3.2) ----------------------------------------------------------------------


def test_registry_survives_reopen(tmp_path):
    path = tmp_path / "processes.db"
    scope = SessionScope("reopen-session")
    request = ProcessEventAppendRequest("producer.reopen_wake", {"wake_input": "survived reopen"},
                                        "producer:reopen", scope)
    with ProcessRegistry.open(path) as first:
        first.register_process(registration("proc-reopen").with_extra_event_types(wake_type("producer.reopen_wake")))
        first.grant_handle(scope, "proc-reopen", ProcessHandleDescriptor("test", "reopen"))
        appended = first.append_event("proc-reopen", request)
    with ProcessRegistry.open(path) as reopened:
        assert reopened.get_process("proc-reopen").id == "proc-reopen"
        events = reopened.events_after("proc-reopen", 0)
        assert [e.sequence for e in events] == [appended.event.sequence]
        assert events[0] == appended.event
        assert len(reopened.list_handle_grants(scope)) == 1
        assert reopened.append_event("proc-reopen", request).event.sequence == appended.event.sequence


def test_seed_register_grant_complete_reopen(tmp_path):
    path = tmp_path / "processes.db"
    scope = SessionScope("session")
    with ProcessRegistry.open(path) as first:
        first.register_process(ProcessRegistration.external(
            "proc-persist", provenance=ProcessProvenance(ProcessOriginator.session(scope))))
        first.grant_handle(scope, "proc-persist", ProcessHandleDescriptor("tool", "demo"))
        first.complete_process("proc-persist", success({"ok": True}))
    with ProcessRegistry.open(path) as reopened:
        record = reopened.get_process("proc-persist")
        assert record.originator_scope_id == "session:session"
        assert record.provenance.originator == ProcessOriginator.session(scope)
        assert reopened.await_process("proc-persist") == success({"ok": True})
        [(grant, granted)] = reopened.list_handle_grants(scope)
        assert grant == reopened.handle_grants_for_process("proc-persist")[0]
        assert grant.descriptor == ProcessHandleDescriptor("tool", "demo") and granted.id == "proc-persist"
        assert reopened._conn.execute("SELECT owner_scope_id, status FROM processes").fetchall() == \
            [("session:session", "completed")]


def test_stored_rows_are_canonical_upstream_json(registry):
    registry.register_process(ProcessRegistration(
        "tool-1", ProcessInput.tool_call("call-1", "tool:grep", "grep", {"q": "x", "a": 1}, replay={"item_id": "i"}),
        env_ref="process-env:sha256:abc", wake_target=SessionScope("root")))
    registry.grant_handle("root", "tool-1", ProcessHandleDescriptor(label="grep"))
    registry.append_event("tool-1", ProcessEventAppendRequest("process.waiting", {"z": 1, "a": [1.5]}))
    (record_json,) = registry._conn.execute("SELECT record_json FROM processes").fetchall()[0]
    doc = json.loads(record_json)
    assert list(doc) == ["id", "registration_hash", "input", "identity", "event_types", "provenance", "env_ref",
                         "wake_target", "created_at_ms", "updated_at_ms", "status"]
    assert dumps(doc["input"]) == ('{"type":"tool_call","call":{"call_id":"call-1","tool_id":"tool:grep",'
                                   '"tool_name":"grep","args":{"a":1,"q":"x"},"replay":{"item_id":"i"}}}')
    assert doc["identity"] == {"kind": "tool", "label": "grep"}
    (event_json, descriptor_json) = registry._conn.execute(
        "SELECT e.event_json, g.descriptor_json FROM process_events e, process_handle_grants g").fetchall()[0]
    assert event_json == ('{"process_id":"tool-1","sequence":1,"event_type":"process.waiting","payload":'
                          '{"a":[1.5],"z":1},"invocation":{"scope":{"session_id":"runtime"},"subject":{"type":'
                          '"process_event","process_id":"tool-1","sequence":1,"event_type":"process.waiting"},'
                          '"caused_by":{"type":"process","process_id":"tool-1"}},"semantics":{},'
                          f'"occurred_at":{{"secs_since_epoch":{T0 // 1000},"nanos_since_epoch":0}}}}')
    assert descriptor_json == '{"label":"grep"}'


# --- decoding, errors, atomicity ---------------------------------------------------------------------


def test_undecodable_rows(registry):
    registry.register_process(registration("good"))
    registry.register_process(registration("bad"))
    registry._conn.execute("UPDATE processes SET record_json = '{not json' WHERE process_id = 'bad'")
    assert registry.get_process("bad") is None
    assert registry.get_process("good").id == "good"
    with pytest.raises(ProcessRegistryError, match="^failed to decode process registry row: "):
        registry.list_processes(ProcessListFilter("any"))
    with pytest.raises(ProcessRegistryError, match="^failed to decode process registry row: "):
        registry.append_event("bad", ProcessEventAppendRequest("process.waiting", {}))
    with pytest.raises(ProcessRegistryError, match="^unknown process `bad`$"):
        registry.await_process("bad", timeout=0)


def test_sqlite_failures_surface_as_registry_errors_with_driver_text(tmp_path):
    path = tmp_path / "processes.db"
    with ProcessRegistry.open(path) as registry:
        registry.register_process(registration("p"))
        registry._conn.execute("CREATE TRIGGER no_events BEFORE INSERT ON process_events "
                               "BEGIN SELECT RAISE(ABORT, 'events are frozen'); END")
        with pytest.raises(ProcessRegistryError) as err:
            registry.append_event("p", ProcessEventAppendRequest("process.waiting", {}))
        assert str(err.value) == "events are frozen"
        assert err.value.backend is not None and isinstance(err.value.__cause__, StoreError)
        # The whole append rolled back: no event, record untouched.
        assert registry.events_after("p", 0) == []
        assert registry.get_process("p").updated_at_ms == registry.get_process("p").created_at_ms


def test_memory_registry_works_without_a_file():
    with ProcessRegistry.memory(clock=Clock()) as registry:
        registry.register_process(registration("m"))
        registry.grant_handle("s", "m")
        assert registry.complete_process("m", success(1)).status == "completed"
        assert registry.await_process("m") == success(1)
        assert registry.path is None
        assert registry._conn.execute("PRAGMA journal_mode").fetchall() == [("memory",)]


def test_clock_is_read_once_per_operation(tmp_path):
    """Register and append each read the clock once and stamp every time they write from it (W19)."""
    calls = []

    def counting_clock() -> int:
        calls.append(1)
        return T0 + len(calls)

    with ProcessRegistry.open(tmp_path / "p.db", clock=counting_clock) as registry:
        record = registry.register_process(registration("p"))
        assert len(calls) == 1 and record.created_at_ms == record.updated_at_ms == T0 + 1
        result = registry.append_event("p", ProcessEventAppendRequest("process.waiting", {}))
        assert len(calls) == 2 and result.event.occurred_at_ms == registry.get_process("p").updated_at_ms


def test_invalid_values_are_typed_errors():
    with pytest.raises(InvalidDeploymentValue):
        Selector.normalize({"pointer": 3})
    with pytest.raises(InvalidDeploymentValue):
        CausalRef.normalize({"type": "nope"})
    with pytest.raises(InvalidDeploymentValue):
        ProcessAwaitOutput.failure("weird", "c", "m")
    with pytest.raises(InvalidDeploymentValue):
        ProcessInput({"type": "teleport"})
    with pytest.raises(InvalidDeploymentValue):
        ProcessEventAppendRequest("x", {1: "non-string key"})
    assert ProcessAwaitOutput.parse({"type": "success"}) is None
    assert ProcessAwaitOutput.parse({"type": "success", "value": None, "extra": 1}) == success(None)


# --- payload schema subset (§1.8) ------------------------------------------------------------------------


@pytest.mark.parametrize("schema, payload, message", [
    ({}, {"anything": [1]}, None),
    ({"type": "object", "properties": {"line": {"type": "string"}}, "required": ["line"],
      "additionalProperties": True}, {"wake_input": "x"}, "line: required property missing"),
    ({"type": "string"}, 3, "arguments: expected string, got 3"),
    ({"type": ["string", "null"]}, 1.5, "arguments: expected string or null, got 1.5"),
    ({"type": "integer"}, 1.0, "arguments: expected integer, got 1.0"),
    ({"type": "integer"}, True, "arguments: expected integer, got true"),
    ({"type": "integer", "maximum": 20}, 100, "arguments: expected integer <= 20, got 100"),
    ({"minimum": 0}, -1, "arguments: expected >= 0, got -1"),
    ({"maxLength": 2}, "héé", 'arguments: expected length <= 2, got "héé"'),
    ({"minLength": 2}, "é", 'arguments: expected length >= 2, got "é"'),
    ({"enum": ["a", 1]}, "b", 'arguments: expected one of "a", 1, got "b"'),
    ({"enum": [1]}, 1.0, "arguments: expected one of 1, got 1.0"),
    ({"anyOf": [{"type": "string"}, {"type": "integer"}]}, None, "arguments: expected matching schema, got null"),
    ({"oneOf": [{"type": "string"}]}, "ok", None),
    ({"type": "array", "maxItems": 1}, [1, 2], "arguments: expected array items <= 1, got 2 items"),
    ({"type": "array", "items": {"type": "object", "properties": {"n": {"type": "integer"}}}},
     [{"n": 1}, {"n": "x"}], '[1].n: expected integer, got "x"'),
    ({"type": "object", "properties": {"a": {}}}, {"a": 1, "z": 2, "b": 3}, "b: unexpected property"),
    ({"type": "object", "properties": {"a": {}}}, {"a": 1, "__session_id__": "s"}, None),
    ({"type": "object", "properties": {}, "additionalProperties": {"type": "integer"}}, {"x": "1"},
     'x: expected integer, got "1"'),
    ({"type": "object", "required": ["b"]}, {"a": 1}, "b: required property missing"),
])
def test_payload_schema_messages(schema, payload, message):
    assert validate_payload(schema, payload) == message


def test_payload_debug_quoting_of_strings():
    assert validate_payload({"type": "integer"}, 'quo"te\n\t\\') == 'arguments: expected integer, got "quo\\"te\\n\\t\\\\"'
    assert validate_payload({"type": "integer"}, "é\x01") == 'arguments: expected integer, got "é\\u{1}"'


def test_selectors_resolve_pointers_like_upstream():
    from lashdb.engine.deployment.semantics import pointer_matches, select_value

    doc = {"a/b": {"~k": [10, 20]}, "": 1}
    assert select_value(doc, Selector.pointer("/a~1b/~0k/1")) == 20
    assert select_value(doc, Selector.pointer("")) == doc
    assert select_value(doc, Selector.pointer("/")) == 1
    assert not pointer_matches(doc, "/a~1b/~0k/01") and not pointer_matches(doc, "/a~1b/~0k/+1")
    assert not pointer_matches(doc, "no-slash") and not pointer_matches(doc, "/a~1b/~0k/2")
    assert select_value(doc, Selector.present("/a~1b")) is True
    assert select_value({"x": {"b": 1, "a": [2]}}, Selector.template("v={x}!{x}", {"x": Selector.pointer("/x")})) == \
        'v={"a":[2],"b":1}!{"a":[2],"b":1}'


def test_when_truthiness_counts_every_number_as_true(registry):
    registry.register_process(registration("t").with_extra_event_types(
        ProcessEventType("w", {}, wake=WakeSpec(Selector.const("go"), when=Selector.pointer("/v")))))
    outcomes = []
    for value in (0, 0.0, "", [], {}, None, False, "x", [0], {"a": None}, True):
        result = registry.append_event("t", ProcessEventAppendRequest("w", {"v": value}, wake_target_scope="s"))
        outcomes.append(result.wake_delivery is not None)
    assert outcomes == [True, True, False, False, False, False, False, True, True, True, True]


# --- asyncio facade ----------------------------------------------------------------------------------------


def test_async_facade_waits_without_blocking_its_worker(tmp_path):
    async def scenario():
        registry = await aio.open_process_registry(tmp_path / "p.db", clock=Clock())
        async with registry:
            await registry.register_process(registration("a").with_extra_event_types(plain_type("tick")))
            waiter = asyncio.ensure_future(registry.await_process("a", timeout=30))
            event_waiter = asyncio.ensure_future(registry.wait_event_after("a", "tick", 0, timeout=30))
            # These run on the same worker thread the waiters would block if they held it.
            await registry.append_event("a", ProcessEventAppendRequest("tick", {"n": 1}))
            await registry.complete_process("a", success("done"))
            return await waiter, (await event_waiter).payload

    output, payload = asyncio.run(scenario())
    assert output == success("done") and payload == {"n": 1}


def test_async_memory_facades():
    async def scenario():
        async with await aio.memory_process_registry() as registry:
            await registry.register_process(registration("m"))
            with pytest.raises(ProcessWaitTimeout):
                await registry.await_process("m", timeout=0)
            return registry.durability_tier

    assert asyncio.run(scenario()) == "durable"


def test_apsw_is_not_leaking_through_public_errors(registry):
    registry.close()
    with pytest.raises(ProcessRegistryError):
        registry.get_process("x")
    assert not issubclass(ProcessRegistryError, apsw.Error)


def test_scope_ids_parse_back_into_scopes():
    for scope in (SessionScope("s"), SessionScope("s", "f"), SessionScope("a/frame:b", "c")):
        assert SessionScope.parse(scope.scope_id) == scope
    assert SessionScope.parse("session:s/frame:") == SessionScope("s/frame:")
    with pytest.raises(InvalidDeploymentValue):
        SessionScope.parse("host")
