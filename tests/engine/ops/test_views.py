"""Shared inspection pieces on the demo root: short ids, file sizes, head dump (with its checkpoint
section), read-only throughout; and a damaged manifest surfacing as CheckpointUnreadable."""

from __future__ import annotations

import os
import shutil

import apsw
import pytest
from conftest import snapshot_dir

from lashdb.engine.ops import views
from lashdb.engine.ops.demo import build_demo


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    return build_demo(tmp_path_factory.mktemp("views") / "root")


def test_short_ids_are_the_shortest_distinguishing_prefixes():
    ids = ["abcdefgh1234", "abcdefgh1299", "zz", "xyz0000000000"]
    assert views.short_ids(ids) == {"abcdefgh1234": "abcdefgh123", "abcdefgh1299": "abcdefgh129",
                                    "xyz0000000000": "xyz00000", "zz": "zz"}
    assert views.short_ids(["a" * 20], min_len=4) == {"a" * 20: "aaaa"}
    assert views.short_ids([]) == {}


def test_file_sizes_and_database_files(demo, tmp_path):
    path = demo.sessions[0].path
    sizes = views.file_sizes(path)
    assert sizes.db_bytes == os.path.getsize(path) and (sizes.wal_bytes, sizes.shm_bytes) == (0, 0)
    assert sizes.modified_ms == demo.sessions[0].modified_at_ms
    assert sizes.to_json() == {"db_bytes": sizes.db_bytes, "wal_bytes": 0, "shm_bytes": 0,
                               "size_bytes": sizes.db_bytes, "modified_at": "2026-05-28T09:12:20Z",
                               "modified_at_epoch_ms": 1_779_959_540_000}
    assert views.database_files(path) == [path]
    missing = views.file_sizes(tmp_path / "none.db")
    assert (missing.size_bytes, missing.modified_ms) == (0, None)
    wal = tmp_path / "s.db-wal"
    wal.write_bytes(b"x" * 10)
    (tmp_path / "s.db").write_bytes(b"y" * 5)
    assert views.file_sizes(tmp_path / "s.db").size_bytes == 15
    assert [p.name for p in views.database_files(tmp_path / "s.db")] == ["s.db", "s.db-wal"]


def test_head_document_reads_the_head_without_changing_a_file(demo):
    first = demo.sessions[0]
    before = snapshot_dir(demo.root)
    doc = views.head_document(first.path).to_json()
    assert list(doc) == ["path", "status", "foreign", "schema_version", "session_id", "head_revision", "head"]
    assert (doc["status"], doc["foreign"], doc["schema_version"]) == ("ok", False, 4)
    assert (doc["session_id"], doc["head_revision"]) == (first.session_id, first.head_revision)
    assert doc["head"]["leaf_node_id"] == first.leaf_node_id
    assert doc["head"]["checkpoint_ref"] == first.checkpoint_ref
    assert snapshot_dir(demo.root) == before


def test_head_document_with_checkpoint_lists_the_manifest_children(demo):
    first = demo.sessions[0]
    document = views.head_document(first.path, with_checkpoint=True)
    section = document.to_json()["checkpoint"]
    assert (section["ref"], section["present"], section["format"], section["error"]) == \
        (first.checkpoint_ref, True, "cbor", None)
    assert [c["role"] for c in section["children"]] == ["tool_state", "plugin_snapshot", "execution_state"]
    assert [c["kind"] for c in section["children"]] == ["ToolState", "PluginSessionSnapshot", "ExecutionStateSnapshot"]
    assert all(c["present"] and c["stored_bytes"] > 0 for c in section["children"])
    assert section["manifest"]["tool_state_ref"] == section["children"][0]["ref"]
    document.require_readable_checkpoint()  # healthy: no error


def test_a_damaged_manifest_is_checkpoint_unreadable(demo, tmp_path):
    first = demo.sessions[0]
    copy = tmp_path / "damaged.db"
    shutil.copy(first.path, copy)
    conn = apsw.Connection(str(copy))
    conn.execute("UPDATE blobs SET content = x'00' WHERE hash = ?", (first.checkpoint_ref,))
    conn.close()
    document = views.head_document(copy, with_checkpoint=True)
    section = document.checkpoint
    assert section["present"] is True and section["manifest"] is None and section["error"]
    with pytest.raises(views.CheckpointUnreadable) as caught:
        document.require_readable_checkpoint()
    assert caught.value.blob_hash == first.checkpoint_ref
    assert str(caught.value).startswith(f"{copy}: checkpoint {first.checkpoint_ref} cannot be read: ")
    assert "blob verify" in caught.value.hint
