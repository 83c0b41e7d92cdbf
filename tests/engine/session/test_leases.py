"""Session execution leases (runtime contract §3, §7.3)."""

from __future__ import annotations

import dataclasses

import pytest

from lashdb.engine import (
    SessionExecutionLease,
    SessionExecutionLeaseCompletion,
    SessionExecutionLeaseExpired,
    SessionExecutionLeaseFence,
    Store,
)
from lashdb.engine.timing import MAX_MS
from runtime_support import LEASE_TTL, FakeClock, commit_for, race


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store(store_on, clock):
    """A store on the test's backend (``[sqlite]``/``[postgres]``), on the injected clock."""
    return store_on.open(clock=clock)


_LEASE_COLUMNS = "lease_owner_id, lease_token, lease_fencing_token, lease_claimed_at_ms, lease_expires_at_ms"


@pytest.fixture
def lease_row(store_on):
    """``lease_row(store, session_id="root")``: the stored lease row of a session, on either backend."""
    def read(store: Store, session_id: str = "root") -> tuple:
        return store_on.sql(
            store, f"SELECT {_LEASE_COLUMNS} FROM session_execution_leases WHERE session_id = ?",
            f"SELECT {_LEASE_COLUMNS} FROM lash_session_execution_leases WHERE session_id = %s", (session_id,))[0]
    return read


def test_first_claim_builds_token_from_session_owner_time_and_fencing(store, clock, lease_row):
    lease = store.try_claim_session_execution_lease("root", "owner-a", LEASE_TTL)
    assert lease == SessionExecutionLease("root", "owner-a", f"root:owner-a:{clock.now}:1", 1, clock.now,
                                          clock.now + LEASE_TTL)
    assert lease_row(store) == ("owner-a", lease.lease_token, 1, clock.now, clock.now + LEASE_TTL)


def test_live_lease_blocks_others_and_renewal_keeps_token_without_shortening(store, clock):
    a = store.try_claim_session_execution_lease("root", "owner-a", LEASE_TTL)
    assert store.try_claim_session_execution_lease("root", "owner-b", LEASE_TTL) is None
    # Not re-entrant: the holder itself gets None too.
    assert store.try_claim_session_execution_lease("root", "owner-a", LEASE_TTL) is None
    clock.advance(10)
    renewed = store.renew_session_execution_lease(a.fence(), LEASE_TTL)
    assert renewed.lease_token == a.lease_token
    assert renewed.fencing_token == a.fencing_token
    assert renewed.claimed_at_epoch_ms == a.claimed_at_epoch_ms
    assert renewed.expires_at_epoch_ms == clock.now + LEASE_TTL >= a.expires_at_epoch_ms


def test_forged_fence_cannot_renew_and_forged_completion_releases_nothing(store):
    a = store.try_claim_session_execution_lease("root", "owner-a", LEASE_TTL)
    forged = dataclasses.replace(a.fence(), lease_token=a.lease_token + "-forged")
    with pytest.raises(SessionExecutionLeaseExpired) as err:
        store.renew_session_execution_lease(forged, LEASE_TTL)
    assert str(err.value) == "session execution lease for session `root` is missing or expired"
    assert err.value.session_id == "root"
    store.release_session_execution_lease(dataclasses.replace(a.completion(), lease_token="forged"))
    assert store.try_claim_session_execution_lease("root", "owner-b", LEASE_TTL) is None


@pytest.mark.parametrize("field,value", [("owner_id", "owner-x"), ("fencing_token", 99), ("session_id", "other")])
def test_renew_rejects_any_mismatched_fence_field(store, field, value, lease_row):
    a = store.try_claim_session_execution_lease("root", "owner-a", LEASE_TTL)
    with pytest.raises(SessionExecutionLeaseExpired):
        store.renew_session_execution_lease(dataclasses.replace(a.fence(), **{field: value}), LEASE_TTL)
    assert lease_row(store)[4] == a.expires_at_epoch_ms


def test_reclaim_after_release_has_higher_fencing_and_stale_release_is_harmless(store, lease_row):
    a = store.try_claim_session_execution_lease("root", "owner-a", LEASE_TTL)
    store.release_session_execution_lease(a.completion())
    assert lease_row(store) == (None, None, 1, 0, 0)  # fencing token survives the release
    b = store.try_claim_session_execution_lease("root", "owner-b", LEASE_TTL)
    assert b.fencing_token > a.fencing_token
    store.release_session_execution_lease(a.completion())  # stale: must not clear B
    assert store.try_claim_session_execution_lease("root", "owner-c", LEASE_TTL) is None
    assert lease_row(store)[:3] == ("owner-b", b.lease_token, 2)


def test_ttl_zero_lease_is_dead_at_once_and_reclaimable(store):
    a = store.try_claim_session_execution_lease("root", "owner-a", 0)
    b = store.try_claim_session_execution_lease("root", "owner-b", LEASE_TTL)
    assert b is not None and b.fencing_token == a.fencing_token + 1


def test_expiry_is_strict_and_expired_lease_cannot_renew_but_can_release(store, clock, lease_row):
    a = store.try_claim_session_execution_lease("root", "owner-a", 100)
    clock.advance(99)
    assert store.renew_session_execution_lease(a.fence(), 1).expires_at_epoch_ms == clock.now + 1
    clock.advance(1)  # expiry == now: already dead
    with pytest.raises(SessionExecutionLeaseExpired):
        store.renew_session_execution_lease(a.fence(), 100)
    store.release_session_execution_lease(a.completion())
    assert lease_row(store) == (None, None, 1, 0, 0)


def test_renew_may_shorten_and_ttl_zero_ends_the_lease(store):
    a = store.try_claim_session_execution_lease("root", "owner-a", LEASE_TTL)
    assert store.renew_session_execution_lease(a.fence(), 5).expires_at_epoch_ms == a.claimed_at_epoch_ms + 5
    store.renew_session_execution_lease(a.fence(), 0)
    assert store.try_claim_session_execution_lease("root", "owner-b", LEASE_TTL) is not None


def test_expired_lease_is_rejected_by_a_commit(store, clock):
    lease = store.try_claim_session_execution_lease("root", "owner-a", 1_000)
    clock.advance(1_000)
    with pytest.raises(SessionExecutionLeaseExpired):
        store.commit_runtime_state(commit_for().under_lease(lease))
    assert store.load_session() is None
    clock.now -= 1  # one millisecond earlier the same fence still commits
    assert store.commit_runtime_state(commit_for().under_lease(lease)).head_revision == 1


def test_leases_are_per_session_id(store):
    assert store.try_claim_session_execution_lease("root", "a", LEASE_TTL) is not None
    assert store.try_claim_session_execution_lease("other", "a", LEASE_TTL).fencing_token == 1


def test_huge_ttl_saturates_at_i64_max_and_negative_values_are_refused(store, store_on, clock, lease_row):
    """A huge TTL saturates at 2^63-1 and is stored positive; negative or oversized values are refused (W17)."""
    lease = store.try_claim_session_execution_lease("root", "a", 1 << 64)
    assert lease.expires_at_epoch_ms == MAX_MS
    assert lease_row(store)[4] == MAX_MS  # stored positive, still live
    assert store.try_claim_session_execution_lease("root", "b", LEASE_TTL) is None
    with pytest.raises(ValueError):
        store.try_claim_session_execution_lease("other", "a", -1)
    with pytest.raises(ValueError):
        store.renew_session_execution_lease(lease.fence(), -5)
    with pytest.raises(ValueError):
        store.release_session_execution_lease(dataclasses.replace(lease.completion(), fencing_token=1 << 63))
    with pytest.raises(TypeError):
        store.try_claim_session_execution_lease("other", "a", 1.5)
    assert store_on.sql(store, "SELECT count(*) FROM session_execution_leases",
                        "SELECT count(*) FROM lash_session_execution_leases") == [(1,)]


def test_negative_clock_is_refused(store_on):
    with store_on.open(clock=lambda: -1) as store:
        with pytest.raises(ValueError):
            store.try_claim_session_execution_lease("root", "a", 10)


def test_lease_fence_and_completion_json_round_trip(store):
    lease = store.try_claim_session_execution_lease("root", "owner-a", LEASE_TTL)
    assert SessionExecutionLease.from_json(lease.to_json()) == lease
    assert list(lease.to_json()) == ["session_id", "owner_id", "lease_token", "fencing_token",
                                     "claimed_at_epoch_ms", "expires_at_epoch_ms"]
    assert SessionExecutionLeaseFence.from_json(lease.fence().to_json()) == lease.fence()
    assert SessionExecutionLeaseCompletion.from_json(lease.completion().to_json()) == lease.completion()
    assert lease.fence().to_json() == lease.completion().to_json()
    with pytest.raises(ValueError):
        SessionExecutionLeaseFence.from_json({"session_id": "root", "owner_id": "a", "lease_token": "t"})


def test_two_handles_racing_for_a_first_claim_exactly_one_wins(store_on):
    store_on.open().close()
    stores = [store_on.open() for _ in range(2)]
    results = race(lambda i: stores[i].try_claim_session_execution_lease("first-claim-race", f"owner-{i}",
                                                                         LEASE_TTL), 2)
    for s in stores:
        s.close()
    winners = [r for r in results if r is not None]
    assert len(winners) == 1 and winners[0].fencing_token == 1
