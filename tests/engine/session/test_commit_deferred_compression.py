"""Compression moved off the commit path (StoreOptions.deferred_compression_max, issue 15): a commit
stores a small snapshot uncompressed, vacuum compresses it in place to exactly the bytes compression
at commit stores, and nothing a reader sees changes. On both backends from one body."""

from __future__ import annotations

import random

from lashdb.engine import HydratedCheckpoint, RuntimeCommit, codec
from lashdb.engine.codec import BlobProfile, Descriptor
from lashdb.engine.session import blobs

from runtime_support import LEASE_TTL


def _state(seed: int, size: int = 8_000) -> dict:
    rng = random.Random(seed)
    words = "alpha beta gamma delta epsilon zeta eta theta".split()
    return {"lines": [" ".join(rng.choice(words) for _ in range(12)) for _ in range(size // 80)]}


def _commit_turns(store, turns: int, *, sid: str = "root", seed: int = 0, tool_size: int = 8_000) -> list:
    fence = store.try_claim_session_execution_lease(sid, "runtime", LEASE_TTL).fence()
    results = []
    for t in range(turns):
        checkpoint = HydratedCheckpoint(turn_state={"turn_index": t}, tool_state=_state(seed + t, tool_size),
                                        plugin_snapshot=_state(1000 + seed + t))
        results.append(store.commit_runtime_state(RuntimeCommit(
            sid, {}, checkpoint=checkpoint, expected_head_revision=t, session_execution_lease=fence)))
    return results


def _rows(store) -> dict[str, bytes]:
    return dict(store.iter_blob_rows())


def test_a_commit_stores_small_snapshots_uncompressed_and_vacuum_compresses_them_exactly(store_on):
    deferred = store_on.open("root")
    results = _commit_turns(deferred, 3)
    refs = {r.manifest.tool_state_ref for r in results} | {r.manifest.plugin_snapshot_ref for r in results}
    before = _rows(deferred)
    assert {deferred.get_blob_envelope(ref).compression for ref in refs} == {"None"}
    checkpoints = {r.checkpoint_ref: deferred.get_checkpoint(r.checkpoint_ref) for r in results}

    report = deferred.vacuum()
    after = _rows(deferred)
    assert report.compressed_blobs == len(refs) == 6
    assert report.compressed_bytes_saved == sum(len(before[h]) - len(after[h]) for h in refs) > 0
    assert report.to_json()["compressed_blobs"] == 6
    for ref in refs:
        content = codec.decode_blob(ref, after[ref]).content
        descriptor = deferred.get_blob_envelope(ref).descriptor
        assert after[ref] == codec.encode_envelope(descriptor, content, BlobProfile.BALANCED)
        assert deferred.get_blob_envelope(ref).compression == "Zlib"
    assert {h: after[h] for h in after if h not in refs} == {h: before[h] for h in before if h not in refs}
    assert {ref: deferred.get_checkpoint(ref) for ref in checkpoints} == checkpoints
    assert deferred.vacuum().compressed_blobs == 0

    # The same turns compressed at commit store the very same rows vacuum left.
    at_commit = store_on.open("other", deferred_compression_max=0)
    _commit_turns(at_commit, 3, sid="other")
    assert _rows(at_commit) == after
    assert at_commit.blob_count_and_size() == deferred.blob_count_and_size()


def test_what_is_not_deferred(store_on):
    # At or above the bound a snapshot is compressed at commit; with 0 nothing is deferred; a profile
    # that never compresses leaves vacuum nothing to do.
    big = store_on.open("big", deferred_compression_max=4_096)
    ref = _commit_turns(big, 1, sid="big", tool_size=8_000)[0].manifest.tool_state_ref
    assert big.get_blob_envelope(ref).compression == "Zlib"
    low = store_on.open("low", blob_profile=BlobProfile.LOW_LATENCY)
    _commit_turns(low, 2, sid="low")
    assert low.vacuum().compressed_blobs == 0
    assert {low.get_blob_envelope(h).compression for h in low.blob_hashes()} == {"None"}


def test_vacuum_leaves_a_damaged_row_as_it_is(store_on):
    store = store_on.open("root")
    ref = _commit_turns(store, 1)[0].manifest.tool_state_ref
    wrong = codec.encode_envelope(Descriptor.tool_state(), codec.encode_value(_state(99)), BlobProfile.LOW_LATENCY)
    store_on.sql(store, "UPDATE blobs SET content = ? WHERE hash = ?",
                 "UPDATE lash_blobs SET content = %s WHERE hash = %s", (wrong, ref))
    assert store.vacuum().compressed_blobs == 1  # the plugin snapshot; not the row whose content is another's
    assert _rows(store)[ref] == wrong


def test_a_rewrite_happens_only_over_the_envelope_it_read(store_on):
    store = store_on.open("root")
    ref = _commit_turns(store, 1)[0].manifest.tool_state_ref
    stored = _rows(store)[ref]
    assert store._write(lambda tx: tx.blobs.rewrite(ref, stored + b"x", b"new")) is False
    assert _rows(store)[ref] == stored
    assert store._write(lambda tx: blobs.compress_rows(tx, [ref, "0" * 64], BlobProfile.BALANCED)) == \
        (1, len(stored) - len(_rows(store)[ref]))


def test_the_list_summary_follows_the_bytes_vacuum_saved(tmp_path):
    from lashdb.engine.ops.sessions import list_sessions
    from runtime_support import open_file

    with open_file(tmp_path / "s.db") as store:
        _commit_turns(store, 2)
        store.vacuum()
        actual = store.blob_count_and_size()
    [row] = list_sessions(tmp_path)
    assert (row.blob_count, row.blob_bytes) == actual
