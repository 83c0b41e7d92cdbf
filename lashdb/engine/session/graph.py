"""The session graph (``graph_nodes``): append-only rows, tombstones, active-path walks.

Contract: functions take the transaction's :class:`~.ports.SessionTx` (statements behind
:class:`~.ports.GraphRows`); the caller owns the transaction. Inserts are batched. Every read hides
tombstoned rows. A row whose JSON cannot be read raises :class:`BackendError` naming its node id
(upstream skipped such rows silently). The active-path walk costs one indexed lookup per level of
depth, whatever the graph's size, and stops with an error on a parent cycle.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from lashdb.engine.base.errors import BackendError

from .model import GraphNode, dumps
from .ports import SessionTx


def _decode(node_id: str, node_json: str) -> GraphNode:
    try:
        return GraphNode.from_json(json.loads(node_json))
    except (ValueError, TypeError) as exc:
        raise BackendError(f"graph node `{node_id}` cannot be decoded: {exc}") from exc


def insert_nodes(tx: SessionTx, nodes: Iterable[GraphNode]) -> None:
    """Append nodes in order; an existing node id (even tombstoned) is a constraint error."""
    tx.graph.insert([(n.node_id, dumps(n.to_json())) for n in nodes])


def replace_nodes(tx: SessionTx, nodes: Iterable[GraphNode]) -> None:
    """Delete every row, tombstoned ones included, then insert ``nodes`` in order."""
    tx.graph.replace([(n.node_id, dumps(n.to_json())) for n in nodes])


def load_nodes(tx: SessionTx) -> list[GraphNode]:
    """Every live node in ``seq`` order."""
    return [_decode(node_id, node_json) for node_id, node_json in tx.graph.live()]


def load_node(tx: SessionTx, node_id: str) -> GraphNode | None:
    """The live node with ``node_id``, or ``None`` (absent or tombstoned)."""
    node_json = tx.graph.live_one(node_id)
    return None if node_json is None else _decode(node_id, node_json)


def active_path(tx: SessionTx, leaf_node_id: str) -> list[GraphNode]:
    """Nodes from the root to ``leaf_node_id`` following ``parent_node_id``, root first."""
    by_id = {node_id: (node_json, parent) for node_id, node_json, parent in tx.graph.path_rows(leaf_node_id)}
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


def live_count(tx: SessionTx) -> int:
    """Number of non-tombstoned rows."""
    return tx.graph.live_count()


def tombstoned_count(tx: SessionTx) -> int:
    """Number of tombstoned rows still stored."""
    return tx.graph.tombstoned_count()


def tombstone(tx: SessionTx, node_ids: Iterable[str]) -> None:
    """Mark nodes tombstoned; unknown ids are ignored."""
    tx.graph.tombstone(node_ids)


def remove_tombstoned(tx: SessionTx) -> int:
    """Physically delete tombstoned rows; return how many went."""
    return tx.graph.remove_tombstoned()
