"""Trigger values without storage: ids and hashes over canonical JSON (§2.1), caller validation,
upstream's row shapes, the listing filter, and row encoding/parsing failures."""

from __future__ import annotations

import hashlib
import json

import pytest

from lashdb.engine.base.errors import TriggerStoreError
from lashdb.engine.deployment import trigger_model as tm
from lashdb.engine.deployment.process_model import (
    InvalidDeploymentValue,
    ProcessIdentity,
    ProcessInput,
    ProcessOriginator,
    SessionScope,
)


def _sha(value) -> str:
    return hashlib.sha256(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()).hexdigest()


def test_ids_and_hashes_are_sha256_over_compact_json():
    request = tm.TriggerOccurrenceRequest("ui.button.pressed", "k", "blue-1", {"button": "Blue"}, {})
    assert tm.occurrence_id(request) == "trigger:" + _sha(["ui.button.pressed", "k", "blue-1"])
    assert tm.occurrence_request_hash(request) == _sha(["ui.button.pressed", "k", {"button": "Blue"}, {}])
    no_source = tm.TriggerOccurrenceRequest("t", "k", "i", 1)
    assert tm.occurrence_request_hash(no_source) == _sha(["t", "k", 1, None])
    assert tm.delivery_process_id("trigger:x", "sub-1") == "process:trigger:" + _sha(["trigger:x", "sub-1"])
    # the golden key the store tests pin (deployment-stores §2.1)
    assert tm.default_source_key("ui.button.pressed", {}) == (
        "source:ui.button.pressed:sha256:93e835cc58c043e45895883a41ffa460ab70a2372d57b8b6c23920025601c479")
    assert tm.default_source_key("t", {"b": 1, "a": 2}) == "source:t:sha256:" + _sha(["t", {"a": 2, "b": 1}])


def test_an_unhashable_source_is_a_trigger_store_error():
    with pytest.raises(TriggerStoreError, match="^failed to hash trigger source key: "):
        tm.default_source_key("t", {1: "non-text key"})


def test_occurrence_requests_validate_their_fields():
    with pytest.raises(InvalidDeploymentValue, match="occurrence idempotency_key: expected a string"):
        tm.TriggerOccurrenceRequest("t", "k", 5)


def test_input_bindings_normalize():
    assert tm.InputBinding.event() == {"type": "event"}
    assert tm.InputBinding.fixed({"b": 1}) == {"type": "fixed", "value": {"b": 1}}
    assert tm.InputBinding.normalize({"type": "event", "extra": 1}) == {"type": "event"}
    with pytest.raises(InvalidDeploymentValue, match="fixed input binding: missing field `value`"):
        tm.InputBinding.normalize({"type": "fixed"})
    with pytest.raises(InvalidDeploymentValue, match="input binding: unknown variant `other`"):
        tm.InputBinding.normalize({"type": "other"})


def _draft(**kw):
    fields = dict(registrant="s1", env_ref="env", source_type="t", source_key="k",
                  target=ProcessInput.engine("test", {"p": 1}), target_identity=ProcessIdentity("test", "n", {"d": 1}),
                  input_template={"z": tm.InputBinding.event(), "a": tm.InputBinding.fixed(3)})
    fields.update(kw)
    return tm.TriggerSubscriptionDraft(**fields)


def test_a_draft_normalizes_registrant_wake_target_and_template_order():
    d = _draft(wake_target="s1")
    assert d.registrant == ProcessOriginator.session("s1")
    assert d.wake_target == SessionScope("s1")
    assert list(d.input_template) == ["a", "z"]
    assert _draft(registrant=None).registrant == ProcessOriginator.host()
    with pytest.raises(InvalidDeploymentValue, match="subscription env_ref: expected a string"):
        _draft(env_ref=1)
    with pytest.raises(InvalidDeploymentValue, match="subscription target_label: expected a string"):
        _draft(target_label=2)
    with pytest.raises(InvalidDeploymentValue, match="expected ProcessEventType items"):
        _draft(event_types=["x"])


def _record(**kw):
    fields = dict(subscription_id="sub-1", registrant=ProcessOriginator.session("s1"), env_ref="env", handle="h",
                  source_type="t", source_key="k", target=ProcessInput.engine("test", {"p": 1}),
                  target_identity=ProcessIdentity("test", "n", {"d": 1}), created_at_ms=5, updated_at_ms=6,
                  name="nm", source={}, payload_schema={"type": "object"}, input_template={"a": {"type": "event"}})
    fields.update(kw)
    return tm.TriggerSubscriptionRecord(**fields)


def test_subscription_record_json_is_upstreams_shape_and_round_trips():
    record = _record()
    doc = record.to_json()
    assert list(doc) == ["subscription_id", "registrant", "env_ref", "handle", "name", "source_type", "source_key",
                         "source", "payload_schema", "target", "target_identity", "event_types", "input_template",
                         "enabled", "created_at_ms", "updated_at_ms"]
    assert doc["payload_schema"] == {"schema": {"type": "object"}}
    assert tm.TriggerSubscriptionRecord.from_json(json.loads(tm._encode(record))) == record
    assert (record.registrant_scope_id, record.registrant_session_id) == (SessionScope("s1").scope_id, "s1")


@pytest.mark.parametrize("mutate, words", [
    (lambda d: d.pop("target"), "trigger subscription: missing field `target`"),
    (lambda d: d.update(payload_schema={}), "trigger subscription.payload_schema: missing field `schema`"),
    (lambda d: d.update(enabled="yes"), "trigger subscription.enabled: expected a boolean"),
    (lambda d: d.update(event_types={"a": 1}), "trigger subscription.event_types: expected an array"),
])
def test_subscription_rows_upstream_rejects_raise_invalid_value(mutate, words):
    doc = _record().to_json()
    mutate(doc)
    with pytest.raises(InvalidDeploymentValue, match=words):
        tm.TriggerSubscriptionRecord.from_json(doc)


@pytest.mark.parametrize("falsy", [{}, 0, "", False])
def test_a_falsy_non_list_event_types_is_refused_too(falsy):
    doc = _record().to_json()
    doc["event_types"] = falsy
    with pytest.raises(InvalidDeploymentValue, match="event_types: expected an array"):
        tm.TriggerSubscriptionRecord.from_json(doc)


def test_occurrence_record_round_trips_and_omits_an_absent_source():
    record = tm.TriggerOccurrenceRecord("trigger:x", "t", "k", {"b": 1}, "i", 7)
    assert list(record.to_json()) == ["occurrence_id", "source_type", "source_key", "payload", "idempotency_key",
                                      "occurred_at_ms"]
    assert tm.TriggerOccurrenceRecord.from_json(record.to_json()) == record
    with_source = tm.TriggerOccurrenceRecord("trigger:x", "t", "k", None, "i", 7, {"s": 1})
    assert list(with_source.to_json())[-2:] == ["source", "occurred_at_ms"]
    reservation = tm.TriggerDeliveryReservation(record, _record(), "process:trigger:y")
    assert reservation.to_json()["process_id"] == "process:trigger:y"


def test_filter_matches_every_given_criterion():
    record = _record()
    assert tm.TriggerSubscriptionFilter().matches(record)
    assert tm.TriggerSubscriptionFilter(session_id="s1", handle="h", name="nm", enabled=True).matches(record)
    assert not tm.TriggerSubscriptionFilter(session_id="s2").matches(record)
    assert not tm.TriggerSubscriptionFilter(enabled=False).matches(record)
    assert tm.TriggerSubscriptionFilter(target={"d": 1}).matches(record)
    assert not tm.TriggerSubscriptionFilter(target={"d": 1.0}).matches(record)  # JSON equality: 1 != 1.0


def test_encode_refuses_unstorable_rows_and_parse_refuses_non_text():
    bad = tm.TriggerOccurrenceRecord("trigger:x", "t", "k", {"v": float("inf")}, "i", 7)
    with pytest.raises(TriggerStoreError, match="^failed to encode trigger row: "):
        tm._encode(bad)
    assert tm._parse('{"a": 1}', dict) == {"a": 1}
    with pytest.raises(InvalidDeploymentValue, match="expected JSON text, got bytes"):
        tm._parse(b"{}", dict)
    with pytest.raises(InvalidDeploymentValue, match="JSON nests too deeply"):
        tm._parse("[" * 100_000 + "]" * 100_000, list)
