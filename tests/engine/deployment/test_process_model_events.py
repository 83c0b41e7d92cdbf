"""Process-model events (deployment-stores §1.3–§1.4): upstream's JSON shapes of log entries, the
cancel request's deterministic key, list filters, and InvalidDeploymentValue naming what is wrong."""

from __future__ import annotations

import hashlib

import pytest

from lashdb.engine.deployment.process_model.events import (
    EventSemantics,
    ProcessEvent,
    ProcessEventAppendRequest,
    ProcessListFilter,
    TerminalSemantics,
    occurred_at_json,
    occurred_at_ms_from_json,
    process_event_invocation,
)
from lashdb.engine.deployment.process_model.records import ProcessAwaitOutput
from lashdb.engine.deployment.process_model.scope import InvalidDeploymentValue


def test_occurred_at_is_upstreams_system_time_and_round_trips():
    doc = occurred_at_json(1_700_000_000_123)
    assert doc == {"secs_since_epoch": 1_700_000_000, "nanos_since_epoch": 123_000_000}
    assert occurred_at_ms_from_json(doc) == 1_700_000_000_123
    # nanos below a millisecond are dropped, as upstream's ms conversion does
    assert occurred_at_ms_from_json({"secs_since_epoch": 2, "nanos_since_epoch": 999_999}) == 2_000
    with pytest.raises(InvalidDeploymentValue, match="secs_since_epoch"):
        occurred_at_ms_from_json({"nanos_since_epoch": 0})


def test_event_invocation_names_the_process_and_only_carries_a_replay_key_when_given():
    assert process_event_invocation("p-1", 3, "signal.note", None) == {
        "scope": {"session_id": "runtime"},
        "subject": {"type": "process_event", "process_id": "p-1", "sequence": 3, "event_type": "signal.note"},
        "caused_by": {"type": "process", "process_id": "p-1"},
    }
    assert process_event_invocation("p-1", 3, "signal.note", "k-1")["replay"] == {"key": "k-1"}


def test_process_event_json_round_trips_and_exposes_its_replay_key():
    semantics = EventSemantics(TerminalSemantics("completed", ProcessAwaitOutput.success({"n": 1})), None)
    event = ProcessEvent("p-1", 4, "process.completed", {"await_output": {"n": 1}},
                         process_event_invocation("p-1", 4, "process.completed", "done-1"), semantics,
                         1_700_000_000_500)
    doc = event.to_json()
    assert list(doc) == ["process_id", "sequence", "event_type", "payload", "invocation", "semantics", "occurred_at"]
    assert doc["occurred_at"] == {"secs_since_epoch": 1_700_000_000, "nanos_since_epoch": 500_000_000}
    assert ProcessEvent.from_json(doc) == event
    assert event.replay_key == "done-1"
    assert ProcessEvent.from_json({**doc, "invocation": process_event_invocation("p-1", 4, "x", None)}).replay_key \
        is None
    with pytest.raises(InvalidDeploymentValue) as err:
        ProcessEvent.from_json({k: v for k, v in doc.items() if k != "payload"})
    assert str(err.value) == "process event: missing field `payload`"


def test_cancel_request_uses_upstreams_deterministic_replay_key():
    request = ProcessEventAppendRequest.cancel_requested("job-1", "stop")
    digest = hashlib.sha256(b'["process.cancel_requested",{"reason":"stop"}]').hexdigest()
    assert (request.event_type, request.payload) == ("process.cancel_requested", {"reason": "stop"})
    assert request.replay_key == f"process:job-1:cancel_requested:{digest}"
    assert ProcessEventAppendRequest.cancel_requested("job-1").replay_key != request.replay_key


def test_append_request_refuses_a_non_text_event_type_and_normalises_its_payload():
    with pytest.raises(InvalidDeploymentValue, match="event type"):
        ProcessEventAppendRequest(7)
    assert list(ProcessEventAppendRequest("signal.note", {"b": 2, "a": 1}).payload) == ["a", "b"]


def test_list_filter_refuses_an_unknown_status():
    with pytest.raises(InvalidDeploymentValue) as err:
        ProcessListFilter("paused")
    assert str(err.value) == ("process list status must be `running`, `completed`, `failed`, `cancelled`, "
                              "or `any`, got `paused`")
    assert ProcessListFilter().status == "running"
