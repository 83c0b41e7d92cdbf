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


def test_sweep_statements_stay_in_their_session(db):
    b, other = PgSessionBackend(db, "s1"), PgSessionBackend(db, "s2")
    b.write(lambda tx: tx.blobs.put([(f"g{i}", b"x" * (i + 1)) for i in range(5)] + [("keep", b"kk")]))
    other.write(lambda tx: tx.blobs.put([("g0", b"z"), ("g9", b"zz")]))
    first = b.read(lambda tx: tx.blobs.scan(None, 4))
    assert [(h, n) for _, h, n in first] == [("g0", 1), ("g1", 2), ("g2", 3), ("g3", 4)]
    rest = b.read(lambda tx: tx.blobs.scan(first[-1][0], 10))
    assert [h for _, h, _ in rest] == ["g4", "keep"]
    assert b.read(lambda tx: tx.blobs.count()) == 6
    assert sorted(b.write(lambda tx: tx.blobs.delete([(h, h) for h in ("g0", "g1", "g9", "absent")]))) == [1, 2]
    assert b.write(lambda tx: tx.blobs.delete([])) == []
    assert b.read(lambda tx: tx.blobs.count_and_size()) == (4, 14)
    assert other.read(lambda tx: (tx.blobs.get("g0"), tx.blobs.get("g9"))) == (b"z", b"zz")
    b.write(lambda tx: (tx.rows.put_artifact_ref("a1", "keep"), tx.rows.put_artifact_ref("a2", "gone")))
    other.write(lambda tx: tx.rows.put_artifact_ref("a1", "g2"))
    assert b.read(lambda tx: tx.blobs.named_by_artifacts(["keep", "g2", "g3"])) == {"keep"}
    assert b.read(lambda tx: (tx.blobs.artifact_count(), tx.blobs.artifact_refs_missing())) == (2, ["gone"])


def test_no_list_summary_is_kept(db):
    b = PgSessionBackend(db, "s1")
    b.write(lambda tx: tx.blobs.put([("c1", b"abc"), ("c2", b"de")]))
    assert b.read(lambda tx: (tx.blobs.take_delta(), tx.graph.summary_scan(True))) == (None, None)
