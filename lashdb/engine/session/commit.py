"""Runtime commits and session reads (runtime contract §2).

Contract:
- :func:`prepare_checkpoint` encodes the checkpoint blobs before the transaction (reusing the
  compressed envelope of a snapshot written recently, so an unchanged snapshot is not compressed
  twice).
- :func:`apply` runs inside the caller's single exclusive write transaction, on its
  :class:`~.ports.SessionTx` (no SQL here; the statements are the backend's). It runs every
  check before the first write, in this order: session binding; turn-stamp idempotency (a stamp
  already recorded with the same hash returns the recorded result, performs only the requested
  lease release, and writes nothing else; a different hash is a conflict); the session execution
  lease fence; the head-revision compare-and-set; queued-work completion ownership (exact batch-id
  sets, W7). Then it writes, in order: checkpoint blobs (tool state, plugin snapshot, execution
  state, manifest), usage rows, the graph delta, the head (revision + 1, live node count and, where
  the backend keeps one, the graph summary ``sessions list`` reads: :mod:`.list_summary`), queued
  batch deletions, attachment stamps, the turn record and the lease release. Any error raised
  rolls the whole transaction back, so a failed commit leaves exactly the state it found.
- :func:`check` validates a commit before the database is touched: storable integers (W17), a
  release completion for the commit's own session (W9), and every value and id storable
  (:func:`values.check`: JSON data, at most ``MAX_NESTING`` deep; else :class:`UnstorableValue`).
- :func:`auto_gc` runs after a successful commit (replays included) when the store's GC policy
  says so, in its own transactions, under the commit's lease fence; a GC failure is logged and kept in ``last_auto_gc_error`` and
  never turns the commit into a failure.
- :func:`load_session` reads head, graph (full, or the active path to a leaf, cycle-safe),
  hydrated checkpoint (missing child parts are ``None``, damaged ones raise :class:`BackendError`, a
  manifest the head names but the blobs table lacks raises :class:`MissingCheckpoint`) and the
  merged token ledger in one read snapshot.
- The commit's types and :func:`turn_commit_hash` live in :mod:`.commit_model` (re-exported here).
  :func:`turn_commit_hash` is the caller-side hash of §2.6: the commit without its revision,
  lease and stamp fields, volatile ids and timestamps scrubbed, as canonical JSON with every object
  key sorted (deployment-stores §0.4).
"""

from __future__ import annotations

import json
import logging
import threading
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any, Protocol

from lashdb.engine.base import codec, timing, values
from lashdb.engine.base.codec import BlobProfile, Descriptor
from lashdb.engine.base.errors import (
    BackendError,
    BlobError,
    HeadRevisionConflict,
    LashdbError,
    MissingCheckpoint,
    QueuedWorkClaimExpired,
    RuntimeTurnCommitConflict,
    SessionBindingMismatch,
    SessionExecutionLeaseExpired,
    UnsupportedReadScope,
)

from . import attachments, leases, queued_work, records
from . import graph as graph_rows
from .checkpoints import load_checkpoint
from .list_summary import ListSummary
from .commit_model import (  # noqa: F401  (re-exported: lashdb.engine.commit.X keeps working)
    APPEND,
    REPLACE_FULL,
    UNCHANGED,
    GraphDelta,
    PersistedSessionRead,
    RuntimeCommit,
    RuntimeCommitResult,
    SessionReadScope,
    TurnStamp,
    _scrub,
    turn_commit_hash,
)
from .leases import (  # noqa: F401  (re-exported)
    SessionExecutionLease,
    SessionExecutionLeaseCompletion,
    SessionExecutionLeaseFence,
)
from .model import (  # noqa: F401  (GraphNode, SessionCheckpoint, TokenLedgerEntry re-exported)
    GraphNode,
    HydratedCheckpoint,
    SessionCheckpoint,
    SessionGraph,
    SessionHeadMeta,
    TokenLedgerEntry,
    dumps,
    merge_ledger,
)
from .ports import SessionTx
from .queued_work import QueuedWorkCompletion  # noqa: F401  (re-exported)

__all__ = [
    "APPEND", "REPLACE_FULL", "UNCHANGED", "AutoGcTarget", "GraphCountHint", "GraphDelta", "GraphNode",
    "PersistedSessionRead", "PreparedCheckpoint", "QueuedWorkCompletion", "RuntimeCommit", "RuntimeCommitResult",
    "SessionCheckpoint", "SessionExecutionLease", "SessionExecutionLeaseCompletion", "SessionExecutionLeaseFence",
    "SessionReadScope", "TokenLedgerEntry", "TurnStamp", "_scrub", "apply", "auto_gc", "check", "check_values",
    "load_session", "log", "prepare_checkpoint", "turn_commit_hash",
]


class AutoGcTarget(Protocol):
    """What :func:`auto_gc` needs of a store (``Store`` is one); keeps this module below ``store``."""

    options: Any
    path: str | None
    last_auto_gc_error: LashdbError | None

    def gc_unreachable(self, *, lease: SessionExecutionLeaseFence | None = None) -> Any: ...


# The logger keeps its pre-issue-11 name: operators and tests configure it by that name.
log = logging.getLogger("lashdb.engine.commit")

_I64_MIN, _I64_MAX = -(1 << 63), (1 << 63) - 1


# --- checkpoint encoding (outside the write transaction) --------------------------------------------

# Recently written envelopes by (descriptor, profile, content hash): a snapshot that did not change
# since the last turn is not compressed again. Content addressing makes the reuse exact.
_ENVELOPE_CACHE_BYTES = 16 << 20
_envelopes: OrderedDict[tuple, bytes] = OrderedDict()
_envelope_bytes = 0
_envelope_lock = threading.Lock()


def _blob_row(descriptor: Descriptor, content: bytes, profile: BlobProfile) -> tuple[str, bytes]:
    global _envelope_bytes
    ref = codec.sha256_hex(content)
    if not codec.should_compress(profile, descriptor, len(content)):
        # Nothing to save: an uncompressed envelope (the manifest, small snapshots) costs less to
        # build than a cache lookup and insert.
        return ref, codec.encode_envelope(descriptor, content, profile)
    # Plain str and tuple parts: a Descriptor or an Enum in the key hashes through Python code.
    key = (descriptor.kind, descriptor.hints, getattr(profile, "_value_", profile), ref)
    with _envelope_lock:
        envelope = _envelopes.get(key)
        if envelope is not None:
            _envelopes.move_to_end(key)
            return ref, envelope
    envelope = codec.encode_envelope(descriptor, content, profile)
    if len(envelope) <= _ENVELOPE_CACHE_BYTES // 4:
        with _envelope_lock:
            if key not in _envelopes:
                _envelopes[key] = envelope
                _envelope_bytes += len(envelope)
                while _envelope_bytes > _ENVELOPE_CACHE_BYTES:
                    _envelope_bytes -= len(_envelopes.popitem(last=False)[1])
    return ref, envelope


@dataclass(frozen=True)
class PreparedCheckpoint:
    """A commit's checkpoint blobs, encoded: rows in write order and the manifest they form."""

    rows: tuple[tuple[str, bytes], ...]
    checkpoint_ref: str
    manifest: SessionCheckpoint


def prepare_checkpoint(checkpoint: HydratedCheckpoint, profile: BlobProfile,
                       deferred_max: int = 0) -> PreparedCheckpoint:
    """Encode the given snapshots and the manifest (§2.2 step 1) without touching the database;
    a snapshot of fewer than ``deferred_max`` logical bytes is stored uncompressed (vacuum compresses it).

    Encoding and compression are the costly part of a commit; doing them before ``BEGIN
    IMMEDIATE`` keeps the write lock held only for the SQL.
    """
    rows_out: list[tuple[str, bytes]] = []

    def put(descriptor: Descriptor, value: Any) -> str:
        content = codec.encode_value(value)
        ref, envelope = _blob_row(descriptor, content,
                                  BlobProfile.LOW_LATENCY if len(content) < deferred_max else profile)
        rows_out.append((ref, envelope))
        return ref

    tool_ref = checkpoint.tool_state_ref
    if checkpoint.tool_state is not None:
        tool_ref = put(Descriptor.tool_state(), checkpoint.tool_state)
    plugin_ref = checkpoint.plugin_snapshot_ref
    if checkpoint.plugin_snapshot is not None:
        plugin_ref = put(Descriptor.plugin_session_snapshot(), checkpoint.plugin_snapshot)
    exec_ref = checkpoint.execution_state_ref
    if checkpoint.execution_state is not None:
        exec_ref = put(Descriptor.execution_state_snapshot(), bytes(checkpoint.execution_state))
    manifest = SessionCheckpoint(checkpoint.turn_state, tool_ref, plugin_ref, checkpoint.plugin_snapshot_revision,
                                 exec_ref)
    manifest_ref = put(Descriptor.checkpoint_manifest(), manifest.to_json())
    return PreparedCheckpoint(tuple(rows_out), manifest_ref, manifest)


# --- commit -----------------------------------------------------------------------------------------


def check(commit: RuntimeCommit) -> None:
    """Reject, before the database is touched, a commit whose values cannot be stored (W17, W9)."""
    if not isinstance(commit, RuntimeCommit):
        raise TypeError(f"commit must be a RuntimeCommit, not {type(commit).__name__}")
    if not isinstance(commit.graph, GraphDelta) or not isinstance(commit.checkpoint, HydratedCheckpoint):
        raise TypeError("commit.graph must be a GraphDelta and commit.checkpoint a HydratedCheckpoint")
    if commit.expected_head_revision is not None:
        timing.stored("expected_head_revision", commit.expected_head_revision)
    for fence in (commit.session_execution_lease, commit.release_session_execution_lease):
        if fence is not None:
            leases.check_fence(fence)
    release = commit.release_session_execution_lease
    if release is not None and release.session_id != commit.session_id:
        # Upstream releases whatever completion it is handed (W9); a completion for another
        # session can only be a caller mix-up, so it is refused up front.
        raise SessionExecutionLeaseExpired(commit.session_id)
    for entry in commit.usage_deltas:
        for name, value in entry.usage.to_json().items():
            if isinstance(value, bool) or not isinstance(value, int) or not _I64_MIN <= value <= _I64_MAX:
                raise ValueError(f"usage delta {entry.source}/{entry.model}: {name} {value!r} is not a signed "
                                 f"64-bit integer")
    check_values(commit)


def _all_storable(commit: RuntimeCommit) -> bool:
    # The whole commit in one pass (most commits are fine); False sends it field by field to be named.
    checkpoint = commit.checkpoint
    texts = [commit.session_id, commit.current_agent_frame_id]
    opt_texts = [commit.graph.leaf_node_id, checkpoint.tool_state_ref, checkpoint.plugin_snapshot_ref,
                 checkpoint.execution_state_ref]
    items = [commit.config, commit.agent_frames, checkpoint.turn_state, checkpoint.tool_state,
             checkpoint.plugin_snapshot]
    for node in commit.graph.nodes:
        if not isinstance(node, GraphNode):
            return False
        texts += (node.node_id, node.timestamp)
        opt_texts += (node.parent_node_id, node.agent_frame_id)
        items += (node.caused_by, node.payload)
    for entry in commit.usage_deltas:
        texts += (entry.source, entry.model)
    if commit.turn_commit is not None:
        stamp = commit.turn_commit
        texts += (stamp.session_id, stamp.turn_id, stamp.turn_commit_hash)
    texts += commit.committed_attachment_ids
    items += [completion.to_json() for completion in commit.completed_queue_claims]
    return values.all_storable(texts, opt_texts, items)


def check_values(commit: RuntimeCommit) -> None:
    """Every value and id of the commit is storable (:mod:`values`); else :class:`UnstorableValue` naming it."""
    if _all_storable(commit):
        return
    values.check_text(commit.session_id, "commit.session_id")
    values.check(commit.config, "commit.config")
    values.check(commit.agent_frames, "commit.agent_frames")
    values.check_text(commit.current_agent_frame_id, "commit.current_agent_frame_id")
    values.check_nodes(commit.graph.nodes, "commit.graph.nodes")
    values.check_opt_text(commit.graph.leaf_node_id, "commit.graph.leaf_node_id")
    values.check_checkpoint(commit.checkpoint, "commit.checkpoint")
    values.check_ledger(commit.usage_deltas, "commit.usage_deltas")
    if commit.turn_commit is not None:
        for name in ("session_id", "turn_id", "turn_commit_hash"):
            values.check_text(getattr(commit.turn_commit, name), f"commit.turn_commit.{name}")
    for index, completion in enumerate(commit.completed_queue_claims):
        values.check(completion.to_json(), f"commit.completed_queue_claims[{index}]")
    for index, attachment_id in enumerate(commit.committed_attachment_ids):
        values.check_text(attachment_id, f"commit.committed_attachment_ids[{index}]")


def _decode_result(text: str) -> RuntimeCommitResult:
    try:
        return RuntimeCommitResult.from_json(json.loads(text))
    except (ValueError, TypeError) as exc:
        raise BackendError(f"failed to decode runtime turn commit result: {exc}") from exc


class GraphCountHint:
    """What one connection knew right after its last commit, to skip recounting the graph.

    ``graph_node_count`` must be the live row count *now* (§2.2 step 4), which costs a scan of
    every graph row. If the backend's change marker (SQLite: ``PRAGMA data_version`` and this
    connection's ``total_changes``) is what it was right after this connection's last commit and
    the head is still the one it wrote, then the head's count is still exact and the new count
    follows from it. Any doubt (or a backend that cannot tell) falls back to the scan.
    """

    def __init__(self) -> None:
        self.state: tuple[Hashable, int] | None = None
        # The head row this connection last wrote, as (head_json, the head it encodes): a head row
        # still holding that exact text is not parsed again (~10 µs a commit).
        self.head: tuple[str, SessionHeadMeta] | None = None

    def load_head(self, tx: SessionTx) -> SessionHeadMeta | None:
        """The head row decoded, reusing the head this connection wrote when the row is unchanged."""
        row = tx.rows.head()
        if row is None:
            return None
        last = self.head
        if last is not None and last[0] == row[0] and last[1].head_revision == row[1]:
            return last[1]
        return records.decode_head(*row)


def apply(tx: SessionTx, commit: RuntimeCommit, prepared: PreparedCheckpoint, now: int,
          hint: GraphCountHint | None = None) -> RuntimeCommitResult:
    """Check, then write, one runtime commit inside the caller's write transaction (§2.1, §2.2).

    ``prepared`` is ``prepare_checkpoint(commit.checkpoint, profile)``; an idempotent replay
    writes none of it. ``hint`` (one per store) lets back-to-back commits skip the count scan.
    """
    session_id = commit.session_id
    head = records.load_head_meta(tx) if hint is None else hint.load_head(tx)
    if head is not None and head.session_id != session_id:
        raise SessionBindingMismatch(head.session_id, session_id)

    stamp = commit.turn_commit
    if stamp is not None:
        if stamp.session_id != session_id:
            raise RuntimeTurnCommitConflict(stamp.session_id, stamp.turn_id)
        prior = tx.rows.turn_commit(stamp.session_id, stamp.turn_id)
        if prior is not None:
            if prior[0] != stamp.turn_commit_hash:
                raise RuntimeTurnCommitConflict(stamp.session_id, stamp.turn_id)
            result = _decode_result(prior[1])
            if commit.release_session_execution_lease is not None:
                leases.release(tx, commit.release_session_execution_lease)
            return result

    if commit.session_execution_lease is None:
        raise SessionExecutionLeaseExpired(session_id)
    leases.ensure_fence(tx, session_id, commit.session_execution_lease, now)

    actual = head.head_revision if head is not None else 0
    expected = commit.expected_head_revision
    if expected is not None and expected != actual:
        raise HeadRevisionConflict(expected, actual)

    for completion in commit.completed_queue_claims:
        if completion.session_id != session_id:
            raise QueuedWorkClaimExpired(completion.session_id, completion.claim_id)
        queued_work.ensure_completion(tx, completion)

    # Every check passed; from here on only the backend itself can fail (and roll everything back).
    graph = commit.graph
    live_before = None
    marker = None
    if hint is not None:
        marker = tx.change_marker()
        if marker is not None and head is not None and hint.state == (marker, head.head_revision):
            live_before = head.graph_node_count
    tx.blobs.put(prepared.rows)
    if commit.usage_deltas:
        records.insert_usage(tx, list(commit.usage_deltas))
    if graph.kind == APPEND:
        graph_rows.insert_nodes(tx, graph.nodes)
    elif graph.kind == REPLACE_FULL:
        graph_rows.replace_nodes(tx, graph.nodes)
    prior = head.list_summary if head is not None else None
    appended = graph.nodes if graph.kind == APPEND else ()
    trusted = live_before is not None  # the hint vouches for the head's counts
    delta = tx.blobs.take_delta()  # blobs this commit stored; None: the backend keeps no list summary
    summary = None
    if graph.kind == REPLACE_FULL:
        live = len(graph.nodes)  # every row was replaced by these, all live (duplicates raised above)
        if delta is not None:
            summary = ListSummary.of_nodes(graph.nodes)
    elif trusted and prior is not None and delta is not None and prior.blob_figures() is not None:
        # The usual commit: the next summary follows from the vouched-for head alone.
        live, summary, delta = live_before + len(appended), prior.appended(appended, delta), None
    elif trusted:
        live = live_before + len(appended)
        if prior is not None and delta is not None:
            summary = prior.appended(appended)
    elif delta is None:
        live = graph_rows.live_count(tx)
    if delta is not None and summary is None and graph.kind != REPLACE_FULL:
        live, summary = graph_rows.summary_for_commit(tx, prior, appended)  # counts once, rebuilds if it must
    if summary is not None and delta is not None:
        summary = summary.with_blobs(graph_rows.blob_figures_for_commit(tx, prior, delta, trusted))
    next_revision = actual + 1
    new_head = SessionHeadMeta(
        session_id=session_id,
        head_revision=next_revision,
        config=commit.config,
        agent_frames=commit.agent_frames,
        current_agent_frame_id=commit.current_agent_frame_id,
        checkpoint_ref=prepared.checkpoint_ref,
        leaf_node_id=graph.leaf_node_id,
        graph_node_count=live,
        list_summary=summary,
    )
    head_json = dumps(new_head.to_json())
    tx.rows.save_head(session_id, head_json, next_revision)
    if commit.completed_queue_claims:
        queued_work.delete_completed(tx, commit.completed_queue_claims)
    if commit.committed_attachment_ids:
        attachments.stamp_committed(tx, session_id, commit.committed_attachment_ids, now)
    result = RuntimeCommitResult(next_revision, prepared.checkpoint_ref, prepared.manifest)
    if stamp is not None:
        tx.rows.record_turn_commit(stamp.session_id, stamp.turn_id, stamp.turn_commit_hash,
                                   dumps(result.to_json()), now)
    if commit.release_session_execution_lease is not None:
        leases.release(tx, commit.release_session_execution_lease)
    if hint is not None:
        # Inside the transaction no other writer can commit, so this is the state right after
        # ours; a COMMIT that fails leaves an older head revision, which voids the hint.
        after = tx.change_marker()
        hint.state = None if after is None else (after, next_revision)
        hint.head = (head_json, new_head)
    return result


def auto_gc(store: AutoGcTarget, commit_number: int, fence: SessionExecutionLeaseFence | None = None) -> None:
    """Run GC after the N-th successful commit if the policy asks, under the commit's lease; record,
    never raise, a GC failure."""
    every = store.options.gc_policy.auto_run_every_commits
    if not every or commit_number % every:
        return
    try:
        store.gc_unreachable(lease=fence)
    except LashdbError as exc:
        store.last_auto_gc_error = exc
        log.warning("auto-GC after commit %d of %s failed (the commit itself succeeded): %s",
                    commit_number, store.path or ":memory:", exc)
    else:
        store.last_auto_gc_error = None


# --- reads ------------------------------------------------------------------------------------------


def load_session(tx: SessionTx, scope: SessionReadScope, limit: int) -> PersistedSessionRead | None:
    """Head, graph for ``scope``, hydrated checkpoint and merged ledger; ``None`` without a head."""
    head = records.load_head_meta(tx)
    if head is None:
        return None
    if scope.kind == "full_graph":
        graph = SessionGraph(tuple(graph_rows.load_nodes(tx)), head.leaf_node_id)
    elif scope.kind == "active_path":
        leaf = scope.leaf_node_id if scope.leaf_node_id is not None else head.leaf_node_id
        nodes = () if leaf is None else tuple(graph_rows.active_path(tx, leaf))
        graph = SessionGraph(nodes, leaf)
    else:
        raise UnsupportedReadScope(scope)
    checkpoint = None
    if head.checkpoint_ref is not None:
        try:
            checkpoint = load_checkpoint(tx, head.checkpoint_ref, limit)
        except BlobError as exc:
            raise BackendError(f"checkpoint `{head.checkpoint_ref}` of the session head cannot be read: {exc}",
                               hint=exc.hint) from exc
        if checkpoint is None:
            # The head names it, so it was written and then lost (SPEC §6 amended): damage, never "none".
            raise MissingCheckpoint(head.checkpoint_ref)
    return PersistedSessionRead(head.session_id, head.head_revision, head.config, head.agent_frames,
                                head.current_agent_frame_id, graph, head.checkpoint_ref, checkpoint,
                                merge_ledger(records.load_usage(tx)))
