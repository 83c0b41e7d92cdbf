"""Process-model records (deployment-stores §1.2–§1.3): event types, the six core types, await
outputs, waits, external refs and handle descriptors in upstream's JSON."""

from __future__ import annotations

import pytest

from lashdb.engine.deployment.process_model.inputs import Selector, TerminalSpec, WakeSpec
from lashdb.engine.deployment.process_model.records import (
    CORE_EVENT_TYPE_NAMES,
    ProcessAwaitOutput,
    ProcessEventType,
    ProcessExternalRef,
    ProcessHandleDescriptor,
    ProcessHandleGrant,
    WaitState,
    core_event_types,
)
from lashdb.engine.deployment.process_model.scope import InvalidDeploymentValue


def test_core_event_types_in_upstreams_order_with_terminal_await_output_pointers():
    assert CORE_EVENT_TYPE_NAMES == ("process.cancel_requested", "process.waiting", "process.resumed",
                                     "process.completed", "process.failed", "process.cancelled")
    completed = core_event_types()[3]
    assert completed.to_json() == {"name": "process.completed", "payload_schema": {"schema": {}},
                                   "semantics": {"terminal": {"state": "completed",
                                                              "await_output": {"pointer": "/await_output"}}}}
    assert core_event_types()[0].to_json()["semantics"] == {}


def test_event_type_round_trips_and_names_a_missing_field():
    declared = ProcessEventType("job.done", {"type": "object"}, TerminalSpec("completed"),
                                WakeSpec(Selector.payload()))
    assert declared.semantics_json() == {"terminal": {"state": "completed"},
                                         "wake": {"input": "payload", "dedupe_key": "event_identity"}}
    assert ProcessEventType.from_json(declared.to_json()) == declared
    with pytest.raises(InvalidDeploymentValue) as err:
        ProcessEventType.from_json({"name": "x", "payload_schema": {"schema": {}}})
    assert str(err.value) == "event type `x`: missing field `semantics`"


def test_await_outputs_serialise_as_upstream_and_map_to_terminal_states():
    success = ProcessAwaitOutput.success({"answer": 42})
    failure = ProcessAwaitOutput.failure("timeout", "slow", "took too long", raw={"ms": 5})
    cancelled = ProcessAwaitOutput.cancelled("stopped")
    assert success.to_json() == {"type": "success", "value": {"answer": 42}}
    assert failure.to_json() == {"type": "failure", "class": "timeout", "code": "slow", "message": "took too long",
                                 "raw": {"ms": 5}}
    assert cancelled.to_json() == {"type": "cancelled", "message": "stopped"}
    assert [o.terminal_state for o in (success, failure, cancelled)] == ["completed", "failed", "cancelled"]
    assert all(ProcessAwaitOutput.from_json(o.to_json()) == o for o in (success, failure, cancelled))
    assert ProcessAwaitOutput.parse({"type": "success"}) is None  # no value: not an await output
    assert ProcessAwaitOutput.parse(42) is None
    with pytest.raises(InvalidDeploymentValue) as err:
        ProcessAwaitOutput.failure("boom", "c", "m")
    assert str(err.value) == "await output class: unknown class 'boom'"
    with pytest.raises(InvalidDeploymentValue, match="not a tool control"):
        ProcessAwaitOutput.success(1, control={"type": "finish"})


def test_signal_wait_uses_upstreams_event_type_and_key_spelling():
    wait = WaitState.signal("job-1", "approve", 2, 1_000)
    assert wait.to_json() == {"kind": {"kind": "signal", "name": "approve", "event_type": "signal.approve",
                                       "key": "process:job-1:signal.approve:2", "ordinal": 2}, "since_ms": 1_000}
    assert WaitState.from_json(wait.to_json()) == wait
    with pytest.raises(InvalidDeploymentValue) as err:
        WaitState.from_json({"kind": {"kind": "timer"}, "since_ms": 0})
    assert str(err.value) == "wait kind: unknown variant `timer`"


def test_refs_descriptors_and_grants_omit_absent_fields():
    assert ProcessExternalRef("queue", "q-1").to_json() == {"backend": "queue", "id": "q-1"}
    ref = ProcessExternalRef("queue", "q-1", {"b": 1, "a": 2})
    assert list(ref.to_json()["metadata"]) == ["a", "b"]
    assert ProcessExternalRef.from_json(ref.to_json()) == ref
    assert ProcessHandleDescriptor().to_json() == {}
    assert ProcessHandleDescriptor.from_json({"label": "L"}) == ProcessHandleDescriptor(None, "L")
    assert ProcessHandleGrant("s-1", "p-1", ProcessHandleDescriptor("job")).to_json() == {
        "session_id": "s-1", "process_id": "p-1", "descriptor": {"kind": "job"}}
