"""Runtime commits and session reads (runtime contract §2).

Contract:
- :func:`prepare_checkpoint` encodes the checkpoint blobs before the transaction (reusing the
  envelope of a snapshot written recently, so an unchanged snapshot is not compressed twice).
- :func:`apply` runs inside the caller's single ``BEGIN IMMEDIATE`` transaction. It runs every
  check before the first write, in this order: session binding; turn-stamp idempotency (a stamp
  already recorded with the same hash returns the recorded result, performs only the requested
  lease release, and writes nothing else; a different hash is a conflict); the session execution
  lease fence; the head-revision compare-and-set; queued-work completion ownership (exact batch-id
  sets, W7). Then it writes, in order: checkpoint blobs (tool state, plugin snapshot, execution
  state, manifest), usage rows, the graph delta, the head (revision + 1, live node count), queued
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
- :func:`turn_commit_hash` is the caller-side hash of §2.6: the commit without its revision,
  lease and stamp fields, volatile ids and timestamps scrubbed, as canonical JSON with every object
  key sorted (deployment-stores §0.4).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

import apsw

from . import attachments, leases, queued_work
from lashdb.engine.base import canonical, codec, timing, values
from lashdb.engine.base import jsonread as jr
from . import graph as graph_rows
from lashdb.engine.sqlite import session_rows
from .checkpoints import load_checkpoint
from lashdb.engine.base.codec import BlobProfile, Descriptor
from lashdb.engine.sqlite.connection import query_one
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
from .leases import SessionExecutionLease, SessionExecutionLeaseCompletion, SessionExecutionLeaseFence
from .model import (
    GraphNode,
    HydratedCheckpoint,
    SessionCheckpoint,
    SessionGraph,
    SessionHeadMeta,
    TokenLedgerEntry,
    dumps,
    merge_ledger,
)
from .queued_work import QueuedWorkCompletion


class AutoGcTarget(Protocol):
    """What :func:`auto_gc` needs of a store (``Store`` is one); keeps this module below ``store``."""

    options: Any
    path: str | None
    last_auto_gc_error: LashdbError | None

    def gc_unreachable(self, *, lease: SessionExecutionLeaseFence | None = None) -> Any: ...


# The logger keeps its pre-issue-11 name: operators and tests configure it by that name.
log = logging.getLogger("lashdb.engine.commit")

_I64_MIN, _I64_MAX = -(1 << 63), (1 << 63) - 1
_VOLATILE_KEYS = ("node_id", "parent_node_id", "leaf_node_id", "timestamp")


# --- types ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TurnStamp:
    """Marks a commit as the one result of turn ``turn_id``; ``turn_commit_hash`` identifies its content."""

    session_id: str
    turn_id: str
    turn_commit_hash: str

    def to_json(self) -> dict[str, Any]:
        return {"session_id": self.session_id, "turn_id": self.turn_id, "turn_commit_hash": self.turn_commit_hash}

    @classmethod
    def from_json(cls, doc: Any) -> TurnStamp:
        doc = jr.obj(doc, "turn commit stamp")
        return cls(jr.text(doc, "session_id"), jr.text(doc, "turn_id"), jr.text(doc, "turn_commit_hash"))


UNCHANGED, APPEND, REPLACE_FULL = "Unchanged", "Append", "ReplaceFull"


@dataclass(frozen=True)
class GraphDelta:
    """How a commit changes the graph: keep it, append nodes, or replace every row."""

    kind: str
    nodes: tuple[GraphNode, ...] = ()
    leaf_node_id: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in (UNCHANGED, APPEND, REPLACE_FULL):
            raise ValueError(f"unknown graph delta {self.kind!r}")
        object.__setattr__(self, "nodes", tuple(self.nodes))

    @classmethod
    def unchanged(cls, leaf_node_id: str | None = None) -> GraphDelta:
        return cls(UNCHANGED, (), leaf_node_id)

    @classmethod
    def append(cls, nodes: Iterable[GraphNode], leaf_node_id: str | None = None) -> GraphDelta:
        return cls(APPEND, tuple(nodes), leaf_node_id)

    @classmethod
    def replace_full(cls, nodes: Iterable[GraphNode] = (), leaf_node_id: str | None = None) -> GraphDelta:
        return cls(REPLACE_FULL, tuple(nodes), leaf_node_id)

    def to_json(self) -> dict[str, Any]:
        """Externally tagged, as upstream: ``{"Append": {"nodes": [...], "leaf_node_id": ...}}``."""
        if self.kind == UNCHANGED:
            return {UNCHANGED: {"leaf_node_id": self.leaf_node_id}}
        body: dict[str, Any] = {"nodes": [n.to_json() for n in self.nodes]}
        if self.kind == APPEND or self.leaf_node_id is not None:
            body["leaf_node_id"] = self.leaf_node_id
        return {self.kind: body}

    @classmethod
    def from_json(cls, doc: Any) -> GraphDelta:
        doc = jr.obj(doc, "graph delta")
        if len(doc) != 1:
            raise ValueError("graph delta must have exactly one variant key")
        (kind, body), = doc.items()
        if kind not in (UNCHANGED, APPEND, REPLACE_FULL):
            raise ValueError(f"unknown graph delta variant {kind!r}")
        body = jr.obj(body, f"{kind} graph delta")
        leaf = jr.opt_text(body, "leaf_node_id")
        if kind == UNCHANGED:
            return cls.unchanged(leaf)
        raw_nodes = body.get("nodes", [] if kind == REPLACE_FULL else None)
        if not isinstance(raw_nodes, list):
            raise ValueError(f"{kind} graph delta has no `nodes` list")
        return cls(kind, tuple(GraphNode.from_json(n) for n in raw_nodes), leaf)


@dataclass(frozen=True)
class RuntimeCommit:
    """Everything one turn persists, committed atomically by ``Store.commit_runtime_state``."""

    session_id: str
    config: Any
    agent_frames: tuple[Any, ...] = ()
    current_agent_frame_id: str = ""
    graph: GraphDelta = field(default_factory=GraphDelta.replace_full)
    checkpoint: HydratedCheckpoint = field(default_factory=HydratedCheckpoint)
    usage_deltas: tuple[TokenLedgerEntry, ...] = ()
    expected_head_revision: int | None = None
    session_execution_lease: SessionExecutionLeaseFence | None = None
    release_session_execution_lease: SessionExecutionLeaseCompletion | None = None
    turn_commit: TurnStamp | None = None
    completed_queue_claims: tuple[QueuedWorkCompletion, ...] = ()
    committed_attachment_ids: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for name in ("agent_frames", "usage_deltas", "completed_queue_claims", "committed_attachment_ids"):
            object.__setattr__(self, name, tuple(getattr(self, name)))

    # Builders mirroring upstream's, each returning a new commit.

    def with_expected_head_revision(self, revision: int | None) -> RuntimeCommit:
        return dataclasses.replace(self, expected_head_revision=revision)

    def with_session_execution_lease(self, fence: SessionExecutionLeaseFence) -> RuntimeCommit:
        return dataclasses.replace(self, session_execution_lease=fence)

    def releasing_session_execution_lease(self, completion: SessionExecutionLeaseCompletion) -> RuntimeCommit:
        return dataclasses.replace(self, release_session_execution_lease=completion)

    def under_lease(self, lease: SessionExecutionLease) -> RuntimeCommit:
        """Carry the lease's fence and release it with this commit."""
        return dataclasses.replace(self, session_execution_lease=lease.fence(),
                                   release_session_execution_lease=lease.completion())

    def with_turn_commit(self, stamp: TurnStamp) -> RuntimeCommit:
        return dataclasses.replace(self, turn_commit=stamp)

    def stamped(self, turn_id: str) -> RuntimeCommit:
        """Stamp as turn ``turn_id`` of this session with this commit's own hash."""
        return self.with_turn_commit(TurnStamp(self.session_id, turn_id, turn_commit_hash(self)))

    def completing_queue_claim(self, completion: QueuedWorkCompletion) -> RuntimeCommit:
        return dataclasses.replace(self, completed_queue_claims=(*self.completed_queue_claims, completion))

    def with_committed_attachments(self, attachment_ids: Iterable[str]) -> RuntimeCommit:
        return dataclasses.replace(self, committed_attachment_ids=tuple(attachment_ids))

    def turn_commit_hash(self) -> str:
        """See :func:`turn_commit_hash`."""
        return turn_commit_hash(self)

    def to_json(self) -> dict[str, Any]:
        """The §1.8 document: lease fields omitted when absent, revision and stamp always written."""
        out: dict[str, Any] = {"session_id": self.session_id, "expected_head_revision": self.expected_head_revision}
        if self.session_execution_lease is not None:
            out["session_execution_lease"] = self.session_execution_lease.to_json()
        if self.release_session_execution_lease is not None:
            out["release_session_execution_lease"] = self.release_session_execution_lease.to_json()
        out.update(
            config=self.config,
            agent_frames=list(self.agent_frames),
            current_agent_frame_id=self.current_agent_frame_id,
            graph=self.graph.to_json(),
            checkpoint=self.checkpoint.to_json(),
            usage_deltas=[e.to_json() for e in self.usage_deltas],
            turn_commit=None if self.turn_commit is None else self.turn_commit.to_json(),
            completed_queue_claims=[c.to_json() for c in self.completed_queue_claims],
            committed_attachment_ids=list(self.committed_attachment_ids),
        )
        return out

    @classmethod
    def from_json(cls, doc: Any) -> RuntimeCommit:
        """Read a §1.8 document; a document upstream would reject raises ``ValueError``."""
        doc = jr.obj(doc, "runtime commit")
        for key in ("config", "agent_frames", "current_agent_frame_id", "graph", "checkpoint", "usage_deltas",
                    "completed_queue_claims", "committed_attachment_ids"):
            if key not in doc:
                raise ValueError(f"runtime commit has no `{key}`")
        revision = doc.get("expected_head_revision")
        if revision is not None and (isinstance(revision, bool) or not isinstance(revision, int)):
            raise ValueError("expected_head_revision is not an integer")
        frames = doc["agent_frames"]
        if not isinstance(frames, list):
            raise ValueError("agent_frames is not a list")
        ids = doc["committed_attachment_ids"]
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise ValueError("committed_attachment_ids is not a list of text")
        fence = doc.get("session_execution_lease")
        release = doc.get("release_session_execution_lease")
        stamp = doc.get("turn_commit")
        return cls(
            session_id=jr.text(doc, "session_id"),
            config=doc["config"],
            agent_frames=tuple(frames),
            current_agent_frame_id=jr.text(doc, "current_agent_frame_id"),
            graph=GraphDelta.from_json(doc["graph"]),
            checkpoint=HydratedCheckpoint.from_json(doc["checkpoint"]),
            usage_deltas=tuple(TokenLedgerEntry.from_json(e) for e in jr.array(doc, "usage_deltas")),
            expected_head_revision=revision,
            session_execution_lease=None if fence is None else SessionExecutionLeaseFence.from_json(fence),
            release_session_execution_lease=(
                None if release is None else SessionExecutionLeaseCompletion.from_json(release)),
            turn_commit=None if stamp is None else TurnStamp.from_json(stamp),
            completed_queue_claims=tuple(
                QueuedWorkCompletion.from_json(c) for c in jr.array(doc, "completed_queue_claims")),
            committed_attachment_ids=tuple(ids),
        )


@dataclass(frozen=True)
class RuntimeCommitResult:
    """What a commit produced: the new head revision and the checkpoint it stored."""

    head_revision: int
    checkpoint_ref: str
    manifest: SessionCheckpoint

    def to_json(self) -> dict[str, Any]:
        return {"head_revision": self.head_revision, "checkpoint_ref": self.checkpoint_ref,
                "manifest": self.manifest.to_json()}

    @classmethod
    def from_json(cls, doc: Any) -> RuntimeCommitResult:
        doc = jr.obj(doc, "runtime commit result")
        revision = doc.get("head_revision")
        if isinstance(revision, bool) or not isinstance(revision, int):
            raise ValueError("missing integer field `head_revision`")
        if "manifest" not in doc:
            raise ValueError("missing field `manifest`")
        return cls(revision, jr.text(doc, "checkpoint_ref"), SessionCheckpoint.from_json(doc["manifest"]))


@dataclass(frozen=True)
class SessionReadScope:
    """What graph a session read returns: every live node, or the active path to a leaf."""

    kind: str = "full_graph"
    leaf_node_id: str | None = None

    @classmethod
    def full_graph(cls) -> SessionReadScope:
        return cls("full_graph")

    @classmethod
    def active_path(cls, leaf_node_id: str | None = None) -> SessionReadScope:
        """The path to ``leaf_node_id`` (default: the head's leaf)."""
        return cls("active_path", leaf_node_id)


@dataclass(frozen=True)
class PersistedSessionRead:
    """A session as stored: head fields, the requested graph, hydrated checkpoint and merged ledger."""

    session_id: str
    head_revision: int
    config: Any
    agent_frames: tuple[Any, ...]
    current_agent_frame_id: str
    graph: SessionGraph
    checkpoint_ref: str | None
    checkpoint: HydratedCheckpoint | None
    token_ledger: tuple[TokenLedgerEntry, ...]


# --- the turn commit hash ---------------------------------------------------------------------------


def _scrub(value: Any) -> Any:
    """A copy without message ids and volatile graph keys (§2.6 step 3)."""
    if isinstance(value, dict):
        drop_id = ("role" in value and "parts" in value) or (
            "kind" in value and "content" in value and "prune_state" in value)
        return {k: _scrub(v) for k, v in value.items()
                if k not in _VOLATILE_KEYS and not (drop_id and k == "id")}
    if isinstance(value, (list, tuple)):
        return [_scrub(v) for v in value]
    return value


def turn_commit_hash(commit: RuntimeCommit) -> str:
    """SHA-256 of the commit's content, independent of revision, leases, stamp, ids and timestamps."""
    semantic = dataclasses.replace(commit, expected_head_revision=None, session_execution_lease=None,
                                   release_session_execution_lease=None, turn_commit=None)
    return canonical.sha256_hex(canonical.sorted_json(_scrub(semantic.to_json())))


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
    key = (descriptor, profile, ref)
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


def prepare_checkpoint(checkpoint: HydratedCheckpoint, profile: BlobProfile) -> PreparedCheckpoint:
    """Encode the given snapshots and the manifest (§2.2 step 1) without touching the database.

    Encoding and compression are the costly part of a commit; doing them before ``BEGIN
    IMMEDIATE`` keeps the write lock held only for the SQL.
    """
    rows_out: list[tuple[str, bytes]] = []

    def put(descriptor: Descriptor, value: Any) -> str:
        ref, envelope = _blob_row(descriptor, codec.encode_value(value), profile)
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


def check_values(commit: RuntimeCommit) -> None:
    """Every value and id of the commit is storable (:mod:`values`); else :class:`UnstorableValue` naming it."""
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
    every graph row. If nothing was committed by another connection (``PRAGMA data_version``),
    this connection changed no row (``total_changes``) and the head is still the one this
    connection wrote, then the head's count is still exact and the new count follows from it.
    Any doubt falls back to the scan.
    """

    def __init__(self) -> None:
        self.state: tuple[int, int, int] | None = None


def _data_version(conn: apsw.Connection) -> int:
    return conn.execute("PRAGMA data_version").fetchall()[0][0]


def apply(conn: apsw.Connection, commit: RuntimeCommit, prepared: PreparedCheckpoint, now: int,
          hint: GraphCountHint | None = None) -> RuntimeCommitResult:
    """Check, then write, one runtime commit inside the caller's write transaction (§2.1, §2.2).

    ``prepared`` is ``prepare_checkpoint(commit.checkpoint, profile)``; an idempotent replay
    writes none of it. ``hint`` (one per connection) lets back-to-back commits skip the count scan.
    """
    session_id = commit.session_id
    head = session_rows.load_head_meta(conn)
    if head is not None and head.session_id != session_id:
        raise SessionBindingMismatch(head.session_id, session_id)

    stamp = commit.turn_commit
    if stamp is not None:
        if stamp.session_id != session_id:
            raise RuntimeTurnCommitConflict(stamp.session_id, stamp.turn_id)
        prior = query_one(conn, "SELECT turn_commit_hash, result_json FROM runtime_turn_commits "
                                "WHERE session_id = ? AND turn_id = ?", (stamp.session_id, stamp.turn_id))
        if prior is not None:
            if prior[0] != stamp.turn_commit_hash:
                raise RuntimeTurnCommitConflict(stamp.session_id, stamp.turn_id)
            result = _decode_result(prior[1])
            if commit.release_session_execution_lease is not None:
                leases.release(conn, commit.release_session_execution_lease)
            return result

    if commit.session_execution_lease is None:
        raise SessionExecutionLeaseExpired(session_id)
    leases.ensure_fence(conn, session_id, commit.session_execution_lease, now)

    actual = head.head_revision if head is not None else 0
    expected = commit.expected_head_revision
    if expected is not None and expected != actual:
        raise HeadRevisionConflict(expected, actual)

    for completion in commit.completed_queue_claims:
        if completion.session_id != session_id:
            raise QueuedWorkClaimExpired(completion.session_id, completion.claim_id)
        queued_work.ensure_completion(conn, completion)

    # Every check passed; from here on only SQLite itself can fail (and roll everything back).
    graph = commit.graph
    live_before = None
    if hint is not None:
        data_version = _data_version(conn)
        if head is not None and hint.state == (data_version, conn.total_changes(), head.head_revision):
            live_before = head.graph_node_count
    conn.executemany("INSERT OR IGNORE INTO blobs (hash, content) VALUES (?, ?)", prepared.rows)
    if commit.usage_deltas:
        session_rows.insert_usage(conn, list(commit.usage_deltas))
    if graph.kind == APPEND:
        graph_rows.insert_nodes(conn, graph.nodes)
    elif graph.kind == REPLACE_FULL:
        graph_rows.replace_nodes(conn, graph.nodes)
    if graph.kind == REPLACE_FULL:
        live = len(graph.nodes)  # every row was replaced by these, all live (duplicates raised above)
    elif live_before is not None:
        live = live_before + len(graph.nodes)
    else:
        live = graph_rows.live_count(conn)
    next_revision = actual + 1
    session_rows.save_head_row(conn, SessionHeadMeta(
        session_id=session_id,
        head_revision=next_revision,
        config=commit.config,
        agent_frames=commit.agent_frames,
        current_agent_frame_id=commit.current_agent_frame_id,
        checkpoint_ref=prepared.checkpoint_ref,
        leaf_node_id=graph.leaf_node_id,
        graph_node_count=live,
    ))
    if commit.completed_queue_claims:
        queued_work.delete_completed(conn, commit.completed_queue_claims)
    if commit.committed_attachment_ids:
        attachments.stamp_committed(conn, session_id, commit.committed_attachment_ids, now)
    result = RuntimeCommitResult(next_revision, prepared.checkpoint_ref, prepared.manifest)
    if stamp is not None:
        conn.execute("INSERT INTO runtime_turn_commits (session_id, turn_id, turn_commit_hash, result_json, "
                     "committed_at_ms) VALUES (?, ?, ?, ?, ?)",
                     (stamp.session_id, stamp.turn_id, stamp.turn_commit_hash, dumps(result.to_json()), now))
    if commit.release_session_execution_lease is not None:
        leases.release(conn, commit.release_session_execution_lease)
    if hint is not None:
        # Inside the transaction no other connection can commit, so this is the state right after
        # ours; a COMMIT that fails leaves an older head revision, which voids the hint.
        hint.state = (data_version, conn.total_changes(), next_revision)
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


def load_session(conn: apsw.Connection, scope: SessionReadScope, limit: int) -> PersistedSessionRead | None:
    """Head, graph for ``scope``, hydrated checkpoint and merged ledger; ``None`` without a head."""
    head = session_rows.load_head_meta(conn)
    if head is None:
        return None
    if scope.kind == "full_graph":
        graph = SessionGraph(tuple(graph_rows.load_nodes(conn)), head.leaf_node_id)
    elif scope.kind == "active_path":
        leaf = scope.leaf_node_id if scope.leaf_node_id is not None else head.leaf_node_id
        nodes = () if leaf is None else tuple(graph_rows.active_path(conn, leaf))
        graph = SessionGraph(nodes, leaf)
    else:
        raise UnsupportedReadScope(scope)
    checkpoint = None
    if head.checkpoint_ref is not None:
        try:
            checkpoint = load_checkpoint(conn, head.checkpoint_ref, limit)
        except BlobError as exc:
            raise BackendError(f"checkpoint `{head.checkpoint_ref}` of the session head cannot be read: {exc}",
                               hint=exc.hint) from exc
        if checkpoint is None:
            # The head names it, so it was written and then lost (SPEC §6 amended): damage, never "none".
            raise MissingCheckpoint(head.checkpoint_ref)
    return PersistedSessionRead(head.session_id, head.head_revision, head.config, head.agent_frames,
                                head.current_agent_frame_id, graph, head.checkpoint_ref, checkpoint,
                                merge_ledger(session_rows.load_usage(conn)))
