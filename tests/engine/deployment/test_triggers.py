"""Trigger store (deployment-stores §2): upstream conformance (§3.3), the crate's own cases (§3.4),
golden ids and hashes (§2.1), error messages (§2.6) and atomicity — each on a fresh file."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest

from lashdb.engine import aio
from lashdb.engine.deployment import triggers
from lashdb.engine.errors import StoreError, TriggerStoreError
from lashdb.engine.deployment.process_model import (
    ProcessIdentity,
    ProcessInput,
    ProcessOriginator,
    SessionScope,
)
from lashdb.engine.deployment.triggers import (
    InputBinding,
    TriggerOccurrenceRequest,
    TriggerStore,
    TriggerSubscriptionDraft,
    TriggerSubscriptionFilter,
    default_source_key,
    delivery_process_id,
    occurrence_id,
    occurrence_request_hash,
)

T0 = 1_700_000_000_000
EMPTY_KEY = "source:ui.button.pressed:sha256:93e835cc58c043e45895883a41ffa460ab70a2372d57b8b6c23920025601c479"
BLUE_1 = "trigger:6afdfa6994a29e10641199b3c53f3e9cf8668f0d65da23c95c8ba454769ad4f3"


class Clock:
    def __init__(self, now: int = T0) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(tmp_path, clock):
    with TriggerStore.open(tmp_path / "triggers.db", clock=clock) as opened:
        yield opened


def draft(session_id: str, source_key: str, name: str, **overrides) -> TriggerSubscriptionDraft:
    fields = dict(
        registrant=ProcessOriginator.session(session_id),
        env_ref=f"process-env:{session_id}",
        wake_target=SessionScope(session_id),
        name=name,
        source_type="ui.button.pressed",
        source_key=source_key,
        source={},
        payload_schema={"type": "object", "properties": {"button": {"type": "string"}},
                        "required": ["button"], "additionalProperties": False},
        target=ProcessInput.engine("test", {"process": name}),
        target_identity=ProcessIdentity("test", name, {"process_name": name}),
        input_template={"event": InputBinding.event()},
        target_label=name,
    )
    fields.update(overrides)
    return TriggerSubscriptionDraft(**fields)


def button(idempotency_key: str, source_key: str = EMPTY_KEY, **overrides) -> TriggerOccurrenceRequest:
    fields = dict(payload={"button": "Blue"}, source={})
    fields.update(overrides)
    return TriggerOccurrenceRequest("ui.button.pressed", source_key, idempotency_key, **fields)


# --- §2.1 golden values ---------------------------------------------------------------------------


def test_derived_keys_and_ids_match_upstream():
    assert default_source_key("ui.button.pressed", {}) == EMPTY_KEY
    request = button("button-blue-1")
    assert occurrence_id(request) == BLUE_1
    assert occurrence_request_hash(request) == "a103c1fceedb515dfddfaf0ce9254867725c11a4ecfe940a28dfec33892bf3c3"
    assert occurrence_request_hash(button("button-blue-1", source=None)) == \
        "b02bcddce410a874ac10380ace573ed1b4a7e498d06669169b820427970cddf9"
    assert delivery_process_id(BLUE_1, "subscription:1") == \
        "process:trigger:e4f30cc8f0d340e3058a22af55b1f4b8ae5ebbe7f490c99bd99b1af3200995de"


# --- §3.3 conformance ---------------------------------------------------------------------------------


def test_durability_tier_is_durable(store):
    assert store.durability_tier == "durable" and TriggerStore.memory().durability_tier == "durable"


def test_source_key_is_stable(store):
    first = store.source_key_for_subscription("ui.button.pressed", {"button": "Blue"})
    second = store.source_key_for_subscription("ui.button.pressed", {"button": "Blue"})
    assert first == second and first.startswith("source:ui.button.pressed:sha256:") and len(first) == 96
    assert store.source_key_for_subscription("ui.button.pressed", {"button": "Red"}) != first


def test_registers_lists_and_cancels(store, clock):
    source_key = store.source_key_for_subscription("ui.button.pressed", {})
    first = store.register_subscription(draft("session-a", source_key, "first"))
    second = store.register_subscription(draft("session-b", source_key, "second"))
    assert (first.subscription_id, first.handle) == ("subscription:1", "trigger:1")
    assert (second.subscription_id, second.handle) == ("subscription:2", "trigger:2")
    assert first.enabled and first.created_at_ms == first.updated_at_ms == T0
    assert [r.handle for r in store.list_subscriptions(TriggerSubscriptionFilter(session_id="session-a"))] == ["trigger:1"]
    by_source = TriggerSubscriptionFilter(source_type="ui.button.pressed", source_key=source_key, enabled=True)
    assert len(store.list_subscriptions(by_source)) == 2
    assert store.cancel_subscription("session-b", first.handle) is False
    assert store.list_subscriptions(TriggerSubscriptionFilter(handle="trigger:1"))[0].enabled is True
    clock.now += 5
    assert store.cancel_subscription("session-a", first.handle) is True
    [cancelled] = store.list_subscriptions(TriggerSubscriptionFilter(session_id="session-a", handle=first.handle))
    assert cancelled.enabled is False and cancelled.updated_at_ms == T0 + 5
    clock.now += 5
    assert store.cancel_subscription("session-a", first.handle) is False  # no re-enable; second cancel is false
    assert store.list_subscriptions(TriggerSubscriptionFilter(handle="trigger:1"))[0].updated_at_ms == T0 + 10
    row = store._conn.execute("SELECT enabled, updated_at_ms FROM trigger_subscriptions "
                              "WHERE handle = 'trigger:1'").fetchall()
    assert row == [(0, T0 + 10)]


def test_records_and_reserves_idempotently(store, clock):
    source_key = store.source_key_for_subscription("ui.button.pressed", {})
    subscription = store.register_subscription(draft("session-a", source_key, "first"))
    clock.now += 3
    occurrence = store.record_occurrence(button("button-blue-1", source_key))
    assert occurrence.occurrence_id == BLUE_1
    assert (occurrence.source_type, occurrence.source_key, occurrence.occurred_at_ms) == \
        ("ui.button.pressed", source_key, T0 + 3)
    [reservation] = store.reserve_matching_deliveries(occurrence.occurrence_id)
    assert reservation.subscription.handle == subscription.handle
    assert reservation.occurrence == occurrence
    assert reservation.process_id == delivery_process_id(occurrence.occurrence_id, subscription.subscription_id)
    assert store.reserve_matching_deliveries(occurrence.occurrence_id) == []
    clock.now += 100
    replay = store.record_occurrence(button("button-blue-1", source_key))
    assert replay == occurrence  # original time kept
    assert store.reserve_matching_deliveries(replay.occurrence_id) == []
    assert store.cancel_subscription("session-a", subscription.handle)
    later = store.record_occurrence(button("button-blue-2", source_key))
    assert store.reserve_matching_deliveries(later.occurrence_id) == []
    assert store._conn.execute("SELECT COUNT(*) FROM trigger_deliveries").fetchall() == [(1,)]


def test_survives_reopen(tmp_path):
    path = tmp_path / "triggers.db"
    with TriggerStore.open(path) as first:
        source_key = first.source_key_for_subscription("ui.button.pressed", {})
        subscription = first.register_subscription(draft("session-a", source_key, "first"))
        occurrence = first.record_occurrence(button("button-blue-1", source_key))
        assert len(first.reserve_matching_deliveries(occurrence.occurrence_id)) == 1
    with TriggerStore.open(path) as reopened:
        [listed] = reopened.list_subscriptions(TriggerSubscriptionFilter(session_id="session-a"))
        assert listed == subscription
        replayed = reopened.record_occurrence(button("button-blue-1", source_key))
        assert replayed.occurrence_id == occurrence.occurrence_id
        assert reopened.reserve_matching_deliveries(replayed.occurrence_id) == []
        fresh = reopened.record_occurrence(button("button-blue-2", source_key))
        [delivery] = reopened.reserve_matching_deliveries(fresh.occurrence_id)
        assert delivery.subscription.handle == subscription.handle


# --- §3.4 crate tests -------------------------------------------------------------------------------


def test_first_handle_is_trigger_1_and_survives_reopen(tmp_path):
    path = tmp_path / "triggers.db"
    with TriggerStore.open(path) as first:
        record = first.register_subscription(draft("s", EMPTY_KEY, "n"))
        assert record.handle == "trigger:1"
    with TriggerStore.open(path) as reopened:
        [found] = reopened.list_subscriptions(TriggerSubscriptionFilter(source_type="ui.button.pressed", enabled=True))
        assert found.handle == "trigger:1" and found.source_key == EMPTY_KEY
        occurrence = reopened.record_occurrence(button("once"))
        reserved = reopened.reserve_matching_deliveries(occurrence.occurrence_id)
        assert [r.subscription.handle for r in reserved] == ["trigger:1"]
        assert reopened.record_occurrence(button("once")).occurrence_id == occurrence.occurrence_id
        assert reopened.reserve_matching_deliveries(occurrence.occurrence_id) == []


def test_malformed_subscription_row_is_skipped_not_fatal(tmp_path, caplog):
    path = tmp_path / "triggers.db"
    with TriggerStore.open(path) as first:
        first.register_subscription(draft("s", EMPTY_KEY, "broken"))
        intact = first.register_subscription(draft("s", EMPTY_KEY, "intact"))
        first._conn.execute("UPDATE trigger_subscriptions SET record_json = '{broken' WHERE handle = 'trigger:1'")
    with TriggerStore.open(path) as reopened, caplog.at_level(logging.WARNING, logger="lashdb.triggers"):
        occurrence = reopened.record_occurrence(button("blue"))
        [reservation] = reopened.reserve_matching_deliveries(occurrence.occurrence_id)
        assert reservation.subscription.subscription_id == intact.subscription_id
        assert [r.handle for r in reopened.list_subscriptions()] == ["trigger:2"]
        skipped = list(reopened.skipped_rows)
        assert [(s.subscription_id, s.operation) for s in skipped] == [
            ("subscription:1", "delivery reservation"), ("subscription:1", "listing")]
        assert skipped[0].reason.startswith("failed to decode trigger subscription row: ")
        assert "subscription:1" in caplog.text


def test_in_memory_cancel_from_wrong_session(clock):
    with TriggerStore.memory(clock=clock) as store:
        a = store.register_subscription(draft("session-a", EMPTY_KEY, "a"))
        b = store.register_subscription(draft("session-b", EMPTY_KEY, "b"))
        assert store.cancel_subscription("session-b", a.handle) is False
        assert store.cancel_subscription("session-b", b.handle) is True
        occurrence = store.record_occurrence(button("press"))
        assert [r.subscription.handle for r in store.reserve_matching_deliveries(occurrence.occurrence_id)] == [a.handle]


# --- further behaviour (§2.3–§2.6) ---------------------------------------------------------------------


def test_listing_orders_by_registrant_then_handle_as_text(store):
    for index in range(11):
        store.register_subscription(draft("s", EMPTY_KEY, f"n{index}"))
    store.register_subscription(draft("s", EMPTY_KEY, "framed", registrant=ProcessOriginator.session("s", "f")))
    store.register_subscription(draft("a", EMPTY_KEY, "host-ish", registrant=ProcessOriginator.host()))
    handles = [r.handle for r in store.list_subscriptions()]
    assert handles == ["trigger:13", "trigger:1", "trigger:10", "trigger:11", "trigger:2", "trigger:3", "trigger:4",
                       "trigger:5", "trigger:6", "trigger:7", "trigger:8", "trigger:9", "trigger:12"]
    # host registrants never match a session filter; frames match their session
    framed = store.list_subscriptions(TriggerSubscriptionFilter(session_id="s", name="framed"))
    assert [r.name for r in framed] == ["framed"]
    assert store.list_subscriptions(TriggerSubscriptionFilter(session_id="a")) == []
    assert [r.name for r in store.list_subscriptions(TriggerSubscriptionFilter(target={"process_name": "n3"}))] == ["n3"]
    assert store._conn.execute("SELECT registrant_scope_id FROM trigger_subscriptions "
                               "WHERE handle = 'trigger:12'").fetchall() == [("session:s/frame:f",)]


def test_registration_validates_only_the_target_label(store):
    with pytest.raises(TriggerStoreError) as err:
        store.register_subscription(draft("s", EMPTY_KEY, "n", target_label="other"))
    assert str(err.value) == "trigger target_label must match target_identity.label when both are present"
    assert isinstance(err.value, StoreError)
    twice = [store.register_subscription(draft("s", EMPTY_KEY, "same")) for _ in range(2)]
    assert [r.handle for r in twice] == ["trigger:1", "trigger:2"]  # no uniqueness of name or source
    no_label = store.register_subscription(draft("s", EMPTY_KEY, "n", target_label=None))
    assert no_label.target_label is None


def test_rolled_back_registration_consumes_no_handle(store, monkeypatch):
    real_encode = triggers._encode
    calls = {"n": 0}

    def failing_once(record):
        calls["n"] += 1
        if calls["n"] == 1:
            raise TriggerStoreError("failed to encode trigger row: injected")
        return real_encode(record)

    monkeypatch.setattr(triggers, "_encode", failing_once)
    with pytest.raises(TriggerStoreError, match="injected"):
        store.register_subscription(draft("s", EMPTY_KEY, "n"))
    assert store.register_subscription(draft("s", EMPTY_KEY, "n")).handle == "trigger:1"
    assert store._conn.execute("SELECT id FROM trigger_subscription_seq").fetchall() == [(1,)]


def test_handles_are_never_reused_after_deletion(store):
    store.register_subscription(draft("gone", EMPTY_KEY, "a"))
    store.register_subscription(draft("gone", EMPTY_KEY, "b"))
    kept = store.register_subscription(draft("kept", EMPTY_KEY, "c"))
    occurrence = store.record_occurrence(button("press"))
    assert len(store.reserve_matching_deliveries(occurrence.occurrence_id)) == 3
    assert store.delete_session_subscriptions("gone") == 2
    assert store.delete_session_subscriptions("gone") == 0
    assert [r.handle for r in store.list_subscriptions()] == [kept.handle]
    # Deliveries of deleted subscriptions cascade; the occurrence stays.
    assert store._conn.execute("SELECT subscription_id FROM trigger_deliveries").fetchall() == [(kept.subscription_id,)]
    assert store._conn.execute("SELECT COUNT(*) FROM trigger_occurrences").fetchall() == [(1,)]
    assert store.register_subscription(draft("new", EMPTY_KEY, "d")).handle == "trigger:4"


def test_occurrence_validation_and_conflicts(store):
    for name in ("source_type", "source_key", "idempotency_key"):
        fields = {"source_type": "t", "source_key": "k", "idempotency_key": "i", name: "  "}
        with pytest.raises(TriggerStoreError) as err:
            store.record_occurrence(TriggerOccurrenceRequest(**fields))
        assert str(err.value) == f"trigger occurrence requires {name}"
    store.record_occurrence(button("key-1"))
    with pytest.raises(TriggerStoreError) as err:
        store.record_occurrence(button("key-1", payload={"button": "Red"}))
    assert str(err.value) == "trigger occurrence idempotency conflict for `key-1`"
    with pytest.raises(TriggerStoreError, match="idempotency conflict"):
        store.record_occurrence(button("key-1", source=None))  # absent source hashes as null
    # The key is unique across the whole store, not per source.
    with pytest.raises(TriggerStoreError, match="idempotency conflict"):
        store.record_occurrence(TriggerOccurrenceRequest("other.type", "k", "key-1", {"button": "Blue"}, {}))
    with pytest.raises(TriggerStoreError) as err:
        store.reserve_matching_deliveries("trigger:nope")
    assert str(err.value) == "unknown trigger occurrence `trigger:nope`"


def test_undecodable_occurrence_is_an_error(store):
    occurrence = store.record_occurrence(button("x"))
    store._conn.execute("UPDATE trigger_occurrences SET record_json = '[]'")
    with pytest.raises(TriggerStoreError, match="^failed to decode trigger occurrence row: "):
        store.reserve_matching_deliveries(occurrence.occurrence_id)
    with pytest.raises(TriggerStoreError, match="^failed to decode trigger occurrence row: "):
        store.record_occurrence(button("x"))


def test_subscription_registered_after_an_occurrence_is_picked_up_later(store):
    occurrence = store.record_occurrence(button("early"))
    assert store.reserve_matching_deliveries(occurrence.occurrence_id) == []
    late = store.register_subscription(draft("s", EMPTY_KEY, "late"))
    assert [r.subscription.handle for r in store.reserve_matching_deliveries(occurrence.occurrence_id)] == [late.handle]
    # The payload is not validated against the subscription schema when reserving.
    odd = store.record_occurrence(button("odd", payload={"colour": 3}))
    assert len(store.reserve_matching_deliveries(odd.occurrence_id)) == 1


def test_stored_rows_are_canonical(store):
    record = store.register_subscription(draft("s", EMPTY_KEY, "n", input_template={
        "z": InputBinding.fixed({"b": 1, "a": 2}), "event": InputBinding.event()}))
    (text, scope) = store._conn.execute("SELECT record_json, registrant_scope_id FROM trigger_subscriptions").fetchall()[0]
    doc = json.loads(text)
    assert scope == "session:s"
    assert list(doc) == ["subscription_id", "registrant", "env_ref", "wake_target", "handle", "name", "source_type",
                         "source_key", "source", "payload_schema", "target", "target_identity", "event_types",
                         "input_template", "target_label", "enabled", "created_at_ms", "updated_at_ms"]
    assert text.count('"input_template":{"event":{"type":"event"},"z":{"type":"fixed","value":{"a":2,"b":1}}}') == 1
    assert doc["registrant"] == {"type": "session", "scope": {"session_id": "s"}}
    occurrence = store.record_occurrence(button("k", source=None))
    (occurrence_text,) = store._conn.execute("SELECT record_json FROM trigger_occurrences").fetchall()[0]
    assert occurrence_text == (f'{{"occurrence_id":"{occurrence.occurrence_id}","source_type":"ui.button.pressed",'
                               f'"source_key":"{EMPTY_KEY}","payload":{{"button":"Blue"}},"idempotency_key":"k",'
                               f'"occurred_at_ms":{T0}}}')
    assert record.registrant_scope_id == "session:s"


def test_async_trigger_store():
    async def scenario():
        async with await aio.memory_trigger_store(clock=Clock()) as store:
            await store.register_subscription(draft("s", EMPTY_KEY, "n"))
            occurrence = await store.record_occurrence(button("a"))
            return await store.reserve_matching_deliveries(occurrence.occurrence_id)

    [reservation] = asyncio.run(scenario())
    assert reservation.subscription.handle == "trigger:1"


def test_closed_store_raises_typed_error(store):
    store.close()
    with pytest.raises(TriggerStoreError):
        store.list_subscriptions()
