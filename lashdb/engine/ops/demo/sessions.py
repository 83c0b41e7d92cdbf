"""Session databases written as a lash runtime writes them: graph, checkpoints, usage, leases, effects.

Contract: every row goes through ``Store``/``EffectHost`` methods with the demo's clock, never
SQL. The plain writer stores a turn with separate calls; the runtime writer stores each turn as
one stamped ``commit_runtime_state`` under the execution lease, then dies in the next turn
(expired lease, uncommitted attachment intent, effect left in progress); ``_live_work`` leaves a
restarted runtime holding the newest session's lease with one queued message claimed.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any

from lashdb.engine.base.errors import DatabaseError
from lashdb.engine.deployment.effects import (
    EffectCommand,
    EffectControllerError,
    EffectEnvelope,
    EffectReplayOptions,
    ExecutionScope,
    RuntimeScope,
    prepared_tool_call,
)
from lashdb.engine.session.attachments import AttachmentIntent
from lashdb.engine.session.commit import GraphDelta, RuntimeCommit
from lashdb.engine.session.factory import SessionStoreCreateRequest
from lashdb.engine.session.leases import SessionExecutionLease
from lashdb.engine.session.model import (
    GraphNode,
    HydratedCheckpoint,
    SessionHeadMeta,
    SessionMeta,
    SessionRelation,
    TokenLedgerEntry,
    TokenUsage,
)
from lashdb.engine.session.queued_work import (
    DeliveryPolicy,
    MergeKey,
    QueuedWorkBatchDraft,
    QueuedWorkClaimBoundary,
    QueuedWorkPayload,
    SlotPolicy,
)
from lashdb.engine.session.store import Store

from .script import (
    COMPRESSION_THRESHOLD,
    _STEP_MS,
    _TURN_MS,
    _filler,
    _iso,
    _module_source,
    _node_id,
    _Script,
    _Timeline,
    _Turn,
    _uid,
)
from .site import DemoSite, Where
from .summary import DemoRuntime, DemoSession


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


def _build_session(site: DemoSite, timeline: _Timeline, session_id: str, script: _Script,
                   relation: SessionRelation, *, with_artifact: bool = False, runtime: _RuntimeNotes | None = None,
                   live: tuple[_RuntimeNotes, int] | None = None) -> DemoSession:
    # runtime: write the turns as the lash runtime does, then die in the next one (and fill the
    # effect journal); live: then, at (now), hold the lease with queued work claimed and pending.
    created_ms = timeline.now_ms
    with site.factory.create_store(SessionStoreCreateRequest(session_id, script.model, relation)) as store, \
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
            journal = stack.enter_context(_Journal(site, session_id))
            writer = _RuntimeWriter(store, session_id, script, timeline, journal, runtime)
        for number, turn in enumerate(script.turns, 1):
            writer.turn(number, turn)
        if isinstance(writer, _RuntimeWriter):
            writer.interrupted_turn()
        if live is not None:
            live[0].queued = _live_work(store, session_id, timeline, live[1])
            live[0].live_lease_session_id = session_id
    path = site.where(session_id)
    modified_ms = timeline.now_ms
    site.touch(path, modified_ms)
    users = [n for n in writer.live if n.role == "User"]
    return DemoSession(
        session_id=session_id, name=script.name, path=path, model=script.model,
        parent_session_id=relation.parent_session_id, turns=len(script.turns), user_messages=len(users),
        live_nodes=len(writer.live), tombstoned_nodes=writer.tombstoned, head_revision=writer.revision,
        leaf_node_id=writer.leaf or "", checkpoint_ref=writer.checkpoint_ref or "",
        first_user_message=users[0].text if users else "", created_at_ms=created_ms, modified_at_ms=modified_ms,
        artifact_refs=artifacts, sidecars={} if runtime is None else {"effects": runtime.effects},
    )


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

    effects: Where
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

    def __init__(self, site: DemoSite, session_id: str) -> None:
        self.site = site
        self.path = site.sidecar(session_id, "effects")
        self.clock = _Timeline(0)
        self.last_write_ms = 0
        self.host = site.effect_journal(session_id, EffectReplayOptions(owner_id=_RUNTIME_OWNER),
                                        lambda: self.clock.now_ms)

    def __enter__(self) -> _Journal:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.host.close()
        self.site.touch(self.path, self.last_write_ms)

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
