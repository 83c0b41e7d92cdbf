"""DeploymentReader: the shared read statements, run here on an in-memory SQLite database laid out
as a scoped store (mapped ``lash_*`` tables with a ``root`` column) to check scoping and ordering
without a server, and recorded against the PostgreSQL dialect to check its spelling."""

from __future__ import annotations

import sqlite3

import pytest

from lashdb.engine.base.ints import U64_MAX, to_i64
from lashdb.engine.postgres.inspect_deployment import DIALECT as PG
from lashdb.engine.sqlbase.dialect import Dialect
from lashdb.engine.sqlbase.inspect_deployment import DeploymentReader

TABLES = {"processes": "lash_processes", "process_events": "lash_process_events",
          "process_handle_grants": "lash_grants", "process_wake_acks": "lash_acks",
          "process_leases": "lash_leases", "trigger_subscriptions": "lash_subs",
          "trigger_occurrences": "lash_occ", "trigger_deliveries": "lash_deliveries"}
SCOPED = Dialect(tables=TABLES, scope_column="root", collation=" COLLATE BINARY", orders_by_key=True,
                 native_bool=True)

SCHEMA = """
CREATE TABLE lash_processes (root TEXT, process_id TEXT, status TEXT, created_at_ms INTEGER, record_json TEXT);
CREATE TABLE lash_process_events (root TEXT, process_id TEXT, sequence INTEGER, event_type TEXT,
                                  occurred_at_ms INTEGER, event_json TEXT);
CREATE TABLE lash_grants (root TEXT, session_id TEXT, scope_id TEXT, process_id TEXT, descriptor_json TEXT);
CREATE TABLE lash_acks (root TEXT, process_id TEXT, sequence INTEGER);
CREATE TABLE lash_leases (root TEXT, process_id TEXT, lease_token TEXT);
CREATE TABLE lash_subs (root TEXT, subscription_id TEXT, source_type TEXT, enabled BOOLEAN, owner_scope TEXT);
CREATE TABLE lash_occ (root TEXT, occurrence_id TEXT, source_type TEXT, source_key TEXT, occurred_at_ms INTEGER);
CREATE TABLE lash_deliveries (root TEXT, occurrence_id TEXT, subscription_id TEXT, process_id TEXT,
                              created_at_ms INTEGER);
"""


class _Reader(DeploymentReader):
    def __init__(self, conn, dialect, columns):
        super().__init__(dialect, ":memory:", "process registry", 1, 1, False, columns, ())
        self.conn = conn
        self.statements: list[tuple[str, tuple]] = []

    def close(self):
        self.conn.close()

    def _execute(self, sql, params):
        self.statements.append((sql, params))
        return [tuple(r) for r in self.conn.execute(sql, params)]


def _store():
    conn = sqlite3.connect(":memory:")
    conn.executescript(SCHEMA)
    for root in ("r1", "r2"):  # r2 mirrors r1 with other values: any unscoped read would show it
        tag = root[-1]
        for pid, status in (("pb", "running"), ("pa", "exited"), ("pB", "running")):
            conn.execute("INSERT INTO lash_processes VALUES (?, ?, ?, 5, '{}')", (root, pid, status))
        for seq, kind in ((1, "started"), (2, "waiting")):
            conn.execute("INSERT INTO lash_process_events VALUES (?, 'pa', ?, ?, ?, '{}')",
                         (root, seq, kind + tag, to_i64(U64_MAX) if seq == 2 else 7))
        conn.execute("INSERT INTO lash_grants VALUES (?, ?, 'scope', 'pb', 'd')", (root, "s" + tag))
        conn.execute("INSERT INTO lash_acks VALUES (?, 'pa', ?)", (root, int(tag)))
        conn.execute("INSERT INTO lash_leases VALUES (?, 'pb', 't'), (?, 'pa', 't')", (root, root))
        conn.execute("INSERT INTO lash_subs VALUES (?, 'sub-b', 'cron', 1, 'o'), (?, 'sub-a', 'mail', 0, 'o')",
                     (root, root))
        for oid, at in (("o2", 20), ("o1", 20), ("o3", 10)):
            conn.execute("INSERT INTO lash_occ VALUES (?, ?, 'cron', 'k', ?)", (root, oid, at))
        conn.execute("INSERT INTO lash_deliveries VALUES (?, 'o2', 'sub-b', 'pb', ?), (?, 'o1', 'sub-b', 'pa', 3)",
                     (root, to_i64(U64_MAX), root))
    columns = {}
    for name, table in TABLES.items():
        columns[name] = frozenset(r[1] for r in conn.execute(f"PRAGMA table_info({table})")) - {"root"}
    return conn, columns


@pytest.fixture
def reader():
    conn, columns = _store()
    r = _Reader(conn, SCOPED.scoped("r1"), columns)
    yield r
    r.close()


def test_every_read_is_confined_to_the_scope_and_ordered_by_key(reader):
    assert [p["process_id"] for p in reader.process_rows()] == ["pB", "pa", "pb"]  # bytewise: B < a
    assert reader.process_rows()[0] == {"process_id": "pB", "status": "running", "created_at_ms": 5,
                                        "record_json": "{}"}  # absent columns left out
    assert [p["process_id"] for p in reader.process_rows(status="running", limit=1)] == ["pB"]
    assert reader.process_rows(limit=-3) == []
    assert [p["process_id"] for p in reader.process_rows(grant_session="s1")] == ["pb"]
    assert reader.process_rows(grant_session="s2") == []  # r2's grant is not r1's
    assert list(reader.statuses().items()) == [("pB", "running"), ("pa", "exited"), ("pb", "running")]
    assert reader.event_stats() == {"pa": (2, "waiting1", U64_MAX)}
    assert reader.grant_counts() == {"pb": 1}
    assert reader.acked_sequences("pa") == {1}
    assert [e["event_type"] for e in reader.event_rows("pa")] == ["waiting1", "started1"]
    assert [e["sequence"] for e in reader.event_rows("pa", limit=1)] == [2]
    assert reader.grant_rows() == [("s1", "scope", "pb", "d")]
    assert reader.grant_rows(session_id="s2") == []
    assert [x["process_id"] for x in reader.lease_rows()] == ["pa", "pb"]


def test_trigger_reads_flags_registrant_and_deliveries(reader):
    assert reader.registrant_column() == "owner_scope"
    subs = reader.subscription_rows()
    assert [(s["subscription_id"], s["enabled"]) for s in subs] == [("sub-a", 0), ("sub-b", 1)]
    assert [s["subscription_id"] for s in reader.subscription_rows(enabled=True)] == ["sub-b"]
    assert [s["subscription_id"] for s in reader.subscription_rows(source_type="mail")] == ["sub-a"]
    assert [o["occurrence_id"] for o in reader.occurrence_rows()] == ["o1", "o2", "o3"]
    assert [o["occurrence_id"] for o in reader.occurrence_rows(since_ms=15, limit=1)] == ["o1"]
    assert [o["occurrence_id"] for o in reader.occurrence_rows(occurrence_id="o3")] == ["o3"]
    assert reader.has_deliveries() is True
    assert reader.delivery_rows() == [("o1", "sub-b", "pa", 3), ("o2", "sub-b", "pb", U64_MAX)]
    assert reader.delivery_rows(occurrence_id="o2", subscription_id="sub-b") == [("o2", "sub-b", "pb", U64_MAX)]
    assert reader.delivery_counts("subscription_id") == {"sub-b": 2}
    assert reader.delivery_counts("process_id") == {}  # only the two fixed columns are allowed


def test_a_missing_table_or_column_reads_as_none_or_empty_never_guessed():
    conn, columns = _store()
    thin = {"processes": frozenset({"process_id"}), "trigger_subscriptions": frozenset({"subscription_id"})}
    r = _Reader(conn, SCOPED.scoped("r1"), thin)
    try:
        assert r.grant_counts() is None and r.grant_rows() is None and r.acked_sequences("pa") is None
        assert r.event_stats() == {} and r.delivery_counts("occurrence_id") == {}
        assert r.registrant_column() is None and r.has_deliveries() is False
        assert r.statuses() == {"pB": None, "pa": None, "pb": None}
        assert r.lease_rows() == [] and r.occurrence_rows() == []
        assert r.statements[-1][0].startswith("SELECT process_id FROM lash_processes")
    finally:
        r.close()


class _Recorder(_Reader):
    def _execute(self, sql, params):
        self.statements.append((sql, params))
        return []


def test_the_postgres_dialect_binds_the_root_first_and_orders_bytewise():
    conn, columns = _store()
    reader = _Recorder(conn, PG.scoped("root-1"), columns)
    reader.process_rows(status="running", grant_session="s1", limit=5)
    reader.event_stats()
    assert reader.statements == [
        ("SELECT process_id, status, created_at_ms, record_json FROM lash_processes WHERE root_session_id = %s "
         "AND status = %s AND process_id IN (SELECT process_id FROM lash_process_handle_grants "
         'WHERE root_session_id = %s AND session_id = %s) ORDER BY process_id COLLATE "C" ASC LIMIT %s',
         ("root-1", "running", "root-1", "s1", 5)),
        ("SELECT e.process_id, m.n, e.event_type, e.occurred_at_ms FROM lash_process_events e JOIN "
         "(SELECT process_id, COUNT(*) AS n, MAX(sequence) AS s FROM lash_process_events "
         "WHERE root_session_id = %s GROUP BY process_id) m ON e.process_id = m.process_id AND e.sequence = m.s "
         "WHERE e.root_session_id = %s", ("root-1", "root-1"))]
    reader.close()
