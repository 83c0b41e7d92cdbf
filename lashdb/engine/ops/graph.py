"""``graph show``: a session's graph as a tree, or the active path to a leaf (CLI.md).

Contract:
- Read-only: the database is opened through :meth:`Store.open_readonly` and never written.
- Column-tolerant: a schema without ``tombstoned`` has none, one without ``parent_node_id`` reads the
  parent from the node JSON, one without ``seq`` orders by insertion. A row that does not decode is
  shown with its ``error`` instead of failing the view.
- A walk to the root is one indexed lookup per level; a parent cycle raises :class:`BackendError`.
"""

from __future__ import annotations

from lashdb.engine.base.locator import as_target

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lashdb.engine.base.errors import BackendError, LookupFailed
from lashdb.engine.session.model import GraphNode
from lashdb.engine.session.store import Store
from lashdb.engine.base.timing import parse_timestamp_ms
from .ports import read_meta, session_reader
from .views import _node_counts, _time_pair, read_head, short_ids, status_of


# --- graph show -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NodeView:
    """One graph row as ``graph show`` prints it (tolerant: a damaged row carries ``error``)."""

    seq: int
    node_id: str
    parent_node_id: str | None
    kind: str
    role: str | None
    plugin_type: str | None
    event_type: str | None
    text: str
    timestamp_raw: str | None
    tombstoned: bool
    error: str | None = None

    @property
    def label(self) -> str:
        """Role, plugin type or event type: what the node is, in one word."""
        return self.role or self.plugin_type or self.event_type or ""

    @property
    def first_line(self) -> str:
        """The first non-empty line of the node's text."""
        return self.text.strip().splitlines()[0] if self.text.strip() else ""


def _node_view(seq: int, node_id: str, node_json: Any, tombstoned: Any, parent_col: Any) -> NodeView:
    try:
        doc = json.loads(node_json)
        if not isinstance(doc, dict):
            raise ValueError(f"node_json is {type(doc).__name__}, expected an object")
    except (ValueError, TypeError) as exc:
        return NodeView(seq, node_id, parent_col if isinstance(parent_col, str) else None, "?", None, None, None,
                        "", None, bool(tombstoned), f"cannot decode: {exc}")
    parent = parent_col if isinstance(parent_col, str) else doc.get("parent_node_id")
    parent = parent if isinstance(parent, str) else None
    timestamp = doc.get("timestamp") if isinstance(doc.get("timestamp"), str) else None
    node = GraphNode(node_id, timestamp or "", doc, parent)
    kind = node.kind
    plugin_type = doc.get("plugin_type") if kind == "plugin" and isinstance(doc.get("plugin_type"), str) else None
    event = doc.get("event") if kind == "event" else None
    event_type = next(iter(event), None) if isinstance(event, dict) and len(event) == 1 else None
    role = node.role if isinstance(node.role, str) else None
    text = node.text
    if kind == "plugin":
        text = json.dumps(doc.get("body"), ensure_ascii=False, separators=(",", ":"))
    elif not text and node.conversation:
        tools = [p.get("name") for p in node.conversation.get("parts") or []
                 if isinstance(p, dict) and p.get("kind") == "ToolCall"]
        text = " ".join(f"[tool call {t}]" for t in tools if isinstance(t, str))
    return NodeView(seq, node_id, parent, kind, role, plugin_type, event_type, text, timestamp, bool(tombstoned))


@dataclass(frozen=True)
class GraphView:
    """``graph show``: nodes in display order (tree: depth-first; active path: root first)."""

    path: Path
    status: str
    foreign: bool
    session_id: str | None
    mode: str
    leaf_node_id: str | None
    live_nodes: int
    tombstoned_nodes: int
    nodes: tuple[NodeView, ...]
    depths: dict[str, int]
    on_path: frozenset[str]
    omitted: int

    def short_ids(self) -> dict[str, str]:
        """Unique short prefixes of the shown node ids."""
        return short_ids(n.node_id for n in self.nodes)

    def node_json(self, node: NodeView, short: str) -> dict[str, Any]:
        """One node's JSON object (documented keys)."""
        return {
            "node_id": node.node_id, "short_id": short, "parent_node_id": node.parent_node_id, "seq": node.seq,
            "depth": self.depths.get(node.node_id, 0), "kind": node.kind, "role": node.role,
            "plugin_type": node.plugin_type, "event_type": node.event_type, "label": node.label,
            "text": node.first_line, "full_text": node.text, **_time_pair("timestamp", parse_timestamp_ms(node.timestamp_raw)),
            "timestamp_raw": node.timestamp_raw, "tombstoned": node.tombstoned,
            "on_active_path": node.node_id in self.on_path, "error": node.error,
        }

    def to_json(self) -> dict[str, Any]:
        """The documented JSON object."""
        shorts = self.short_ids()
        return {"path": str(self.path), "status": self.status, "foreign": self.foreign,
                "session_id": self.session_id, "mode": self.mode, "leaf_node_id": self.leaf_node_id,
                "live_nodes": self.live_nodes, "tombstoned_nodes": self.tombstoned_nodes,
                "shown": len(self.nodes), "omitted": self.omitted,
                "nodes": [self.node_json(n, shorts[n.node_id]) for n in self.nodes]}


class _Graph:
    """Row access for one graph_nodes table, whatever columns it has."""

    def __init__(self, c: Any) -> None:
        self.reader = session_reader(c)
        readable, self.has_tombstoned = self.reader.graph_shape()
        if not readable:
            raise BackendError("graph_nodes has no node_id/node_json columns: cannot show this graph")

    def all(self, tombstoned: bool) -> list[NodeView]:
        """Every row in append order (tombstoned ones only on request)."""
        return [_node_view(*row) for row in self.reader.graph_rows(tombstoned)]

    def one(self, node_id: str) -> NodeView | None:
        """The row with ``node_id`` (tombstoned or not), or ``None``."""
        row = self.reader.graph_row(node_id)
        return None if row is None else _node_view(*row)

    def with_prefix(self, prefix: str) -> list[str]:
        """Up to 11 node ids starting with ``prefix`` (index range scan)."""
        return self.reader.node_ids_with_prefix(prefix, 11)


def _resolve_leaf(g: _Graph, leaf: str, tombstoned: bool) -> NodeView:
    node = g.one(leaf)
    if node is None:
        matches = g.with_prefix(leaf)
        if len(matches) > 1:
            shown = ", ".join(matches[:10]) + (", …" if len(matches) > 10 else "")
            raise LookupFailed(leaf, f"node `{leaf}` is ambiguous: {shown}", matches, hint="type more of the node id")
        node = g.one(matches[0]) if matches else None
    if node is None:
        raise LookupFailed(leaf, f"no graph node `{leaf}`", hint="list nodes with `lashdb graph show SESSION`")
    if node.tombstoned and not tombstoned:
        raise LookupFailed(leaf, f"graph node `{node.node_id}` is tombstoned",
                           hint="add --tombstoned to walk from it")
    return node


def _walk(g: _Graph, leaf: NodeView, tombstoned: bool) -> list[NodeView]:
    """Leaf to root by parent links, one indexed lookup per level; returned root first."""
    chain = [leaf]
    seen = {leaf.node_id}
    while chain[-1].parent_node_id is not None:
        parent = g.one(chain[-1].parent_node_id)
        if parent is None or (parent.tombstoned and not tombstoned):
            break
        if parent.node_id in seen:
            raise BackendError(f"graph has a parent cycle at node `{parent.node_id}`")
        seen.add(parent.node_id)
        chain.append(parent)
    chain.reverse()
    return chain


def _tree_order(nodes: list[NodeView]) -> tuple[list[NodeView], dict[str, int]]:
    """Depth-first, children in append order; depth grows only where a node has several children."""
    by_id = {n.node_id: n for n in nodes}
    children: dict[str | None, list[NodeView]] = {}
    for n in nodes:
        parent = n.parent_node_id if n.parent_node_id in by_id else None
        children.setdefault(parent, []).append(n)
    order: list[NodeView] = []
    depths: dict[str, int] = {}
    roots = children.get(None, [])
    stack = [(n, 1 if len(roots) > 1 else 0) for n in reversed(roots)]
    while stack:
        node, depth = stack.pop()
        if node.node_id in depths:
            continue
        depths[node.node_id] = depth
        order.append(node)
        kids = children.get(node.node_id, [])
        step = 1 if len(kids) > 1 else 0
        stack.extend((k, depth + step) for k in reversed(kids))
    for n in nodes:  # parent cycles unreachable from any root: still shown, never dropped
        if n.node_id not in depths:
            depths[n.node_id] = 0
            order.append(n)
    return order, depths


def graph_view(path: str | os.PathLike[str], *, active_path: bool = False, leaf: str | None = None,
               tombstoned: bool = False, limit: int | None = None) -> GraphView:
    """The graph as a tree, or the active path to ``leaf`` (default: the head's leaf); ``limit`` keeps the newest N."""
    with Store.open_readonly(path) as store:
        def read(c: Any) -> GraphView:
            g = _Graph(c)
            head = read_head(c)
            meta = read_meta(c)
            live, dead = _node_counts(c)
            session_id = (meta.session_id if meta else None) or (head.session_id if head else None)
            head_leaf = head.leaf_node_id if head else None
            leaf_node = _resolve_leaf(g, leaf, tombstoned) if leaf is not None else None
            if leaf_node is None and head_leaf is not None:
                leaf_node = g.one(head_leaf)
                if leaf_node is not None and leaf_node.tombstoned and not tombstoned:
                    leaf_node = None
            path_nodes = _walk(g, leaf_node, tombstoned) if leaf_node is not None else []
            on_path = frozenset(n.node_id for n in path_nodes)
            if active_path or leaf is not None:
                mode, shown, depths = "active_path", path_nodes, {n.node_id: 0 for n in path_nodes}
            else:
                mode = "tree"
                shown, depths = _tree_order(g.all(tombstoned))
            omitted = 0
            if limit is not None and len(shown) > max(limit, 0):
                keep = {n.node_id for n in sorted(shown, key=lambda n: n.seq)[len(shown) - max(limit, 0):]}
                omitted = len(shown) - len(keep)
                shown = [n for n in shown if n.node_id in keep]
            return GraphView(as_target(path), status_of(store), store.foreign, session_id, mode,
                             leaf_node.node_id if leaf_node else None, live, dead, tuple(shown), depths, on_path,
                             omitted)
        return store.read(read)



__all__ = ["GraphView", "NodeView", "graph_view"]
