"""The session row's listing columns on a real PostgreSQL server (issue 15, ``postgres/schema.py``):
``live_nodes``, ``dead_nodes``, ``user_nodes``, ``first_user_seq`` and ``node_bytes`` equal a scan of
the graph after random commits, tombstones, replaces and vacuums — on a store created at the current
schema and on one upgraded from version 1 — and on an import by ``migrate``; a commit updates the
session row once, as a HOT update; ``sessions list`` and doctor read and check them.
"""

from __future__ import annotations

import itertools
import json
import random

import psycopg
import pytest

from lashdb.engine import open_backend
from lashdb.engine.base.errors import SchemaUpgradeRequired
from lashdb.engine.ops.backend import open_backend as open_ops_backend
from lashdb.engine.postgres import schema
from lashdb.engine.postgres.connection import PgDatabase
from lashdb.engine.postgres.session_backend import PgSessionBackend
from lashdb.engine.postgres.session_rows import SessionRow
from lashdb.engine.postgres.transfer import open_transfer
from lashdb.engine.session.commit_model import GraphDelta
from lashdb.engine.session.model import GraphNode
from runtime_support import LEASE_TTL, commit_for

COLUMNS = ", ".join(schema.COUNT_COLUMNS)


def _sql(url: str, *statements: str, params: tuple = ()) -> list:
    with psycopg.connect(url, autocommit=True) as conn:
        out = []
        for s in statements:
            cur = conn.execute(s, params)
            out = cur.fetchall() if cur.description else out
        return out


def stored_and_scanned(url: str) -> tuple[dict, dict]:
    """Per session: the stored listing columns, and what a scan of the graph says they should be."""
    stored = {r[0]: tuple(r[1:]) for r in _sql(url, f"SELECT session_id, {COLUMNS} FROM lash_sessions")}
    scanned = {r[0]: tuple(r[1:]) for r in _sql(url, f"{schema.GRAPH_COUNTS} GROUP BY n.session_id")}
    # A session without any node row has nothing to scan: all zero, no first user message.
    return stored, {sid: scanned.get(sid, (0, 0, 0, None, 0)) for sid in stored}


def _node(node_id: str, parent: str | None, kind: int) -> GraphNode:
    """A node of one of the shapes the picker rule must tell apart."""
    if kind == 0:  # a user message
        payload = {"kind": "event", "event": {"Conversation": {"role": "User", "parts": [
            {"kind": "Text", "content": f"question {node_id} ünïcode"}]}}}
    elif kind == 1:  # an assistant message that mentions "User"
        payload = {"kind": "event", "event": {"Conversation": {"role": "Assistant", "parts": [
            {"kind": "Text", "content": 'the "User" said'}]}}}
    elif kind == 2:  # not an event, though its text has "User" in quotes
        payload = {"kind": "note", "text": '"User"', "event": {"Conversation": {"role": "User"}}}
    else:  # a tool call
        payload = {"kind": "event", "event": {"ToolCall": {"name": "ls", "args": {}}}}
    return GraphNode(node_id, "2026-01-01T00:00:00Z", payload, parent_node_id=parent)


_IDS: dict[str, list[str]] = {}
_SERIAL = itertools.count()


def drive(store, sid: str, rng: random.Random, turns: int, check=None) -> None:
    """Random commits (appends and full replaces), tombstones and vacuums on ``store``."""
    ids = _IDS.setdefault(sid, [])
    for _turn in range(turns):
        action = rng.random()
        if action < 0.12 and ids:
            store.tombstone_nodes(rng.sample(ids, min(len(ids), rng.randint(1, 3))) + ["missing"])
        elif action < 0.18:
            store.vacuum()
        else:
            nodes = [_node(f"{sid}-{next(_SERIAL)}", ids[-1] if ids else None, rng.randrange(4))
                     for _ in range(rng.randint(0, 4))]
            replace = action < 0.24
            graph = GraphDelta.replace_full(nodes) if replace else GraphDelta.append(nodes)
            lease = store.try_claim_session_execution_lease(sid, "runner", LEASE_TTL)
            store.commit_runtime_state(commit_for(sid, graph=graph).under_lease(lease))  # releases it
            ids[:] = [n.node_id for n in nodes] if replace else ids + [n.node_id for n in nodes]
        if check is not None:
            check()


def test_the_listing_columns_equal_a_scan_after_random_commits_tombstones_and_vacuums(pg_url):
    backend = open_backend(pg_url)
    try:
        rng = random.Random(15)
        _IDS.clear()
        sids = ["alpha", "beta", "gamma"]
        stores = {sid: backend.session_store(sid) for sid in sids}

        def check() -> None:
            stored, scanned = stored_and_scanned(pg_url)
            assert stored == scanned

        for _ in range(4):
            for sid in sids:
                drive(stores[sid], sid, rng, 15, check)
        stored, _ = stored_and_scanned(pg_url)
        assert any(v[2] > 0 for v in stored.values()) and any(v[1] > 0 or v[0] > 0 for v in stored.values())
        for s in stores.values():
            s.close()
    finally:
        backend.close()


def test_tombstoning_the_first_user_message_hands_the_role_on(pg_url):
    db = PgDatabase.open(pg_url)
    try:
        b = PgSessionBackend(db, "s")
        user = json.dumps({"kind": "event", "event": {"Conversation": {"role": "User", "parts": []}}})
        other = json.dumps({"kind": "event", "event": {"Conversation": {"role": "Assistant", "parts": []}}})
        b.write(lambda tx: tx.graph.insert([("a", other), ("u1", user), ("b", other), ("u2", user)]))
        row = lambda: b.read(lambda tx: dict(tx.row.get()))  # noqa: E731
        assert (row()["user_nodes"], row()["first_user_seq"], row()["live_nodes"]) == (2, 2, 4)
        b.write(lambda tx: tx.graph.tombstone(["u1"]))
        assert (row()["user_nodes"], row()["first_user_seq"], row()["dead_nodes"]) == (1, 4, 1)
        b.write(lambda tx: tx.graph.tombstone(["u2", "a"]))
        assert (row()["user_nodes"], row()["first_user_seq"], row()["live_nodes"]) == (0, None, 1)
        stored, scanned = stored_and_scanned(pg_url)
        assert stored == scanned
    finally:
        db.close()


def test_a_commit_updates_the_session_row_once_and_hot(pg_url):
    backend = open_backend(pg_url)
    try:
        with backend.session_store("s") as store:
            drive(store, "s", random.Random(1), 3)
            # Count row updates of lash_sessions per commit with a trigger.
            _sql(pg_url, "CREATE TABLE updates (n INT)",
                 "CREATE FUNCTION count_update() RETURNS trigger LANGUAGE plpgsql AS "
                 "$$ BEGIN INSERT INTO updates VALUES (1); RETURN NEW; END $$",
                 "CREATE TRIGGER counted AFTER UPDATE ON lash_sessions FOR EACH ROW EXECUTE FUNCTION count_update()")
            lease = store.try_claim_session_execution_lease("s", "runner", LEASE_TTL)
            nodes = [_node("n1", None, 0), _node("n2", "n1", 1)]
            store.commit_runtime_state(commit_for("s", graph=GraphDelta.append(nodes)).under_lease(lease))
            assert _sql(pg_url, "SELECT count(*) FROM updates") == [(1,)]
        with psycopg.connect(pg_url) as conn:  # one transaction: its own statistics are exact
            row = SessionRow(conn, "s")
            row.set(head_revision=row.get()["head_revision"] + 1, live_nodes=row.get()["live_nodes"])
            row.flush()
            updated, hot = conn.execute(
                "SELECT pg_stat_get_xact_tuples_updated('lash_sessions'::regclass), "
                "pg_stat_get_xact_tuples_hot_updated('lash_sessions'::regclass)").fetchone()
            conn.rollback()
        assert (updated, hot) == (1, 1)
    finally:
        backend.close()


def _downgrade_to_v1(url: str) -> None:
    """Make the current schema what lashdb's schema version 1 was (no listing columns but live_nodes,
    an index on updated_at_ms, default fillfactor)."""
    _sql(url, "ALTER TABLE lash_sessions DROP COLUMN dead_nodes, DROP COLUMN user_nodes, "
              "DROP COLUMN first_user_seq, DROP COLUMN node_bytes",
         "ALTER TABLE lash_sessions RESET (fillfactor)",
         "CREATE INDEX idx_lash_sessions_updated ON lash_sessions(updated_at_ms)",
         "UPDATE lash_sessions SET live_nodes = 0",  # to be recounted
         "UPDATE lash_schema_versions SET version = 1 WHERE component = 'lashdb'")


def test_a_version_1_store_is_upgraded_on_open_and_its_columns_filled_from_the_graph(pg_url):
    backend = open_backend(pg_url)
    rng = random.Random(7)
    try:
        for sid in ("one", "two", "empty"):
            with backend.session_store(sid) as store:
                drive(store, sid, rng, 0 if sid == "empty" else 25)
    finally:
        backend.close()
    before = stored_and_scanned(pg_url)[1]
    _downgrade_to_v1(pg_url)

    # A look never writes, so it cannot upgrade: refused, the store unchanged.
    with pytest.raises(SchemaUpgradeRequired) as caught:
        PgDatabase.open(pg_url, readonly=True)
    assert "version 1" in str(caught.value) and "opens it for writing" in str(caught.value)
    assert _sql(pg_url, "SELECT version FROM lash_schema_versions") == [(1,)]
    ops = open_ops_backend(pg_url)  # doctor reads the clock and the schema, and upgrades nothing
    try:
        report = ops.doctor(now_ms=ops.now_ms())
    finally:
        ops.close()
    finding, = report.files[0].findings
    assert finding.check == "schema" and "schema version 1" in finding.message and report.unusable is None
    assert _sql(pg_url, "SELECT version FROM lash_schema_versions") == [(1,)]

    PgDatabase.open(pg_url).close()  # a writer's open upgrades it
    assert _sql(pg_url, "SELECT version FROM lash_schema_versions") == [(schema.VERSION,)]
    stored, scanned = stored_and_scanned(pg_url)
    assert stored == scanned == before and scanned["one"][0] > 0
    assert _sql(pg_url, "SELECT indexname FROM pg_indexes WHERE tablename = 'lash_sessions' "
                        "AND indexname = 'idx_lash_sessions_updated'") == []
    assert _sql(pg_url, "SELECT reloptions FROM pg_class WHERE relname = 'lash_sessions'") == [(["fillfactor=70"],)]

    # And commits on the upgraded store keep them.
    backend = open_backend(pg_url)
    try:
        with backend.session_store("one") as store:
            drive(store, "one", rng, 25)
    finally:
        backend.close()
    stored, scanned = stored_and_scanned(pg_url)
    assert stored == scanned


def test_the_listing_and_doctor_read_the_columns_and_doctor_flags_a_mismatch(pg_url):
    backend = open_backend(pg_url)
    try:
        with backend.session_store("s") as store:
            lease = store.try_claim_session_execution_lease("s", "runner", LEASE_TTL)
            nodes = [_node("n1", None, 1), _node("n2", "n1", 0), _node("n3", "n2", 0)]
            store.commit_runtime_state(commit_for("s", graph=GraphDelta.append(nodes)).under_lease(lease))
    finally:
        backend.close()
    ops = open_ops_backend(pg_url)
    try:
        row, = ops.list_sessions()
        assert (row.live_nodes, row.user_messages) == (3, 2)
        assert row.first_user_message == "question n2 ünïcode"
        report = ops.doctor(now_ms=0)
        assert [f for f in report.files[1].findings if f.check == "listing_columns"] == []

        _sql(pg_url, "UPDATE lash_sessions SET user_nodes = 5, first_user_seq = 3")  # a writer that did not keep them
        row, = ops.list_sessions()
        assert (row.user_messages, row.first_user_message) == (5, "question n3 ünïcode")  # O(1): what is stored
        found = [f for f in ops.doctor(now_ms=0).files[1].findings if f.check == "listing_columns"]
        assert len(found) == 1 and "user messages: stored 5, graph 2" in found[0].message
        assert "first user message" in found[0].message
    finally:
        ops.close()

    with open_backend(pg_url).session_store("s") as store:  # the remedy: vacuum recounts
        store.vacuum()
    stored, scanned = stored_and_scanned(pg_url)
    assert stored == scanned and stored["s"][2] == 2


def test_an_import_by_migrate_sets_the_columns_from_the_imported_graph(pg_url):
    backend = open_backend(pg_url)
    try:
        with backend.session_store("src") as store:
            drive(store, "src", random.Random(3), 30)
    finally:
        backend.close()
    transfer = open_transfer(pg_url)
    try:
        records = transfer.export("src")
        transfer.remove("src")
        transfer.import_session("src", records)
    finally:
        transfer.close()
    stored, scanned = stored_and_scanned(pg_url)
    assert stored == scanned and stored["src"][0] + stored["src"][1] > 0


def test_a_listing_row_reads_one_graph_node_at_most_whatever_the_sessions_size(pg_url):
    backend = open_backend(pg_url)
    try:
        with backend.session_store("big") as store:
            drive(store, "big", random.Random(5), 40)
    finally:
        backend.close()
    from lashdb.engine.postgres import catalog

    sql, params = catalog.listing_statement(sort="modified")
    assert params == ()
    with psycopg.connect(pg_url) as conn:
        conn.execute("SET enable_seqscan = off")  # the plan a large table gets, on this small one
        plan = conn.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + sql).fetchone()[0][0]["Plan"]
    graph = []

    def walk(node: dict) -> None:
        if node.get("Relation Name") == "lash_graph_nodes":
            graph.append(node)
        for child in node.get("Plans", ()):
            walk(child)

    walk(plan)
    # One probe of (session_id, seq) at first_user_seq, returning at most one row per session.
    assert len(graph) == 1 and graph[0]["Index Name"] == "idx_lash_graph_nodes_seq"
    assert "first_user_seq" in graph[0]["Index Cond"] and graph[0]["Actual Rows"] <= 1
