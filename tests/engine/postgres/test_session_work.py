"""``postgres/session_work.py`` on a real server: lease rows, the all-or-nothing claim, attachment scope."""

from __future__ import annotations

import pytest

from lashdb.engine.postgres.connection import PgDatabase
from lashdb.engine.postgres.session_backend import PgSessionBackend


@pytest.fixture
def db(pg_url):
    database = PgDatabase.open(pg_url)
    yield database
    database.close()


def batch(batch_id: str, sid: str = "s1", source: str | None = None) -> tuple:
    return (batch_id, sid, source, "earliest_safe_boundary", "exclusive", '"never"', 0, 10)


def test_lease_rows_and_live_is_the_bound_session(db):
    one, two = PgSessionBackend(db, "s1"), PgSessionBackend(db, "s2")
    one.write(lambda tx: tx.leases.put("s1", "o", "tok", 1, 10, 100))
    two.write(lambda tx: tx.leases.put("s2", "o", "tok2", 4, 10, 100))
    assert one.read(lambda tx: tx.leases.get("s1")) == ("o", "tok", 1, 10, 100)
    assert one.read(lambda tx: tx.leases.live(50)) == [("s1", "o", "tok", 1, 10, 100)]
    assert one.read(lambda tx: tx.leases.live(100)) == []
    one.write(lambda tx: tx.leases.clear("s1", "o", "wrong", 1))
    assert one.read(lambda tx: tx.leases.get("s1")) == ("o", "tok", 1, 10, 100)
    one.write(lambda tx: tx.leases.set_expiry("s1", 200))
    one.write(lambda tx: tx.leases.clear("s1", "o", "tok", 1))
    assert one.read(lambda tx: tx.leases.get("s1")) == (None, None, 1, 0, 0)


def test_claim_is_all_or_nothing_and_batches_are_per_session(db):
    b = PgSessionBackend(db, "s1")
    b.write(lambda tx: [tx.queue.insert(batch(i, source=f"k{i}"), [(0, f"{i}-item", '{"t":1}')])
                        for i in ("b1", "b2", "b3")])
    PgSessionBackend(db, "s2").write(lambda tx: tx.queue.insert(batch("b1", "s2"), []))
    assert [r[:2] for r in b.read(lambda tx: tx.queue.all("s1"))] == [(1, "b1"), (2, "b2"), (3, "b3")]
    assert b.read(lambda tx: tx.queue.batch_id_for_source("s1", "kb2")) == "b2"
    assert b.write(lambda tx: tx.queue.stamp_claim("s1", ["b2"], ("c1", "o", "t1", 5, 100), 5))
    assert not b.write(lambda tx: tx.queue.stamp_claim("s1", ["b1", "b2"], ("c2", "o", "t2", 5, 100), 5))
    assert not b.write(lambda tx: tx.queue.stamp_claim("s1", ["b1", "b1"], ("c2", "o", "t2", 5, 100), 5))
    assert [(r[1], r[9]) for r in b.read(lambda tx: tx.queue.all("s1"))] == [("b1", 0), ("b2", 1), ("b3", 0)]
    assert [r[1] for r in b.read(lambda tx: tx.queue.free("s1", 5))] == ["b1", "b3"]
    assert [r[1] for r in b.read(lambda tx: tx.queue.free("s1", 100))] == ["b1", "b2", "b3"]  # expiry <= now
    assert b.write(lambda tx: tx.queue.renew("s1", "c1", "t1", 300)) == 1
    assert b.read(lambda tx: tx.queue.owned("s1", "c1", "t1")) == {"b2"}
    assert b.read(lambda tx: tx.queue.items(["b3", "b1"])) == [("b1", "b1-item", '{"t":1}'),
                                                               ("b3", "b3-item", '{"t":1}')]
    b.write(lambda tx: tx.queue.delete_claimed([("s1", "c1", "t1", ["b2", "b3"])]))
    assert [r[1] for r in b.read(lambda tx: tx.queue.all("s1"))] == ["b1", "b3"]  # b3 was not held by c1
    b.write(lambda tx: [tx.queue.delete_free("s1", i, 5) for i in ("b1", "b3")])
    assert b.read(lambda tx: (tx.queue.all("s1"), tx.queue.items(["b1", "b2"]))) == ([], [])
    assert [r[1] for r in PgSessionBackend(db, "s2").read(lambda tx: tx.queue.all("s2"))] == ["b1"]


def test_attachments_are_scoped_by_session_and_the_unstamped_list_spans_the_database(db):
    one, two = PgSessionBackend(db, "s1"), PgSessionBackend(db, "s2")
    assert one.write(lambda tx: tx.attachments.insert_if_absent("a", "s1", "file:///a", 10))
    assert not one.write(lambda tx: tx.attachments.insert_if_absent("a", "s1", "file:///b", 20))
    assert not one.write(lambda tx: tx.attachments.insert_if_absent("a", "s9", "file:///c", 20))
    assert two.write(lambda tx: tx.attachments.insert_if_absent("a", "s2", "file:///z", 10))
    assert one.read(lambda tx: tx.attachments.location("a")) == ("s1", "file:///a")
    assert one.read(lambda tx: tx.attachments.unknown_ids("s1", ["a", "x", "x"])) == ["x"]
    one.write(lambda tx: tx.attachments.stamp("s1", ["a"], 99))
    # The unstamped list spans the database (as a file's spans the file): both stores see s2's row.
    assert one.read(lambda tx: tx.attachments.uncommitted(100)) == [("a", "s2", "file:///z", 10)]
    assert two.read(lambda tx: tx.attachments.uncommitted(100)) == [("a", "s2", "file:///z", 10)]
    three = PgSessionBackend(db, "s3")  # a sweeper's store: forgets what it listed, never a stamped row
    three.write(lambda tx: tx.attachments.delete("a"))
    assert one.read(lambda tx: tx.attachments.uncommitted(100)) == []
    assert two.write(lambda tx: tx.attachments.insert_if_absent("a", "s2", "file:///z", 10))
    two.write(lambda tx: tx.attachments.delete("a"))
    assert (one.read(lambda tx: tx.attachments.location("a")), two.read(lambda tx: tx.attachments.location("a"))) \
        == (("s1", "file:///a"), None)
