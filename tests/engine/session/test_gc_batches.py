"""GC batches (SPEC §6 amended), on both backends from one body: batches sum to the one-transaction
numbers, the adaptive size starts small and stays within its bounds, the progress total is
estimated before the first batch and ends at what was deleted, and a head that moves while the walk
is past its old checkpoint still frees it. Durations come from an injected clock: nothing is timed.
"""

from __future__ import annotations

import itertools

import pytest

from lashdb.engine import GcPolicy
from lashdb.engine.base import codec
from lashdb.engine.codec import BlobProfile, Descriptor
from lashdb.engine.session import gc
from lashdb.engine.session.model import HydratedCheckpoint, SessionHeadMeta

CONFIG = {"provider_id": "p", "model": {"id": "m", "limits": {"context_window_tokens": 1000}}}


def checkpoint(generation: int) -> HydratedCheckpoint:
    return HydratedCheckpoint({"turn_index": generation}, tool_state={"generation": generation},
                              plugin_snapshot={"plugins": {}}, execution_state=bytes([generation]) * 16)


def name_in_head(store, checkpoint_ref: str, revision: int = 1) -> None:
    store.save_session_head_meta(SessionHeadMeta("s1", revision, CONFIG, checkpoint_ref=checkpoint_ref))


def raw_rows(start: int, count: int) -> list[tuple[str, bytes]]:
    out = []
    for i in range(start, start + count):
        content = b"garbage %d" % i
        out.append((codec.sha256_hex(content), codec.encode_envelope(Descriptor.generic(), content,
                                                                       BlobProfile.BALANCED)))
    return out


def populate(store, garbage: int, artifacts: int) -> tuple[set[str], set[str]]:
    """A head, ``artifacts`` artifact roots and ``garbage`` loose blobs, interleaved; (kept, garbage) hashes."""
    head = store.put_checkpoint(checkpoint(1))
    name_in_head(store, head.checkpoint_ref)
    kept = {head.checkpoint_ref, head.manifest.tool_state_ref, head.manifest.plugin_snapshot_ref,
            head.manifest.execution_state_ref}
    loose = raw_rows(0, garbage)
    step = max(1, garbage // max(1, artifacts))
    for a in range(max(artifacts, 1)):
        chunk = loose[a * step:(a + 1) * step] if a < artifacts - 1 or not artifacts else loose[a * step:]
        store.transaction(lambda tx, chunk=chunk: tx.blobs.put(chunk))
        if a < artifacts:
            kept.add(store.put_module_artifact(f"module:{a}", b"module body %d" % a))
    return kept, {h for h, _ in loose}


def hashes(store) -> set[str]:
    return {h for h, _ in store.iter_blob_rows()}


def test_batches_sum_to_the_one_transaction_numbers(store_on):
    batched = store_on.open("batched", gc_policy=GcPolicy(batch_size=7, batch_target_ms=None))
    single = store_on.open("single", gc_policy=GcPolicy(batch_size=10 ** 6, batch_target_ms=None))
    adaptive = store_on.open("adaptive", gc_policy=GcPolicy(batch_size=7))
    for store in (batched, single, adaptive):
        kept, garbage = populate(store, 60, 5)
    dry = batched.gc_unreachable(dry_run=True)
    reports = [s.gc_unreachable() for s in (batched, single, adaptive)]
    numbers = {(r.root_count, r.retained_blob_count, r.deleted_blob_count, r.missing_blob_count) for r in reports}
    assert numbers == {(6, 9, 60, 0)} == {(dry.root_count, dry.retained_blob_count, dry.deleted_blob_count,
                                          dry.missing_blob_count)}
    assert reports[0].freed_bytes == reports[1].freed_bytes == reports[2].freed_bytes == dry.freed_bytes > 0
    # 60 = 8 full batches of 7 and one that finds 4; one transaction: one batch.
    assert (dry.batch_count, reports[0].batch_count, reports[1].batch_count) == (9, 9, 1)
    assert reports[2].batch_count == 9  # the adaptive size never exceeds batch_size
    assert all(hashes(s) == kept for s in (batched, single, adaptive))


class StepClock:
    """Each call advances by ``step`` seconds: every batch appears to hold the lock for ``step``."""

    def __init__(self, step: float) -> None:
        self.step, self.now = step, 0.0

    def __call__(self) -> float:
        self.now += self.step
        return self.now


def sizes_of(store, *, batch_size: int, target_s: float, held_s: float) -> tuple[list[int], int]:
    done, between = [0], []

    def progress(phase: str, deleted: int, total: int) -> None:
        if phase == "sweep":
            done.append(deleted)
    report = gc.collect(store.transaction, limit=1 << 20, batch_size=batch_size, target_s=target_s,
                        progress=progress, between=lambda: between.append(1), pause_s=0,
                        clock=StepClock(held_s))
    assert report.deleted_blob_count == done[-1]
    assert len(between) == report.batch_count - 1  # after every batch but the last
    return [b - a for a, b in itertools.pairwise(done)], report.batch_count


def test_adaptive_size_starts_small_grows_to_its_cap_and_shrinks_to_its_floor(store_on):
    fast = store_on.open("fast")
    fast.transaction(lambda tx: tx.blobs.put(raw_rows(0, 2500)))
    # Batches far under the target grow 1.5x each, from FIRST_BATCH up to batch_size, never past it.
    sizes, _ = sizes_of(fast, batch_size=600, target_s=0.02, held_s=0.001)
    assert sizes == [gc.FIRST_BATCH, 384, 576, 600, 600, 2500 - 256 - 384 - 576 - 1200]
    slow = store_on.open("slow")
    slow.transaction(lambda tx: tx.blobs.put(raw_rows(0, 600)))
    # Batches far over the target halve, down to MIN_BATCH and no lower.
    sizes, batches = sizes_of(slow, batch_size=10 ** 6, target_s=0.02, held_s=1.0)
    assert sizes[:6] == [256, 128, 64, 32, 16, 16] and max(sizes[5:]) == gc.MIN_BATCH
    assert sum(sizes) == 600 and batches == len(sizes)
    # On target: the size stays where it is.
    steady = store_on.open("steady")
    steady.transaction(lambda tx: tx.blobs.put(raw_rows(0, 700)))
    assert sizes_of(steady, batch_size=10 ** 6, target_s=0.02, held_s=0.02)[0] == [256, 256, 188]


@pytest.mark.parametrize("target", [0, -1.0, True, "20"])
def test_a_target_that_is_not_a_positive_number_is_refused_before_anything_is_deleted(store_on, target):
    store = store_on.open()
    store.transaction(lambda tx: tx.blobs.put(raw_rows(0, 3)))
    with pytest.raises(ValueError, match="target"):
        gc.collect(store.transaction, limit=1 << 20, target_s=target)
    assert len(hashes(store)) == 3


def test_progress_total_is_estimated_before_the_first_batch_and_ends_at_the_deleted_count(store_on):
    store = store_on.open(gc_policy=GcPolicy(batch_size=4, batch_target_ms=None))
    kept, garbage = populate(store, 10, 2)
    seen = []
    report = store.gc_unreachable(progress=lambda *p: seen.append(p))
    assert seen[0] == ("mark", 1, 1)
    sweeps = [p for p in seen if p[0] == "sweep"]
    assert [done for _, done, _ in sweeps] == [4, 8, 10]
    assert all(total >= done for _, done, total in sweeps)
    assert sweeps[-1] == ("sweep", 10, 10) and report.deleted_blob_count == 10
    assert hashes(store) == kept


def test_a_head_that_moves_behind_the_walk_frees_its_old_checkpoint(store_on):
    gc_store = store_on.open("s", gc_policy=GcPolicy(batch_size=2, batch_target_ms=None))
    runtime = store_on.open("s")
    old = runtime.put_checkpoint(checkpoint(1))
    name_in_head(runtime, old.checkpoint_ref)
    runtime.transaction(lambda tx: tx.blobs.put(raw_rows(0, 6)))
    new = []

    def move_head(phase: str, done: int, total: int) -> None:
        if phase == "sweep" and not new:
            # Between two batches, another store moves the head: the walk has passed the old rows.
            new.append(runtime.put_checkpoint(checkpoint(2)))
            name_in_head(runtime, new[0].checkpoint_ref, 2)

    report = gc_store.gc_unreachable(progress=move_head)
    m, o = new[0].manifest, old.manifest
    now = {new[0].checkpoint_ref, m.tool_state_ref, m.plugin_snapshot_ref, m.execution_state_ref}
    before = {old.checkpoint_ref, o.tool_state_ref, o.plugin_snapshot_ref, o.execution_state_ref}
    assert hashes(runtime) == now
    assert report.deleted_blob_count == 6 + len(before - now) == 9  # the empty plugin snapshot is shared
    assert runtime.load_session().checkpoint.tool_state == {"generation": 2}
