"""The session graph (``graph_nodes``): append-only rows, tombstones, active-path walks.

Contract: functions take the transaction's :class:`~.ports.SessionTx` (statements behind
:class:`~.ports.GraphRows`); the caller owns the transaction. Inserts are batched. Every read hides
tombstoned rows. A row whose JSON cannot be read raises :class:`BackendError` naming its node id
(upstream skipped such rows silently). The active-path walk costs one indexed lookup per level of
depth, whatever the graph's size, and stops with an error on a parent cycle.

The ``*_keeping_summary`` writers (the store's graph API) also rewrite the head's graph summary
(:mod:`.list_summary`) in the same transaction when the head carries one, so it never disagrees with
the rows; the head's ``graph_node_count`` stays what the last commit wrote, as upstream leaves it.
:func:`summary_for_commit` is the commit's side: the live count and summary after its rows went in.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import replace

from lashdb.engine.base.errors import BackendError

from . import records
from .list_summary import ListSummary, is_user_message
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


# --- the head's graph summary ------------------------------------------------------------------------


def scanned_summary(tx: SessionTx) -> ListSummary | None:
    """The summary of the rows as they are, from one scan; ``None`` where the backend keeps none."""
    found = tx.graph.summary_scan(True)
    if found is None:
        return None
    live, dead, users, first = found
    return ListSummary(live, dead, users or 0, first if users else None)


def summary_for_commit(tx: SessionTx, prior: ListSummary | None,
                       appended: Sequence[GraphNode]) -> tuple[int, ListSummary | None]:
    """(live rows, summary) after a commit appended ``appended``, when no hint vouches for the head.

    One count scan decides: if the prior summary plus the appended nodes gives the counted live and
    tombstoned rows, no one tombstoned or removed rows behind the head, and the prior summary is
    carried forward; otherwise (no summary yet, or a writer outside lashdb changed the graph) one
    scan of the rows rebuilds it. A backend that keeps no summary counts live rows only.
    """
    counts = tx.graph.summary_scan(False)
    if counts is None:
        return live_count(tx), None
    live, dead = counts[0], counts[1]
    if prior is not None and prior.live + len(appended) == live and prior.tombstoned == dead:
        return live, prior.appended(appended)
    rebuilt = scanned_summary(tx)
    return (live, None) if rebuilt is None else (rebuilt.live, rebuilt)


def blob_figures_for_commit(tx: SessionTx, prior: ListSummary | None, delta: tuple[int, int],
                            trusted: bool) -> tuple[int, int]:
    """(blob rows, stored bytes) after a commit that stored ``delta`` net: the prior figures carried
    forward when the count hint vouches for the head (``trusted``) or the row count (one pass over the
    primary-key index, no content) agrees; else one scan of the blobs."""
    figures = prior.blob_figures() if prior is not None else None
    if figures is not None:
        carried = (figures[0] + delta[0], figures[1] + delta[1])
        if trusted or tx.blobs.count() == carried[0]:
            return carried
    return tx.blobs.count_and_size()


def save_blob_delta(tx: SessionTx) -> None:
    """Fold the blobs this transaction stored or swept (outside a commit) into the head's list summary."""
    delta = tx.blobs.take_delta()
    if not delta or delta == (0, 0):
        return
    prior = _head_summary(tx)
    if prior is not None and prior.blob_figures() is not None:
        _save_summary(tx, prior.blobs_changed(delta))


def _save_summary(tx: SessionTx, summary: ListSummary | None) -> None:
    head = records.load_head_meta(tx)
    if head is not None and head.list_summary is not None:
        records.save_head_row(tx, replace(head, list_summary=summary))


def _head_summary(tx: SessionTx) -> ListSummary | None:
    head = records.load_head_meta(tx)
    return None if head is None else head.list_summary


def insert_keeping_summary(tx: SessionTx, nodes: Sequence[GraphNode]) -> None:
    """:func:`insert_nodes`, and the head's summary (if any) counts them."""
    insert_nodes(tx, nodes)
    prior = _head_summary(tx)
    if prior is not None:
        _save_summary(tx, prior.appended(nodes))


def replace_keeping_summary(tx: SessionTx, nodes: Sequence[GraphNode]) -> None:
    """:func:`replace_nodes`, and the head's summary (if any) becomes that of ``nodes``."""
    replace_nodes(tx, nodes)
    prior = _head_summary(tx)
    if prior is not None:
        _save_summary(tx, ListSummary.of_nodes(nodes).with_blobs(prior.blob_figures()))


def _rescanned(tx: SessionTx, prior: ListSummary, *, blobs: bool = False) -> ListSummary | None:
    """The graph part from one scan; the blob figures carried from ``prior``, or counted with ``blobs``."""
    found = scanned_summary(tx)
    return None if found is None else found.with_blobs(tx.blobs.count_and_size() if blobs else prior.blob_figures())


class _Row:
    """A stored node's JSON as :func:`is_user_message` reads a node (the payload is flattened into it)."""

    def __init__(self, doc: dict) -> None:
        self.payload = doc


def _is_user_json(node_json: str) -> bool:
    # The picker rule on the stored JSON itself, as the scan applies it (a node this store's model
    # would refuse is still counted the way SQLite's json_extract sees it).
    try:
        doc = json.loads(node_json)
    except ValueError:
        return False  # the scan's rule too: a row that is not JSON is no user message
    return isinstance(doc, dict) and is_user_message(_Row(doc))


def tombstone_keeping_summary(tx: SessionTx, node_ids: Iterable[str]) -> None:
    """:func:`tombstone`, and the head's summary (if any) moves the live ones it hid to tombstoned.

    Costs one indexed lookup per id; hiding the first user message rescans the rows for the next.
    """
    ids = list(dict.fromkeys(node_ids))
    prior = _head_summary(tx)
    if prior is None:
        tombstone(tx, ids)
        return
    hidden = users = 0
    first_hidden = False
    for node_id in ids:
        node_json = tx.graph.live_one(node_id)
        if node_json is None:
            continue
        hidden += 1
        if _is_user_json(node_json):
            users += 1
            first_hidden = first_hidden or node_id == prior.first_user_node_id
    tombstone(tx, ids)
    if first_hidden:
        _save_summary(tx, _rescanned(tx, prior))
    elif hidden:
        _save_summary(tx, replace(prior, live=prior.live - hidden, tombstoned=prior.tombstoned + hidden,
                                  user_messages=prior.user_messages - users))


def remove_tombstoned_keeping_summary(tx: SessionTx) -> int:
    """:func:`remove_tombstoned`, and the head's summary (if any) is rebuilt from the remaining rows."""
    removed = remove_tombstoned(tx)
    # Rebuilt from the rows, not adjusted: vacuum is maintenance, and this makes it the remedy for a
    # summary a writer outside lashdb left stale (doctor's list_summary finding).
    prior = _head_summary(tx)
    if prior is not None:
        _save_summary(tx, _rescanned(tx, prior, blobs=True))
    return removed
