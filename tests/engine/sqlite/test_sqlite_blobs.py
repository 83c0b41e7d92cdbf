"""SqliteBlobRows: first write wins, prefix lookup by range, and the GC sweep contract
(present/doomed/freed/unmarked, one batch per call, dry run deletes nothing, temp tables dropped)."""

from __future__ import annotations

import apsw
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


def _temp_tables(rows):
    return rows.conn.execute("SELECT name FROM sqlite_temp_master WHERE type = 'table'").fetchall()


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


def test_dry_run_counts_without_deleting(rows):
    rows.put([("k1", b"aaaa"), ("d1", b"bb"), ("d2", b"ccc")])
    assert rows.sweep(["k1", "not-stored"], 1, dry_run=True, count_unmarked=False) == (1, 2, 5, 2)
    assert rows.count_and_size() == (3, 9)
    assert _temp_tables(rows) == []


def test_sweep_deletes_at_most_one_batch_per_call(rows):
    rows.put([("k1", b"aaaa"), ("d1", b"bb"), ("d2", b"ccc"), ("d3", b"d")])
    present, doomed, freed, unmarked = rows.sweep(["k1"], 2, dry_run=False, count_unmarked=True)
    assert (present, doomed, unmarked) == (1, 2, 3)
    assert freed in (3, 4, 5)  # two of the three unmarked rows, whichever SQLite picks
    assert rows.count_and_size()[0] == 2
    assert rows.sweep(["k1"], 2, dry_run=False, count_unmarked=False) == (1, 1, 6 - freed, None)  # unmarked bytes 2+3+1
    assert rows.sweep(["k1"], 2, dry_run=False, count_unmarked=True) == (1, 0, 0, 0)
    assert list(rows.iter_all()) == [("k1", b"aaaa")]
    assert _temp_tables(rows) == []


def test_sweep_with_an_empty_keep_set_deletes_everything(rows):
    rows.put([("x", b"12"), ("y", b"3")])
    assert rows.sweep([], 10, dry_run=False, count_unmarked=False) == (0, 2, 3, None)
    assert rows.count_and_size() == (0, 0)


def test_temp_tables_are_dropped_when_the_sweep_fails(rows):
    rows.put([("x", b"12")])
    with pytest.raises(apsw.MismatchError):  # the statement class runs raw; the store translates
        rows.sweep(["x"], "not a number", dry_run=False, count_unmarked=False)
    assert _temp_tables(rows) == []
    assert rows.get("x") == b"12"


def test_delta_counts_only_rows_actually_stored_and_swept(rows):
    rows.put([("aa01", b"first"), ("bb02", b"xy")])
    rows.put([("aa01", b"second"), ("cc03", b"abc")])  # aa01 is already stored: not counted
    assert rows.take_delta() == (3, 10)
    assert rows.take_delta() == (0, 0)  # taken: reset
    assert rows.row_count() == 3
    rows.sweep({"aa01"}, 1, dry_run=True, count_unmarked=True)
    assert rows.take_delta() == (0, 0)  # a dry run deletes nothing
    rows.sweep({"aa01"}, 10, dry_run=False, count_unmarked=False)
    assert rows.take_delta() == (-2, -5)
    assert rows.count_and_size() == (1, 5)
