"""What the deployment store views return (lashdb.engine.ops.deployment_results; deployment-stores §4):
the lenient JSON helpers, each result's stable JSON keys, and the shared read-only opening."""

from __future__ import annotations

import dataclasses
import hashlib

import pytest

from lashdb.engine import ProcessRegistry, ProcessRegistryInspector, TriggerStore, TriggerStoreInspector
from lashdb.engine.errors import NotALashDatabase
from lashdb.engine.ops.deployment_results import (
    DeliveryInfo,
    EventInfo,
    GrantInfo,
    LeaseInfo,
    OccurrenceDetail,
    OccurrenceSummary,
    ProcessSummary,
    StoreInfo,
    StuckProcess,
    _now,
    _originator_scope_id,
    _scope_id,
    _status_label,
)


def test_lenient_helpers_read_every_stored_spelling_and_never_raise():
    assert _scope_id({"session_id": "s-1"}) == "session:s-1"
    assert _scope_id({"session_id": "s-1", "agent_frame_id": "f-2"}) == "session:s-1/frame:f-2"
    assert [_scope_id(v) for v in (None, {}, {"session_id": 7}, "s-1")] == [None] * 4
    assert _originator_scope_id({"type": "host"}) == "host"
    assert _originator_scope_id({"type": "session", "scope": {"session_id": "s-1"}}) == "session:s-1"
    assert _originator_scope_id({"type": "session", "session_id": "s-2"}) == "session:s-2"  # newer upstream
    assert _originator_scope_id({"type": "robot"}) is None
    assert [_status_label(v) for v in ("running", {"state": "failed"}, {"state": 3}, None)] == \
        ["running", "failed", None, None]
    assert _now(1_234.9) == 1_234


def test_results_serialise_with_their_documented_keys():
    lease = LeaseInfo("p-1", "w-1", "w-1:1", 3, 100, 200, "live", "running")
    summary = ProcessSummary("p-1", "failed", "failed", "tool", "grep", "tool_call", "host", None, "env-1",
                             1, 2, 4, "process.failed", 2, False, None, None, lease, 1, None)
    assert summary.terminal and not dataclasses.replace(summary, status="running").terminal
    doc = summary.to_json()
    assert list(doc) == ["process_id", "status", "record_status", "identity_kind", "identity_label", "input_type",
                         "originator_scope_id", "wake_target_scope_id", "env_ref", "created_at_ms",
                         "updated_at_ms", "event_count", "last_event_type", "last_event_at_ms", "waiting",
                         "wait_signal", "wait_since_ms", "lease", "grant_count", "external_ref", "decode_error"]
    assert doc["lease"] == {"process_id": "p-1", "owner_id": "w-1", "lease_token": "w-1:1", "fencing_token": 3,
                            "claimed_at_ms": 100, "expires_at_ms": 200, "state": "live",
                            "process_status": "running"}
    event = EventInfo("p-1", 1, "signal.note", 5, None, {"n": 1}, "ab" * 32, None, "hi", "p-1:1", False)
    assert event.is_wake and event.to_json()["acked"] is False
    assert GrantInfo("s-1", "session:s-1", "p-1", "job", None).to_json() == {
        "session_id": "s-1", "scope_id": "session:s-1", "process_id": "p-1", "descriptor_kind": "job",
        "descriptor_label": None}
    assert StuckProcess("p-1", "running", ("lease_expired",), "lease expired at 200", 2).to_json() == {
        "process_id": "p-1", "status": "running", "reasons": ["lease_expired"], "detail": "lease expired at 200",
        "updated_at_ms": 2}
    occurrence = OccurrenceSummary("o-1", 9, "timer", "timer:t", "idem", {"x": 1}, None, 1)
    delivery = DeliveryInfo("o-1", "sub-1", "h", "p-9", 10)
    assert OccurrenceDetail(occurrence, {"raw": True}, (delivery,)).to_json() == {
        "summary": occurrence.to_json(), "record": {"raw": True},
        "deliveries": [{"occurrence_id": "o-1", "subscription_id": "sub-1", "handle": "h", "process_id": "p-9",
                        "created_at_ms": 10}]}


def test_inspectors_open_their_kind_read_only_and_refuse_the_other(tmp_path):
    processes, triggers = tmp_path / "processes.db", tmp_path / "triggers.db"
    ProcessRegistry.open(processes).close()
    TriggerStore.open(triggers).close()
    before = hashlib.sha256(processes.read_bytes()).hexdigest()
    with ProcessRegistryInspector.open(processes) as inspector:
        assert inspector.info == StoreInfo(str(processes), "process registry", 7, 7, False)
    with TriggerStoreInspector.open(triggers) as inspector:
        assert inspector.info.to_json() == {"path": str(triggers), "kind": "trigger store", "schema_version": 1,
                                            "supported_version": 1, "foreign": False, "unavailable": [],
                                            "damaged": []}
    with pytest.raises(NotALashDatabase, match="not a lash process registry database"):
        ProcessRegistryInspector.open(triggers)
    assert hashlib.sha256(processes.read_bytes()).hexdigest() == before
