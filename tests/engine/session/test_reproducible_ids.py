"""Injected id sources: EffectReplayOptions.owner_id and StoreOptions.enqueue_nonce give byte-reproducible files."""

from __future__ import annotations

import itertools

import pytest

from lashdb.engine import (
    DeliveryPolicy,
    EffectCommand,
    EffectEnvelope,
    EffectHost,
    EffectReplayOptions,
    ExecutionScope,
    QueuedWorkBatchDraft,
    QueuedWorkPayload,
    RuntimeScope,
    SlotPolicy,
    Store,
    StoreOptions,
)


def test_fixed_effect_owner_id_is_used_for_leases_and_tokens(tmp_path):
    with EffectHost.open(tmp_path / "a.effects.db", EffectReplayOptions(owner_id="runtime-a"), clock=lambda: 5_000) \
            as host:
        assert host.owner_id == "runtime-a"
        controller = host.scoped(ExecutionScope.turn("s", "t1"))
        envelope = EffectEnvelope.effect(RuntimeScope("s", "t1"), "e1", "k1", EffectCommand.exec_code("py", "1"))
        assert controller.execute_effect(envelope, lambda e, c: {"ok": 1}) == {"ok": 1}
    with EffectHost.open(tmp_path / "b.effects.db", clock=lambda: 5_000) as default:
        assert default.owner_id.startswith("pid") and default.owner_id.endswith("-5000")
    for blank in ("", "  \t"):
        with pytest.raises(ValueError, match="owner_id must be a non-blank string"):
            EffectReplayOptions(owner_id=blank)


def test_injected_enqueue_nonce_makes_batch_ids_reproducible(tmp_path):
    def enqueue_twice(path) -> list[str]:
        options = StoreOptions(clock=lambda: 7_000, enqueue_nonce=itertools.count(1).__next__)
        with Store.open_with_options(path, options) as store:
            return [store.enqueue_queued_work(QueuedWorkBatchDraft(
                "s", DeliveryPolicy.EARLIEST_SAFE_BOUNDARY, SlotPolicy.EXCLUSIVE, (QueuedWorkPayload.text(t),))).batch_id
                for t in ("one", "two")]

    first, second = enqueue_twice(tmp_path / "a.db"), enqueue_twice(tmp_path / "b.db")
    assert first == second and first[0] != first[1]  # same millisecond, distinct nonces
    assert (tmp_path / "a.db").read_bytes() == (tmp_path / "b.db").read_bytes()
    with Store.open_with_options(tmp_path / "c.db", StoreOptions(clock=lambda: 7_000)) as store:
        draft = QueuedWorkBatchDraft("s", DeliveryPolicy.EARLIEST_SAFE_BOUNDARY, SlotPolicy.EXCLUSIVE,
                                     (QueuedWorkPayload.text("one"),))
        assert store.enqueue_queued_work(draft).batch_id != first[0]  # default: random per open
