"""The process registry's pure rules, without a database: validation messages, hashes, row
encoding/decoding, terminal projection, wake deliveries and lease tokens."""

from __future__ import annotations

import hashlib
import json

import pytest

from lashdb.engine.base.canonical import sha256_hex
from lashdb.engine.base.errors import ProcessRegistryError
from lashdb.engine.deployment import registry_rules as rr
from lashdb.engine.deployment.process_model import (
    ProcessAwaitOutput,
    ProcessEventType,
    ProcessInput,
    ProcessRecord,
    ProcessRegistration,
    SessionScope,
    TerminalSpec,
)
from lashdb.engine.deployment.process_model.events import TerminalSemantics, WakeSemantics


def _record(reg: ProcessRegistration | None = None) -> ProcessRecord:
    reg = (reg or ProcessRegistration.external("p")).completed()
    return ProcessRecord(reg.id, rr.registration_hash(reg), reg.input, reg.identity, reg.event_types,
                         reg.provenance, created_at_ms=10, updated_at_ms=10)


def test_lease_token_is_sha256_of_the_colon_joined_fields():
    assert rr.lease_token("p", "o", 5, 2) == hashlib.sha256(b"p:o:5:2").hexdigest()
    assert rr.lease_token("p", "o", 5, 3) != rr.lease_token("p", "o", 5, 2)


def test_registration_hash_is_the_golden_one_of_the_completed_registration():
    reg = ProcessRegistration.external("proc-idempotent")
    assert rr.registration_hash(reg.completed()) == "9c316c424785ad33f82e1d30158badd136cdc3aa117fe0baf2939f13becf0b52"
    assert rr.registration_hash(reg) == sha256_hex(reg.to_json())


@pytest.mark.parametrize("reg, message", [
    (ProcessRegistration.external("  "), "process id must be a non-empty string"),
    (ProcessRegistration("e", ProcessInput.engine("worker")), "process `e` requires a captured execution env"),
    (ProcessRegistration("x", ProcessInput.external(), env_ref="process-env:1"),
     "process `x` must not capture an execution env for this input kind"),
    (ProcessRegistration.external("x").with_extra_event_types(ProcessEventType.plain(" ")),
     "process `x` declares an empty event type"),
    (ProcessRegistration.external("x").with_extra_event_types(ProcessEventType.plain("a"), ProcessEventType.plain("a")),
     "process `x` declares duplicate event type `a`"),
    (ProcessRegistration.external("x").with_extra_event_types(ProcessEventType("x.f", {}, TerminalSpec("failed"))),
     "terminal event `x.f` for process `x` must declare await output"),
])
def test_validation_refuses_with_upstreams_messages(reg, message):
    with pytest.raises(ProcessRegistryError) as caught:
        rr.validate_registration(reg)
    assert str(caught.value) == message


def test_valid_registrations_pass():
    rr.validate_registration(ProcessRegistration.external("p").completed())
    rr.validate_registration(ProcessRegistration("e", ProcessInput.engine("w"), env_ref="process-env:1")
                             .with_extra_event_types(ProcessEventType("x.done", {}, TerminalSpec("completed"))))


def test_scope_of():
    assert rr.scope_of("s1") == SessionScope("s1")
    scope = SessionScope("s1", "f")
    assert rr.scope_of(scope) is scope
    with pytest.raises(ProcessRegistryError, match="expected a SessionScope or a session id, got int"):
        rr.scope_of(3)


def test_rows_encode_canonically_and_decode_back():
    record = _record()
    text = rr.encode(record)
    assert text == json.dumps(record.to_json(), separators=(",", ":"), ensure_ascii=False)
    assert rr.decode(text, ProcessRecord.from_json) == record


@pytest.mark.parametrize("text, words", [
    ("{broken", "failed to decode process registry row: Expecting property name"),
    (b"{}", "failed to decode process registry row: expected JSON text, got bytes"),
    ("[]", "failed to decode process registry row: "),
])
def test_undecodable_rows_are_registry_errors(text, words):
    with pytest.raises(ProcessRegistryError) as caught:
        rr.decode(text, ProcessRecord.from_json)
    assert str(caught.value).startswith(words)


def test_encode_refuses_an_unstorable_value():
    class Bad:
        def to_json(self):
            return {"v": float("nan")}
    with pytest.raises(ProcessRegistryError, match="^failed to encode process row: "):
        rr.encode(Bad())
    assert str(rr.unknown("p9")) == "unknown process `p9`"


def test_project_applies_a_terminal_event():
    record = _record()
    out = ProcessAwaitOutput.success({"r": 1})
    projected = rr.project(record, TerminalSemantics("completed", out), 99)
    assert (projected.status, projected.await_output, projected.wait, projected.updated_at_ms) == \
        ("completed", out, None, 99)
    assert projected.is_terminal and projected.status_json() == {"state": "completed",
                                                                   "await_output": out.to_json()}
    assert record.status == "running"  # a copy, not a mutation


def test_wake_delivery_is_owed_only_with_a_wake_and_a_target():
    record = _record()
    wake = WakeSemantics("go", "dk-1")
    target = SessionScope("s1", "f1")
    assert rr.wake_delivery(record, 3, "e", {}, 50, None, target) is None
    assert rr.wake_delivery(record, 3, "e", {}, 50, wake, None) is None
    delivery = rr.wake_delivery(record, 3, "e", {"i": 1}, 50, wake, target)
    assert delivery.wake_id == "wake:" + hashlib.sha256(b'["session:s1/frame:f1","dk-1"]').hexdigest()
    assert (delivery.target_session_id, delivery.target_scope_id, delivery.process_id, delivery.sequence,
            delivery.input, delivery.created_at_ms) == ("s1", "session:s1/frame:f1", "p", 3, "go", 50)
    assert rr.wake_delivery(record, 4, "e", {}, 60, wake, target).wake_id == delivery.wake_id  # dedupe by key
