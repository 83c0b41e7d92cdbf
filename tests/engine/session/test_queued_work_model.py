"""Queued work's pure data and rules (runtime contract §4): JSON shapes, batch ids, the §4.5 claim
prefix and the §4.6 claim lease — no storage."""

from __future__ import annotations

import hashlib

import pytest

from lashdb.engine.session import queued_work_model as q
from lashdb.engine.session.queued_work_model import (
    ClaimCandidate,
    DeliveryPolicy as D,
    MergeKey,
    QueuedWorkBatchDraft,
    QueuedWorkClaimBoundary as B,
    QueuedWorkPayload,
    SlotPolicy as S,
)


def test_merge_keys():
    assert [MergeKey.never().to_json(), MergeKey.payload_default().to_json(), MergeKey.group("g").to_json()] == \
        ["never", "payload_default", {"group": "g"}]
    for key in (MergeKey.never(), MergeKey.payload_default(), MergeKey.group("g")):
        assert MergeKey.from_json(key.to_json()) == key
    assert MergeKey.never() == MergeKey.never()  # W13: never joins never
    with pytest.raises(ValueError, match="unknown variant"):
        MergeKey.from_json({"group": 1})


def test_payloads_are_internally_tagged():
    text = QueuedWorkPayload.text("hi")
    assert text.to_json() == {"type": "turn_input", "input": {"items": [{"type": "text", "text": "hi"}],
                                                              "image_blobs": {}}}
    assert text.texts == ["hi"]
    img = QueuedWorkPayload.turn_input([], {"a": b"\x01\xff"}, trace_turn_id="t")
    assert img.body == {"items": [], "image_blobs": {"a": [1, 255]}, "trace_turn_id": "t"}
    cmd = QueuedWorkPayload.session_command("reset_session", "why")
    assert cmd.to_json() == {"type": "session_command", "command": {"kind": "reset_session", "reason": "why"}}
    assert cmd.texts == []
    for payload in (text, img, cmd, QueuedWorkPayload.process_wake({"w": 1})):
        assert QueuedWorkPayload.from_json(payload.to_json()) == payload
    with pytest.raises(ValueError, match="unknown variant 'x'"):
        QueuedWorkPayload.from_json({"type": "x"})
    with pytest.raises(ValueError, match="missing field `wake`"):
        QueuedWorkPayload.from_json({"type": "process_wake"})
    with pytest.raises(ValueError, match="payload is list, expected an object"):
        QueuedWorkPayload.from_json([])


def test_source_keys_and_the_process_wake_draft():
    assert q.process_wake_source_key("p", 3) == "process:p:event:3:wake"
    assert q.session_command_source_key("reset_session", "k") == "command:reset_session:k"
    draft = QueuedWorkBatchDraft.process_wake({"target_session_id": "s", "process_id": "p", "sequence": 3})
    assert (draft.session_id, draft.delivery_policy, draft.slot_policy, draft.source_key) == \
        ("s", D.EARLIEST_SAFE_BOUNDARY, S.EXCLUSIVE, "process:p:event:3:wake")
    doc = draft.to_json()
    assert list(doc) == ["session_id", "source_key", "delivery_policy", "slot_policy", "merge_key",
                         "available_at_ms", "payloads"]
    assert QueuedWorkBatchDraft.from_json(doc) == draft
    plain = QueuedWorkBatchDraft("s", "earliest_safe_boundary", "join", [QueuedWorkPayload.text("x")])
    assert "source_key" not in plain.to_json() and (plain.delivery_policy, plain.slot_policy) == (D.EARLIEST_SAFE_BOUNDARY, S.JOIN)
    with pytest.raises(ValueError):
        QueuedWorkBatchDraft("s", "sometime", "join", [])


def test_batch_ids_hash_the_rust_debug_form_of_the_source_key():
    def sha(text):
        return "qwb:" + hashlib.sha256(text.encode()).hexdigest()
    assert q.derive_batch_id("s", None, 5) == sha("s:None:5")
    assert q.derive_batch_id("s", 'k"1', 5, 9) == sha('s:Some("k\\"1"):5:9')


def test_nonces_are_distinct_and_wrap_at_64_bits():
    source = q.NonceSource()
    first, second = source(), source()
    assert second == (first + 1) & ((1 << 64) - 1) and 0 <= first < 1 << 64


def cand(seq, delivery=D.EARLIEST_SAFE_BOUNDARY, slot=S.JOIN, merge=None, fencing=0):
    return ClaimCandidate(seq, fencing, delivery, slot, merge or MergeKey.never())


@pytest.mark.parametrize("candidates, boundary, limit, taken", [
    ([], B.IDLE, 5, 0),
    ([cand(1)], B.IDLE, 0, 0),
    ([cand(1), cand(2), cand(3)], B.IDLE, 5, 3),
    ([cand(1), cand(2), cand(3)], B.IDLE, 2, 2),
    ([cand(1, slot=S.EXCLUSIVE), cand(2)], B.IDLE, 5, 1),
    ([cand(1), cand(2, slot=S.EXCLUSIVE), cand(3)], B.IDLE, 5, 1),
    ([cand(1), cand(2, merge=MergeKey.group("g"))], B.IDLE, 5, 1),
    ([cand(1), cand(2, delivery=D.AFTER_CURRENT_TURN_COMMIT)], B.IDLE, 5, 1),
    ([cand(1, delivery=D.AFTER_CURRENT_TURN_COMMIT)], B.ACTIVE_TURN_CHECKPOINT, 5, 0),  # head-of-line gate
    ([cand(1, delivery=D.AFTER_CURRENT_TURN_COMMIT)], B.IDLE, 5, 1),
    ([cand(1), cand(2)], B.ACTIVE_TURN_CHECKPOINT, 5, 2),
])
def test_select_claim_prefix(candidates, boundary, limit, taken):
    assert q.select_claim_prefix(candidates, boundary, limit) == taken


def test_the_claim_lease_derives_from_the_head_batch():
    lease = q.ClaimLease.derive(cand(7, fencing=2), "s", "owner", 1000, 500)
    assert (lease.claim_id, lease.fencing_token, lease.claimed_at_epoch_ms, lease.expires_at_epoch_ms) == \
        ("qwc:7:3", 3, 1000, 1500)
    assert lease.lease_token == hashlib.sha256(b"s:owner:qwc:7:3:1000").hexdigest()
    assert q.ClaimLease.derive(cand(7), "s", "o", 1000, 2**70).expires_at_epoch_ms == 2**63 - 1
    assert q.claim_scan_limit(10) == 42 and q.DEFAULT_CLAIM_TTL_MS == 900_000
