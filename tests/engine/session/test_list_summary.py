"""The head's graph summary (session/list_summary.py): what `sessions list` reads instead of scanning
the graph stays equal to a scan of the rows through every lashdb write, a head without one (upstream's)
lists from the scan, and doctor reports one a writer outside lashdb left stale."""

from __future__ import annotations

import json
import random
import shutil

import apsw
import pytest

from lashdb.engine import GraphDelta, GraphNode, HydratedCheckpoint, RuntimeCommit, Store
from lashdb.engine.ops.sessions import list_sessions
from lashdb.engine.session.list_summary import HEAD_KEY, ListSummary, is_user_message
from lashdb.engine.sqlite.inspect_session import SqliteSessionReader

CONFIG = {"provider_id": "p", "model": {"id": "m"}}


def message(node_id: str, role: str, parent: str | None = None) -> GraphNode:
    return GraphNode.message(node_id, role, f"text of {node_id}", timestamp="t", parent_node_id=parent)


def plugin(node_id: str) -> GraphNode:
    return GraphNode.plugin(node_id, "x", {"role": "User"}, timestamp="t")


class Session:
    def __init__(self, path) -> None:
        self.path = path
        self.store = Store.open(path)
        self.fence = self.store.try_claim_session_execution_lease("s", "o", 3_600_000).fence()

    def commit(self, delta: GraphDelta) -> None:
        self.store.commit_runtime_state(RuntimeCommit("s", CONFIG, graph=delta, session_execution_lease=self.fence,
                                                      checkpoint=HydratedCheckpoint(tool_state={"a": 1})))

    def stored_and_scanned(self):
        def read(conn):
            reader = SqliteSessionReader(conn)
            return reader.stored_list_summary(), reader.scanned_list_summary()
        return self.store.read(read)


def listed(directory):
    [row] = list_sessions(directory)
    return row.live_nodes, row.tombstoned_nodes, row.user_messages, row.first_user_message


def test_json_form_round_trips_and_malformed_is_none():
    summary = ListSummary(3, 1, 1, "n1")
    assert ListSummary.from_json(summary.to_json()) == summary
    assert ListSummary.from_json({"live": 0, "tombstoned": 0, "user_messages": 0, "first_user_node_id": None}) \
        == ListSummary(0, 0, 0, None)
    for bad in (None, [], "x", {"live": 1}, {"live": -1, "tombstoned": 0, "user_messages": 0},
                {"live": True, "tombstoned": 0, "user_messages": 0},
                {"live": 1, "tombstoned": 0, "user_messages": 2, "first_user_node_id": "a"},
                {"live": 1, "tombstoned": 0, "user_messages": 1, "first_user_node_id": None},
                {"live": 1, "tombstoned": 0, "user_messages": 0, "first_user_node_id": "a"},
                {"live": 1, "tombstoned": 0, "user_messages": 1, "first_user_node_id": 5}):
        assert ListSummary.from_json(bad) is None, bad


def test_appended_counts_user_messages_by_the_picker_rule():
    nodes = [plugin("p"), message("a", "Assistant"), message("u1", "User"), message("u2", "User")]
    assert [is_user_message(n) for n in nodes] == [False, False, True, True]
    assert ListSummary.of_nodes(nodes) == ListSummary(4, 0, 2, "u1")
    assert ListSummary(1, 2, 0, None).appended([]) == ListSummary(1, 2, 0, None)


def test_random_writes_keep_the_summary_equal_to_a_scan(tmp_path):
    rng = random.Random(15)
    (tmp_path / "d").mkdir()
    session = Session(tmp_path / "d" / "s.db")
    session.commit(GraphDelta.append([], None))  # a head: from here on every write keeps its summary
    made = 0

    def fresh(count: int) -> list[GraphNode]:
        nonlocal made
        out = []
        for _ in range(count):
            made += 1
            kind = rng.random()
            out.append(plugin(f"n{made}") if kind < 0.2 else message(f"n{made}", "User" if kind < 0.6 else "Tool"))
        return out

    for step in range(60):
        action = rng.random()
        if action < 0.45:
            nodes = fresh(rng.randint(0, 4))
            session.commit(GraphDelta.append(nodes, nodes[-1].node_id if nodes else None))
        elif action < 0.6:
            ids = [f"n{rng.randint(1, max(made, 1))}" for _ in range(rng.randint(1, 3))] + ["missing"]
            session.store.tombstone_nodes(ids)
        elif action < 0.7:
            session.store.append_session_graph_nodes(fresh(rng.randint(1, 3)))
        elif action < 0.78:
            session.store.vacuum()
        elif action < 0.83:
            session.store.replace_session_graph(fresh(rng.randint(0, 5)))
        elif action < 0.87:
            nodes = fresh(rng.randint(0, 3))
            session.commit(GraphDelta.replace_full(nodes, nodes[-1].node_id if nodes else None))
        elif action < 0.92:
            for _ in range(rng.randint(1, 3)):  # a repeat stores nothing: content-addressed
                session.store.put_blob(bytes([rng.randint(0, 5)]) * rng.randint(1, 300))
        elif action < 0.95:
            session.store.gc_unreachable(force=True)
        else:
            session.store.close()  # a new store carries no count hint: the commit's cold path
            session.store = Store.open(session.path)
        stored, scanned = session.stored_and_scanned()
        assert stored == scanned, (step, action)
    session.store.close()
    assert listed(tmp_path / "d")[:3] == scanned[:3]


def test_a_head_without_the_summary_lists_from_the_scan(tmp_path):
    (tmp_path / "d").mkdir()
    session = Session(tmp_path / "d" / "s.db")
    session.commit(GraphDelta.append([message("a", "Tool"), message("b", "User", "a"), message("c", "User", "b")],
                                     "c"))
    session.store.tombstone_nodes(["c"])
    with_summary = listed(tmp_path / "d")
    assert with_summary == (2, 1, 1, "text of b")

    def strip(conn):  # what a head upstream wrote looks like: no lashdb key
        head = json.loads(conn.execute("SELECT head_json FROM session_head").fetchall()[0][0])
        del head[HEAD_KEY]
        conn.execute("UPDATE session_head SET head_json = ?", (json.dumps(head),))
    session.store.write(strip)
    assert session.stored_and_scanned()[0] is None
    assert listed(tmp_path / "d") == with_summary
    # The next commit (a fresh store: no hint) rebuilds it from one scan.
    session.store.close()
    session.store = Store.open(session.path)
    session.commit(GraphDelta.append([message("d", "User", "b")], "d"))
    stored, scanned = session.stored_and_scanned()
    assert stored == scanned and stored[:4] == (3, 1, 2, "b")
    session.store.close()


def test_a_summary_naming_a_hidden_first_message_is_not_trusted(tmp_path):
    (tmp_path / "d").mkdir()
    session = Session(tmp_path / "d" / "s.db")
    session.commit(GraphDelta.append([message("u1", "User"), message("u2", "User", "u1")], "u2"))
    # A writer outside lashdb (upstream's tombstone_nodes) hides rows without rewriting the head.
    session.store.write(lambda c: c.execute("UPDATE graph_nodes SET tombstoned = 1 WHERE node_id = 'u1'"))
    stored, scanned = session.stored_and_scanned()
    assert (stored[:4], scanned[:4]) == ((2, 0, 2, "u1"), (1, 1, 1, "u2"))
    assert listed(tmp_path / "d") == (1, 1, 1, "text of u2")  # the named first message is gone: scanned
    session.store.close()


def test_upstream_fixture_lists_as_the_scan_reads_it(tmp_path, fixtures_dir):
    (tmp_path / "d").mkdir()
    copy = tmp_path / "d" / "durable-core.db"
    shutil.copyfile(fixtures_dir / "durable-core.db", copy)
    [row] = list_sessions(tmp_path / "d", include_all=True)
    conn = apsw.Connection(str(copy), flags=apsw.SQLITE_OPEN_READONLY)
    reader = SqliteSessionReader(conn)
    users, first = reader.user_messages()
    assert (row.live_nodes, row.tombstoned_nodes) == reader.node_counts()
    assert row.user_messages == users
    assert reader.stored_list_summary() is None
    conn.close()
    assert first is None or row.first_user_message


@pytest.mark.parametrize("with_users", [False, True])
def test_sqlite_summary_scan_skips_rows_that_are_not_json(tmp_path, with_users):
    with Store.open(tmp_path / "s.db") as store:
        store.append_session_graph_nodes([message("u", "User")])
        store.write(lambda c: c.execute("INSERT INTO graph_nodes (node_id, node_json) VALUES ('bad', 'x \"User\"')"))
        found = store.read(lambda c: SqliteSessionReader(c).scanned_list_summary()) if with_users else \
            store.read(lambda c: SqliteSessionReader(c).stored_list_summary())
    assert found == ((2, 0, 1, "u", 0, 0) if with_users else None)


def test_tombstoning_a_node_the_model_would_refuse_counts_it_as_the_scan_does(tmp_path):
    session = Session(tmp_path / "s.db")
    session.commit(GraphDelta.append([message("u1", "User")], "u1"))
    # A user message without the fields GraphNode requires (written by hand or by another tool).
    session.store.write(lambda c: c.execute(
        "INSERT INTO graph_nodes (node_id, node_json) VALUES ('odd', ?)",
        ('{"kind":"event","event":{"Conversation":{"role":"User"}}}',)))
    session.store.vacuum()  # rebuilds from the rows: the odd node counts as a user message
    session.store.tombstone_nodes(["odd"])
    stored, scanned = session.stored_and_scanned()
    assert stored == scanned and stored[:4] == (1, 1, 1, "u1")
    session.store.close()
