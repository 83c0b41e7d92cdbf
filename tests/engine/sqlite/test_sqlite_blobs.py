"""SqliteBlobRows: first write wins, prefix lookup by range, and the GC sweep's statements
(scan in rowid order past a position, set-based delete returning lengths, artifact-ref probes)."""

from __future__ import annotations

import pytest

from lashdb.engine.sqlite.blobs import SqliteBlobRows
from lashdb.engine.sqlite.connection import open_memory
from lashdb.engine.sqlite.kinds import SESSION
from lashdb.engine.sqlite.schema import ensure_schema


@pytest.fixture
def rows():
    conn = open_memory()
    ensure_schema(conn, SESSION)
    yield SqliteBlobRows(conn)
    conn.close()


def test_put_keeps_the_first_row_for_a_hash(rows):
    rows.put([("aa01", b"first"), ("bb02", b"xy")])
    rows.put([("aa01", b"second")])
    assert rows.get("aa01") == b"first"
    assert rows.get("cc") is None
    assert rows.exists("bb02") and not rows.exists("cc")
    assert list(rows.iter_all()) == [("aa01", b"first"), ("bb02", b"xy")]
    assert rows.count_and_size() == (2, 7)


def test_empty_table_counts_zero(rows):
    assert rows.count_and_size() == (0, 0)
    assert rows.hashes_with_prefix("") == []


def test_prefix_lookup_is_a_range_not_a_like(rows):
    rows.put([("ab12", b"1"), ("ab13", b"2"), ("ac00", b"3"), ("a_b", b"4"), ("a%c", b"5")])
    assert rows.hashes_with_prefix("ab1") == ["ab12", "ab13"]
    assert rows.hashes_with_prefix("a_") == ["a_b"]
    assert rows.hashes_with_prefix("a%") == ["a%c"]
    assert rows.hashes_with_prefix("zz") == []


def test_scan_walks_rowid_order_from_a_position(rows):
    rows.put([("cc", b"111"), ("aa", b"2"), ("bb", b"33")])
    first = rows.scan(None, 2)
    assert [(h, n) for _, h, n in first] == [("cc", 3), ("aa", 1)]  # insertion order, not hash order
    assert [(h, n) for _, h, n in rows.scan(first[-1][0], 10)] == [("bb", 2)]
    assert rows.scan(rows.scan(None, 3)[-1][0], 10) == []
    assert rows.count() == 3


def test_delete_is_one_set_and_needs_position_and_hash_to_agree(rows):
    rows.put([("k1", b"aaaa"), ("d1", b"bb"), ("d2", b"ccc")])
    at = {h: p for p, h, _ in rows.scan(None, 10)}
    # A position whose row now has another hash (a rowid reused since it was read) is left alone.
    assert sorted(rows.delete([(at["d1"], "d1"), (at["d2"], "d2"), (at["k1"], "other"), (99, "absent")])) == [2, 3]
    assert rows.delete([]) == []
    assert list(rows.iter_all()) == [("k1", b"aaaa")]


def test_artifact_probe_and_missing_refs(rows):
    rows.put([("kept", b"1"), ("loose", b"2")])
    rows.conn.execute("INSERT INTO artifact_refs (artifact_ref, blob_ref) VALUES "
                      "('a1', 'kept'), ('a2', 'kept'), ('a3', 'gone')")
    assert rows.named_by_artifacts(["kept", "loose", "other"]) == {"kept"}
    assert rows.named_by_artifacts([]) == set()
    assert rows.artifact_count() == 3
    assert rows.artifact_refs_missing() == ["gone"]


def test_delta_counts_only_rows_actually_stored_and_deleted(rows):
    rows.put([("aa01", b"first"), ("bb02", b"xy")])
    rows.put([("aa01", b"second"), ("cc03", b"abc")])  # aa01 is already stored: not counted
    assert rows.take_delta() == (3, 10)
    assert rows.take_delta() == (0, 0)  # taken: reset
    at = {h: p for p, h, _ in rows.scan(None, 10)}
    rows.delete([(at["bb02"], "bb02"), (at["cc03"], "cc03"), (at["aa01"], "other")])
    assert rows.take_delta() == (-2, -5)
    assert rows.count_and_size() == (1, 5)
