"""Queued work: enqueue, claim prefixes, renew, abandon, cancel, list, completion (runtime contract §4, §7)."""

from __future__ import annotations

import dataclasses
import logging

import pytest

from lashdb.engine import (
    BackendError,
    DeliveryPolicy,
    MergeKey,
    QueuedWorkBatch,
    QueuedWorkBatchDraft,
    QueuedWorkClaim,
    QueuedWorkClaimBoundary,
    QueuedWorkClaimExpired,
    QueuedWorkCompletion,
    QueuedWorkPayload,
    SessionExecutionLeaseExpired,
    SlotPolicy,
    Store,
)
from lashdb.engine.canonical import rust_debug_str
from lashdb.engine.session.queued_work import ClaimCandidate, ClaimLease, derive_batch_id, select_claim_prefix
from runtime_support import LEASE_TTL, FakeClock, commit_for, race, text_draft

IDLE = QueuedWorkClaimBoundary.IDLE
CHECKPOINT = QueuedWorkClaimBoundary.ACTIVE_TURN_CHECKPOINT
AFTER = "after_current_turn_commit"
FUTURE = 4102444800000


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store(store_on, clock):
    """A store on the test's backend (``[sqlite]``/``[postgres]``), on the injected clock."""
    return store_on.open(clock=clock)


@pytest.fixture
def fence(store):
    return store.try_claim_session_execution_lease("root", "runner", LEASE_TTL).fence()


def claim(store: Store, fence, boundary=IDLE, owner="worker", ttl=LEASE_TTL, max_batches=10):
    return store.claim_ready_queued_work("root", fence, owner, boundary, ttl, max_batches)


def texts(batches) -> list[str]:
    return [t for b in batches for t in b.texts]


# --- ids and pure rules -------------------------------------------------------------------------------


def test_batch_id_and_claim_lease_vectors():
    assert derive_batch_id("session", "key", 1000) == \
        "qwb:9388582ae23f26e0ca8f418a32512512a027d8697de330526f57c86918e4071f"
    assert derive_batch_id("session", "key", 1000, 1) == \
        "qwb:88583d19c41c3de754b50c05de42b3e64636222193ac8134a2556ecc79a8e42b"
    assert derive_batch_id("session", None, 1000, 0) == \
        "qwb:8106495acef7d68123872546c43d85f7e470957da57457922d461514a5242ba5"
    head = ClaimCandidate(7, 2, DeliveryPolicy.EARLIEST_SAFE_BOUNDARY, SlotPolicy.EXCLUSIVE, MergeKey.never())
    assert ClaimLease.derive(head, "session", "owner", 1000, 250) == ClaimLease(
        "qwc:7:3", "27ef8302266499db7abaed79ebe01b1f64b24a05ff3fb3064ecd9c55ab80c071", 3, 1000, 1250)


def test_source_key_debug_form_escapes_like_rust():
    assert rust_debug_str('a"b\\c\td\r\n\0') == '"a\\"b\\\\c\\td\\r\\n\\0"'
    assert rust_debug_str("x\x01\u00a0\u0301é'") == '"x\\u{1}\\u{a0}\\u{301}é\'"'


def candidate(seq, slot="join", delivery="earliest_safe_boundary", merge=None):
    return ClaimCandidate(seq, 0, DeliveryPolicy(delivery), SlotPolicy(slot), merge or MergeKey.never())


def test_prefix_rules():
    joins = [candidate(i, merge=MergeKey.payload_default()) for i in range(4)]
    assert select_claim_prefix(joins, IDLE, 3) == 3
    assert select_claim_prefix([], IDLE, 3) == 0
    assert select_claim_prefix(joins, IDLE, 0) == 0
    assert select_claim_prefix([candidate(1, "exclusive"), candidate(2, "exclusive")], IDLE, 8) == 1
    assert select_claim_prefix([candidate(1, merge=MergeKey.group("a")), candidate(2, merge=MergeKey.group("b"))],
                               IDLE, 8) == 1
    assert select_claim_prefix([candidate(1, "exclusive", AFTER)], CHECKPOINT, 8) == 0
    assert select_claim_prefix([candidate(1, "exclusive", AFTER)], IDLE, 8) == 1
    assert select_claim_prefix([candidate(1), candidate(2, delivery=AFTER)], IDLE, 8) == 1
    # "never" equals "never", so join batches without a group still join (W13).
    assert select_claim_prefix([candidate(1), candidate(2)], IDLE, 8) == 2


# --- enqueue ------------------------------------------------------------------------------------------


def test_source_key_dedupes_per_session_and_lists_in_enqueue_order(store, clock):
    first = store.enqueue_queued_work(text_draft("root", "first", slot="join", source_key="source:first"))
    clock.advance(1)
    replay = store.enqueue_queued_work(text_draft("root", "changed", slot="exclusive", source_key="source:first"))
    second = store.enqueue_queued_work(text_draft("root", "second"))
    other = store.enqueue_queued_work(text_draft("other", "elsewhere", source_key="source:first"))
    assert replay == first
    assert replay.items[0].item_id == f"{first.batch_id}:item:0"
    assert replay.texts == ["first"] and replay.slot_policy is SlotPolicy.JOIN
    assert other.batch_id != first.batch_id  # source keys are scoped per session
    listed = store.list_queued_work("root")
    assert [b.batch_id for b in listed] == [first.batch_id, second.batch_id]
    assert texts(listed) == ["first", "second"]
    assert listed[0].enqueue_seq < listed[1].enqueue_seq


def test_enqueue_stores_every_field_and_item_ids(store, store_on, clock):
    draft = QueuedWorkBatchDraft("root", "after_current_turn_commit", "join",
                                 [QueuedWorkPayload.text("a"),
                                  QueuedWorkPayload.session_command("reset_session", "why")],
                                 source_key="k", merge_key=MergeKey.group("g"), available_at_ms=5)
    batch = store.enqueue_queued_work(draft)
    assert batch.batch_id.startswith("qwb:") and len(batch.batch_id) == 68
    assert (batch.session_id, batch.source_key, batch.delivery_policy, batch.slot_policy, batch.merge_key,
            batch.available_at_ms, batch.enqueued_at_ms) == (
        "root", "k", DeliveryPolicy.AFTER_CURRENT_TURN_COMMIT, SlotPolicy.JOIN, MergeKey.group("g"), 5, clock.now)
    assert [i.item_id for i in batch.items] == [f"{batch.batch_id}:item:0", f"{batch.batch_id}:item:1"]
    assert [i.payload for i in batch.items] == list(draft.payloads)
    columns = "delivery_policy, slot_policy, merge_key_json, claim_token, claim_expires_at_ms"
    stored = store_on.sql(store, f"SELECT {columns} FROM queued_work_batches",
                          f"SELECT {columns} FROM lash_queued_work_batches")
    assert stored == [("after_current_turn_commit", "join", '{"group":"g"}', None, 0)]
    empty = store.enqueue_queued_work(QueuedWorkBatchDraft("root", "earliest_safe_boundary", "exclusive", []))
    assert empty.items == ()


def test_same_millisecond_enqueues_get_distinct_ids_across_store_objects(store_on, clock):
    with store_on.open(clock=clock) as a, store_on.open(clock=clock) as b:
        ids = {a.enqueue_queued_work(text_draft("root", "x")).batch_id for _ in range(3)}
        ids |= {b.enqueue_queued_work(text_draft("root", "x")).batch_id for _ in range(3)}
    assert len(ids) == 6


def test_dedupe_window_ends_when_the_batch_is_gone(store):
    first = store.enqueue_queued_work(text_draft("root", "one", source_key="k"))
    assert store.cancel_queued_work_batch("root", first.batch_id) == first
    again = store.enqueue_queued_work(text_draft("root", "two", source_key="k"))
    assert again.batch_id != first.batch_id and again.texts == ["two"]


def test_replayed_source_key_with_other_content_is_logged_at_debug(store, caplog):
    """A replayed source key returns the stored batch; only a differing replay is logged, at debug (W12)."""
    store.enqueue_queued_work(text_draft("root", "one", source_key="k"))
    with caplog.at_level(logging.DEBUG, logger="lashdb.engine.queued_work"):
        store.enqueue_queued_work(text_draft("root", "one", source_key="k"))
        assert not caplog.records
        store.enqueue_queued_work(text_draft("root", "two", source_key="k"))
    assert [r.levelno for r in caplog.records] == [logging.DEBUG]


def test_negative_availability_is_refused_before_the_database(store):
    with pytest.raises(ValueError):
        store.enqueue_queued_work(text_draft("root", "x", available_at_ms=-1))
    with pytest.raises(ValueError):
        store.enqueue_queued_work(text_draft("root", "x", available_at_ms=1 << 63))
    assert store.list_queued_work("root") == []


# --- claims ---------------------------------------------------------------------------------------------


def test_released_fence_cannot_claim_and_a_fresh_lease_can(store):
    batch = store.enqueue_queued_work(text_draft("root", "work"))
    lease = store.try_claim_session_execution_lease("root", "runner", LEASE_TTL)
    store.release_session_execution_lease(lease.completion())
    with pytest.raises(SessionExecutionLeaseExpired):
        claim(store, lease.fence())
    fresh = store.try_claim_session_execution_lease("root", "runner", LEASE_TTL)
    assert claim(store, fresh.fence()).batches == (batch,)


def test_fence_of_another_session_cannot_claim(store):
    store.enqueue_queued_work(text_draft("root", "work"))
    other = store.try_claim_session_execution_lease("other", "runner", LEASE_TTL)
    with pytest.raises(SessionExecutionLeaseExpired) as err:
        claim(store, other.fence())
    assert err.value.session_id == "root"


def test_second_owner_gets_nothing_while_the_first_claim_lives(store, fence, clock):
    store.enqueue_queued_work(text_draft("root", "only"))
    a = claim(store, fence, owner="owner-a")
    assert len(a.batches) == 1 and a.owner_id == "owner-a"
    assert claim(store, fence, owner="owner-b") is None
    clock.advance(5)
    assert store.renew_queued_work_claim(a, LEASE_TTL).expires_at_epoch_ms == clock.now + LEASE_TTL


def test_claim_fields_and_row_stamps(store, store_on, fence, clock):
    batch = store.enqueue_queued_work(text_draft("root", "only"))
    c = claim(store, fence, owner="owner-a", ttl=500)
    assert (c.session_id, c.claim_id, c.owner_id, c.fencing_token, c.claimed_at_epoch_ms, c.expires_at_epoch_ms) \
        == ("root", f"qwc:{batch.enqueue_seq}:1", "owner-a", 1, clock.now, clock.now + 500)
    assert c.completion() == QueuedWorkCompletion("root", c.claim_id, c.lease_token, (batch.batch_id,))
    columns = ("claim_id, claim_owner_id, claim_token, claim_fencing_token, claim_claimed_at_ms, "
               "claim_expires_at_ms")
    assert store_on.sql(store, f"SELECT {columns} FROM queued_work_batches",
                        f"SELECT {columns} FROM lash_queued_work_batches") == [
        (c.claim_id, "owner-a", c.lease_token, 1, clock.now, clock.now + 500)]


def test_head_of_line_delivery_gate_then_abandon_and_reclaim(store, fence, clock):
    after = store.enqueue_queued_work(text_draft("root", "after", delivery=AFTER))
    earliest = store.enqueue_queued_work(text_draft("root", "earliest"))
    assert claim(store, fence, CHECKPOINT) is None
    idle = claim(store, fence, IDLE)
    assert idle.batches == (after,)
    assert claim(store, fence, CHECKPOINT).batches == (earliest,)
    store.abandon_queued_work_claim(idle)
    again = claim(store, fence, IDLE)
    assert again.batches == (after,) and again.fencing_token > idle.fencing_token
    clock.advance(7)
    renewed = store.renew_queued_work_claim(again, LEASE_TTL)
    assert (renewed.claim_id, renewed.lease_token, renewed.batches) == (again.claim_id, again.lease_token,
                                                                        again.batches)
    assert renewed.expires_at_epoch_ms >= again.expires_at_epoch_ms
    assert renewed == dataclasses.replace(again, expires_at_epoch_ms=clock.now + LEASE_TTL)


def test_future_exclusive_join_and_other_session(store, fence):
    store.enqueue_queued_work(text_draft("root", "future", available_at_ms=FUTURE))
    store.enqueue_queued_work(text_draft("root", "exclusive"))
    store.enqueue_queued_work(text_draft("root", "join", slot="join", merge_key=MergeKey.group("root")))
    store.enqueue_queued_work(text_draft("other", "other"))
    assert texts(claim(store, fence).batches) == ["exclusive"]
    assert texts(claim(store, fence).batches) == ["join"]
    assert claim(store, fence) is None  # only the future batch is left
    other = store.try_claim_session_execution_lease("other", "runner", LEASE_TTL)
    got = store.claim_ready_queued_work("other", other.fence(), "w", IDLE, LEASE_TTL, 10)
    assert texts(got.batches) == ["other"]


def test_ttl_zero_claim_is_reclaimable_by_another_owner(store, fence):
    batch = store.enqueue_queued_work(text_draft("root", "x"))
    first = claim(store, fence, owner="a", ttl=0)
    second = claim(store, fence, owner="b")
    assert second.batches == (batch,) and second.fencing_token > first.fencing_token


def test_join_groups_respect_max_batches(store, fence):
    for name in ("one", "two", "three"):
        store.enqueue_queued_work(text_draft("root", name, slot="join", merge_key=MergeKey.group("limited")))
    assert texts(claim(store, fence, max_batches=2).batches) == ["one", "two"]
    assert texts(claim(store, fence, max_batches=2).batches) == ["three"]


def test_join_groups_split_on_merge_key_and_delivery_policy(store, fence):
    store.enqueue_queued_work(text_draft("root", "a1", slot="join", merge_key=MergeKey.group("a")))
    store.enqueue_queued_work(text_draft("root", "a2", slot="join", merge_key=MergeKey.group("a")))
    store.enqueue_queued_work(text_draft("root", "b", slot="join", merge_key=MergeKey.group("b")))
    store.enqueue_queued_work(text_draft("root", "late", slot="join", merge_key=MergeKey.group("a"), delivery=AFTER))
    assert [texts(claim(store, fence).batches) for _ in range(3)] == [["a1", "a2"], ["b"], ["late"]]


def test_joined_claim_skips_held_and_future_batches_between_members(store, fence):
    store.enqueue_queued_work(text_draft("root", "x1", slot="join"))
    store.enqueue_queued_work(text_draft("root", "future", slot="join", available_at_ms=FUTURE))
    store.enqueue_queued_work(text_draft("root", "x2", slot="join"))
    c = claim(store, fence)
    assert texts(c.batches) == ["x1", "x2"]
    assert c.fencing_token == 1 and c.claim_id == f"qwc:{c.batches[0].enqueue_seq}:1"


def test_max_batches_zero_returns_none_without_checking_the_fence(store):
    store.enqueue_queued_work(text_draft("root", "x"))
    bogus = dataclasses.replace(store.try_claim_session_execution_lease("root", "r", LEASE_TTL).fence(),
                                lease_token="bogus")
    assert claim(store, bogus, max_batches=0) is None


def test_lost_race_rolls_back_its_own_stamps_and_returns_none(store, store_on, fence):
    first = store.enqueue_queued_work(text_draft("root", "one", slot="join"))
    second = store.enqueue_queued_work(text_draft("root", "two", slot="join"))
    # Make the update skip the second row, as if a concurrent writer had claimed it in between.
    store_on.sql(
        store, f"CREATE TEMP TRIGGER skip_second BEFORE UPDATE OF claim_token ON main.queued_work_batches "
        f"WHEN OLD.batch_id = '{second.batch_id}' BEGIN SELECT RAISE(IGNORE); END",
        "CREATE FUNCTION skip_second() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$; "
        f"CREATE TRIGGER skip_second BEFORE UPDATE OF claim_token ON lash_queued_work_batches FOR EACH ROW "
        f"WHEN (OLD.batch_id = '{second.batch_id}') EXECUTE FUNCTION skip_second()")
    assert claim(store, fence) is None
    assert store.list_pending_queued_work("root") == [first, second]
    assert store_on.sql(store, "SELECT claim_token, claim_fencing_token FROM queued_work_batches ORDER BY enqueue_seq",
                        "SELECT claim_token, claim_fencing_token FROM lash_queued_work_batches ORDER BY enqueue_seq"
                        ) == [(None, 0), (None, 0)]


def test_claim_by_batch_ids_claims_only_the_exact_next_prefix(store, fence):
    first = store.enqueue_queued_work(text_draft("root", "first", delivery=AFTER))
    second = store.enqueue_queued_work(text_draft("root", "second", delivery=AFTER))
    by_ids = store.claim_ready_queued_work_by_batch_ids
    assert by_ids("root", fence, "w", IDLE, LEASE_TTL, [second.batch_id]) is None
    assert store.list_pending_queued_work("root") == [first, second]
    got = by_ids("root", fence, "w", IDLE, LEASE_TTL, [first.batch_id])
    assert got.batches == (first,)
    assert store.list_pending_queued_work("root") == [second]
    assert by_ids("root", fence, "w", IDLE, LEASE_TTL, []) is None


def test_wrong_prefix_claim_keeps_fencing_counters_bumped(store, fence):
    first = store.enqueue_queued_work(text_draft("root", "first"))
    second = store.enqueue_queued_work(text_draft("root", "second"))
    store.claim_ready_queued_work_by_batch_ids("root", fence, "w", IDLE, LEASE_TTL, [second.batch_id])
    assert claim(store, fence).fencing_token == 2
    assert first.batch_id != second.batch_id


# --- renew / abandon / cancel / list ------------------------------------------------------------------


def test_partial_renewal_fails_and_extends_nothing(store, store_on, fence, clock):
    """A renewal that cannot renew every batch raises and rolls back the rows it did extend (W6)."""
    store.enqueue_queued_work(text_draft("root", "one", slot="join"))
    store.enqueue_queued_work(text_draft("root", "two", slot="join"))
    c = claim(store, fence, ttl=100)
    # One row of the claim is taken away behind its back.
    store_on.sql(store, "UPDATE queued_work_batches SET claim_token = NULL WHERE batch_id = ?",
                 "UPDATE lash_queued_work_batches SET claim_token = NULL WHERE batch_id = %s", (c.batches[1].batch_id,))
    clock.advance(10)
    with pytest.raises(QueuedWorkClaimExpired) as err:
        store.renew_queued_work_claim(c, LEASE_TTL)
    assert str(err.value) == f"queued work claim `{c.claim_id}` for session `root` is missing or expired"
    assert store_on.sql(store, "SELECT claim_expires_at_ms FROM queued_work_batches ORDER BY enqueue_seq",
                        "SELECT claim_expires_at_ms FROM lash_queued_work_batches ORDER BY enqueue_seq") == [
        (c.expires_at_epoch_ms,), (c.expires_at_epoch_ms,)]


def test_lapsed_but_not_reclaimed_claim_still_renews(store, fence, clock):
    store.enqueue_queued_work(text_draft("root", "x"))
    c = claim(store, fence, ttl=10)
    clock.advance(50)
    assert store.renew_queued_work_claim(c, 100).expires_at_epoch_ms == clock.now + 100


def test_repeated_claim_id_is_told_apart_by_its_lease_token(store, fence, clock):
    """Deleting the newest batch lets the next reuse its seq and claim id; the token still guards (W11)."""
    first = store.enqueue_queued_work(text_draft("root", "first"))
    old = claim(store, fence)
    store.abandon_queued_work_claim(old)
    assert store.cancel_queued_work_batch("root", first.batch_id) == first
    clock.advance(1)
    second = store.enqueue_queued_work(text_draft("root", "second"))
    new = claim(store, fence)
    assert second.enqueue_seq == first.enqueue_seq and new.claim_id == old.claim_id
    assert new.lease_token != old.lease_token
    with pytest.raises(QueuedWorkClaimExpired):
        store.renew_queued_work_claim(old, LEASE_TTL)
    store.abandon_queued_work_claim(old)
    assert store.list_pending_queued_work("root") == []  # still held by the new claim
    stale = dataclasses.replace(old.completion(), batch_ids=(second.batch_id,))
    with pytest.raises(QueuedWorkClaimExpired):
        store.commit_runtime_state(commit_for().with_session_execution_lease(fence).completing_queue_claim(stale))
    assert store.list_queued_work("root") == [second] and store.load_session() is None
    assert store.renew_queued_work_claim(new, LEASE_TTL).claim_id == old.claim_id


def test_cancel_only_free_batches(store, store_on, fence):
    batch = store.enqueue_queued_work(text_draft("root", "cancel me"))
    assert store.cancel_queued_work_batch("other", batch.batch_id) is None
    cancelled = store.cancel_queued_work_batch("root", batch.batch_id)
    assert cancelled == batch and cancelled.texts == ["cancel me"]
    assert store.list_queued_work("root") == []
    assert store_on.sql(store, "SELECT count(*) FROM queued_work_items",
                        "SELECT count(*) FROM lash_queued_work_items") == [(0,)]

    held = store.enqueue_queued_work(text_draft("root", "held"))
    c = claim(store, fence)
    assert store.list_pending_queued_work("root") == []
    assert store.list_queued_work("root") == [held]
    assert store.cancel_queued_work_batch("root", held.batch_id) is None
    store.abandon_queued_work_claim(c)
    assert store.list_pending_queued_work("root") == [held]
    assert store.cancel_queued_work_batch("root", held.batch_id) == held


def test_pending_includes_future_and_lapsed_batches(store, fence, clock):
    future = store.enqueue_queued_work(text_draft("root", "future", available_at_ms=FUTURE))
    now = store.enqueue_queued_work(text_draft("root", "now"))
    claim(store, fence, ttl=10)
    assert store.list_pending_queued_work("root") == [future]
    clock.advance(10)
    assert store.list_pending_queued_work("root") == [future, now]


def test_abandon_of_an_unknown_claim_is_a_no_op(store, store_on, fence):
    """Abandon matches the lease token as well as the claim id: a stale token frees nothing (W11)."""
    store.enqueue_queued_work(text_draft("root", "x"))
    c = claim(store, fence)
    before = store_on.footprint(store)
    store.abandon_queued_work_claim(dataclasses.replace(c, lease_token="stale"))
    assert store_on.footprint(store) == before
    assert store.list_pending_queued_work("root") == []


def test_corrupt_row_fails_the_read_and_names_the_batch(store, store_on, fence):
    """A row that does not decode fails the read or claim with an error naming its batch id (W14)."""
    good = store.enqueue_queued_work(text_draft("root", "good"))
    bad = store.enqueue_queued_work(text_draft("root", "bad"))
    store_on.sql(store, "UPDATE queued_work_items SET payload_json = '{\"type\":\"mystery\"}' WHERE batch_id = ?",
                 "UPDATE lash_queued_work_items SET payload_json = '{\"type\":\"mystery\"}' WHERE batch_id = %s",
                 (bad.batch_id,))
    with pytest.raises(BackendError) as err:
        store.list_queued_work("root")
    assert str(err.value).startswith("store backend error: failed to decode queued-work payload: ")
    assert bad.batch_id in str(err.value)
    store_on.sql(store, "UPDATE queued_work_batches SET slot_policy = 'shared' WHERE batch_id = ?",
                 "UPDATE lash_queued_work_batches SET slot_policy = 'shared' WHERE batch_id = %s", (bad.batch_id,))
    with pytest.raises(BackendError) as err:
        claim(store, fence)
    assert "unknown queued-work slot policy `shared`" in str(err.value) and bad.batch_id in str(err.value)
    assert store.cancel_queued_work_batch("root", good.batch_id) == good
    store_on.sql(store, "UPDATE queued_work_batches SET slot_policy = 'join', merge_key_json = '{' WHERE batch_id = ?",
                 "UPDATE lash_queued_work_batches SET slot_policy = 'join', merge_key_json = '{' WHERE batch_id = %s",
                 (bad.batch_id,))
    store_on.sql(store, "DELETE FROM queued_work_items WHERE batch_id = ?",
                 "DELETE FROM lash_queued_work_items WHERE batch_id = %s", (bad.batch_id,))
    with pytest.raises(BackendError, match="failed to decode queued-work merge key"):
        store.list_pending_queued_work("root")


# --- completion through commits -------------------------------------------------------------------


def test_forged_completion_fails_the_commit_and_the_real_one_empties_the_queue(store, store_on):
    """Completion ownership is by (claim id, lease token): a forged token completes nothing (W7, W11)."""
    lease = store.try_claim_session_execution_lease("root", "runner", LEASE_TTL)
    store.enqueue_queued_work(text_draft("root", "a", slot="join"))
    store.enqueue_queued_work(text_draft("root", "b", slot="join"))
    c = claim(store, lease.fence())
    assert len(c.batches) == 2
    forged = dataclasses.replace(c.completion(), lease_token="forged")
    with pytest.raises(QueuedWorkClaimExpired):
        store.commit_runtime_state(commit_for().under_lease(lease).completing_queue_claim(forged))
    assert len(store.list_queued_work("root")) == 2 and store.load_session() is None
    store.commit_runtime_state(commit_for().under_lease(lease).completing_queue_claim(c.completion()))
    assert store.list_queued_work("root") == []
    assert store_on.sql(store, "SELECT count(*) FROM queued_work_items",
                        "SELECT count(*) FROM lash_queued_work_items") == [(0,)]


@pytest.mark.parametrize("batch_ids", ["subset", "duplicate", "extra"])
def test_completion_must_name_exactly_the_owned_batches(store, batch_ids):
    """A completion naming a subset, a duplicate or an extra batch is refused, not counted (W7)."""
    lease = store.try_claim_session_execution_lease("root", "runner", LEASE_TTL)
    a = store.enqueue_queued_work(text_draft("root", "a", slot="join"))
    b = store.enqueue_queued_work(text_draft("root", "b", slot="join"))
    c = claim(store, lease.fence())
    ids = {"subset": (a.batch_id,), "duplicate": (a.batch_id, a.batch_id),
           "extra": (a.batch_id, b.batch_id, "qwb:unknown")}[batch_ids]
    with pytest.raises(QueuedWorkClaimExpired):
        store.commit_runtime_state(commit_for().with_session_execution_lease(lease.fence())
                                   .completing_queue_claim(dataclasses.replace(c.completion(), batch_ids=ids)))
    assert len(store.list_queued_work("root")) == 2


def test_completion_for_another_session_is_refused(store):
    lease = store.try_claim_session_execution_lease("root", "runner", LEASE_TTL)
    completion = QueuedWorkCompletion("other", "qwc:1:1", "t", ())
    with pytest.raises(QueuedWorkClaimExpired) as err:
        store.commit_runtime_state(commit_for().under_lease(lease).completing_queue_claim(completion))
    assert (err.value.session_id, err.value.claim_id) == ("other", "qwc:1:1")


def test_lapsed_but_not_reclaimed_claim_still_completes(store, clock):
    """Claim expiry is not checked by completion: a lapsed but not reclaimed claim still completes (W7)."""
    lease = store.try_claim_session_execution_lease("root", "runner", LEASE_TTL)
    store.enqueue_queued_work(text_draft("root", "x"))
    c = claim(store, lease.fence(), ttl=10)
    clock.advance(100)
    store.commit_runtime_state(commit_for().under_lease(lease).completing_queue_claim(c.completion()))
    assert store.list_queued_work("root") == []


def test_stale_completion_in_a_stamped_commit_leaves_no_trace_and_retry_replays(store):
    lease = store.try_claim_session_execution_lease("root", "runner", LEASE_TTL)
    store.enqueue_queued_work(text_draft("root", "atomic"))
    c = claim(store, lease.fence())
    base = commit_for(checkpoint=dataclasses.replace(commit_for().checkpoint, turn_state={
        "turn_index": 41, "token_usage": {"input_tokens": 0, "output_tokens": 0, "cached_input_tokens": 0}}))
    stale = base.under_lease(lease).completing_queue_claim(
        dataclasses.replace(c.completion(), lease_token="stale")).stamped("turn-atomic")
    with pytest.raises(QueuedWorkClaimExpired):
        store.commit_runtime_state(stale)
    assert store.load_session() is None and len(store.list_queued_work("root")) == 1
    good = base.under_lease(lease).completing_queue_claim(c.completion()).stamped("turn-atomic")
    first = store.commit_runtime_state(good)
    assert store.list_queued_work("root") == []
    assert store.commit_runtime_state(good) == first


def test_process_wake_draft_dedupes_and_completes(store):
    wake = {"wake_id": "wake-1", "target_session_id": "root", "target_scope_id": "root", "process_id": "process-1",
            "sequence": 7, "event_type": "process.wake", "event_invocation": {}, "dedupe_key": "d", "input": "hi",
            "created_at_ms": 1}
    draft = QueuedWorkBatchDraft.process_wake(wake)
    assert (draft.source_key, draft.delivery_policy, draft.slot_policy) == (
        "process:process-1:event:7:wake", DeliveryPolicy.EARLIEST_SAFE_BOUNDARY, SlotPolicy.EXCLUSIVE)
    assert store.enqueue_queued_work(draft).batch_id == store.enqueue_queued_work(draft).batch_id
    assert len(store.list_queued_work("root")) == 1
    lease = store.try_claim_session_execution_lease("root", "runner", LEASE_TTL)
    c = claim(store, lease.fence())
    assert [[i.payload.type for i in b.items] for b in c.batches] == [["process_wake"]]
    assert c.batches[0].items[0].payload.body == wake
    store.commit_runtime_state(commit_for().under_lease(lease).completing_queue_claim(c.completion()))
    assert store.list_queued_work("root") == []


# --- concurrency and JSON -------------------------------------------------------------------------------


def test_two_connections_racing_for_one_batch_at_most_one_wins_and_renews_elsewhere(store_on):
    with store_on.open() as setup:
        setup.enqueue_queued_work(text_draft("root", "contended"))
        fence = setup.try_claim_session_execution_lease("root", "runner", LEASE_TTL).fence()
    stores = [store_on.open() for _ in range(2)]
    outcomes = race(lambda i: stores[i].claim_ready_queued_work("root", fence, f"w{i}", IDLE, LEASE_TTL, 10), 2)
    for s in stores:
        s.close()
    assert not any(isinstance(o, Exception) for o in outcomes), outcomes
    winners = [o for o in outcomes if o is not None]
    assert len(winners) == 1
    with store_on.open() as third:
        assert third.renew_queued_work_claim(winners[0], LEASE_TTL).claim_id == winners[0].claim_id


def test_json_round_trips(store, fence):
    draft = QueuedWorkBatchDraft("root", "earliest_safe_boundary", "join",
                                 [QueuedWorkPayload.turn_input([{"type": "image_ref", "id": "img"}],
                                                               {"img": b"\x00\xff"}, trace_turn_id="t")],
                                 source_key="k", merge_key=MergeKey.payload_default())
    assert QueuedWorkBatchDraft.from_json(draft.to_json()) == draft
    assert draft.to_json()["payloads"][0] == {"type": "turn_input", "input": {
        "items": [{"type": "image_ref", "id": "img"}], "image_blobs": {"img": [0, 255]}, "trace_turn_id": "t"}}
    store.enqueue_queued_work(draft)
    c = claim(store, fence)
    assert QueuedWorkClaim.from_json(c.to_json()) == c
    assert QueuedWorkBatch.from_json(c.batches[0].to_json()) == c.batches[0]
    assert QueuedWorkCompletion.from_json(c.completion().to_json()) == c.completion()
    assert "source_key" not in store.enqueue_queued_work(text_draft("root", "x")).to_json()
    assert MergeKey.from_json({"group": "g"}) == MergeKey.group("g")
    for bad in ("sometimes", {"group": 1}):
        with pytest.raises(ValueError):
            MergeKey.from_json(bad)
    for bad in ({"type": "mystery"}, {"type": "turn_input"}, ["turn_input"]):
        with pytest.raises(ValueError):
            QueuedWorkPayload.from_json(bad)
