"""SqliteLeaseRows runs the lease statements as told on a real session schema and returns plain tuples."""

from __future__ import annotations

import pytest

from lashdb.engine.sqlite.connection import open_memory
from lashdb.engine.sqlite.kinds import SESSION
from lashdb.engine.sqlite.leases import SqliteLeaseRows
from lashdb.engine.sqlite.schema import ensure_schema


@pytest.fixture
def rows():
    conn = open_memory()
    ensure_schema(conn, SESSION)
    yield SqliteLeaseRows(conn)
    conn.close()


def test_put_get_and_overwrite(rows):
    assert rows.get("s") is None
    rows.put("s", "owner-a", "tok-1", 1, 100, 200)
    assert rows.get("s") == ("owner-a", "tok-1", 1, 100, 200)
    rows.put("s", "owner-b", "tok-2", 2, 300, 400)
    assert rows.get("s") == ("owner-b", "tok-2", 2, 300, 400)
    assert rows.conn.execute("SELECT count(*) FROM session_execution_leases").fetchall() == [(1,)]


def test_set_expiry_touches_only_the_expiry(rows):
    rows.put("s", "o", "t", 5, 100, 200)
    rows.set_expiry("s", 999)
    assert rows.get("s") == ("o", "t", 5, 100, 999)
    rows.set_expiry("absent", 1)
    assert rows.get("absent") is None


def test_clear_needs_all_four_fields_and_keeps_the_fencing_token(rows):
    rows.put("s", "o", "t", 5, 100, 200)
    for wrong in (("x", "t", 5), ("o", "x", 5), ("o", "t", 4)):
        rows.clear("s", *wrong)
        assert rows.get("s") == ("o", "t", 5, 100, 200)
    rows.clear("s", "o", "t", 5)
    assert rows.get("s") == (None, None, 5, 0, 0)


def test_live_lists_unexpired_held_leases_by_session_id(rows):
    rows.put("b", "o1", "t1", 1, 0, 500)
    rows.put("a", "o2", "t2", 2, 0, 1000)
    rows.put("c", "o3", "t3", 3, 0, 100)
    rows.put("d", "o4", "t4", 4, 0, 5000)
    rows.clear("d", "o4", "t4", 4)
    assert rows.live(100) == [("a", "o2", "t2", 2, 0, 1000), ("b", "o1", "t1", 1, 0, 500)]
    assert rows.live(500) == [("a", "o2", "t2", 2, 0, 1000)]
    assert rows.live(1000) == []
