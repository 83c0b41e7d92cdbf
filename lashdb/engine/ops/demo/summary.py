"""What :func:`~lashdb.engine.ops.demo.build_demo` reports it wrote (for printing and for tests).

Contract: frozen records of ids, counts and paths read back from what was written; ``to_json()``
gives paths as text and ids as stored.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lashdb.engine.base.locator import SessionLocation

Where = Path | SessionLocation
"""A session file or sidecar file; in a URL store, the session (or scope) the rows live under."""


@dataclass(frozen=True)
class DemoSession:
    """What the demo wrote into one session database (for printing and for tests)."""

    session_id: str
    name: str
    path: Where
    model: str
    parent_session_id: str | None
    turns: int
    user_messages: int
    live_nodes: int
    tombstoned_nodes: int
    head_revision: int
    leaf_node_id: str
    checkpoint_ref: str
    first_user_message: str
    created_at_ms: int
    modified_at_ms: int
    artifact_refs: tuple[str, ...] = ()
    sidecars: dict[str, Where] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """JSON form: ids, counts, refs and paths as text."""
        return {
            "session_id": self.session_id,
            "name": self.name,
            "path": str(self.path),
            "model": self.model,
            "parent_session_id": self.parent_session_id,
            "turns": self.turns,
            "user_messages": self.user_messages,
            "live_nodes": self.live_nodes,
            "tombstoned_nodes": self.tombstoned_nodes,
            "head_revision": self.head_revision,
            "leaf_node_id": self.leaf_node_id,
            "checkpoint_ref": self.checkpoint_ref,
            "first_user_message": self.first_user_message,
            "created_at_epoch_ms": self.created_at_ms,
            "modified_at_epoch_ms": self.modified_at_ms,
            "artifact_refs": list(self.artifact_refs),
            "sidecars": {k: str(v) for k, v in self.sidecars.items()},
        }


@dataclass(frozen=True)
class DemoDeployment:
    """What the demo wrote into the first root session's process registry and trigger store."""

    session_id: str
    registry: Where
    trigger_store: Where
    processes: dict[str, str]       # role in the story → process id
    subscriptions: dict[str, str]   # handle → subscription name
    occurrences: tuple[str, ...]    # occurrence ids, oldest first

    def to_json(self) -> dict[str, Any]:
        """JSON form: paths as text, ids as stored."""
        return {"session_id": self.session_id, "registry": str(self.registry),
                "trigger_store": str(self.trigger_store), "processes": dict(self.processes),
                "subscriptions": dict(self.subscriptions), "occurrences": list(self.occurrences)}


@dataclass(frozen=True)
class DemoSummary:
    """The demo root and the sessions written into it (root sessions first, then the child)."""

    root: Path | str                        # a directory, or a URL store without its password
    sessions: tuple[DemoSession, ...]
    deployment: DemoDeployment | None = None
    runtime: DemoRuntime | None = None

    @property
    def root_sessions(self) -> tuple[DemoSession, ...]:
        """The sessions without a parent."""
        return tuple(s for s in self.sessions if s.parent_session_id is None)

    @property
    def child_sessions(self) -> tuple[DemoSession, ...]:
        """The sessions with a parent."""
        return tuple(s for s in self.sessions if s.parent_session_id is not None)

    def to_json(self) -> dict[str, Any]:
        """JSON form: the root and one object per session."""
        return {"root": str(self.root), "sessions": [s.to_json() for s in self.sessions],
                "deployment": None if self.deployment is None else self.deployment.to_json(),
                "runtime": None if self.runtime is None else self.runtime.to_json()}


@dataclass(frozen=True)
class DemoRuntime:
    """The rows the demo wrote the way a lash runtime writes them (commits, leases, queue, attachments, effects)."""

    committed_session_id: str               # every turn one stamped commit_runtime_state
    turn_ids: tuple[str, ...]               # its turn stamps (runtime_turn_commits rows)
    interrupted_turn_id: str                # the turn its runtime died in
    expired_lease_session_id: str | None    # None when the live lease took it over (one root session)
    live_lease_session_id: str
    queued: dict[str, str]                  # "claimed" / "pending" → batch id
    attachments: dict[str, str]             # "committed" / "uncommitted" → attachment id
    effects: Where                          # the committed session's effect journal
    effect_scopes: tuple[str, ...]          # its scope ids, oldest first
    stale_effect: tuple[str, str]           # (scope id, replay key) in progress under an expired lease

    def to_json(self) -> dict[str, Any]:
        """JSON form: ids as stored, paths as text."""
        return {"committed_session_id": self.committed_session_id, "turn_ids": list(self.turn_ids),
                "interrupted_turn_id": self.interrupted_turn_id,
                "expired_lease_session_id": self.expired_lease_session_id,
                "live_lease_session_id": self.live_lease_session_id, "queued": dict(self.queued),
                "attachments": dict(self.attachments), "effects": str(self.effects),
                "effect_scopes": list(self.effect_scopes),
                "stale_effect": {"scope_id": self.stale_effect[0], "replay_key": self.stale_effect[1]}}
