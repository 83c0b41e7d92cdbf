"""Read-only trigger store views (ops.triggers): subscriptions, occurrences and deliveries as the CLI lists them."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from lashdb.engine.ops.triggers import (
    TriggerStoreInspector,
    list_occurrences,
    list_subscriptions,
    show_occurrence,
)
from lashdb.engine.errors import LookupFailed
from lashdb.engine.deployment.process_model import (
    ProcessIdentity,
    ProcessInput,
    ProcessOriginator,
    SessionScope,
)
from lashdb.engine.deployment.triggers import (
    TriggerOccurrenceRequest,
    TriggerStore,
    TriggerSubscriptionDraft,
    default_source_key,
)
from conftest import FIXTURES_DIR

FIXTURES = FIXTURES_DIR
T0 = 1_700_000_000_000

SUMMARY_KEYS = ["process_id", "status", "record_status", "identity_kind", "identity_label", "input_type",
                "originator_scope_id", "wake_target_scope_id", "env_ref", "created_at_ms", "updated_at_ms",
                "event_count", "last_event_type", "last_event_at_ms", "waiting", "wait_signal", "wait_since_ms",
                "lease", "grant_count", "external_ref", "decode_error"]
LEASE_KEYS = ["process_id", "owner_id", "lease_token", "fencing_token", "claimed_at_ms", "expires_at_ms", "state",
              "process_status"]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def sidecars(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(("-wal", "-shm", "-journal")))


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> int:
        return self.now


@pytest.fixture
def trigger_file(tmp_path) -> Path:
    path = tmp_path / "triggers.db"
    clock = Clock()
    key = default_source_key("ui.button.pressed", {})
    with TriggerStore.open(path, clock=clock) as store:
        for index in range(11):
            registrant = ProcessOriginator.host() if index == 10 else ProcessOriginator.session(f"s{index % 2}")
            store.register_subscription(TriggerSubscriptionDraft(
                registrant, "process-env:x", "ui.button.pressed", key, ProcessInput.engine("notify"),
                ProcessIdentity("notify", f"label-{index}"), wake_target=SessionScope("s0"), name=f"sub-{index}"))
        store.cancel_subscription("s1", "trigger:2")
        for index, button in enumerate(("Blue", "Red", "Green")):
            clock.now = T0 + 100 * index
            occurrence = store.record_occurrence(TriggerOccurrenceRequest(
                "ui.button.pressed", key, f"press-{index}", {"button": button}))
            if index < 2:
                store.reserve_matching_deliveries(occurrence.occurrence_id)
        clock.now = T0 + 300
        store.record_occurrence(TriggerOccurrenceRequest("cron.tick", "source:cron", "tick-1", 1))
    return path


def test_trigger_listing_for_the_cli(trigger_file):
    listed = list_subscriptions(trigger_file)
    assert [s.handle for s in listed] == [f"trigger:{n}" for n in range(1, 12)]  # numeric, not text, order
    second = listed[1]
    assert second.to_json() == {
        "subscription_id": "subscription:2", "handle": "trigger:2", "registrant_scope_id": "session:s1",
        "name": "sub-1", "source_type": "ui.button.pressed", "source_key": default_source_key("ui.button.pressed", {}),
        "enabled": False, "target_kind": "notify", "target_label": "label-1", "wake_target_scope_id": "session:s0",
        "created_at_ms": T0, "updated_at_ms": T0, "delivery_count": 0, "decode_error": None}
    assert listed[0].delivery_count == 2
    with TriggerStoreInspector.open(trigger_file) as inspector:
        assert [s.handle for s in inspector.list_subscriptions(host=True)] == ["trigger:11"]
        assert [s.handle for s in inspector.list_subscriptions(session_id="s1")] == \
            ["trigger:2", "trigger:4", "trigger:6", "trigger:8", "trigger:10"]
        assert [s.handle for s in inspector.list_subscriptions(enabled=False)] == ["trigger:2"]
        assert inspector.list_subscriptions(source_type="cron.tick") == []


def test_trigger_occurrences_most_recent_first_with_deliveries(trigger_file):
    occurrences = list_occurrences(trigger_file)
    assert [(o.idempotency_key, o.occurred_at_ms, o.delivery_count) for o in occurrences] == [
        ("tick-1", T0 + 300, 0), ("press-2", T0 + 200, 0), ("press-1", T0 + 100, 10), ("press-0", T0, 10)]
    assert [o.idempotency_key for o in list_occurrences(trigger_file, source_type="ui.button.pressed",
                                                        since_ms=T0 + 100, limit=5)] == ["press-2", "press-1"]
    newest = occurrences[1]
    assert newest.payload == {"button": "Green"} and len(newest.request_hash) == 64
    assert list(newest.to_json()) == ["occurrence_id", "occurred_at_ms", "source_type", "source_key",
                                      "idempotency_key", "payload", "request_hash", "delivery_count", "decode_error"]
    detail = show_occurrence(trigger_file, occurrences[3].occurrence_id)
    assert [d.handle for d in detail.deliveries] == \
        ["trigger:1", "trigger:3", "trigger:4", "trigger:5", "trigger:6", "trigger:7", "trigger:8", "trigger:9",
         "trigger:10", "trigger:11"]
    assert detail.record["idempotency_key"] == "press-0"
    assert list(detail.deliveries[0].to_json()) == ["occurrence_id", "subscription_id", "handle", "process_id",
                                                    "created_at_ms"]
    with pytest.raises(LookupFailed):
        show_occurrence(trigger_file, "trigger:nope")
    assert os.path.exists(trigger_file)
