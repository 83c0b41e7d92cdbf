"""SQLite statements of ``graph_nodes`` (decoding and the active-path walk live in ``session/graph.py``).

Contract: runs inside the caller's transaction; inserts are batched; every read hides tombstoned
rows; returns (node_id, node_json) text, never decoded nodes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import apsw

from .connection import query_one

_INSERT = "INSERT INTO graph_nodes (node_id, node_json) VALUES (?, ?)"
_COUNTS = "SELECT count(*) FILTER (WHERE tombstoned = 0), count(*) FILTER (WHERE tombstoned <> 0) FROM graph_nodes"
# The picker rule of the list's scan (inspect_session._V4_USER), over every row once.
# The picker rule of the list's scan (inspect_session._V4_USER), over every row once. CASE fixes the
# order: instr() spares the JSON parser most rows, and a row that is not JSON counts as no user
# message here instead of failing the commit.
_USER = ("CASE WHEN tombstoned = 0 AND instr(node_json, '\"User\"') > 0 AND json_valid(node_json) "
         "THEN json_extract(node_json, '$.kind', '$.event.Conversation.role') = '[\"event\",\"User\"]' "
         "ELSE 0 END")
_SUMMARY = ("SELECT live, dead, users, (SELECT node_id FROM graph_nodes WHERE seq = first) FROM ("
            "SELECT count(*) FILTER (WHERE tombstoned = 0) AS live, count(*) FILTER (WHERE tombstoned <> 0) AS dead, "
            "count(*) FILTER (WHERE u) AS users, min(seq) FILTER (WHERE u) AS first "
            f"FROM (SELECT seq, tombstoned, {_USER} AS u FROM graph_nodes))")


class SqliteGraphRows:
    """:class:`~lashdb.engine.session.ports.GraphRows` on one connection."""

    def __init__(self, conn: apsw.Connection) -> None:
        self.conn = conn

    def insert(self, rows: Sequence[tuple[str, str]]) -> None:
        """Append rows in order."""
        self.conn.executemany(_INSERT, rows)

    def replace(self, rows: Sequence[tuple[str, str]]) -> None:
        """Delete every row, then append ``rows``."""
        self.conn.execute("DELETE FROM graph_nodes")
        self.conn.executemany(_INSERT, rows)

    def live(self) -> list[tuple[str, str]]:
        """Every live row in ``seq`` order."""
        return [tuple(r) for r in self.conn.execute(
            "SELECT node_id, node_json FROM graph_nodes WHERE tombstoned = 0 ORDER BY seq")]

    def live_one(self, node_id: str) -> str | None:
        """The node_json of a live node, or ``None``."""
        row = query_one(self.conn, "SELECT node_json FROM graph_nodes WHERE node_id = ? AND tombstoned = 0",
                        (node_id,))
        return None if row is None else row[0]

    def path_rows(self, leaf_node_id: str) -> list[tuple]:
        """The live ancestors of the leaf, one indexed lookup per level."""
        # UNION (not UNION ALL) makes a cyclic chain terminate inside SQLite; the walk above
        # notices the revisit and reports it.
        return self.conn.execute(
            """
            WITH RECURSIVE active(node_id, node_json, parent_node_id) AS (
                SELECT node_id, node_json, json_extract(node_json, '$.parent_node_id')
                FROM graph_nodes WHERE node_id = ? AND tombstoned = 0
              UNION
                SELECT g.node_id, g.node_json, json_extract(g.node_json, '$.parent_node_id')
                FROM graph_nodes g JOIN active ON g.node_id = active.parent_node_id
                WHERE g.tombstoned = 0
            )
            SELECT node_id, node_json, parent_node_id FROM active
            """,
            (leaf_node_id,),
        ).fetchall()

    def live_count(self) -> int:
        """Number of live rows."""
        return int(query_one(self.conn, "SELECT count(*) FROM graph_nodes WHERE tombstoned = 0")[0])

    def tombstoned_count(self) -> int:
        """Number of tombstoned rows."""
        return int(query_one(self.conn, "SELECT count(*) FROM graph_nodes WHERE tombstoned = 1")[0])

    def summary_scan(self, with_users: bool) -> tuple[int, int, int | None, str | None]:
        """(live, tombstoned, live user messages, first user node id) in one scan; without
        ``with_users`` the last two are ``None`` and no JSON is read."""
        if not with_users:
            live, dead = query_one(self.conn, _COUNTS)
            return int(live or 0), int(dead or 0), None, None
        live, dead, users, first = query_one(self.conn, _SUMMARY)
        return int(live or 0), int(dead or 0), int(users or 0), first

    def tombstone(self, node_ids: Iterable[str]) -> None:
        """Mark nodes tombstoned."""
        self.conn.executemany("UPDATE graph_nodes SET tombstoned = 1 WHERE node_id = ?", [(i,) for i in node_ids])

    def remove_tombstoned(self) -> int:
        """Delete tombstoned rows; how many went."""
        self.conn.execute("DELETE FROM graph_nodes WHERE tombstoned = 1")
        return self.conn.changes()
