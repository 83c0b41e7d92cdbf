"""SqliteQueueRows on a real session schema: enqueue order, free-at-now, the all-or-nothing claim stamp."""

from __future__ import annotations

import pytest

from lashdb.engine.sqlite.connection import open_memory, write_transaction
from lashdb.engine.sqlite.kinds import SESSION
from lashdb.engine.sqlite.queued_work import SqliteQueueRows
from lashdb.engine.sqlite.schema import ensure_schema


@pytest.fixture
def q():
    conn = open_memory()
    ensure_schema(conn, SESSION)
    yield SqliteQueueRows(conn)
    conn.close()


def _enqueue(q, batch_id, available=0, session="s", source=None, items=((0, "i0", "{}"),)):
    q.insert((batch_id, session, source, "deliver", "slot", "[]", available, 1), list(items))


def _ids(rows):
    return [r[1] for r in rows]


def test_insert_batch_and_items(q):
    assert q.batch("b") is None and q.batch_id_for_source("s", "src") is None
    _enqueue(q, "b1", source="src", items=((1, "x1", '{"n":1}'), (0, "x0", '{"n":0}')))
    _enqueue(q, "b0", items=((0, "y0", "{}"),))
    assert q.batch_id_for_source("s", "src") == "b1"
    assert q.batch("b1") == (1, "b1", "s", "src", "deliver", "slot", "[]", 0, 1, 0)
    assert q.items(["b1"]) == [("b1", "x0", '{"n":0}'), ("b1", "x1", '{"n":1}')]
    assert q.items(["b1", "b0"]) == [("b0", "y0", "{}"), ("b1", "x0", '{"n":0}'), ("b1", "x1", '{"n":1}')]


def test_ready_all_free_in_enqueue_order(q):
    _enqueue(q, "b-late", available=100)
    _enqueue(q, "a-now", available=5)
    _enqueue(q, "other", session="t")
    assert _ids(q.ready("s", 50, 10)) == ["a-now"]
    assert _ids(q.ready("s", 100, 10)) == ["b-late", "a-now"]
    assert _ids(q.ready("s", 100, 1)) == ["b-late"]
    assert _ids(q.all("s")) == ["b-late", "a-now"]
    assert _ids(q.free("s", 0)) == ["b-late", "a-now"]


def test_stamp_claim_is_all_or_nothing(q):
    for b in ("b1", "b2", "b3"):
        _enqueue(q, b)
    assert q.stamp_claim("s", ["b1"], ("c1", "o1", "t1", 10, 100), now=10) is True
    with write_transaction(q.conn):
        # b1 is held: stamping b1+b2 must leave b2 unstamped, and the outer transaction still commits
        assert q.stamp_claim("s", ["b1", "b2"], ("c2", "o2", "t2", 20, 200), now=20) is False
        assert q.stamp_claim("s", ["b2", "b3"], ("c3", "o3", "t3", 20, 300), now=20) is True
    assert q.owned("s", "c2", "t2") == set()
    assert q.owned("s", "c3", "t3") == {"b2", "b3"}
    assert q.owned("s", "c1", "t1") == {"b1"}
    assert [r[-1] for r in q.all("s")] == [1, 1, 1]  # each fencing counter bumped once
    assert _ids(q.free("s", 50)) == []
    assert _ids(q.free("s", 100)) == ["b1"]  # c1 expired at 100
    assert q.free_batch("s", "b1", 100)[1] == "b1"
    assert q.free_batch("s", "b2", 100) is None


def test_renew_release_and_fencing_kept(q):
    _enqueue(q, "b1")
    _enqueue(q, "b2")
    assert q.stamp_claim("s", ["b1", "b2"], ("c", "o", "t", 1, 10), now=1)
    assert q.renew("s", "c", "wrong", 99) == 0
    assert q.renew("s", "c", "t", 99) == 2
    assert _ids(q.free("s", 50)) == []
    q.release("s", "c", "wrong")
    assert q.owned("s", "c", "t") == {"b1", "b2"}
    q.release("s", "c", "t")
    assert q.owned("s", "c", "t") == set()
    assert [(r[1], r[-1]) for r in q.free("s", 0)] == [("b1", 1), ("b2", 1)]
    assert q.stamp_claim("s", ["b1"], ("c", "o", "t2", 2, 20), now=2)
    assert q.batch("b1")[-1] == 2


def test_delete_free_and_delete_claimed(q):
    _enqueue(q, "b1")
    _enqueue(q, "b2")
    _enqueue(q, "b3")
    assert q.stamp_claim("s", ["b1", "b2"], ("c", "o", "t", 1, 100), now=1)
    q.delete_free("s", "b1", 50)  # held: stays
    q.delete_free("s", "b3", 50)
    assert _ids(q.all("s")) == ["b1", "b2"]
    assert q.items(["b3"]) == []  # items cascade
    q.delete_claimed([("s", "c", "wrong", ["b1"]), ("s", "c", "t", ["b2"])])
    assert _ids(q.all("s")) == ["b1"]
