"""`lashdb demo`: create a demo sessions root and print what to try next.

JSON document (``--json``): root, sessions — each: session_id, name, path, model,
parent_session_id, turns, user_messages, live_nodes, tombstoned_nodes, head_revision,
leaf_node_id, checkpoint_ref, first_user_message, created_at, created_at_epoch_ms, modified_at, modified_at_epoch_ms (times ISO 8601 UTC),
artifact_refs, sidecars; deployment — session_id, registry, trigger_store, processes (role → process
id), subscriptions (handle → name), occurrences; runtime — committed_session_id, turn_ids,
interrupted_turn_id, expired_lease_session_id, live_lease_session_id, queued (claimed / pending → batch
id), attachments (committed / uncommitted → attachment id), effects, effect_scopes, stale_effect
(scope_id, replay_key).

``lashdb --store URL demo`` (no DIR) builds the demo into the PostgreSQL store at URL, refused when
it already holds any of the demo's sessions; its ``path`` values are ``<url without password>#<session
id>`` and the commands it prints use ``--store``.

The command writes with the wall clock (whole seconds) as the demo's "now" (``build_demo`` defaults
to a fixed instant), so the lease the demo leaves live is live when the printed commands are tried.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Annotated

import typer

from .. import common, output

DEFAULT_DIRECTORY = Path("lashdb-demo")


def demo(
    directory: Annotated[Path | None, typer.Argument(
        metavar="[DIR]", help="New or empty directory to fill (default lashdb-demo, or the --store URL).",
        show_default=False)] = None,
    sessions: Annotated[int, typer.Option("--sessions", min=1, help="Root sessions to create (plus one "
                                          "child).")] = 4,
    json: common.JsonOpt = False,
) -> None:
    """Create a realistic demo root (sessions, a child, checkpoints, garbage, tombstones).

    \b
    Examples:
      lashdb demo /tmp/lash-demo
      lashdb --root /tmp/lash-demo sessions list
    """
    from lashdb.engine.ops.demo import build_demo
    from lashdb.engine.ops.backend import typable_target, wall_clock_ms

    store = common.state().root
    target: Path | str = directory if directory is not None else (
        store if isinstance(store, str) else DEFAULT_DIRECTORY)
    with output.ticker("writing demo sessions", enabled=common.show_progress(json)) as tick:
        summary = build_demo(target, sessions, clock=lambda: wall_clock_ms() // 1000 * 1000, progress=tick)
    if json:
        doc = summary.to_json()
        doc["sessions"] = [_with_iso(s) for s in doc["sessions"]]
        output.emit(doc, json=True)
        return
    # A URL is printed without its password (not redacted): the reader types the command back in.
    option = "--store" if isinstance(target, str) else "--root"
    root = shlex.quote(typable_target(target) if isinstance(target, str) else str(target))
    first = summary.sessions[0].session_id[:8]
    runtime = summary.runtime
    live = runtime.live_lease_session_id[:8] if runtime else first
    output.line(f"Created {len(summary.root_sessions)} root session(s) and {len(summary.child_sessions)} "
                f"child session in {summary.root}.")
    typer.echo("Try next:")
    for command in (
        "sessions list",
        f"sessions show {first}",
        *([f"sessions show {live}"] if live != first else []),
        f"head dump {first} --checkpoint",
        f"graph show {first} --tombstoned",
        f"graph show {first} --active-path",
        f"blob ls {first} --unreachable",
        "gc --all --dry-run",
        "vacuum --all",
        *([f"effects list {first}", f"effects replay {first} --scope turn-2",
           f"effects replay {first} --scope {runtime.stale_effect[0]}"] if runtime else []),
        f"processes list {first} --status running",
        *([f"processes show {summary.deployment.processes['ci_watch']}"] if summary.deployment else []),
        "triggers list",
        "triggers occurrences --source-type ci.run.finished",
        "doctor",
    ):
        output.line(f"  lashdb {option} {root} {command}")


def _with_iso(session: dict) -> dict:
    """A session object with ``created_at``/``modified_at`` (ISO 8601 UTC) before each ``*_epoch_ms``."""
    out: dict = {}
    for key, value in session.items():
        if key.endswith("_epoch_ms"):
            out[key[: -len("_epoch_ms")]] = output.iso_ms(value)
        out[key] = value
    return out


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.command("demo")(demo)
