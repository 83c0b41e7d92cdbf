"""A realistic demo sessions root, built only through the engine's public API (CLI.md ``demo``).

Contract: :func:`build_demo` writes into a new or empty directory and nothing else; it uses
``SessionStoreFactory``, ``Store`` methods and the model types — never SQL — so what it writes is
exactly what a runtime on lashdb would write. Content is deterministic: every id, timestamp and
payload derives from the session index and one "now" read from ``clock`` (default a fixed instant),
and each database's mtime is set to its last activity, so two builds hold the same rows.

What a root holds (``sessions`` root sessions, then one child of the first):
- multi-turn graphs of user and assistant messages, a user message with an image part, plugin
  nodes, a fork (an edited user message) and tombstoned nodes (a regenerated assistant reply);
- one checkpoint per turn whose snapshots are on both sides of the Balanced compression threshold
  (4096 bytes); each turn's checkpoint supersedes the previous one, so older manifests and
  snapshots are unreachable — garbage for ``lashdb gc``;
- usage deltas per turn (plus a zero-total row that the merged ledger drops);
- a compiled module under an artifact ref (a GC root) in the first session;
- runtime rows, written as the lash runtime writes them: the first session's turns are each one
  stamped ``Store.commit_runtime_state`` under its execution lease (``runtime_turn_commits`` rows;
  turn 2 commits its screenshot's attachment intent); then its runtime dies in the next turn,
  leaving an expired lease, an attachment intent never committed and an effect in progress; the
  newest root session's lease is held right now by a restarted runtime that has claimed one
  queued message while another waits;
- beside the first session, its effect journal (``.effects.db``, written through ``EffectHost``):
  completed and failed tool attempts, and the dead runtime's attempt still in progress under an
  expired lease (a stale row for ``lashdb doctor`` and ``lashdb effects replay``);
- beside the first session, the deployment stores it shares with its child: a process registry
  (``.processes.db``: a completed and a failed process, one running under a live lease, one whose
  worker died holding an expired lease, one waiting on an approval, grants, events with acked and
  unacked wakes) and a trigger store (``.triggers.db``: session, host and cancelled subscriptions,
  occurrences with and without deliveries, each delivery's process in the registry).

Adding a sidecar (effects journal, process registry, trigger store) is one more call in
:func:`build_demo`'s per-session loop, next to ``_build_session``: write it beside
``store.path`` through its engine store, and record it in :class:`DemoSession.sidecars`.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import itertools
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from lashdb.engine import (
    DatabaseError,
    GraphNode,
    HydratedCheckpoint,
    SessionHeadMeta,
    SessionMeta,
    SessionRelation,
    SessionStoreCreateRequest,
    SessionStoreFactory,
    Store,
    StoreOptions,
    TokenLedgerEntry,
    TokenUsage,
)
from lashdb.engine import (
    CausalRef,
    InputBinding,
    ProcessAwaitOutput,
    ProcessEventAppendRequest,
    ProcessEventType,
    ProcessExternalRef,
    ProcessHandleDescriptor,
    ProcessIdentity,
    ProcessInput,
    ProcessOriginator,
    ProcessProvenance,
    ProcessRegistration,
    ProcessRegistry,
    Selector,
    SessionScope,
    TriggerOccurrenceRequest,
    TriggerStore,
    TriggerSubscriptionDraft,
    WaitState,
    WakeSpec,
)
from lashdb.engine import (
    AttachmentIntent,
    DeliveryPolicy,
    EffectCommand,
    EffectControllerError,
    EffectEnvelope,
    EffectHost,
    EffectReplayOptions,
    ExecutionScope,
    GraphDelta,
    MergeKey,
    QueuedWorkBatchDraft,
    QueuedWorkClaimBoundary,
    QueuedWorkPayload,
    RuntimeCommit,
    RuntimeScope,
    SessionExecutionLease,
    SlotPolicy,
    prepared_tool_call,
)
from lashdb.engine.base.codec import BlobProfile
from lashdb.engine.deployment.triggers import default_source_key

DEMO_NOW_MS = 1_780_304_400_000
"""The demo's default "now": 2026-06-01T09:00:00Z."""

COMPRESSION_THRESHOLD = 4096  # Balanced profile (SPEC §4)
_NAMESPACE = uuid.UUID("6c617368-6462-4465-8d6f-000000000001")
_DAY_MS = 86_400_000
_TURN_MS = 180_000  # three minutes between turns
_STEP_MS = 20_000   # twenty seconds between nodes of a turn

# Runtime rows (runtime contract §2–§6): the lease owners, and how long they hold.
_RUNTIME_OWNER = "lash@demo-laptop:pid4711"    # wrote the first session's turns, died in the next one
_RESTARTED_OWNER = "lash@demo-laptop:pid5120"  # holds the newest root session's lease right now
_TURN_LEASE_TTL_MS = 300_000                   # a turn's execution lease: five minutes
_LIVE_LEASE_TTL_MS = 1_800_000                 # the live lease: thirty minutes, claimed two minutes ago
_QUEUE_CLAIM_TTL_MS = 900_000                  # the runtime's queued-work claim TTL
_EFFECT_LEASE_TTL_MS = EffectReplayOptions().lease_ttl_ms
_TIMEOUT = "tool_timeout"
_AGENT_FRAMES = ({"frame_id": "main", "agent": "default"},)
_TOOL_OUTPUT = {"read_file": "tests/test_parser.py: 212 lines", "run_tests": "200 passed in 85.2s"}


@dataclass(frozen=True)
class DemoSession:
    """What the demo wrote into one session database (for printing and for tests)."""

    session_id: str
    name: str
    path: Path
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
    sidecars: dict[str, Path] = field(default_factory=dict)

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
    registry: Path
    trigger_store: Path
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

    root: Path
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
    effects: Path                           # the committed session's effect journal
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


# --- the script of each session ---------------------------------------------------------------------


@dataclass(frozen=True)
class _Turn:
    user: str | list[dict[str, Any]]
    reply: str
    tool: str | None = None          # a tool the assistant used (plugin node + ToolCall part)
    regenerated: str | None = None   # a first reply that was regenerated (tombstoned)
    edited_from: str | None = None   # an earlier wording of the user message (a live fork)


@dataclass(frozen=True)
class _Script:
    name: str
    model: str
    cwd: str
    turns: tuple[_Turn, ...]
    large_tool_state: bool = False


_IMAGE_PART = {"kind": "Image", "media_type": "image/png", "uri": "attachment://screenshot-failing-test.png"}

_SCRIPTS: tuple[_Script, ...] = (
    _Script(
        "Fix the flaky parser test", "claude-sonnet-4-5", "/home/demo/src/lashlang",
        (
            _Turn("tests/test_parser.py::test_nested_blocks fails about one run in ten. Can you find out why?",
                  "The test iterates over a set of block names, so the order changes between runs. "
                  "The parser itself is deterministic.", tool="read_file"),
            _Turn([{"kind": "Text", "content": "Here is the failure from CI:"}, _IMAGE_PART],
                  "The screenshot shows the blocks in a different order. I sorted the expected names; "
                  "the test now passes 200 runs in a row.", tool="run_tests",
                  regenerated="Could you paste the full traceback as text?"),
            _Turn("Great. Please also add a regression test.",
                  "Added test_nested_blocks_order_is_stable, which shuffles the input ten times."),
        ),
    ),
    _Script(
        "Release notes for 0.4", "gpt-5", "/home/demo/src/lash",
        (
            _Turn("Draft release notes for 0.4 from the merged pull requests.",
                  "Here is a draft grouped into Features, Fixes and Internal changes.", tool="git_log"),
            _Turn("Shorten it to five bullet points for the announcement.",
                  "Five bullets: faster resume, session picker, blob verify, GC, and Python 3.13 support.",
                  edited_from="Make it shorter."),
        ),
    ),
    _Script(
        "Investigate slow start-up", "claude-sonnet-4-5", "/home/demo/src/lash",
        (
            _Turn("`lash --help` takes 900 ms on my laptop. Why?",
                  "Most of the time goes into importing the provider SDKs at start-up.", tool="profile"),
            _Turn("Can we import them lazily?",
                  "Yes: moving the imports into the command functions brings --help down to 80 ms.",
                  tool="edit_file"),
            _Turn("Measure it again with a cold cache.",
                  "Cold cache: 140 ms. The remaining cost is the config loader.", tool="profile"),
        ),
        large_tool_state=True,
    ),
    _Script(
        "Plan the storage cut-over", "o4-mini", "/home/demo/src/lash",
        (
            _Turn("We are moving session storage to schema v4. What breaks for users?",
                  "Old session files are not migrated: lash refuses them and asks to start fresh."),
            _Turn("Write the upgrade note.",
                  "Upgrade note: finish or export running sessions first; then update lash.", tool="write_file"),
        ),
    ),
)

_CHILD = _Script(
    "Sub-agent: shuffle test inputs", "claude-haiku-4-5", "/home/demo/src/lashlang",
    (
        _Turn("Write a helper that shuffles block lists deterministically from a seed.",
              "Added shuffled_blocks(seed) to tests/helpers.py.", tool="write_file"),
    ),
)


# --- building ---------------------------------------------------------------------------------------


class _Timeline:
    """The demo's clock: every timestamp written comes from here, so content is deterministic."""

    def __init__(self, start_ms: int) -> None:
        self.now_ms = start_ms

    def advance(self, ms: int) -> int:
        """Move the clock forward and return the new time."""
        self.now_ms += ms
        return self.now_ms


def _iso(ms: int) -> str:
    """RFC 3339 with a ``+00:00`` offset, as upstream writes node timestamps."""
    return _dt.datetime.fromtimestamp(ms / 1000, _dt.timezone.utc).isoformat(timespec="seconds")


def _uid(*parts: object) -> str:
    return str(uuid.uuid5(_NAMESPACE, ":".join(str(p) for p in parts)))


def _node_id(session_id: str, label: str) -> str:
    return "n_" + hashlib.sha256(f"{session_id}/{label}".encode()).hexdigest()[:32]


def _filler(label: str, size: int) -> list[str]:
    """Deterministic, compressible text lines totalling about ``size`` bytes."""
    line = f"{label}: cached line of tool output, unchanged since the previous turn"
    return [f"{i:05d} {line}" for i in range(size // (len(line) + 6) + 1)]


def _script_for(index: int) -> _Script:
    base = _SCRIPTS[index % len(_SCRIPTS)]
    if index < len(_SCRIPTS):
        return base
    return _Script(f"{base.name} ({index // len(_SCRIPTS) + 1})", base.model, base.cwd, base.turns,
                   base.large_tool_state)


def build_demo(root: str | os.PathLike[str], sessions: int = 4, *,
               clock: Callable[[], int] | None = None) -> DemoSummary:
    """Create a demo root: ``sessions`` root sessions plus one child of the first."""
    root = Path(root)
    if sessions < 1:
        raise DatabaseError(str(root), f"{root}: a demo needs at least one session (got {sessions})",
                            hint="pass --sessions 1 or more")
    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        raise DatabaseError(str(root), f"{root}: exists and is not an empty directory",
                            hint="choose a new or empty directory for the demo")
    now_ms = int(clock()) if clock is not None else DEMO_NOW_MS
    timeline = _Timeline(now_ms)
    factory = SessionStoreFactory(root, StoreOptions(blob_profile=BlobProfile.BALANCED,
                                                     clock=lambda: timeline.now_ms,
                                                     enqueue_nonce=itertools.count(1).__next__))
    notes = _RuntimeNotes(Path(f"{factory.path_for_session(_uid('session', 0))}.effects.db"))
    built: list[DemoSession] = []
    for index in range(sessions):
        # Oldest first: session i started (sessions - i) days before now.
        timeline.now_ms = now_ms - (sessions - index) * _DAY_MS
        session_id = _uid("session", index)
        built.append(_build_session(factory, timeline, session_id, _script_for(index), SessionRelation.root(),
                                    with_artifact=index == 0, runtime=notes if index == 0 else None,
                                    live=(notes, now_ms) if index == sessions - 1 else None))
    parent = built[0]
    timeline.now_ms = parent.created_at_ms + _TURN_MS + 5_000
    caused_by = {"kind": "tool_call", "session_id": parent.session_id, "turn_id": "turn-2",
                 "call_id": "call_" + _uid("child-call")[:8]}
    built.append(_build_session(factory, timeline, _uid("child", 0), _CHILD,
                                SessionRelation.child(parent.session_id, caused_by)))
    deployment = _build_deployment_stores(parent, built[-1], now_ms)
    built[0] = replace(parent, sidecars={**built[0].sidecars, "processes": deployment.registry,
                                         "triggers": deployment.trigger_store})
    return DemoSummary(root, tuple(built), deployment, notes.summary(built[0].session_id, sessions))


def _build_session(factory: SessionStoreFactory, timeline: _Timeline, session_id: str, script: _Script,
                   relation: SessionRelation, *, with_artifact: bool = False, runtime: _RuntimeNotes | None = None,
                   live: tuple[_RuntimeNotes, int] | None = None) -> DemoSession:
    # runtime: write the turns as the lash runtime does, then die in the next one (and fill the
    # effect journal); live: then, at (now), hold the lease with queued work claimed and pending.
    created_ms = timeline.now_ms
    with factory.create_store(SessionStoreCreateRequest(session_id, script.model, relation)) as store, \
            contextlib.ExitStack() as stack:
        # The factory seeds meta with the process cwd; the demo's meta is fixed and named.
        store.save_session_meta(SessionMeta(session_id, script.name, f"unix:{created_ms // 1000}", script.model,
                                            script.cwd, relation))
        artifacts: tuple[str, ...] = ()
        if with_artifact:
            ref = "lashlang:module/demo_main@1"
            store.put_module_artifact(ref, _module_source(script.name))
            artifacts = (ref,)
        writer = _SessionWriter(store, session_id, script, timeline)
        if runtime is not None:
            journal = stack.enter_context(_Journal(runtime.effects))
            writer = _RuntimeWriter(store, session_id, script, timeline, journal, runtime)
        for number, turn in enumerate(script.turns, 1):
            writer.turn(number, turn)
        if isinstance(writer, _RuntimeWriter):
            writer.interrupted_turn()
        if live is not None:
            live[0].queued = _live_work(store, session_id, timeline, live[1])
            live[0].live_lease_session_id = session_id
        path = Path(store.path or "")
    modified_ms = timeline.now_ms
    os.utime(path, ns=(modified_ms * 1_000_000, modified_ms * 1_000_000))
    users = [n for n in writer.live if n.role == "User"]
    return DemoSession(
        session_id=session_id, name=script.name, path=path, model=script.model,
        parent_session_id=relation.parent_session_id, turns=len(script.turns), user_messages=len(users),
        live_nodes=len(writer.live), tombstoned_nodes=writer.tombstoned, head_revision=writer.revision,
        leaf_node_id=writer.leaf or "", checkpoint_ref=writer.checkpoint_ref or "",
        first_user_message=users[0].text if users else "", created_at_ms=created_ms, modified_at_ms=modified_ms,
        artifact_refs=artifacts, sidecars={} if runtime is None else {"effects": runtime.effects},
    )


def _module_source(name: str) -> bytes:
    return (f"-- compiled lashlang module for the demo session {name!r}\n"
            "fn main(ctx) {\n  let blocks = ctx.parse(ctx.input)\n  return blocks.sorted()\n}\n").encode()


class _SessionWriter:
    """Writes one session turn by turn: graph nodes, checkpoint, usage, then the head."""

    def __init__(self, store: Store, session_id: str, script: _Script, timeline: _Timeline) -> None:
        self.store = store
        self.session_id = session_id
        self.script = script
        self.timeline = timeline
        self.live: list[GraphNode] = []
        self.tombstoned = 0
        self.leaf: str | None = None
        self.revision = 0
        self.checkpoint_ref: str | None = None
        self.tool_state_ref: str | None = None
        self.ledger: list[TokenLedgerEntry] = []
        self.cumulative = TokenUsage()

    def _node(self, label: str) -> tuple[str, str]:
        return _node_id(self.session_id, label), _iso(self.timeline.advance(_STEP_MS))

    def turn(self, number: int, turn: _Turn) -> None:
        """Write one turn: nodes, tombstones, checkpoint, usage, then the head."""
        nodes: list[GraphNode] = []
        dropped: list[str] = []
        self._begin(number, turn)
        if turn.edited_from is not None:
            # The user first sent another wording, then edited it: both stay as siblings (a fork).
            nid, ts = self._node(f"t{number}/user-draft")
            nodes.append(GraphNode.message(nid, "User", turn.edited_from, timestamp=ts, parent_node_id=self.leaf))
        user_id, ts = self._node(f"t{number}/user")
        nodes.append(GraphNode.message(user_id, "User", turn.user, timestamp=ts, parent_node_id=self.leaf))
        parent = user_id
        if turn.regenerated is not None:
            # A first reply the user regenerated: written, then tombstoned with its tool note.
            first_id, ts = self._node(f"t{number}/reply-draft")
            nodes.append(GraphNode.message(first_id, "Assistant", turn.regenerated, timestamp=ts,
                                           parent_node_id=user_id))
            note_id, ts = self._node(f"t{number}/reply-draft-note")
            nodes.append(GraphNode.plugin(note_id, "reply_feedback", {"rating": "regenerate"}, timestamp=ts,
                                          parent_node_id=first_id))
            dropped = [first_id, note_id]
        parts: list[dict[str, Any]] = []
        if turn.tool is not None:
            call_id = "call_" + _uid(self.session_id, number, turn.tool)[:8]
            tool_id, ts = self._node(f"t{number}/tool")
            self._tool_used(number, turn.tool, call_id)
            nodes.append(GraphNode.plugin(tool_id, "tool_activity",
                                          {"tool": turn.tool, "call_id": call_id, "status": "ok",
                                           "duration_ms": 400 + 37 * number}, timestamp=ts, parent_node_id=parent))
            parent = tool_id
            parts.append({"kind": "ToolCall", "id": call_id, "name": turn.tool, "arguments": {"turn": number}})
        reply_id, ts = self._node(f"t{number}/reply")
        parts.append({"kind": "Text", "content": turn.reply})
        nodes.append(GraphNode.message(reply_id, "Assistant", parts, timestamp=ts, parent_node_id=parent))

        self._persist(number, turn, nodes, dropped, reply_id)
        self.timeline.advance(_TURN_MS)

    def _begin(self, number: int, turn: _Turn) -> None:
        """Before the turn's first node (the runtime writer claims its lease here)."""

    def _tool_used(self, number: int, tool: str, call_id: str) -> None:
        """When the assistant calls a tool (the runtime writer records the effect here)."""

    def _config(self) -> dict[str, Any]:
        return {"model": self.script.model, "provider_id": "demo", "turn_budget": "unbounded"}

    def _persist(self, number: int, turn: _Turn, nodes: list[GraphNode], dropped: list[str], leaf: str) -> None:
        """Store the turn with separate calls: nodes, tombstones, checkpoint, usage, then the head."""
        self.store.append_session_graph_nodes(nodes)
        self._drop(nodes, dropped, leaf)
        self._checkpoint(number, turn)
        self._usage(number)
        self.revision += 1
        self.store.save_session_head_meta(SessionHeadMeta(
            session_id=self.session_id, head_revision=self.revision, config=self._config(),
            agent_frames=_AGENT_FRAMES, current_agent_frame_id="main",
            checkpoint_ref=self.checkpoint_ref, leaf_node_id=self.leaf, graph_node_count=len(self.live),
            token_ledger=self.store.load_token_ledger(),
        ))

    def _drop(self, nodes: list[GraphNode], dropped: list[str], leaf: str) -> None:
        if dropped:
            self.store.tombstone_nodes(dropped)
            self.tombstoned += len(dropped)
        self.live.extend(n for n in nodes if n.node_id not in dropped)
        self.leaf = leaf

    def _checkpoint(self, number: int, turn: _Turn) -> None:
        stored = self.store.put_checkpoint(self._checkpoint_value(number, turn))
        self.checkpoint_ref = stored.checkpoint_ref
        self.tool_state_ref = stored.manifest.tool_state_ref

    def _checkpoint_value(self, number: int, turn: _Turn) -> HydratedCheckpoint:
        # Tool state changes only on turns that used a tool; otherwise the previous ref is kept.
        tool_state = None
        if turn.tool is not None or self.tool_state_ref is None:
            size = 6 * COMPRESSION_THRESHOLD if self.script.large_tool_state else 600
            tool_state = {"cwd": self.script.cwd, "last_tool": turn.tool, "turn": number,
                          "output_cache": _filler(f"{self.session_id[:8]}/t{number}", size)}
        # Plugin snapshot: small on the first turn, above the compression threshold afterwards.
        todo = [{"id": i, "text": f"step {i} of turn {number}", "done": i < number} for i in range(3)]
        snapshot: dict[str, Any] = {"todo": {"items": todo}}
        if number > 1:
            snapshot["notes"] = _filler(f"notes/t{number}", 2 * COMPRESSION_THRESHOLD)
        execution = (b"LASHEXEC\x01" + number.to_bytes(4, "big")
                     + bytes((i * 7 + number) % 251 for i in range(200 if number % 2 else 5000)))
        return HydratedCheckpoint(
            turn_state={"turn_index": number, "token_usage": self.cumulative.to_json(),
                        "protocol_turn_options": {"payload": {}}},
            tool_state_ref=self.tool_state_ref, tool_state=tool_state,
            plugin_snapshot=snapshot, plugin_snapshot_revision=number, execution_state=execution,
        )

    def _usage(self, number: int) -> None:
        self.store.append_usage_deltas(self._usage_entries(number))

    def _usage_entries(self, number: int) -> list[TokenLedgerEntry]:
        usage = TokenUsage(input_tokens=1200 * number + 345, output_tokens=180 + 41 * number,
                           cached_input_tokens=800 * (number - 1), reasoning_tokens=64 * (number % 2))
        entries = [TokenLedgerEntry("turn", self.script.model, usage)]
        if number == 2:
            # A cache-only delta (total 0, dropped by the merged ledger) and a compaction call.
            entries.append(TokenLedgerEntry("turn", self.script.model, TokenUsage(cached_input_tokens=512)))
            entries.append(TokenLedgerEntry("compaction", "claude-haiku-4-5", TokenUsage(2400, 310, 0, 0)))
        self.cumulative = self.cumulative + usage
        return entries


class _RuntimeDied(Exception):
    """Stands for the runtime process dying inside an effect (raised and caught only by the demo)."""


@dataclass
class _RuntimeNotes:
    """What the runtime parts of the build wrote, collected while building (see :class:`DemoRuntime`)."""

    effects: Path
    turn_ids: list[str] = field(default_factory=list)
    interrupted_turn_id: str = ""
    attachments: dict[str, str] = field(default_factory=dict)
    queued: dict[str, str] = field(default_factory=dict)
    live_lease_session_id: str = ""
    effect_scopes: list[str] = field(default_factory=list)
    stale_effect: tuple[str, str] = ("", "")

    def summary(self, committed_session_id: str, root_sessions: int) -> DemoRuntime:
        """The frozen summary; with one root session the live lease took the expired one over."""
        return DemoRuntime(committed_session_id, tuple(self.turn_ids), self.interrupted_turn_id,
                           committed_session_id if root_sessions > 1 else None, self.live_lease_session_id,
                           dict(self.queued), dict(self.attachments), self.effects, tuple(self.effect_scopes),
                           self.stale_effect)


class _Journal:
    """A session's effect journal, written through ``EffectHost`` on a clock of its own (set per effect)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.clock = _Timeline(0)
        self.last_write_ms = 0
        self.host = EffectHost.open(path, EffectReplayOptions(owner_id=_RUNTIME_OWNER), clock=lambda: self.clock.now_ms)

    def __enter__(self) -> _Journal:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.host.close()
        os.utime(self.path, ns=(self.last_write_ms * 1_000_000, self.last_write_ms * 1_000_000))

    def _attempt(self, session_id: str, turn_id: str, number: int, tool: str, call_id: str, attempt: int,
                 attempts: int) -> tuple[Any, EffectEnvelope]:
        call = prepared_tool_call(call_id, f"tool:{tool}", tool, {"turn": number})
        envelope = EffectEnvelope.effect(RuntimeScope.for_turn(session_id, turn_id, number, 0),
                                         f"effect:{call_id}:{attempt}", f"tool:{call_id}:attempt:{attempt}",
                                         EffectCommand.tool_attempt(call, attempt, attempts))
        return self.host.scoped(ExecutionScope.turn(session_id, turn_id)), envelope

    def tool_call(self, session_id: str, turn_id: str, number: int, tool: str, call_id: str, at_ms: int) -> None:
        """The attempts of one tool call; ``run_tests`` times out once and passes on its second attempt."""
        self.clock.now_ms = at_ms
        attempts = 2 if tool == "run_tests" else 1
        for attempt in range(1, attempts + 1):
            controller, envelope = self._attempt(session_id, turn_id, number, tool, call_id, attempt, attempts)
            if attempt < attempts:
                try:
                    controller.execute_effect(envelope, _timed_out)
                except EffectControllerError as exc:
                    if exc.code != _TIMEOUT:
                        raise
                    # Recorded as this attempt's failed row; the runtime goes on with the next attempt.
            else:
                controller.execute_effect(envelope, lambda _e, _c: {
                    "type": "tool_attempt", "result": {"Ok": _TOOL_OUTPUT.get(tool, f"{tool}: done")}})
            self.last_write_ms = self.clock.now_ms
            self.clock.advance(4_000)

    def interrupted_tool_call(self, session_id: str, turn_id: str, number: int, tool: str, call_id: str,
                              at_ms: int) -> tuple[str, str]:
        """The runtime dies inside the attempt: its row stays in progress until its lease runs out."""
        self.clock.now_ms = at_ms
        controller, envelope = self._attempt(session_id, turn_id, number, tool, call_id, 1, 3)

        def die(_envelope: EffectEnvelope, _cancelled: Any) -> Any:
            # A dead runtime releases nothing: step past the lease so the host's release (guarded
            # by it) finds it expired and leaves the row as the crash left it.
            self.clock.advance(_EFFECT_LEASE_TTL_MS + 1)
            raise _RuntimeDied(turn_id)

        try:
            controller.execute_effect(envelope, die)
        except _RuntimeDied:
            self.last_write_ms = at_ms
            self.clock.now_ms = at_ms
            return turn_id, envelope.replay_key or ""
        raise DatabaseError(str(self.path), f"{self.path}: the demo's interrupted effect unexpectedly finished")


def _timed_out(_envelope: EffectEnvelope, _cancelled: Any) -> Any:
    raise EffectControllerError(_TIMEOUT, "run_tests exceeded its 120 s budget")


class _RuntimeWriter(_SessionWriter):
    """Writes a session as the lash runtime does: each turn under the session's execution lease, as one
    stamped ``commit_runtime_state`` (attachment intents committed with it), effects in the journal."""

    def __init__(self, store: Store, session_id: str, script: _Script, timeline: _Timeline, journal: _Journal,
                 notes: _RuntimeNotes) -> None:
        super().__init__(store, session_id, script, timeline)
        self.journal = journal
        self.notes = notes
        self.lease: SessionExecutionLease | None = None
        self.intents: list[str] = []

    def _claim(self) -> SessionExecutionLease:
        lease = self.store.try_claim_session_execution_lease(self.session_id, _RUNTIME_OWNER, _TURN_LEASE_TTL_MS)
        if lease is None:
            raise DatabaseError(str(self.store.path), f"{self.store.path}: the demo's execution lease is held")
        return lease

    def _intent(self, uri: str) -> str:
        attachment_id = "att_" + _uid(self.session_id, uri).replace("-", "")[:16]
        self.store.record_intent(AttachmentIntent(attachment_id, self.session_id, uri, self.timeline.now_ms))
        return attachment_id

    def _begin(self, number: int, turn: _Turn) -> None:
        self.lease = self._claim()
        images = [p["uri"] for p in (turn.user if isinstance(turn.user, list) else []) if p.get("kind") == "Image"]
        self.intents = [self._intent(uri) for uri in images]

    def _tool_used(self, number: int, tool: str, call_id: str) -> None:
        turn_id = f"turn-{number}"
        self.journal.tool_call(self.session_id, turn_id, number, tool, call_id, self.timeline.now_ms)
        if turn_id not in self.notes.effect_scopes:
            self.notes.effect_scopes.append(turn_id)

    def _persist(self, number: int, turn: _Turn, nodes: list[GraphNode], dropped: list[str], leaf: str) -> None:
        """One commit: checkpoint, usage, nodes, head, attachments, turn stamp, lease release."""
        turn_id = f"turn-{number}"
        commit = RuntimeCommit(
            self.session_id, self._config(), _AGENT_FRAMES, "main", GraphDelta.append(nodes, leaf),
            self._checkpoint_value(number, turn), tuple(self._usage_entries(number)),
            expected_head_revision=self.revision, committed_attachment_ids=tuple(self.intents))
        result = self.store.commit_runtime_state(commit.under_lease(self.lease).stamped(turn_id))
        self._drop(nodes, dropped, leaf)  # a regenerated reply is tombstoned after the commit that wrote it
        self.revision = result.head_revision
        self.checkpoint_ref = result.checkpoint_ref
        self.tool_state_ref = result.manifest.tool_state_ref
        self.notes.turn_ids.append(turn_id)
        if self.intents:
            self.notes.attachments["committed"] = self.intents[0]

    def interrupted_turn(self) -> None:
        """The next turn starts — lease, an attachment intent, a tool call — and the runtime dies before its commit."""
        number = len(self.script.turns) + 1
        turn_id = f"turn-{number}"
        self.lease = self._claim()
        self.notes.attachments["uncommitted"] = self._intent("attachment://ci-failure-log.txt")
        call_id = "call_" + _uid(self.session_id, number, "fetch_ci_log")[:8]
        self.notes.stale_effect = self.journal.interrupted_tool_call(
            self.session_id, turn_id, number, "fetch_ci_log", call_id, self.timeline.now_ms)
        self.notes.effect_scopes.append(turn_id)
        self.notes.interrupted_turn_id = turn_id


def _live_work(store: Store, session_id: str, timeline: _Timeline, now_ms: int) -> dict[str, str]:
    """Right now: a restarted runtime holds the session's lease and has claimed one queued message; one waits."""

    def message(text: str) -> QueuedWorkBatchDraft:
        return QueuedWorkBatchDraft(session_id, DeliveryPolicy.EARLIEST_SAFE_BOUNDARY, SlotPolicy.EXCLUSIVE,
                                    (QueuedWorkPayload.text(text),), source_key=f"user-input:{timeline.now_ms}",
                                    merge_key=MergeKey.never())

    timeline.now_ms = now_ms - 180_000
    first = store.enqueue_queued_work(message("Also say that lashdb doctor reports expired leases."))
    timeline.now_ms = now_ms - 120_000
    lease = store.try_claim_session_execution_lease(session_id, _RESTARTED_OWNER, _LIVE_LEASE_TTL_MS)
    claim = None if lease is None else store.claim_ready_queued_work(
        session_id, lease.fence(), _RESTARTED_OWNER, QueuedWorkClaimBoundary.IDLE, _QUEUE_CLAIM_TTL_MS, 1)
    if claim is None or claim.batch_ids != (first.batch_id,):
        raise DatabaseError(str(store.path), f"{store.path}: the demo could not claim its queued message")
    timeline.now_ms = now_ms - 60_000
    second = store.enqueue_queued_work(message("And link the upgrade note from the README."))
    return {"claimed": first.batch_id, "pending": second.batch_id}


# --- deployment stores (process registry and trigger store beside the first session) ---------------

_MINUTE_MS = 60_000
_HOUR_MS = 3_600_000
_CI_SOURCE = {"repo": "demo/lashlang", "branch": "fix/flaky-parser"}


def _process_id(name: str) -> str:
    return "proc_" + _uid("process", name).replace("-", "")[:16]


def _env_ref(cwd: str) -> str:
    return "process-env:v1:sha256:" + hashlib.sha256(cwd.encode()).hexdigest()


def _build_deployment_stores(parent: DemoSession, child: DemoSession, now_ms: int) -> DemoDeployment:
    """Write the registry and trigger store the first session and its child share (deployment-stores §0.1).

    Everything goes through ``ProcessRegistry``/``TriggerStore`` with the demo's clock, in time
    order: in the session's first minutes (a day or more ago) it started background work and the
    child's bisect worker died holding its lease; in the last 20 hours CI and cron fired triggers;
    two minutes before "now" a restarted worker re-claimed the CI watcher's lease for an hour.
    Every time is an offset from the session's start or from "now", so any session count works.
    """
    registry_path = Path(os.fspath(parent.path) + ".processes.db")
    trigger_path = Path(os.fspath(parent.path) + ".triggers.db")
    clock = _Timeline(parent.created_at_ms)
    session, sub = parent.session_id, child.session_id
    main, sub_main = SessionScope(session, "main"), SessionScope(sub, "main")
    env = _env_ref("/home/demo/src/lashlang")
    ids = {name: _process_id(name) for name in ("test_stress_run", "bisect", "ci_watch", "pr_review")}
    processes = dict(ids)
    occurrences: list[str] = []
    with ProcessRegistry.open(registry_path, clock=lambda: clock.now_ms) as registry, \
            TriggerStore.open(trigger_path, clock=lambda: clock.now_ms) as triggers:

        def at(ms: int) -> None:
            clock.now_ms = ms

        def deliver(occurrence: TriggerOccurrenceRequest, name: str, outcome: ProcessAwaitOutput | None) -> None:
            # Record the occurrence, reserve its deliveries, and start (and finish) each process.
            record = triggers.record_occurrence(occurrence)
            occurrences.append(record.occurrence_id)
            for number, reservation in enumerate(triggers.reserve_matching_deliveries(record.occurrence_id), 1):
                subscription = reservation.subscription
                registry.register_process(ProcessRegistration(
                    reservation.process_id, ProcessInput.engine(subscription.target.doc["kind"], {
                        "config": subscription.target.doc["payload"], "event": occurrence.payload}),
                    identity=subscription.target_identity,
                    provenance=ProcessProvenance(subscription.registrant,
                                                 CausalRef.trigger_occurrence(record.occurrence_id)),
                    env_ref=subscription.env_ref, wake_target=subscription.wake_target))
                processes[name if number == 1 else f"{name}_{number}"] = reservation.process_id
                if subscription.registrant.session_id is not None:
                    registry.grant_handle(SessionScope(subscription.registrant.session_id, "main"),
                                          reservation.process_id,
                                          ProcessHandleDescriptor("trigger", subscription.name))
                if outcome is not None:
                    at(clock.now_ms + 40_000)
                    registry.complete_process(reservation.process_id, outcome)

        # Turn 2: the assistant starts a 200-run stress test of the parser tests in the background.
        start = parent.created_at_ms + 330_000
        at(start)
        progress = ProcessEventType("tests.progress", {"type": "object", "required": ["passed", "failed"]})
        call_id = "call_" + _uid(session, 2, "run_tests")[:8]
        registry.register_process(ProcessRegistration(
            ids["test_stress_run"], ProcessInput.tool_call(call_id, "tool:run_tests", "run_tests", {
                "cmd": "pytest tests/test_parser.py::test_nested_blocks --count 200"}),
            provenance=ProcessProvenance(ProcessOriginator.session(main), CausalRef.tool_call(session, call_id)),
            env_ref=env, wake_target=main).with_extra_event_types(progress))
        registry.grant_handle(main, ids["test_stress_run"],
                              ProcessHandleDescriptor("tests", "200× test_nested_blocks"))
        lease = registry.claim_process_lease(ids["test_stress_run"], "worker-1", 2 * _MINUTE_MS)
        for passed in (100, 200):
            at(clock.now_ms + 40_000)
            registry.append_event(ids["test_stress_run"], ProcessEventAppendRequest(
                "tests.progress", {"passed": passed, "failed": 0}))
            lease = registry.renew_process_lease(lease, 2 * _MINUTE_MS)
        at(clock.now_ms + 5_000)
        registry.complete_process(ids["test_stress_run"], ProcessAwaitOutput.success(
            {"runs": 200, "passed": 200, "failed": 0, "duration_s": 85}))
        registry.complete_process_lease(lease)

        # The child sub-agent starts a bisect whose worker dies holding its five-minute lease.
        at(child.created_at_ms + 120_000)
        bisect_call = "call_" + _uid(sub, "git_bisect")[:8]
        step = ProcessEventType("bisect.step", {"type": "object", "required": ["commit", "verdict"]})
        registry.register_process(ProcessRegistration(
            ids["bisect"], ProcessInput.tool_call(bisect_call, "tool:git_bisect", "git_bisect", {
                "good": "v0.3.0", "bad": "HEAD", "run": "pytest tests/test_parser.py -x"}),
            provenance=ProcessProvenance(ProcessOriginator.session(sub_main), CausalRef.tool_call(sub, bisect_call)),
            env_ref=env, wake_target=sub_main).with_extra_event_types(step))
        registry.grant_handle(sub_main, ids["bisect"], ProcessHandleDescriptor("bisect", "bisect the ordering bug"))
        registry.claim_process_lease(ids["bisect"], "worker-3", 5 * _MINUTE_MS)
        at(clock.now_ms + 60_000)
        registry.append_event(ids["bisect"], ProcessEventAppendRequest(
            "bisect.step", {"commit": "4f1c2ab", "verdict": "bad", "remaining": 6}))

        # The child also asked to re-run the bisect on every push; it cancels that later.
        at(child.created_at_ms + 150_000)
        push_source = dict(_CI_SOURCE)
        push = triggers.register_subscription(TriggerSubscriptionDraft(
            ProcessOriginator.session(sub_main), env, "git.push", default_source_key("git.push", push_source),
            ProcessInput.engine("bisect_rerun", {"run": "pytest tests/test_parser.py -x"}),
            ProcessIdentity("bisect", "re-run the bisect"), wake_target=sub_main, name="Re-run bisect on push",
            source=push_source))

        # Turn 3: a CI watcher with wake events for the session, and two subscriptions.
        at(parent.created_at_ms + 700_000)
        ci_run = ProcessEventType("ci.run", {"type": "object", "required": ["run", "conclusion", "summary"]},
                                  wake=WakeSpec(Selector.pointer("/summary")))
        registry.register_process(ProcessRegistration(
            ids["ci_watch"], ProcessInput.engine("ci_watch", dict(_CI_SOURCE)),
            identity=ProcessIdentity("ci_watch", "CI watcher: fix/flaky-parser"),
            provenance=ProcessProvenance(ProcessOriginator.session(main), CausalRef.turn(session, "turn-3")),
            env_ref=env, wake_target=main).with_extra_event_types(ci_run))
        registry.set_external_ref(ids["ci_watch"],
                                  ProcessExternalRef("github-actions", "demo/lashlang@fix/flaky-parser"))
        registry.grant_handle(main, ids["ci_watch"], ProcessHandleDescriptor("ci", "CI watcher"))
        registry.grant_handle(sub_main, ids["ci_watch"], ProcessHandleDescriptor("ci", "CI watcher (shared)"))
        registry.claim_process_lease(ids["ci_watch"], "worker-1", _HOUR_MS)
        at(clock.now_ms + 5_000)
        ci_key = default_source_key("ci.run.finished", _CI_SOURCE)
        triggers.register_subscription(TriggerSubscriptionDraft(
            ProcessOriginator.session(main), env, "ci.run.finished", ci_key,
            ProcessInput.engine("summarise_ci", {"style": "one paragraph"}),
            ProcessIdentity("summarise_ci", "CI run summary"), wake_target=main,
            name="Summarise finished CI runs", source=dict(_CI_SOURCE), input_template={"run": InputBinding.event()}))
        at(clock.now_ms + 5_000)
        cron = {"schedule": "0 */6 * * *", "timezone": "UTC"}
        cron_key = default_source_key("cron", cron)
        triggers.register_subscription(TriggerSubscriptionDraft(
            ProcessOriginator.host(), env, "cron", cron_key,
            ProcessInput.engine("fuzz", {"target": "lashlang.parser", "minutes": 30}),
            ProcessIdentity("fuzz", "parser fuzzing"), name="Fuzz the parser every 6 hours", source=cron))

        # After turn 3: the pull request waits for a reviewer's approval.
        at(parent.created_at_ms + 760_000)
        registry.register_process(ProcessRegistration.external(
            ids["pr_review"], {"label": "Review of PR #42", "url": "https://github.com/demo/lashlang/pull/42"},
            provenance=ProcessProvenance(ProcessOriginator.session(main)), wake_target=main))
        registry.set_external_ref(ids["pr_review"], ProcessExternalRef("github", "demo/lashlang#42"))
        registry.grant_handle(main, ids["pr_review"], ProcessHandleDescriptor("review", "PR #42 approval"))
        at(clock.now_ms + 1_000)
        registry.set_process_wait(ids["pr_review"], WaitState.signal(ids["pr_review"], "approved", 1, clock.now_ms))

        at(child.created_at_ms + 600_000)
        triggers.cancel_subscription(sub, push.handle)

        # CI run 101 fails 20 hours ago: a wake for the session (read and acked) and a summary.
        at(now_ms - 20 * _HOUR_MS)
        failed = {"run": 101, "conclusion": "failure", "failed_tests": ["tests/test_parser.py::test_nested_blocks"]}
        result = registry.append_event(ids["ci_watch"], ProcessEventAppendRequest(
            "ci.run", dict(failed, summary="CI run 101 failed: test_nested_blocks")))
        registry.ack_wake(ids["ci_watch"], result.event.sequence)
        deliver(TriggerOccurrenceRequest("ci.run.finished", ci_key, "github-actions:run:101", failed, dict(_CI_SOURCE)),
                "ci_summary_101", ProcessAwaitOutput.success({"summary": "1 failing test: test_nested_blocks"}))

        # Two fuzz runs: the first is clean, the second finds a crash.
        at(now_ms - 12 * _HOUR_MS)
        deliver(TriggerOccurrenceRequest("cron", cron_key, "cron:" + _iso(clock.now_ms)[:13],
                                         {"scheduled_for": _iso(clock.now_ms)}, cron),
                "fuzz_1", ProcessAwaitOutput.success({"executions": 1_840_000, "crashes": 0}))
        at(now_ms - 6 * _HOUR_MS)
        deliver(TriggerOccurrenceRequest("cron", cron_key, "cron:" + _iso(clock.now_ms)[:13],
                                         {"scheduled_for": _iso(clock.now_ms)}, cron),
                "fuzz_2", ProcessAwaitOutput.failure(
                    "execution", "fuzz_crash", "parser crashed on a 3-level nested block",
                    {"input": "{{{ }", "signal": "SIGABRT"}))

        # CI run 102 passes three hours ago: a wake the session has not read yet, and a summary.
        at(now_ms - 3 * _HOUR_MS)
        passed = {"run": 102, "conclusion": "success", "failed_tests": []}
        registry.append_event(ids["ci_watch"], ProcessEventAppendRequest(
            "ci.run", dict(passed, summary="CI run 102 passed")))
        deliver(TriggerOccurrenceRequest("ci.run.finished", ci_key, "github-actions:run:102", passed, dict(_CI_SOURCE)),
                "ci_summary_102", ProcessAwaitOutput.success({"summary": "all 412 tests pass"}))

        # A push after the child cancelled its subscription: recorded, delivered to nobody.
        at(now_ms - 2 * _HOUR_MS)
        deliver(TriggerOccurrenceRequest("git.push", default_source_key("git.push", push_source), "git:push:7e1d2c9",
                                         {"after": "7e1d2c9", "commits": 2}, push_source), "bisect_rerun", None)

        # Two minutes ago a restarted worker re-claimed the CI watcher for an hour (fencing token 2).
        at(now_ms - 2 * _MINUTE_MS)
        registry.claim_process_lease(ids["ci_watch"], "worker-2", _HOUR_MS)
        subscriptions = {s.handle: s.name or "" for s in sorted(
            triggers.list_subscriptions(), key=lambda s: int(s.handle.partition(":")[2]))}
    for path, last in ((registry_path, now_ms - 2 * _MINUTE_MS), (trigger_path, now_ms - 2 * _HOUR_MS)):
        os.utime(path, ns=(last * 1_000_000, last * 1_000_000))
    return DemoDeployment(session, registry_path, trigger_path, processes, subscriptions, tuple(occurrences))
