"""SqliteTriggerRows on a real trigger-store schema: bool columns, filters, ordering, never-reused numbers."""

from __future__ import annotations

import pytest

from lashdb.engine.base.ints import U64_MAX
from lashdb.engine.sqlite.connection import open_memory, write_transaction
from lashdb.engine.sqlite.kinds import TRIGGER_STORE
from lashdb.engine.sqlite.schema import ensure_schema
from lashdb.engine.sqlite.triggers import SqliteTriggerRows


@pytest.fixture
def rows():
    conn = open_memory()
    ensure_schema(conn, TRIGGER_STORE)
    yield SqliteTriggerRows(conn)
    conn.close()


def _sub(rows, sid, scope, handle, stype="cron", skey="k", enabled=True, at=1):
    rows.insert_subscription(sid, scope, handle, stype, skey, enabled, at, at, f'{{"id":"{sid}"}}')


def test_subscription_numbers_are_never_reused_after_rollback(rows):
    assert rows.next_subscription_number() == 1
    with pytest.raises(RuntimeError):
        with write_transaction(rows.conn):
            assert rows.next_subscription_number() == 2
            raise RuntimeError("roll back")
    # the rolled-back number is not consumed (AUTOINCREMENT's counter rolled back too)
    assert rows.next_subscription_number() == 2
    assert rows.next_subscription_number() == 3


def test_list_filters_and_order(rows):
    _sub(rows, "s3", "scope-b", "h1")
    _sub(rows, "s2", "scope-a", "h2", enabled=False)
    _sub(rows, "s1", "scope-a", "h1", stype="webhook", skey="w")
    assert rows.list_subscriptions() == [("s1", '{"id":"s1"}'), ("s2", '{"id":"s2"}'), ("s3", '{"id":"s3"}')]
    assert [r[0] for r in rows.list_subscriptions(handle="h1")] == ["s1", "s3"]
    assert [r[0] for r in rows.list_subscriptions(source_type="cron")] == ["s2", "s3"]
    assert [r[0] for r in rows.list_subscriptions(source_type="cron", source_key="k", enabled=True)] == ["s3"]
    assert [r[0] for r in rows.list_subscriptions(enabled=False)] == ["s2"]
    assert sorted(rows.every_subscription()) == [("s1", '{"id":"s1"}'), ("s2", '{"id":"s2"}'),
                                                 ("s3", '{"id":"s3"}')]
    assert sorted(rows.by_handle("h1")) == [("s1", True, '{"id":"s1"}'), ("s3", True, '{"id":"s3"}')]
    assert rows.by_handle("h2") == [("s2", False, '{"id":"s2"}')]
    assert rows.matching("cron", "k") == [("s3", '{"id":"s3"}')]


def test_update_delete_and_u64_times(rows):
    _sub(rows, "s", "scope", "h", at=U64_MAX)
    assert rows.conn.execute("SELECT created_at_ms, enabled FROM trigger_subscriptions").fetchall() == [(-1, 1)]
    rows.update_subscription("s", "other-handle", False, 5, "{}")  # the handle must match too
    assert rows.by_handle("h") == [("s", True, '{"id":"s"}')]
    rows.update_subscription("s", "h", False, 7, '{"v":2}')
    assert rows.by_handle("h") == [("s", False, '{"v":2}')]
    assert rows.conn.execute("SELECT updated_at_ms FROM trigger_subscriptions").fetchall() == [(7,)]
    assert rows.delete_subscription("s") is True
    assert rows.delete_subscription("s") is False


def test_occurrences_and_deliveries(rows):
    _sub(rows, "s", "scope", "h")
    assert rows.occurrence_by_key("key") is None
    assert rows.occurrence_by_id("o") is None
    rows.insert_occurrence("o", "key", "rh", "cron", "k", U64_MAX, '{"o":1}')
    assert rows.occurrence_by_key("key") == ("rh", '{"o":1}')
    assert rows.occurrence_by_id("o") == '{"o":1}'
    assert rows.insert_delivery("o", "s", "p1", 9) is True
    assert rows.insert_delivery("o", "s", "p2", 10) is False
    assert rows.conn.execute("SELECT process_id, created_at_ms FROM trigger_deliveries").fetchall() == [("p1", 9)]
