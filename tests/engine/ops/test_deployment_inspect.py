"""Read-only inspection of deployment stores, and refusal of foreign files for writing.

The upstream fixtures (process registry v24, trigger store v6) are refused by the writable stores
without a byte changed or a sidecar created, and are listed read-only in place where their
columns allow. lashdb-written files are listed with every field the CLI shows.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

from lashdb.engine.ops.deployment_inspect import (
    ProcessRegistryInspector,
    TriggerStoreInspector,
)
from lashdb.engine.errors import NotALashDatabase, SchemaVersionError
from lashdb.engine.deployment.process_registry import ProcessRegistry
from lashdb.engine.deployment.triggers import (
    TriggerStore,
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


# --- foreign fixtures ----------------------------------------------------------------------------


@pytest.mark.parametrize("name, opener, kind, expected, found", [
    ("processes.db", ProcessRegistry.open, "process registry", 7, 24),
    ("triggers.db", TriggerStore.open, "trigger store", 1, 6),
])
def test_upstream_fixtures_are_refused_for_writing_untouched(tmp_path, name, opener, kind, expected, found):
    copy = tmp_path / name
    shutil.copyfile(FIXTURES / name, copy)
    before = sha256(copy)
    with pytest.raises(SchemaVersionError) as err:
        opener(copy)
    assert (err.value.kind, err.value.expected, err.value.found) == (kind, expected, found)
    assert f"supports schema version {expected}, but the database reports version {found}" in str(err.value)
    assert sha256(copy) == before
    assert sidecars(tmp_path) == []


def test_other_kind_is_refused_untouched(tmp_path):
    copy = tmp_path / "processes.db"
    shutil.copyfile(FIXTURES / "processes.db", copy)
    before = sha256(copy)
    with pytest.raises(NotALashDatabase):
        TriggerStore.open(copy)
    with pytest.raises(NotALashDatabase):
        ProcessRegistryInspector.open(FIXTURES / "triggers.db")
    assert sha256(copy) == before and sidecars(tmp_path) == []


def test_upstream_v24_registry_is_listed_read_only_in_place():
    before = {name: sha256(FIXTURES / name) for name in ("processes.db", "triggers.db")}
    now = T0 + 50
    with ProcessRegistryInspector.open(FIXTURES / "processes.db") as inspector:
        info = inspector.info
        assert (info.kind, info.schema_version, info.supported_version, info.foreign) == ("process registry", 24, 7, True)
        assert info.unavailable == ("grants", "wake_acks", "registration_hash", "payload_hash", "owner_scope_id")
        listed = inspector.list_processes(now_ms=now)
        assert [(p.process_id, p.status, p.input_type, p.event_count, p.last_event_type) for p in listed] == [
            ("durable-read-waiting-process", "waiting", "engine", 2, "process.waiting"),
            ("durable-read-wake-process", "running", "external", 1, "fixture.wake")]
        waiting = listed[0]
        assert (waiting.identity_kind, waiting.identity_label, waiting.originator_scope_id) == \
            ("durable-read-engine", "Durable read fixture", "host")
        assert (waiting.waiting, waiting.wait_signal, waiting.wait_since_ms) == (True, "fixture-ready", 123)
        assert waiting.grant_count is None and waiting.decode_error is None
        assert (waiting.lease.owner_id, waiting.lease.fencing_token, waiting.lease.expires_at_ms, waiting.lease.state) == \
            ("durable-read-owner", 1, T0 + 100, "live")
        assert inspector.list_processes(session_id="durable-read-fixture") == []  # no grants table
        assert [p.process_id for p in inspector.list_processes(status="running")] == ["durable-read-wake-process"]
        detail = inspector.show_process("durable-read-wake-process")
        assert detail.grants is None and detail.unacked_wake_sequences is None
        [event] = detail.events
        assert (event.sequence, event.event_type, event.wake_input, event.payload, event.acked, event.payload_hash) == \
            (1, "fixture.wake", "durable read wake", {"wake_input": "durable read wake"}, None, None)
        expired = inspector.expired_leases(now_ms=T0 + 100)
        assert [(lease.process_id, lease.state, lease.process_status) for lease in expired] == \
            [("durable-read-waiting-process", "expired", "waiting")]
        stuck = inspector.stuck_processes(now_ms=T0 + 100)
        assert [(s.process_id, s.reasons) for s in stuck] == [("durable-read-waiting-process", ("lease_expired",))]
    with TriggerStoreInspector.open(FIXTURES / "triggers.db") as inspector:
        assert (inspector.info.schema_version, inspector.info.foreign) == (6, True)
        [subscription] = inspector.list_subscriptions()
        assert (subscription.handle, subscription.registrant_scope_id, subscription.name, subscription.source_type,
                subscription.enabled, subscription.delivery_count, subscription.target_label) == \
            (None, "session:durable-read-fixture", "Durable read trigger", "fixture.event", True, 1,
             "Durable read trigger target")
        assert inspector.list_subscriptions(session_id="durable-read-fixture") == [subscription]
        assert inspector.list_subscriptions(host=True) == []
        [occurrence] = inspector.list_occurrences(source_type="fixture.event")
        assert (occurrence.occurrence_id, occurrence.payload, occurrence.request_hash, occurrence.delivery_count) == \
            ("trigger:durable-read-occurrence", {"value": 42}, None, 1)
        detail = inspector.show_occurrence("trigger:durable-read-occurrence")
        assert [d.process_id for d in detail.deliveries] == [
            "process:trigger-delivery:v1:sha256:638fb1f0b529fe3b5844b37ef58e30bde98a63025e47315c4313401e7dad60a0"]
    assert {name: sha256(FIXTURES / name) for name in before} == before
    assert sidecars(FIXTURES) == []
