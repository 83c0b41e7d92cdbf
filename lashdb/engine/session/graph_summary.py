"""The graph summary: what ``sessions list`` needs of ``graph_nodes``, kept in the head's JSON.

Contract:
- A :class:`GraphSummary` is (live rows, tombstoned rows, live user-message nodes, node id of the
  first live user-message node in ``seq`` order) — the user-message rule is SPEC §5's picker rule
  (an ``event`` node whose ``Conversation`` role is ``User``), the one the list's scan applies.
- It is stored in ``session_head.head_json`` under :data:`HEAD_KEY`. Upstream's ``SessionHeadMeta``
  is not ``deny_unknown_fields``: upstream reads such a head and ignores the key, and drops it when
  it rewrites the head (every upstream commit does), so a head upstream wrote carries none and the
  list falls back to scanning the graph. No table or column is added.
- Every lashdb write that changes ``graph_nodes`` writes the summary in the same transaction
  (commit, replace, append, tombstone, vacuum of tombstones): see ``session/graph.py`` and
  ``session/commit.py``. A writer outside lashdb that changes graph rows without rewriting the head
  (upstream's ``tombstone_nodes``/``vacuum`` called by a host) leaves it stale — as it leaves the
  head's ``graph_node_count`` — until the next commit; ``lashdb doctor`` reports the difference.
- :meth:`GraphSummary.from_json` never raises: anything malformed is ``None`` (readers then scan).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

# Nodes are duck-typed (``node_id``, ``payload``, ``role``): model imports this module for the head's field.
GraphNode = Any

__all__ = ["HEAD_KEY", "GraphSummary", "is_user_message"]

HEAD_KEY = "lashdb_graph_summary"


def is_user_message(node: GraphNode) -> bool:
    """True for a user-message node (SPEC §5 picker rule), tombstones aside."""
    return node.payload.get("kind") == "event" and node.role == "User"


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


@dataclass(frozen=True)
class GraphSummary:
    """Counts and the first user message's node id of one session graph (see the module contract)."""

    live: int
    tombstoned: int
    user_messages: int
    first_user_node_id: str | None

    def to_json(self) -> dict[str, Any]:
        """The head JSON value."""
        return {"live": self.live, "tombstoned": self.tombstoned, "user_messages": self.user_messages,
                "first_user_node_id": self.first_user_node_id}

    @classmethod
    def from_json(cls, doc: Any) -> GraphSummary | None:
        """The summary a head JSON value holds, or ``None`` when it is absent or malformed."""
        if not isinstance(doc, dict):
            return None
        live, dead, users = (_count(doc.get(k)) for k in ("live", "tombstoned", "user_messages"))
        first = doc.get("first_user_node_id")
        if live is None or dead is None or users is None or users > live or not (
                first is None or isinstance(first, str)) or (first is None) != (users == 0):
            return None
        return cls(live, dead, users, first)

    @classmethod
    def of_nodes(cls, nodes: Iterable[GraphNode]) -> GraphSummary:
        """The summary of a graph holding exactly ``nodes``, all live."""
        return cls(0, 0, 0, None).appended(nodes)

    def appended(self, nodes: Iterable[GraphNode]) -> GraphSummary:
        """The summary after ``nodes`` are appended (live) in order."""
        live, users, first = self.live, self.user_messages, self.first_user_node_id
        for node in nodes:
            live += 1
            if is_user_message(node):
                users += 1
                if first is None:
                    first = node.node_id
        return GraphSummary(live, self.tombstoned, users, first)
