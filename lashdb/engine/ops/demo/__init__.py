"""A realistic demo sessions root, built only through the engine's public API (CLI.md ``demo``).

Contract: :func:`build_demo` writes into a new or empty directory (or a PostgreSQL store without
the demo's sessions) and nothing else; it uses ``SessionStoreFactory``, ``Store`` methods and the model types — never SQL — so what it writes is
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

Where it writes: every store comes from one :class:`~lashdb.engine.ops.backend.Backend`
(:mod:`.site`): a directory (one SQLite file per session, sidecar files beside it) or a
``postgresql://`` URL store (deployment stores scoped by the session id); the same calls write
the same rows into either, so a PostgreSQL demo has the same ids, heads and blob hashes. Adding a
sidecar is one more call in :func:`build_demo`'s per-session loop, next to ``_build_session``:
open it through the site (``site.process_registry`` …) and record ``site.sidecar(...)`` in
:class:`DemoSession.sidecars`.

Layout: :mod:`.script` (texts, turns, deterministic ids and clock), :mod:`.summary` (what a build
reports), :mod:`.site` (the backend written through), :mod:`.sessions` (session databases and the runtime's rows), :mod:`.deployment`
(process registry and trigger store); :func:`build_demo` here puts them together.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable
from dataclasses import replace

from lashdb.engine.base.codec import BlobProfile
from lashdb.engine.base.errors import DatabaseError
from lashdb.engine.session.model import SessionRelation
from lashdb.engine.session.store import StoreOptions

from .deployment import (
    _CI_SOURCE,
    _HOUR_MS,
    _MINUTE_MS,
    _build_deployment_stores,
    _env_ref,
    _process_id,
)
from .script import (
    _CHILD,
    COMPRESSION_THRESHOLD,
    _DAY_MS,
    DEMO_NOW_MS,
    _IMAGE_PART,
    _NAMESPACE,
    _SCRIPTS,
    _STEP_MS,
    _TURN_MS,
    _Script,
    _Timeline,
    _Turn,
    _filler,
    _iso,
    _module_source,
    _node_id,
    _uid,
)
from .sessions import (
    _AGENT_FRAMES,
    _EFFECT_LEASE_TTL_MS,
    _LIVE_LEASE_TTL_MS,
    _QUEUE_CLAIM_TTL_MS,
    _RESTARTED_OWNER,
    _RUNTIME_OWNER,
    _TIMEOUT,
    _TOOL_OUTPUT,
    _TURN_LEASE_TTL_MS,
    _Journal,
    _RuntimeDied,
    _RuntimeNotes,
    _RuntimeWriter,
    _SessionWriter,
    _build_session,
    _live_work,
    _timed_out,
)
from .site import open_site
from .summary import (
    DemoDeployment,
    DemoRuntime,
    DemoSession,
    DemoSummary,
)


def _script_for(index: int) -> _Script:
    base = _SCRIPTS[index % len(_SCRIPTS)]
    if index < len(_SCRIPTS):
        return base
    return _Script(f"{base.name} ({index // len(_SCRIPTS) + 1})", base.model, base.cwd, base.turns,
                   base.large_tool_state)


def build_demo(root: str | os.PathLike[str], sessions: int = 4, *,
               clock: Callable[[], int] | None = None,
               progress: Callable[[int, int], None] | None = None) -> DemoSummary:
    """Create a demo in ``root`` (a new or empty directory, or a ``postgresql://`` URL store that holds
    none of the demo's sessions): ``sessions`` root sessions plus one child of the first;
    ``progress(done, total)`` hears of each session written."""
    if sessions < 1:
        raise DatabaseError(os.fspath(root), f"{root}: a demo needs at least one session (got {sessions})",
                            hint="pass --sessions 1 or more")
    now_ms = int(clock()) if clock is not None else DEMO_NOW_MS
    timeline = _Timeline(now_ms)
    # Snapshots compressed as they are committed (no deferral to vacuum): the demo shows both stored
    # forms, compressed and not, on either side of the profile's threshold.
    options = StoreOptions(blob_profile=BlobProfile.BALANCED, clock=lambda: timeline.now_ms,
                           enqueue_nonce=itertools.count(1).__next__, deferred_compression_max=0)
    session_ids = [_uid("session", index) for index in range(sessions)] + [_uid("child", 0)]
    site = open_site(root, options, session_ids)
    try:
        notes = _RuntimeNotes(site.sidecar(session_ids[0], "effects"))
        built: list[DemoSession] = []
        for index in range(sessions):
            # Oldest first: session i started (sessions - i) days before now.
            timeline.now_ms = now_ms - (sessions - index) * _DAY_MS
            built.append(_build_session(site, timeline, session_ids[index], _script_for(index),
                                        SessionRelation.root(), with_artifact=index == 0,
                                        runtime=notes if index == 0 else None,
                                        live=(notes, now_ms) if index == sessions - 1 else None))
            if progress is not None:
                progress(index + 1, sessions + 1)
        parent = built[0]
        timeline.now_ms = parent.created_at_ms + _TURN_MS + 5_000
        caused_by = {"kind": "tool_call", "session_id": parent.session_id, "turn_id": "turn-2",
                     "call_id": "call_" + _uid("child-call")[:8]}
        built.append(_build_session(site, timeline, session_ids[-1], _CHILD,
                                    SessionRelation.child(parent.session_id, caused_by)))
        if progress is not None:
            progress(sessions + 1, sessions + 1)
        deployment = _build_deployment_stores(site, parent, built[-1], now_ms)
    finally:
        site.close()
    built[0] = replace(parent, sidecars={**built[0].sidecars, "processes": deployment.registry,
                                         "triggers": deployment.trigger_store})
    return DemoSummary(site.root, tuple(built), deployment, notes.summary(built[0].session_id, sessions))


# The names the single-module demo had, kept importable from here (tests patch ``_uid``,
# ``_SCRIPTS`` and ``_CHILD`` on this module: build_demo and _script_for read them here).
_REEXPORTS = (
    DemoDeployment,
    DemoRuntime,
    _AGENT_FRAMES,
    _CI_SOURCE,
    COMPRESSION_THRESHOLD,
    _EFFECT_LEASE_TTL_MS,
    _HOUR_MS,
    _IMAGE_PART,
    _LIVE_LEASE_TTL_MS,
    _MINUTE_MS,
    _NAMESPACE,
    _QUEUE_CLAIM_TTL_MS,
    _RESTARTED_OWNER,
    _RUNTIME_OWNER,
    _STEP_MS,
    _TIMEOUT,
    _TOOL_OUTPUT,
    _TURN_LEASE_TTL_MS,
    _Journal,
    _RuntimeDied,
    _RuntimeWriter,
    _SessionWriter,
    _Turn,
    _env_ref,
    _filler,
    _iso,
    _live_work,
    _module_source,
    _node_id,
    _process_id,
    _timed_out,
)
