"""The list summary: what ``sessions list`` needs of the graph and the blobs, kept in the head's JSON.

Contract:
- A :class:`ListSummary` is (live graph rows, tombstoned rows, live user-message nodes, node id of
  the first live user-message node in ``seq`` order, blob rows, stored blob bytes) — the
  user-message rule is SPEC §5's picker rule (an ``event`` node whose ``Conversation`` role is
  ``User``), the one the list's scan applies; blob bytes are ``sum(length(content))``. The two blob
  figures are both known or both ``None`` (then the list counts the blobs itself).
- It is stored in ``session_head.head_json`` under :data:`HEAD_KEY`. Upstream's ``SessionHeadMeta``
  is not ``deny_unknown_fields``: upstream reads such a head and ignores the key, and drops it when
  it rewrites the head (every upstream commit does), so a head upstream wrote carries none and the
  list falls back to scanning. No table or column is added.
- Every lashdb write that changes ``graph_nodes`` or ``blobs`` writes the summary in the same
  transaction (commit; the store's replace, append, tombstone, vacuum; blob puts and GC batches):
  see ``session/graph.py``, ``session/commit.py`` and ``Store._write``. A writer outside lashdb that
  changes those rows without rewriting the head (upstream's ``tombstone_nodes``/``vacuum``/
  ``gc_unreachable`` called by a host, raw SQL) leaves it stale — as it leaves the head's
  ``graph_node_count`` — until the next commit re-counts; ``lashdb doctor`` reports the difference.
- :meth:`ListSummary.from_json` never raises: anything malformed is ``None`` (readers then scan).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

# Nodes are duck-typed (``node_id``, ``payload``, ``role``): model imports this module for the head's field.
GraphNode = Any

__all__ = ["HEAD_KEY", "ListSummary", "is_user_message"]

HEAD_KEY = "lashdb_list_summary"


def is_user_message(node: GraphNode) -> bool:
    """True for a user-message node (SPEC §5 picker rule), tombstones aside."""
    payload = node.payload
    if payload.get("kind") != "event":
        return False
    event = payload.get("event")
    conversation = event.get("Conversation") if isinstance(event, dict) else None
    return isinstance(conversation, dict) and conversation.get("role") == "User"


def _count(value: Any) -> int | None:
    return value if type(value) is int and value >= 0 else None  # type() is: a bool is no count


@dataclass(frozen=True)
class ListSummary:
    """Graph counts, the first user message's node id and blob figures of one session (module contract)."""

    live: int
    tombstoned: int
    user_messages: int
    first_user_node_id: str | None
    blobs: int | None = None
    blob_bytes: int | None = None

    def to_json(self) -> dict[str, Any]:
        """The head JSON value."""
        out: dict[str, Any] = {"live": self.live, "tombstoned": self.tombstoned, "user_messages": self.user_messages,
                               "first_user_node_id": self.first_user_node_id}
        if self.blobs is not None and self.blob_bytes is not None:
            out["blobs"], out["blob_bytes"] = self.blobs, self.blob_bytes
        return out

    @classmethod
    def from_json(cls, doc: Any) -> ListSummary | None:
        """The summary a head JSON value holds, or ``None`` when it is absent or malformed."""
        # Read in every commit (the head is decoded each time): plain lookups, no generators.
        if type(doc) is not dict:
            return None
        live, dead, users = _count(doc.get("live")), _count(doc.get("tombstoned")), _count(doc.get("user_messages"))
        first = doc.get("first_user_node_id")
        if live is None or dead is None or users is None or users > live or not (
                first is None or type(first) is str) or (first is None) != (users == 0):
            return None
        blobs, blob_bytes = _count(doc.get("blobs")), _count(doc.get("blob_bytes"))
        if blobs is None or blob_bytes is None:
            blobs = blob_bytes = None
        return cls(live, dead, users, first, blobs, blob_bytes)

    @classmethod
    def of_nodes(cls, nodes: Iterable[GraphNode]) -> ListSummary:
        """The graph part of a graph holding exactly ``nodes``, all live (blob figures unknown)."""
        return cls(0, 0, 0, None).appended(nodes)

    def appended(self, nodes: Iterable[GraphNode], blob_delta: tuple[int, int] = (0, 0)) -> ListSummary:
        """The summary after ``nodes`` are appended (live) in order and ``blob_delta`` (rows, bytes) stored
        net (unknown blob figures stay unknown)."""
        # Built directly, not with dataclasses.replace: this runs in every commit (replace cost ~5 µs).
        live, users, first = self.live, self.user_messages, self.first_user_node_id
        for node in nodes:
            live += 1
            if is_user_message(node):
                users += 1
                if first is None:
                    first = node.node_id
        blobs, blob_bytes = self.blobs, self.blob_bytes
        if blobs is not None and blob_bytes is not None:
            blobs, blob_bytes = blobs + blob_delta[0], blob_bytes + blob_delta[1]
        return ListSummary(live, self.tombstoned, users, first, blobs, blob_bytes)

    def with_blobs(self, figures: tuple[int, int] | None) -> ListSummary:
        """The same graph part with blob figures ``(rows, bytes)`` (``None``: unknown)."""
        return replace(self, blobs=figures[0] if figures else None, blob_bytes=figures[1] if figures else None)

    def blob_figures(self) -> tuple[int, int] | None:
        """``(rows, bytes)``, or ``None`` when unknown."""
        return None if self.blobs is None or self.blob_bytes is None else (self.blobs, self.blob_bytes)

    def blobs_changed(self, delta: tuple[int, int]) -> ListSummary:
        """The summary after a net ``delta`` of (rows, bytes) stored; unknown figures stay unknown."""
        figures = self.blob_figures()
        if figures is None or delta == (0, 0):
            return self
        return self.with_blobs((figures[0] + delta[0], figures[1] + delta[1]))
