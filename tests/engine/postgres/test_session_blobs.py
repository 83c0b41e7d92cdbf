"""``postgres/session_blobs.py`` on a real server: per-session blobs and the GC sweep's batch contract."""

from __future__ import annotations

import pytest

from lashdb.engine.postgres.connection import PgDatabase
from lashdb.engine.postgres.session_backend import PgSessionBackend


@pytest.fixture
def db(pg_url):
    database = PgDatabase.open(pg_url)
    yield database
    database.close()


def test_first_row_wins_and_sessions_do_not_share_blobs(db):
    one, two = PgSessionBackend(db, "s1"), PgSessionBackend(db, "s2")
    one.write(lambda tx: tx.blobs.put([("h1", b"first"), ("h1", b"second"), ("h_2", b"xy")]))
    two.write(lambda tx: tx.blobs.put([("h1", b"other session")]))
    assert one.read(lambda tx: (tx.blobs.get("h1"), tx.blobs.exists("h_2"), tx.blobs.count_and_size())) == (
        b"first", True, (2, 7))
    assert two.read(lambda tx: (tx.blobs.get("h1"), tx.blobs.exists("h_2"))) == (b"other session", False)
    assert one.read(lambda tx: tx.blobs.hashes_with_prefix("h_")) == ["h_2"]  # "_" is not a wildcard
    assert list(one.read_iter(lambda tx: tx.blobs.iter_all())) == [("h1", b"first"), ("h_2", b"xy")]


def test_sweep_deletes_at_most_one_batch_and_a_dry_run_nothing(db):
    b, other = PgSessionBackend(db, "s1"), PgSessionBackend(db, "s2")
    b.write(lambda tx: tx.blobs.put([(f"g{i}", b"x" * (i + 1)) for i in range(5)] + [("keep", b"kk")]))
    other.write(lambda tx: tx.blobs.put([("g0", b"z")]))
    assert b.read(lambda tx: tx.blobs.sweep(["keep", "absent"], 2, dry_run=True, count_unmarked=False)) == (
        1, 5, 15, 5)
    first = b.write(lambda tx: tx.blobs.sweep(["keep"], 2, dry_run=False, count_unmarked=True))
    assert first[0] == 1 and first[1] == 2 and first[3] == 5
    second = b.write(lambda tx: tx.blobs.sweep(["keep"], 2, dry_run=False, count_unmarked=False))
    third = b.write(lambda tx: tx.blobs.sweep(["keep"], 2, dry_run=False, count_unmarked=False))
    assert (second[1], second[3], third[1]) == (2, None, 1)
    assert first[2] + second[2] + third[2] == 15
    assert b.read(lambda tx: tx.blobs.count_and_size()) == (1, 2)
    assert other.read(lambda tx: tx.blobs.get("g0")) == b"z"


def test_no_list_summary_is_kept_but_rows_are_counted(db):
    b = PgSessionBackend(db, "s1")
    b.write(lambda tx: tx.blobs.put([("c1", b"abc"), ("c2", b"de")]))
    assert b.read(lambda tx: (tx.blobs.take_delta(), tx.blobs.row_count(), tx.graph.summary_scan(True))) == (
        None, 2, None)
