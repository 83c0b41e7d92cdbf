"""Garbage collection (SPEC §6; runtime-contract §7.1–7.2 cases that need no runtime commit).

Roots are the head's checkpoint manifest (plus its three children) and every artifact ref; the
rest goes. Expected numbers are computed from the raw rows before the collection runs.
"""

from __future__ import annotations

import hashlib

import pytest

from lashdb.engine.codec import Descriptor
from lashdb.engine.errors import BackendError, GcAborted
from lashdb.engine.session.model import HydratedCheckpoint, SessionHeadMeta
from lashdb.engine.session.store import Store

CONFIG = {"provider_id": "p", "model": {"id": "m", "limits": {"context_window_tokens": 1000}}}


def stored_lengths(store: Store) -> dict[str, int]:
    return {blob_hash: len(content) for blob_hash, content in store.iter_blob_rows()}


def point_head_at(store: Store, checkpoint_ref: str | None) -> None:
    store.save_session_head_meta(SessionHeadMeta("s1", 1, CONFIG, checkpoint_ref=checkpoint_ref))


@pytest.fixture
def populated(store_on):
    """A head checkpoint with three children, two artifact roots, and five kinds of garbage, on the
    test's backend (``[sqlite]``/``[postgres]``)."""
    store = store_on.open()
    head = store.put_checkpoint(HydratedCheckpoint(
        {"turn_index": 3}, tool_state={"generation": 7}, plugin_snapshot={"plugins": {"p": {"rev": 11}}},
        plugin_snapshot_revision=11, execution_state=b"\xde\xad\xbe\xef"))
    old = store.put_checkpoint(HydratedCheckpoint(
        {"turn_index": 2}, tool_state={"generation": 6}, plugin_snapshot={"plugins": {}},
        execution_state=b"\x01\x02"))
    point_head_at(store, head.checkpoint_ref)
    module = store.put_module_artifact("lashlang:module/main@1", b"compiled module " * 300)
    env = store.put_process_execution_env("process-env:1", b'{"PATH":"/bin"}')
    garbage = {
        store.put_blob(b"orphan generic blob"),
        store.put_typed_blob({"loose": "value"}),
        store.put_artifact_blob(Descriptor.plugin_session_snapshot(), b"orphan plugin snapshot" * 500),
        old.checkpoint_ref, old.manifest.tool_state_ref, old.manifest.plugin_snapshot_ref,
        old.manifest.execution_state_ref,
    }
    kept = {head.checkpoint_ref, head.manifest.tool_state_ref, head.manifest.plugin_snapshot_ref,
            head.manifest.execution_state_ref, module, env}
    assert len(kept) == 6 and len(garbage) == 7 and not kept & garbage
    assert set(stored_lengths(store)) == kept | garbage
    yield store, head, kept, garbage
    store.close()


def test_gc_keeps_head_checkpoint_children_and_artifacts(populated):
    store, head, kept, garbage = populated
    lengths = stored_lengths(store)
    progress = []
    report = store.gc_unreachable(progress=lambda phase, done, total: progress.append((phase, done, total)))
    assert report.to_json() == {"root_count": 3, "retained_blob_count": 6, "deleted_blob_count": 7,
                                "freed_bytes": sum(lengths[h] for h in garbage), "dry_run": False,
                                "missing_blob_count": 0, "batch_count": 1, "busy": None}
    assert set(store.blob_hashes()) == kept
    assert progress == [("mark", 1, 1), ("sweep", 7, 7)]
    checkpoint = store.get_checkpoint(head.checkpoint_ref)
    assert checkpoint.tool_state == {"generation": 7} and checkpoint.execution_state == b"\xde\xad\xbe\xef"
    assert store.get_module_artifact("lashlang:module/main@1") == b"compiled module " * 300
    assert store.get_process_execution_env("process-env:1") == b'{"PATH":"/bin"}'
    again = store.gc_unreachable()
    assert (again.deleted_blob_count, again.freed_bytes, again.retained_blob_count) == (0, 0, 6)


def test_dry_run_reports_the_same_and_deletes_nothing(populated):
    store, _head, kept, garbage = populated
    lengths = stored_lengths(store)
    dry = store.gc_unreachable(dry_run=True)
    assert stored_lengths(store) == lengths
    assert dry.dry_run and (dry.root_count, dry.retained_blob_count, dry.deleted_blob_count, dry.freed_bytes) == (
        3, 6, 7, sum(lengths[h] for h in garbage))
    real = store.gc_unreachable()
    assert real.to_json() == {**dry.to_json(), "dry_run": False}
    assert set(store.blob_hashes()) == kept


def test_undecodable_live_manifest_aborts_and_deletes_nothing(populated, store_on):
    store, head, _kept, _garbage = populated
    store_on.sql(store, "UPDATE blobs SET content = x'a3ff00' WHERE hash = ?",
                 "UPDATE lash_blobs SET content = '\\xa3ff00'::bytea WHERE hash = %s", (head.checkpoint_ref,))
    lengths = stored_lengths(store)
    for dry_run in (True, False):
        with pytest.raises(GcAborted) as err:
            store.gc_unreachable(dry_run=dry_run)
        assert err.value.blob_hash == head.checkpoint_ref and head.checkpoint_ref in str(err.value)
        assert stored_lengths(store) == lengths


def test_live_manifest_that_is_not_a_manifest_aborts(populated):
    store, _head, _kept, _garbage = populated
    not_a_manifest = store.put_artifact_blob(Descriptor.checkpoint_manifest(), b"\x83\x01\x02\x03")  # CBOR [1,2,3]
    point_head_at(store, not_a_manifest)
    count = len(stored_lengths(store))
    with pytest.raises(GcAborted):
        store.gc_unreachable()
    assert len(stored_lengths(store)) == count


def test_missing_manifest_root_is_skipped(populated):
    store, head, _kept, _garbage = populated
    point_head_at(store, "e" * 64)
    report = store.gc_unreachable()
    assert (report.root_count, report.retained_blob_count, report.missing_blob_count) == (3, 2, 1)
    assert report.deleted_blob_count == 11  # everything but the two artifact blobs
    assert store.get_blob(head.checkpoint_ref) is None


def test_undecodable_head_aborts_gc(populated, store_on):
    store, _head, _kept, _garbage = populated
    store_on.sql(store, "UPDATE session_head SET head_json = '{nope'", "UPDATE lash_sessions SET head_json = '{nope'")
    count = len(stored_lengths(store))
    with pytest.raises(BackendError, match="decode session head"):
        store.gc_unreachable()
    assert len(stored_lengths(store)) == count


@pytest.mark.parametrize("head_json, reason", [
    ("[]", "session head is list, expected an object"),
    ('{"config":{},"checkpoint_ref":5}', "session head.checkpoint_ref is int, expected a string"),
    ('{"checkpoint_ref":"CKPT"}', "missing field `config`"),
], ids=["list", "numeric-ref", "no-config"])
def test_json_that_is_not_a_head_aborts_gc_instead_of_dropping_the_checkpoint(populated, store_on, head_json, reason):
    # W2: upstream read such a head as "no head", so its sweep deleted the live checkpoint tree.
    store, head, kept, _garbage = populated
    store_on.sql(store, "UPDATE session_head SET head_json = ?", "UPDATE lash_sessions SET head_json = %s",
                 (head_json.replace("CKPT", head.checkpoint_ref),))
    lengths = stored_lengths(store)
    for dry_run in (True, False):
        with pytest.raises(BackendError) as err:
            store.gc_unreachable(dry_run=dry_run)
        assert str(err.value) == f"store backend error: decode session head: {reason}"
    assert stored_lengths(store) == lengths and kept <= set(lengths)


def test_no_roots_collects_everything(store_on):
    with store_on.open() as store:
        refs = [store.put_blob(f"blob {i}".encode()) for i in range(5)]
        lengths = stored_lengths(store)
        report = store.gc_unreachable()
        assert report.to_json() == {"root_count": 0, "retained_blob_count": 0, "deleted_blob_count": 5,
                                    "freed_bytes": sum(lengths[r] for r in refs), "dry_run": False,
                                    "missing_blob_count": 0, "batch_count": 1, "busy": None}
        assert store.blob_hashes() == []


# --- runtime-contract §7.1 / §7.2 -------------------------------------------------------------------


def test_store_gc_deletes_exactly_the_orphan_plugin_snapshot(store_on):
    # §7.2: checkpoint (turn 1, tool state generation 7, plugin snapshot, revision 11), head on it,
    # one orphan plugin-snapshot blob -> exactly one blob deleted.
    with store_on.open() as store:
        stored = store.put_checkpoint(HydratedCheckpoint(
            {"turn_index": 1}, tool_state={"generation": 7}, plugin_snapshot={"plugins": {"demo": {}}},
            plugin_snapshot_revision=11))
        point_head_at(store, stored.checkpoint_ref)
        orphan = store.put_typed_artifact_blob(Descriptor.plugin_session_snapshot(), {"plugins": {"orphan": {}}})
        report = store.gc_unreachable()
        assert report.deleted_blob_count == 1 and report.retained_blob_count == 3
        assert set(store.blob_hashes()) == {stored.checkpoint_ref, stored.manifest.tool_state_ref,
                                            stored.manifest.plugin_snapshot_ref}
        assert not store.blob_exists(orphan)


def test_memory_store_gc_keeps_manifest_and_all_three_children():
    # §7.1 (without the runtime commit): plugin revision 5, execution bytes DEADBEEF, orphan snapshot.
    store = Store.memory()
    try:
        orphan = store.put_artifact_blob(Descriptor.plugin_session_snapshot(), b"orphan")
        stored = store.put_checkpoint(HydratedCheckpoint(
            {"turn_index": 1}, tool_state={"tools": {}}, plugin_snapshot={"plugins": {}},
            plugin_snapshot_revision=5, execution_state=bytes.fromhex("DEADBEEF")))
        point_head_at(store, stored.checkpoint_ref)
        report = store.gc_unreachable()
        assert report.deleted_blob_count >= 1 and not store.blob_exists(orphan)
        children = [stored.manifest.tool_state_ref, stored.manifest.plugin_snapshot_ref,
                    stored.manifest.execution_state_ref]
        assert all(children) and all(store.blob_exists(ref) for ref in [stored.checkpoint_ref, *children])
        assert store.get_checkpoint(stored.checkpoint_ref).execution_state == bytes.fromhex("DEADBEEF")
        assert stored.manifest.execution_state_ref == hashlib.sha256(
            store.get_blob(stored.manifest.execution_state_ref)).hexdigest()
    finally:
        store.close()
