"""``lashdb stats`` totals (ops/stats.py) of the demo in a directory and in PostgreSQL: the same exact
counts from both stores, GC's share equal to ``gc --dry-run``'s, and what ``vacuum --compact``
would return measured on SQLite (free pages plus -wal), null with a note on PostgreSQL."""

from __future__ import annotations

import os
import sqlite3

import pytest

from lashdb.engine import open_backend
from lashdb.engine.ops import maintenance
from lashdb.engine.ops.demo import build_demo
from lashdb.engine.ops.stats import LARGEST, PG_COMPACT_NOTE, store_stats

CLOCK = 1_796_000_000_000  # the demo's clock: its leases have long expired, so GC skips no session
DEMO = {"sessions": 5, "live_nodes": 31, "tombstoned_nodes": 2, "blobs": 43, "stored_bytes": 24481,
        "logical_bytes": 158655, "gc_freeable_bytes": 12129, "gc_busy_sessions": 0, "skipped": []}


@pytest.fixture(params=["directory", "postgres"])
def target(request, tmp_path):
    target = tmp_path / "root" if request.param == "directory" else request.getfixturevalue("pg_url")
    build_demo(target, clock=lambda: CLOCK)
    return target


def free_bytes(path) -> int:
    """Free pages × page size plus the -wal, read with the standard library (read-only)."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        free = conn.execute("PRAGMA freelist_count").fetchone()[0] * conn.execute("PRAGMA page_size").fetchone()[0]
    finally:
        conn.close()
    wal = f"{path}-wal"
    return free + (os.path.getsize(wal) if os.path.exists(wal) else 0)


def test_demo_totals_are_exact_on_both_stores(target):
    with open_backend(target) as backend:
        stats = store_stats(backend)
        listed = backend.list_sessions(sort="size")
        gc = maintenance.gc_totals(maintenance.gc_sessions([r.path for r in listed], dry_run=True))
    doc = stats.to_json()
    assert {k: doc[k] for k in DEMO} == DEMO
    assert doc["gc_freeable_bytes"] == gc["freed_bytes"]
    assert doc["size_bytes"] == sum(r.size_bytes for r in listed)
    assert [r["session_id"] for r in doc["largest"]] == [r.session_id for r in listed][:LARGEST]
    assert len(doc["largest"]) == 5 and doc["largest"][0]["size_bytes"] >= doc["largest"][-1]["size_bytes"]
    if isinstance(target, str):
        assert doc["kind"] == "postgres" and doc["compact_reclaimable_bytes"] is None
        assert doc["compact_note"] == PG_COMPACT_NOTE
    else:
        assert doc["kind"] == "directory" and doc["compact_note"] is None
        assert doc["compact_reclaimable_bytes"] == sum(free_bytes(r.path) for r in listed)


def test_named_sessions_count_alone(target):
    with open_backend(target) as backend:
        listed = backend.list_sessions(sort="name")
        first = backend.resolve(listed[0].session_id)
        stats = store_stats(backend, [first])
    assert stats.sessions == 1 and [r.session_id for r in stats.largest] == [listed[0].session_id]
    assert stats.live_nodes == listed[0].live_nodes and stats.blobs == listed[0].blob_count


def test_after_gc_nothing_is_left_to_collect_and_sqlite_counts_the_freed_pages(tmp_path):
    root = tmp_path / "root"
    build_demo(root, clock=lambda: CLOCK)
    with open_backend(root) as backend:
        paths = [r.path for r in backend.list_sessions()]
        deleted = maintenance.gc_totals(maintenance.gc_sessions(paths))["deleted_blob_count"]
        maintenance.vacuum_sessions(paths)
        after = store_stats(backend)
    assert deleted == 22 and after.blobs == 43 - 22
    assert after.gc_freeable_bytes == 0 and after.tombstoned_nodes == 0
    assert after.compact_reclaimable_bytes == sum(free_bytes(p) for p in paths) > 0
