"""The session graph (``graph_nodes``): append-only rows, tombstones, active-path walks.

Contract: the caller owns the transaction. Inserts are batched (``executemany``). Every read hides
tombstoned rows. A row whose JSON cannot be read raises :class:`BackendError` naming its node id
(upstream skipped such rows silently). The active-path walk costs one indexed lookup per level of
depth, whatever the graph's size, and stops with an error on a parent cycle.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

import apsw

from lashdb.engine.sqlite.connection import query_one
from lashdb.engine.base.errors import BackendError
from .model import GraphNode, dumps

_INSERT = "INSERT INTO graph_nodes (node_id, node_json) VALUES (?, ?)"


def _decode(node_id: str, node_json: str) -> GraphNode:
    try:
        return GraphNode.from_json(json.loads(node_json))
    except (ValueError, TypeError) as exc:
        raise BackendError(f"graph node `{node_id}` cannot be decoded: {exc}") from exc


def insert_nodes(conn: apsw.Connection, nodes: Iterable[GraphNode]) -> None:
    """Append nodes in order; an existing node id (even tombstoned) is a constraint error."""
    conn.executemany(_INSERT, [(n.node_id, dumps(n.to_json())) for n in nodes])


def replace_nodes(conn: apsw.Connection, nodes: Iterable[GraphNode]) -> None:
    """Delete every row, tombstoned ones included, then insert ``nodes`` in order."""
    rows = [(n.node_id, dumps(n.to_json())) for n in nodes]
    conn.execute("DELETE FROM graph_nodes")
    conn.executemany(_INSERT, rows)


def load_nodes(conn: apsw.Connection) -> list[GraphNode]:
    """Every live node in ``seq`` order."""
    return [_decode(node_id, node_json) for node_id, node_json in conn.execute(
        "SELECT node_id, node_json FROM graph_nodes WHERE tombstoned = 0 ORDER BY seq")]


def load_node(conn: apsw.Connection, node_id: str) -> GraphNode | None:
    """The live node with ``node_id``, or ``None`` (absent or tombstoned)."""
    row = query_one(conn, "SELECT node_json FROM graph_nodes WHERE node_id = ? AND tombstoned = 0", (node_id,))
    return None if row is None else _decode(node_id, row[0])


def active_path(conn: apsw.Connection, leaf_node_id: str) -> list[GraphNode]:
    """Nodes from the root to ``leaf_node_id`` following ``parent_node_id``, root first."""
    # UNION (not UNION ALL) makes a cyclic chain terminate inside SQLite; the walk below then
    # notices the revisit and reports it.
    rows = conn.execute(
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
    by_id = {node_id: (node_json, parent) for node_id, node_json, parent in rows}
    chain: list[GraphNode] = []
    seen: set[str] = set()
    current: str | None = leaf_node_id
    while current is not None and current in by_id:
        if current in seen:
            raise BackendError(f"graph has a parent cycle at node `{current}`")
        seen.add(current)
        node_json, parent = by_id[current]
        chain.append(_decode(current, node_json))
        current = parent if isinstance(parent, str) else None
    chain.reverse()
    return chain


def live_count(conn: apsw.Connection) -> int:
    """Number of non-tombstoned rows."""
    return int(query_one(conn, "SELECT count(*) FROM graph_nodes WHERE tombstoned = 0")[0])


def tombstoned_count(conn: apsw.Connection) -> int:
    """Number of tombstoned rows still stored."""
    return int(query_one(conn, "SELECT count(*) FROM graph_nodes WHERE tombstoned = 1")[0])


def tombstone(conn: apsw.Connection, node_ids: Iterable[str]) -> None:
    """Mark nodes tombstoned; unknown ids are ignored."""
    conn.executemany("UPDATE graph_nodes SET tombstoned = 1 WHERE node_id = ?", [(i,) for i in node_ids])


def remove_tombstoned(conn: apsw.Connection) -> int:
    """Physically delete tombstoned rows; return how many went."""
    conn.execute("DELETE FROM graph_nodes WHERE tombstoned = 1")
    return conn.changes()
