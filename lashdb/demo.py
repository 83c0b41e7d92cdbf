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

import datetime as _dt
import hashlib
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
from lashdb.engine.codec import BlobProfile
from lashdb.engine.triggers import default_source_key

DEMO_NOW_MS = 1_780_304_400_000
"""The demo's default "now": 2026-06-01T09:00:00Z."""

COMPRESSION_THRESHOLD = 4096  # Balanced profile (SPEC §4)
_NAMESPACE = uuid.UUID("6c617368-6462-4465-8d6f-000000000001")
_DAY_MS = 86_400_000
_TURN_MS = 180_000  # three minutes between turns
_STEP_MS = 20_000   # twenty seconds between nodes of a turn


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
                "deployment": None if self.deployment is None else self.deployment.to_json()}


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
                                                     clock=lambda: timeline.now_ms))
    built: list[DemoSession] = []
    for index in range(sessions):
        # Oldest first: session i started (sessions - i) days before now.
        timeline.now_ms = now_ms - (sessions - index) * _DAY_MS
        session_id = _uid("session", index)
        built.append(_build_session(factory, timeline, session_id, _script_for(index), SessionRelation.root(),
                                    with_artifact=index == 0))
    parent = built[0]
    timeline.now_ms = parent.created_at_ms + _TURN_MS + 5_000
    caused_by = {"kind": "tool_call", "session_id": parent.session_id, "turn_id": "turn-2",
                 "call_id": "call_" + _uid("child-call")[:8]}
    built.append(_build_session(factory, timeline, _uid("child", 0), _CHILD,
                                SessionRelation.child(parent.session_id, caused_by)))
    deployment = _build_deployment_stores(parent, built[-1], now_ms)
    built[0] = replace(parent, sidecars={**built[0].sidecars, "processes": deployment.registry,
                                         "triggers": deployment.trigger_store})
    return DemoSummary(root, tuple(built), deployment)


def _build_session(factory: SessionStoreFactory, timeline: _Timeline, session_id: str, script: _Script,
                   relation: SessionRelation, *, with_artifact: bool = False) -> DemoSession:
    created_ms = timeline.now_ms
    with factory.create_store(SessionStoreCreateRequest(session_id, script.model, relation)) as store:
        # The factory seeds meta with the process cwd; the demo's meta is fixed and named.
        store.save_session_meta(SessionMeta(session_id, script.name, f"unix:{created_ms // 1000}", script.model,
                                            script.cwd, relation))
        artifacts: tuple[str, ...] = ()
        if with_artifact:
            ref = "lashlang:module/demo_main@1"
            store.put_module_artifact(ref, _module_source(script.name))
            artifacts = (ref,)
        writer = _SessionWriter(store, session_id, script, timeline)
        for number, turn in enumerate(script.turns, 1):
            writer.turn(number, turn)
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
        artifact_refs=artifacts,
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
            nodes.append(GraphNode.plugin(tool_id, "tool_activity",
                                          {"tool": turn.tool, "call_id": call_id, "status": "ok",
                                           "duration_ms": 400 + 37 * number}, timestamp=ts, parent_node_id=parent))
            parent = tool_id
            parts.append({"kind": "ToolCall", "id": call_id, "name": turn.tool, "arguments": {"turn": number}})
        reply_id, ts = self._node(f"t{number}/reply")
        parts.append({"kind": "Text", "content": turn.reply})
        nodes.append(GraphNode.message(reply_id, "Assistant", parts, timestamp=ts, parent_node_id=parent))

        self.store.append_session_graph_nodes(nodes)
        if dropped:
            self.store.tombstone_nodes(dropped)
            self.tombstoned += len(dropped)
        self.live.extend(n for n in nodes if n.node_id not in dropped)
        self.leaf = reply_id
        self._checkpoint(number, turn)
        self._usage(number)
        self.revision += 1
        self.store.save_session_head_meta(SessionHeadMeta(
            session_id=self.session_id, head_revision=self.revision,
            config={"model": self.script.model, "provider_id": "demo", "turn_budget": "unbounded"},
            agent_frames=({"frame_id": "main", "agent": "default"},), current_agent_frame_id="main",
            checkpoint_ref=self.checkpoint_ref, leaf_node_id=self.leaf, graph_node_count=len(self.live),
            token_ledger=self.store.load_token_ledger(),
        ))
        self.timeline.advance(_TURN_MS)

    def _checkpoint(self, number: int, turn: _Turn) -> None:
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
        stored = self.store.put_checkpoint(HydratedCheckpoint(
            turn_state={"turn_index": number, "token_usage": self.cumulative.to_json(),
                        "protocol_turn_options": {"payload": {}}},
            tool_state_ref=self.tool_state_ref, tool_state=tool_state,
            plugin_snapshot=snapshot, plugin_snapshot_revision=number, execution_state=execution,
        ))
        self.checkpoint_ref = stored.checkpoint_ref
        self.tool_state_ref = stored.manifest.tool_state_ref

    def _usage(self, number: int) -> None:
        usage = TokenUsage(input_tokens=1200 * number + 345, output_tokens=180 + 41 * number,
                           cached_input_tokens=800 * (number - 1), reasoning_tokens=64 * (number % 2))
        entries = [TokenLedgerEntry("turn", self.script.model, usage)]
        if number == 2:
            # A cache-only delta (total 0, dropped by the merged ledger) and a compaction call.
            entries.append(TokenLedgerEntry("turn", self.script.model, TokenUsage(cached_input_tokens=512)))
            entries.append(TokenLedgerEntry("compaction", "claude-haiku-4-5", TokenUsage(2400, 310, 0, 0)))
        self.store.append_usage_deltas(entries)
        self.cumulative = self.cumulative + usage


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
