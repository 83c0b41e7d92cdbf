"""SqliteRegistryRows runs the registry statements on a real schema: u64 casts, ordering, matched bools."""

from __future__ import annotations

import pytest

from lashdb.engine.base.ints import U64_MAX
from lashdb.engine.sqlite.connection import open_memory
from lashdb.engine.sqlite.kinds import PROCESS_REGISTRY
from lashdb.engine.sqlite.registry import SqliteRegistryRows
from lashdb.engine.sqlite.schema import ensure_schema


@pytest.fixture
def rows():
    conn = open_memory()
    ensure_schema(conn, PROCESS_REGISTRY)
    yield SqliteRegistryRows(conn)
    conn.close()


def _proc(rows, pid, status="running", at=10):
    rows.insert_process(pid, f"h-{pid}", "scope", at, status, f'{{"id":"{pid}"}}')


def test_process_rows_round_trip_and_order(rows):
    assert rows.load_process("p") is None
    _proc(rows, "p2")
    _proc(rows, "p1", status="exited")
    assert rows.load_process("p1") == '{"id":"p1"}'
    assert rows.list_processes() == ['{"id":"p1"}', '{"id":"p2"}']
    assert rows.list_running() == ['{"id":"p2"}']
    rows.save_process("p1", 20, "running", '{"id":"p1","v":2}')
    assert rows.list_running() == ['{"id":"p1","v":2}', '{"id":"p2"}']
    assert rows.conn.execute("SELECT created_at_ms, updated_at_ms FROM processes WHERE process_id='p1'"
                             ).fetchall() == [(10, 20)]


def test_u64_times_are_stored_signed(rows):
    _proc(rows, "p", at=U64_MAX)
    assert rows.conn.execute("SELECT created_at_ms FROM processes").fetchall() == [(-1,)]
    rows.insert_event("p", 1, "started", "ph", None, U64_MAX, "{}")
    assert rows.conn.execute("SELECT occurred_at_ms FROM process_events").fetchall() == [(-1,)]


def test_grants(rows):
    _proc(rows, "p1")
    _proc(rows, "p2", status="exited")
    rows.put_grant("s1", "scope-a", "p2", "d2")
    rows.put_grant("s1", "scope-a", "p1", "d1")
    rows.put_grant("s0", "scope-b", "p1", "d1b")
    assert rows.grant_descriptor("scope-a", "p1") == "d1"
    assert rows.grant_descriptor("scope-a", "nope") is None
    assert rows.grants_for_scope("scope-a", False) == [("p1", "d1", '{"id":"p1"}'), ("p2", "d2", '{"id":"p2"}')]
    assert rows.grants_for_scope("scope-a", True) == [("p1", "d1", '{"id":"p1"}')]
    assert rows.has_grant("scope-a", "p1") is True
    assert rows.has_grant("scope-b", "p2") is False
    assert rows.grants_for_process("p1") == [("s0", "d1b"), ("s1", "d1")]
    assert rows.session_grants("s1") == [("p1", '{"id":"p1"}'), ("p2", '{"id":"p2"}')]
    assert rows.count_grants("p1") == 2
    # the upsert replaces session and descriptor of the same (scope, process)
    rows.put_grant("s9", "scope-a", "p1", "d1-new")
    assert rows.grant_descriptor("scope-a", "p1") == "d1-new"
    assert rows.count_grants("p1") == 2
    assert rows.delete_grant("scope-a", "p1") is True
    assert rows.delete_grant("scope-a", "p1") is False
    assert rows.delete_session_grants("s1") == 1
    assert rows.delete_session_grants("s1") == 0
    assert rows.count_grants("p2") == 0


def test_events(rows):
    _proc(rows, "p")
    assert rows.next_sequence("p") == 1
    assert rows.event_by_key("p", "k") is None
    for seq, etype, key in ((1, "started", None), (2, "wake", "k2"), (3, "wake", None), (4, "output", None)):
        rows.insert_event("p", seq, etype, f"h{seq}", key, 100 + seq, f'{{"s":{seq}}}')
    assert rows.next_sequence("p") == 5
    assert rows.event_by_key("p", "k2") == ("h2", '{"s":2}')
    assert rows.events_after("p", 2) == ['{"s":3}', '{"s":4}']
    assert rows.events_after("p", U64_MAX) == []  # the cursor is clamped, not wrapped negative
    assert rows.count_events_through("p", "wake", 2) == 1
    assert rows.count_events_through("p", "wake", U64_MAX) == 2
    assert rows.recent_events("p", 2) == ['{"s":3}', '{"s":4}']
    assert rows.find_event_after("p", "wake", 2) == '{"s":3}'
    assert rows.find_event_after("p", "wake", 3) is None


def test_wake_acks(rows):
    _proc(rows, "p")
    assert rows.wake_acks("p") == set()
    assert rows.add_wake_ack("p", 3) is True
    assert rows.add_wake_ack("p", 3) is False
    assert rows.add_wake_ack("p", U64_MAX) is True
    assert rows.wake_acks("p") == {3, U64_MAX}


def test_leases(rows):
    _proc(rows, "p")
    assert rows.lease("p") is None
    rows.put_lease("p", "o", "t1", 1, 100, U64_MAX)
    assert rows.lease("p") == ("o", "t1", 1, 100, U64_MAX)
    assert rows.conn.execute("SELECT lease_expires_at_ms FROM process_leases").fetchall() == [(-1,)]
    assert rows.extend_lease("p", "wrong", 500) is False
    assert rows.extend_lease("p", "t1", 500) is True
    assert rows.lease("p") == ("o", "t1", 1, 100, 500)
    rows.put_lease("p", "o2", "t2", 2, 200, 600)
    assert rows.lease("p") == ("o2", "t2", 2, 200, 600)
    assert rows.release_lease("p", "t1") is False
    assert rows.release_lease("p", "t2") is True
    assert rows.lease("p") == (None, None, 2, 0, 0)
