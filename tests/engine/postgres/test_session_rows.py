"""``postgres/session_rows.py`` on a real server: meta/head in one ``lash_sessions`` row, listing columns, graph."""

from __future__ import annotations

import pytest

from lashdb.engine.base.errors import BackendError, SessionBindingMismatch
from lashdb.engine.postgres.connection import PgDatabase
from lashdb.engine.postgres.session_backend import PgSessionBackend


@pytest.fixture
def db(pg_url):
    database = PgDatabase.open(pg_url)
    yield database
    database.close()


def session_row(db: PgDatabase, sid: str) -> tuple:
    return db.read(lambda c: c.execute("SELECT parent_session_id, live_nodes, head_revision, head_session_id, "
                                       "updated_at_ms >= created_at_ms FROM lash_sessions WHERE session_id = %s",
                                       (sid,)).fetchone())


def test_meta_and_head_share_the_session_row_and_keep_the_parent(db):
    b = PgSessionBackend(db, "s1")
    assert b.read(lambda tx: (tx.rows.meta(), tx.rows.head())) == (None, None)
    b.write(lambda tx: tx.rows.save_meta("s1", "n", "2026-01-01", "m", None,
                                         '{"kind":"child","parent_session_id":"p"}'))
    b.write(lambda tx: tx.rows.save_head("s1", '{"x":1}', 3))
    assert b.read(lambda tx: tx.rows.meta()) == ("s1", "n", "2026-01-01", "m", None,
                                                 '{"kind":"child","parent_session_id":"p"}')
    assert b.read(lambda tx: tx.rows.head()) == ('{"x":1}', 3)
    assert session_row(db, "s1") == ("p", 0, 3, "s1", True)
    with pytest.raises(SessionBindingMismatch):
        b.write(lambda tx: tx.rows.save_meta("other", None, "2026-01-01", "m", None, "{}"))


def test_graph_keeps_live_nodes_and_orders_by_append(db):
    b = PgSessionBackend(db, "s1")
    b.write(lambda tx: tx.graph.insert([("z", '{"parent_node_id":null}'), ("a", '{"parent_node_id":"z"}')]))
    b.write(lambda tx: tx.graph.insert([("m", '{"parent_node_id":"a"}')]))
    assert [r[0] for r in b.read(lambda tx: tx.graph.live())] == ["z", "a", "m"]
    assert sorted(b.read(lambda tx: tx.graph.path_rows("m"))) == [
        ("a", '{"parent_node_id":"z"}', "z"), ("m", '{"parent_node_id":"a"}', "a"),
        ("z", '{"parent_node_id":null}', None)]
    b.write(lambda tx: tx.graph.tombstone(["a", "a", "unknown"]))
    assert session_row(db, "s1")[1] == 2
    counts = b.read(lambda tx: (tx.graph.live_count(), tx.graph.tombstoned_count(), tx.graph.live_one("a")))
    assert counts == (2, 1, None)
    with pytest.raises(BackendError):  # a tombstoned id is still taken
        b.write(lambda tx: tx.graph.insert([("a", "{}")]))
    assert b.write(lambda tx: tx.graph.remove_tombstoned()) == 1
    b.write(lambda tx: tx.graph.replace([("only", "{}")]))
    assert session_row(db, "s1")[1] == 1 and b.read(lambda tx: tx.graph.live()) == [("only", "{}")]


def test_a_parent_cycle_terminates(db):
    b = PgSessionBackend(db, "s1")
    b.write(lambda tx: tx.graph.insert([("a", '{"parent_node_id":"b"}'), ("b", '{"parent_node_id":"a"}')]))
    assert sorted(r[0] for r in b.read(lambda tx: tx.graph.path_rows("a"))) == ["a", "b"]


def test_usage_turns_and_artifact_refs_are_per_session(db):
    one, two = PgSessionBackend(db, "s1"), PgSessionBackend(db, "s2")
    one.write(lambda tx: tx.rows.insert_usage([("turn", "m", 1, 2, 3, 4), ("turn", "m", 5, 6, 7, 8)]))
    two.write(lambda tx: tx.rows.insert_usage([("turn", "x", 9, 9, 9, 9)]))
    assert one.read(lambda tx: tx.rows.usage()) == [(1, "turn", "m", 1, 2, 3, 4), (2, "turn", "m", 5, 6, 7, 8)]
    assert two.read(lambda tx: tx.rows.usage()) == [(1, "turn", "x", 9, 9, 9, 9)]
    one.write(lambda tx: tx.rows.record_turn_commit("s1", "t", "h", "{}", 7))
    assert one.read(lambda tx: tx.rows.turn_commit("s1", "t")) == ("h", "{}")
    assert two.read(lambda tx: tx.rows.turn_commit("s2", "t")) is None
    with pytest.raises(BackendError):
        one.write(lambda tx: tx.rows.record_turn_commit("s1", "t", "h2", "{}", 8))
    for ref in ("b", "B", "a"):
        one.write(lambda tx, ref=ref: tx.rows.put_artifact_ref(ref, f"blob-{ref}"))
    one.write(lambda tx: tx.rows.put_artifact_ref("a", "blob-a2"))
    assert one.read(lambda tx: tx.rows.artifact_refs()) == [("B", "blob-B"), ("a", "blob-a2"), ("b", "blob-b")]
    assert two.read(lambda tx: (tx.rows.artifact_refs(), tx.rows.artifact_blob_ref("a"))) == ([], None)


def test_live_count_is_the_session_rows_counter_and_stays_equal_to_a_scan(db):
    from lashdb.engine.postgres.session_backend import PgSessionBackend

    backend = PgSessionBackend(db, "counted")

    def both(tx):
        scanned = tx.conn.execute("SELECT count(*) FROM lash_graph_nodes WHERE session_id = %s AND NOT tombstoned",
                                  ("counted",)).fetchone()[0]
        return tx.graph.live_count(), scanned

    assert backend.read(both) == (0, 0)
    backend.write(lambda tx: tx.graph.insert([("a", "{}"), ("b", "{}"), ("c", "{}")]))
    assert backend.read(both) == (3, 3)
    backend.write(lambda tx: tx.graph.tombstone(["b", "b", "missing"]))
    assert backend.read(both) == (2, 2)
    assert backend.write(lambda tx: tx.graph.remove_tombstoned()) == 1
    assert backend.read(both) == (2, 2)
    backend.write(lambda tx: tx.graph.replace([("x", "{}")]))
    assert backend.read(both) == (1, 1)
