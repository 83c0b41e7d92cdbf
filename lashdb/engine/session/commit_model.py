"""The runtime commit's data: what a commit carries, what it returns, read scopes, and its hash (§2).

Contract:
- Every type round-trips through ``to_json``/``from_json`` in upstream's JSON form.
- :func:`turn_commit_hash` is the caller-side hash of §2.6: the commit without its revision,
  lease and stamp fields, volatile ids and timestamps scrubbed, as canonical JSON with every object
  key sorted (deployment-stores §0.4).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from lashdb.engine.base import canonical
from lashdb.engine.base import jsonread as jr

from .leases import SessionExecutionLease, SessionExecutionLeaseCompletion, SessionExecutionLeaseFence
from .model import (
    GraphNode,
    HydratedCheckpoint,
    SessionCheckpoint,
    SessionGraph,
    TokenLedgerEntry,
)
from .queued_work import QueuedWorkCompletion

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
