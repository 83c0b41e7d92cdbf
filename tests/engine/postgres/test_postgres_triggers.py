"""The trigger store's rules on PostgreSQL rows (postgres/triggers.py), run as one body over
SQLite (memory, file) and PostgreSQL so both backends are held to the same values."""

from __future__ import annotations

import pytest

import pg_support
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
    delivery_process_id,
)
from lashdb.engine.errors import TriggerStoreError

T0 = 1_700_000_000_000
EMPTY_KEY = "source:ui.button.pressed:sha256:93e835cc58c043e45895883a41ffa460ab70a2372d57b8b6c23920025601c479"
BLUE_1 = "trigger:6afdfa6994a29e10641199b3c53f3e9cf8668f0d65da23c95c8ba454769ad4f3"


class Clock:
    def __init__(self, now: int = T0) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


@pytest.fixture(params=pg_support.DEPLOYMENT_KINDS)
def open_backend(request, tmp_path):
    return pg_support.deployment_opener(request, tmp_path, "trigger_store")


def draft(session_id: str, name: str, **overrides) -> TriggerSubscriptionDraft:
    fields = dict(
        registrant=ProcessOriginator.session(session_id), env_ref=f"process-env:{session_id}",
        wake_target=SessionScope(session_id), name=name, source_type="ui.button.pressed",
        source_key=EMPTY_KEY, source={},
        payload_schema={"type": "object", "properties": {"button": {"type": "string"}},
                        "required": ["button"], "additionalProperties": False},
        target=ProcessInput.engine("test", {"process": name}),
        target_identity=ProcessIdentity("test", name, {"process_name": name}),
        input_template={"event": InputBinding.event()}, target_label=name)
    fields.update(overrides)
    return TriggerSubscriptionDraft(**fields)


def button(idempotency_key: str) -> TriggerOccurrenceRequest:
    return TriggerOccurrenceRequest("ui.button.pressed", EMPTY_KEY, idempotency_key, payload={"button": "Blue"},
                                    source={})


def test_subscriptions_register_list_and_cancel(open_backend):
    clock = Clock()
    with TriggerStore(open_backend("root-a"), clock) as store:
        assert store.source_key_for_subscription("ui.button.pressed", {}) == EMPTY_KEY
        first = store.register_subscription(draft("session-a", "first"))
        second = store.register_subscription(draft("session-b", "second"))
        assert (first.subscription_id, first.handle) == ("subscription:1", "trigger:1")
        assert (second.subscription_id, second.handle) == ("subscription:2", "trigger:2")
        assert first.enabled and first.created_at_ms == first.updated_at_ms == T0
        with pytest.raises(TriggerStoreError):
            store.register_subscription(draft("s", "n", target_label="other"))  # consumes no number
        for index in range(9):
            store.register_subscription(draft("s", f"n{index}"))
        # By registrant scope, then handle as text (bytewise): trigger:10 before trigger:3.
        assert [r.handle for r in store.list_subscriptions(TriggerSubscriptionFilter(session_id="s"))] == \
            ["trigger:10", "trigger:11", "trigger:3", "trigger:4", "trigger:5", "trigger:6", "trigger:7",
             "trigger:8", "trigger:9"]
        assert [r.handle for r in store.list_subscriptions(TriggerSubscriptionFilter(session_id="session-a"))] == \
            ["trigger:1"]
        assert len(store.list_subscriptions(TriggerSubscriptionFilter(source_key=EMPTY_KEY, enabled=True))) == 11
        assert store.cancel_subscription("session-b", first.handle) is False  # not the registrant
        clock.now += 5
        assert store.cancel_subscription("session-a", first.handle) is True
        [cancelled] = store.list_subscriptions(TriggerSubscriptionFilter(handle="trigger:1"))
        assert cancelled.enabled is False and cancelled.updated_at_ms == T0 + 5
        assert store.cancel_subscription("session-a", first.handle) is False
        assert [r.handle for r in store.list_subscriptions(TriggerSubscriptionFilter(enabled=False))] == ["trigger:1"]
        assert store.delete_session_subscriptions("session-b") == 1
        assert store.list_subscriptions(TriggerSubscriptionFilter(session_id="session-b")) == []


def test_occurrences_record_idempotently_and_deliveries_reserve_once(open_backend):
    clock = Clock()
    with TriggerStore(open_backend("root-a"), clock) as store:
        subscription = store.register_subscription(draft("session-a", "first"))
        clock.now += 3
        occurrence = store.record_occurrence(button("button-blue-1"))
        assert occurrence.occurrence_id == BLUE_1
        assert (occurrence.source_type, occurrence.source_key, occurrence.occurred_at_ms) == \
            ("ui.button.pressed", EMPTY_KEY, T0 + 3)
        [reservation] = store.reserve_matching_deliveries(occurrence.occurrence_id)
        assert reservation.subscription.handle == subscription.handle
        assert reservation.occurrence == occurrence
        assert reservation.process_id == delivery_process_id(occurrence.occurrence_id, subscription.subscription_id)
        assert store.reserve_matching_deliveries(occurrence.occurrence_id) == []
        clock.now += 100
        replay = store.record_occurrence(button("button-blue-1"))
        assert replay == occurrence  # the first record, original time kept
        assert store.reserve_matching_deliveries(replay.occurrence_id) == []
        assert store.cancel_subscription("session-a", subscription.handle)
        later = store.record_occurrence(button("button-blue-2"))
        assert later.occurred_at_ms == T0 + 103
        assert store.reserve_matching_deliveries(later.occurrence_id) == []  # disabled: no delivery
