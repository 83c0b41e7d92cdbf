"""RegistryStatements: the shared registry statements, run on an in-memory SQLite database laid out
as a scoped store (two roots side by side) to check that every read and write stays in its scope,
and recorded against the PostgreSQL dialect to check its spelling."""

from __future__ import annotations

import sqlite3

from lashdb.engine.base.ints import U64_MAX
from lashdb.engine.postgres.inspect_deployment import DIALECT as PG
from lashdb.engine.sqlbase.dialect import Dialect
from lashdb.engine.sqlbase.registry import RegistryStatements

SCOPED = Dialect(tables={"processes": "lash_processes", "process_events": "lash_process_events",
                         "process_handle_grants": "lash_grants", "process_wake_acks": "lash_acks",
                         "process_leases": "lash_leases"},
                 scope_column="root", collation=" COLLATE BINARY", orders_by_key=True, native_bool=True)

SCHEMA = """
CREATE TABLE lash_processes (root TEXT, process_id TEXT, registration_hash TEXT, owner_scope_id TEXT,
    created_at_ms INTEGER, updated_at_ms INTEGER, status TEXT, record_json TEXT, PRIMARY KEY (root, process_id));
CREATE TABLE lash_process_events (root TEXT, process_id TEXT, sequence INTEGER, event_type TEXT,
    payload_hash TEXT, idempotency_key TEXT, occurred_at_ms INTEGER, event_json TEXT,
    PRIMARY KEY (root, process_id, sequence));
CREATE TABLE lash_grants (root TEXT, session_id TEXT, scope_id TEXT, process_id TEXT, descriptor_json TEXT,
    PRIMARY KEY (root, scope_id, process_id));
CREATE TABLE lash_acks (root TEXT, process_id TEXT, sequence INTEGER, PRIMARY KEY (root, process_id, sequence));
CREATE TABLE lash_leases (root TEXT, process_id TEXT, lease_owner_id TEXT, lease_token TEXT,
    lease_fencing_token INTEGER, lease_claimed_at_ms INTEGER, lease_expires_at_ms INTEGER,
    PRIMARY KEY (root, process_id));
"""


class _Rows(RegistryStatements):
    def __init__(self, conn, root, dialect=SCOPED):
        super().__init__(dialect.scoped(root))
        self.conn = conn
        self.statements: list[tuple[str, tuple]] = []

    def _all(self, sql, params):
        self.statements.append((sql, params))
        return [tuple(r) for r in self.conn.execute(sql, params)]

    def _changed(self, sql, params):
        self.statements.append((sql, params))
        return self.conn.execute(sql, params).rowcount


def _fill(rows, tag):
    for pid, status in (("pb", "running"), ("pa", "exited"), ("pB", "running")):
        rows.insert_process(pid, "h", "owner", U64_MAX, status, f'{{"{pid}":"{tag}"}}')
    rows.put_grant("s" + tag, "scope", "pb", "d" + tag)
    rows.insert_event("pb", 1, "started", "ph", "key", 7, "e1" + tag)
    rows.insert_event("pb", 2, "waiting", "ph2", None, 8, "e2" + tag)
    rows.add_wake_ack("pb", 2)
    rows.put_lease("pb", "owner" + tag, "tok", U64_MAX, 1, 2)


def _two_roots():
    conn = sqlite3.connect(":memory:")
    conn.executescript(SCHEMA)
    r1, r2 = _Rows(conn, "r1"), _Rows(conn, "r2")
    _fill(r1, "1")
    _fill(r2, "2")  # the same keys under another root: no conflict, no leak
    return r1, r2


def test_reads_see_only_their_scope_and_list_text_bytewise():
    r1, r2 = _two_roots()
    assert r1.list_processes() == ['{"pB":"1"}', '{"pa":"1"}', '{"pb":"1"}']
    assert r1.list_running() == ['{"pB":"1"}', '{"pb":"1"}']
    assert r2.load_process("pa") == '{"pa":"2"}' and r1.load_process("nope") is None
    assert r1.grants_for_scope("scope", running_only=True) == [("pb", "d1", '{"pb":"1"}')]
    assert r1.grants_for_process("pb") == [("s1", "d1")]
    assert r1.session_grants("s2") == [] and r2.session_grants("s2") == [("pb", '{"pb":"2"}')]
    assert r1.has_grant("scope", "pb") and not r1.has_grant("scope", "pa")
    assert r1.count_grants("pb") == 1 and r1.grant_descriptor("scope", "pb") == "d1"
    assert r1.event_by_key("pb", "key") == ("ph", "e11") and r1.next_sequence("pb") == 3
    assert r1.events_after("pb", 1) == ["e21"] and r1.recent_events("pb", 1) == ["e21"]
    assert r1.count_events_through("pb", "started", U64_MAX) == 1  # the cursor is clamped, not overflowed
    assert r1.find_event_after("pb", "waiting", 0) == "e21" and r1.find_event_after("pb", "nope", 0) is None
    assert r1.wake_acks("pb") == {2}
    assert r1.lease("pb") == ("owner1", "tok", U64_MAX, 1, 2) and r1.lease("pa") is None


def test_writes_change_only_their_scope_and_report_what_they_changed():
    r1, r2 = _two_roots()
    r1.put_grant("s9", "scope", "pb", "d9")  # the upsert replaces r1's grant only
    assert r1.grants_for_process("pb") == [("s9", "d9")] and r2.grants_for_process("pb") == [("s2", "d2")]
    assert r1.add_wake_ack("pb", 2) is False and r1.add_wake_ack("pb", U64_MAX) is True
    assert r1.wake_acks("pb") == {2, U64_MAX} and r2.wake_acks("pb") == {2}
    assert r1.extend_lease("pb", "other", 9) is False and r1.extend_lease("pb", "tok", 9) is True
    assert r1.release_lease("pb", "tok") is True
    assert r1.lease("pb") == (None, None, U64_MAX, 0, 0) and r2.lease("pb") == ("owner2", "tok", U64_MAX, 1, 2)
    r1.save_process("pa", 5, "running", "{}")
    assert r1.load_process("pa") == "{}" and r2.load_process("pa") == '{"pa":"2"}'
    assert r1.delete_grant("scope", "pb") is True and r1.delete_grant("scope", "pb") is False
    assert r2.delete_session_grants("s2") == 1 and r2.count_grants("pb") == 0


class _Recorder(_Rows):
    def _all(self, sql, params):
        self.statements.append((sql, params))
        return []

    def _changed(self, sql, params):
        self.statements.append((sql, params))
        return 1


def test_the_postgres_dialect_leads_each_key_with_the_root():
    rows = _Recorder(None, "root-1", PG)
    rows.put_grant("s", "scope", "p", "d")
    rows.add_wake_ack("p", 3)
    assert rows.statements == [
        ("INSERT INTO lash_process_handle_grants (root_session_id, session_id, scope_id, process_id, "
         "descriptor_json) VALUES (%s, %s, %s, %s, %s) ON CONFLICT (root_session_id, scope_id, process_id) "
         "DO UPDATE SET session_id = excluded.session_id, descriptor_json = excluded.descriptor_json",
         ("root-1", "s", "scope", "p", "d")),
        ("INSERT INTO lash_process_wake_acks (root_session_id, process_id, sequence) VALUES (%s, %s, %s) "
         "ON CONFLICT (root_session_id, process_id, sequence) DO NOTHING", ("root-1", "p", 3))]
    rows.statements.clear()
    rows.has_grant("scope", "p")
    assert rows.statements == [
        ("SELECT 1 FROM lash_process_handle_grants g JOIN lash_processes p ON p.root_session_id = g.root_session_id "
         "AND p.process_id = g.process_id WHERE g.root_session_id = %s AND g.scope_id = %s AND g.process_id = %s "
         "LIMIT 1", ("root-1", "scope", "p"))]
