"""The process registry's rules on PostgreSQL rows (postgres/registry.py), run as one body over
SQLite (memory, file) and PostgreSQL so both backends are held to the same values."""

from __future__ import annotations

import pytest

import pg_support
from lashdb.engine.deployment.process_model import (
    ProcessEventAppendRequest,
    ProcessEventType,
    ProcessHandleDescriptor,
    ProcessListFilter,
    ProcessRegistration,
    Selector,
    SessionScope,
    WakeSpec,
)
from lashdb.engine.deployment.process_registry import ProcessRegistry
from lashdb.engine.errors import ProcessRegistryError

T0 = 1_700_000_000_000
# Upstream's golden registration hash of ProcessRegistration.external("proc-idempotent").
IDEMPOTENT_HASH = "9c316c424785ad33f82e1d30158badd136cdc3aa117fe0baf2939f13becf0b52"


class Clock:
    def __init__(self, now: int = T0) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


@pytest.fixture(params=pg_support.DEPLOYMENT_KINDS)
def open_backend(request, tmp_path):
    return pg_support.deployment_opener(request, tmp_path, "process_registry")


def wake_type(name: str) -> ProcessEventType:
    return ProcessEventType(name, {}, wake=WakeSpec(Selector.pointer("/wake_input"),
                                                    when=Selector.present("/wake_input")))


def registration(process_id: str) -> ProcessRegistration:
    return ProcessRegistration.external(process_id)


def test_registration_is_idempotent_and_a_different_one_conflicts(open_backend):
    clock = Clock()
    with ProcessRegistry(open_backend("root-a"), clock) as reg:
        first = reg.register_process(registration("proc-idempotent"))
        clock.now += 500
        second = reg.register_process(registration("proc-idempotent"))
        assert first.registration_hash == second.registration_hash == IDEMPOTENT_HASH
        assert (second.created_at_ms, second.updated_at_ms) == (T0, T0)  # a replay moves no timestamp
        with pytest.raises(ProcessRegistryError, match="registration hash conflict: existing " + IDEMPOTENT_HASH):
            reg.register_process(registration("proc-idempotent").with_extra_event_types(wake_type("w")))
        # Listing is by process id, bytewise (SQLite's BINARY order; a locale would put "Zed" last).
        for pid in ("alpha", "Zed"):
            reg.register_process(registration(pid))
        assert [r.id for r in reg.list_processes(ProcessListFilter())] == ["Zed", "alpha", "proc-idempotent"]
        assert [r.id for r in reg.list_non_terminal()] == ["Zed", "alpha", "proc-idempotent"]
        assert reg.get_process("missing") is None


def test_keyed_events_replay_and_wakes_are_acknowledged(open_backend):
    clock = Clock()
    with ProcessRegistry(open_backend("root-a"), clock) as reg:
        reg.register_process(registration("proc-wake").with_extra_event_types(
            wake_type("process.wake"), ProcessEventType.plain("note")))
        request = ProcessEventAppendRequest("process.wake", {"message": "deploy failed",
                                                             "wake_input": "Process wake: deploy failed"},
                                            "wake:deploy failed", SessionScope("session"))
        first = reg.append_event("proc-wake", request)
        clock.now += 1000
        replayed = reg.append_event("proc-wake", request)
        assert first.event.sequence == replayed.event.sequence == 1
        assert replayed.event == first.event and replayed.wake_delivery == first.wake_delivery
        assert replayed.wake_delivery.created_at_ms == T0
        assert first.wake_delivery.wake_id == \
            "wake:9139c975e42a7d703f7e1fae04306248789f18b2af461fea0c8af565c1b9a700"
        with pytest.raises(ProcessRegistryError, match="conflicts with an existing event"):
            reg.append_event("proc-wake", ProcessEventAppendRequest(
                "process.wake", {"message": "other", "wake_input": "x"}, "wake:deploy failed"))
        note = reg.append_event("proc-wake", ProcessEventAppendRequest("note", {"n": 1}))
        assert note.event.sequence == 2 and note.wake_delivery is None
        assert [e.sequence for e in reg.events_after("proc-wake", 0)] == [1, 2]
        assert [e.sequence for e in reg.events_after("proc-wake", 1)] == [2]
        assert reg.events_after("proc-wake", 2**64 - 1) == []  # a u64 cursor past the signed range
        assert [e.sequence for e in reg.recent_events("proc-wake", 1)] == [2]
        assert reg.count_events_through("proc-wake", "process.wake", 2) == 1
        assert reg.find_event_after("proc-wake", "note", 0).sequence == 2
        assert reg.find_event_after("proc-wake", "note", 2) is None
        assert [e.sequence for e in reg.wake_events_after("proc-wake", 0)] == [1]
        reg.ack_wake("proc-wake", 1)
        reg.ack_wake("proc-wake", 1)  # a duplicate is ignored
        assert reg.wake_events_after("proc-wake", 0) == []
        with pytest.raises(ProcessRegistryError, match="^unknown process `ghost`$"):
            reg.ack_wake("ghost", 1)


def test_grants_are_granted_listed_and_revoked(open_backend):
    with ProcessRegistry(open_backend("root-a"), Clock()) as reg:
        owner, other = SessionScope("grant-owner"), SessionScope("another")
        reg.register_process(registration("proc-b"))
        reg.register_process(registration("proc-a"))
        assert reg.has_handle_grant(owner, "proc-a") is False
        grant = reg.grant_handle(owner, "proc-a", ProcessHandleDescriptor("test", "label a"))
        assert grant.to_json() == {"session_id": "grant-owner", "process_id": "proc-a",
                                   "descriptor": {"kind": "test", "label": "label a"}}
        reg.grant_handle(owner, "proc-b", ProcessHandleDescriptor("test", "label b"))
        reg.grant_handle(other, "proc-a", ProcessHandleDescriptor("test", "other a"))
        assert [(g.process_id, r.id) for g, r in reg.list_handle_grants(owner)] == \
            [("proc-a", "proc-a"), ("proc-b", "proc-b")]
        assert [g.session_id for g in reg.handle_grants_for_process("proc-a")] == ["another", "grant-owner"]
        assert reg.has_handle_grant(owner, "proc-a") is True
        reg.revoke_handle(owner, "proc-a")
        reg.revoke_handle(owner, "proc-a")  # revoking twice is fine
        assert reg.has_handle_grant(owner, "proc-a") is False
        assert [g.process_id for g, _ in reg.list_live_handle_grants(owner)] == ["proc-b"]
        report = reg.delete_session_process_state("another")
        assert reg.handle_grants_for_process("proc-a") == [] and report is not None
        with pytest.raises(ProcessRegistryError, match="^unknown process `nope`$"):
            reg.grant_handle(owner, "nope")


def test_leases_claim_renew_complete_with_fencing(open_backend):
    clock = Clock()
    with ProcessRegistry(open_backend("root-a"), clock) as reg:
        reg.register_process(registration("proc-lease"))
        first = reg.claim_process_lease("proc-lease", "owner-a", 60_000)
        assert (first.fencing_token, first.claimed_at_epoch_ms, first.expires_at_epoch_ms) == (1, T0, T0 + 60_000)
        with pytest.raises(ProcessRegistryError) as err:
            reg.claim_process_lease("proc-lease", "owner-b", 60_000)
        assert str(err.value) == f"process `proc-lease` is already leased by `owner-a` until {T0 + 60_000}"
        clock.now += 1
        again = reg.claim_process_lease("proc-lease", "owner-a", 60_000)
        assert again.fencing_token == 2 and again.lease_token != first.lease_token
        with pytest.raises(ProcessRegistryError, match="missing or expired"):
            reg.renew_process_lease(first, 1000)  # fenced off by the newer claim
        clock.now += 10
        renewed = reg.renew_process_lease(again, 5_000)
        assert (renewed.expires_at_epoch_ms, renewed.fencing_token) == (T0 + 11 + 5_000, 2)
        reg.complete_process_lease(first)  # a stale token is a no-op
        with pytest.raises(ProcessRegistryError, match="already leased by `owner-a`"):
            reg.claim_process_lease("proc-lease", "owner-b", 1)
        reg.complete_process_lease(renewed)
        taken = reg.claim_process_lease("proc-lease", "owner-b", 2**64)  # u64 expiry, clamped and stored
        assert (taken.owner_id, taken.fencing_token, taken.expires_at_epoch_ms) == ("owner-b", 3, 2**64 - 1)
        assert reg.renew_process_lease(taken, 2**64).expires_at_epoch_ms == 2**64 - 1
        with pytest.raises(ProcessRegistryError, match="already leased by `owner-b` until 18446744073709551615"):
            reg.claim_process_lease("proc-lease", "owner-c", 1)
