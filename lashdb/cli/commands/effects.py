"""`lashdb effects list|replay`: read-only views of an effect journal (runtime contract §6).

The journal read is SESSION's ``<file>.db.effects.db`` sidecar, the file named by ``--db PATH``, or —
with neither — the only effects database under the root (several → exit 3 listing them). It is
opened read-only: no byte written, no sidecar created. A foreign-schema journal (e.g. upstream's
v11) is read where its columns allow, after one ``lashdb: warning:`` line. "Now" (lease states,
busy vs stale) is the wall clock.

JSON documents (keys are stable; each time as ``<name>`` ISO 8601 UTC — null when unset, as a
released lease's 0 — plus ``<name>_epoch_ms``):
- ``list``: an array of rows in creation order — scope_id, replay_key, status, envelope_hash,
  lease_owner_id, lease_token, lease_expires_at(+_epoch_ms), lease_state (live | expired | null when
  no lease is held), due_at(+_epoch_ms), created_at(+_epoch_ms), updated_at(+_epoch_ms), outcome,
  error, outcome_json, error_json, decode_error, foreign.
- ``replay``: path, scope_id, foreign, now(+_epoch_ms), steps (each: scope_id, replay_key, status,
  action — replay_outcome | replay_error | busy | stale_lease | corrupt —, detail, error_code,
  busy_until(+_epoch_ms), due_at(+_epoch_ms), created_at(+_epoch_ms), envelope_hash, foreign),
  counts (action → number of keys), problems (stale + corrupt).
- ``replay --key K``: path, now(+_epoch_ms), step (as above), outcome, error, outcome_json,
  error_json, decode_error.

Exit codes: 1 when a replayed key (or the ``--key`` row) is stale or corrupt; 3 when the journal,
the scope or the key is not found or the file is not an effects database.
"""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from .. import common, output

ROW_TIMES = ("lease_expires_at_ms", "due_at_ms", "created_at_ms", "updated_at_ms")
STEP_TIMES = ("busy_until_ms", "due_at_ms", "created_at_ms")
PROBLEM_ACTIONS = ("stale_lease", "corrupt")
ACTIONS = ("replay_outcome", "replay_error", "busy", "stale_lease", "corrupt")
SHORT_HASH = 12

LIST_COLUMNS = [
    ("scope_id", "scope"), ("replay_key", "replay key"), ("status", "status"), ("hash", "envelope"),
    ("lease", "lease"), ("due", "due"), ("created", "created"), ("updated", "updated"),
]
REPLAY_COLUMNS = [("replay_key", "replay key"), ("status", "status"), ("reading", "replay"),
                  ("created", "created")]


class Status(str, enum.Enum):
    """Row statuses of the effect journal."""

    in_progress = "in_progress"
    completed = "completed"
    failed = "failed"


def lease_state(row: Any, now_ms: int) -> str | None:
    """``live`` / ``expired`` for an in-progress row, ``None`` when the row holds no lease."""
    if row.status != "in_progress":
        return None
    return "live" if (row.lease_expires_at_ms or 0) > now_ms else "expired"


def row_json(row: Any, now_ms: int) -> dict[str, Any]:
    """An ``EffectRow`` as the CLI prints it: times with ISO text, plus the lease state at ``now_ms``."""
    doc = output.with_iso(row.to_json(), *ROW_TIMES)
    out: dict[str, Any] = {}
    for key, value in doc.items():
        out[key] = value
        if key == "lease_expires_at_epoch_ms":
            out["lease_state"] = lease_state(row, now_ms)
    return out


def step_json(step: Any) -> dict[str, Any]:
    """A ``ReplayStep`` as the CLI prints it: times with ISO text, ``busy until`` as ISO text."""
    doc = output.with_iso(step.to_json(), *STEP_TIMES)
    doc["detail"] = reading(step)
    return doc


def reading(step: Any) -> str:
    """The one-line replay reading; a busy row's expiry as ISO 8601 UTC."""
    if step.action == "busy" and step.busy_until_ms is not None:
        return f"busy until {output.iso_ms(step.busy_until_ms)}"
    return step.detail


def _lease_text(doc: dict[str, Any], now_ms: int) -> str | None:
    owner, state, expires = doc["lease_owner_id"], doc["lease_state"], doc["lease_expires_at_epoch_ms"] or 0
    if state == "live":
        return f"live · {owner} · {output.span(expires - now_ms)} left"
    if state == "expired":
        return f"expired {output.span(now_ms - expires)} ago · {owner}" if expires and owner else "released"
    return owner


def _list_row(doc: dict[str, Any], now_ms: int) -> dict[str, Any]:
    digest = doc["envelope_hash"]
    return dict(doc, hash=digest[:SHORT_HASH] if digest else None, lease=_lease_text(doc, now_ms),
                due=output.short_time(doc["due_at_epoch_ms"]), created=output.short_time(doc["created_at_epoch_ms"]),
                updated=output.short_time(doc["updated_at_epoch_ms"]))


def _scope_missing(path: Path, scope: str) -> Exception:
    from lashdb.engine.ops import effects as fx
    from lashdb.engine.errors import LookupFailed

    scopes = list(dict.fromkeys(r.scope_id for r in fx.list_effects(path)))
    shown = ", ".join(scopes[:10]) + (", …" if len(scopes) > 10 else "")
    return LookupFailed(scope, f"{path}: no effects recorded for scope `{scope}`"
                        + (f" (scopes: {shown})" if scopes else " (the journal is empty)"), scopes,
                        hint="list the journal's rows with `lashdb effects list`")


def list_(
    session: common.StoreSessionArg = None,
    db: common.DbOpt = None,
    scope: Annotated[Optional[str], typer.Option("--scope", metavar="S", help="Only this scope id.",
                                                 show_default=False)] = None,
    status: Annotated[Optional[Status], typer.Option("--status", help="Only rows with this status.",
                                                     show_default=False)] = None,
    json: common.JsonOpt = False,
) -> None:
    """Rows of the effect journal: scope, replay key, status, envelope hash, lease, due, created, updated.

    \b
    Examples:
      lashdb effects list f6db04a9
      lashdb effects list --db s.db.effects.db --status in_progress
    """
    from lashdb.engine.ops import effects as fx

    path = common.sidecar_store(session, db, "effects")
    info = fx.effects_info(path)
    now = common.now_ms()
    rows = [row_json(r, now) for r in fx.list_effects(path, scope=scope,
                                                         status=None if status is None else status.value)]
    output.warn_about(info)
    if json:
        output.emit(rows, json=True)
        return
    if not rows:
        wanted = "".join((f" in scope {scope}" if scope is not None else "",
                          f" with status {status.value}" if status is not None else ""))
        output.info(f"no effects{wanted} in {path}", quiet=common.state().quiet)
        return
    output.emit([_list_row(r, now) for r in rows], LIST_COLUMNS, title=str(path))


def replay(
    scope: Annotated[str, typer.Option("--scope", metavar="S", help="The scope id to replay (required).",
                                       show_default=False, autocompletion=common.complete_scope)],
    session: common.StoreSessionArg = None,
    db: common.DbOpt = None,
    key: Annotated[Optional[str], typer.Option("--key", metavar="K", help="Print this replay key's recorded "
                                               "outcome or error JSON.", show_default=False)] = None,
    json: common.JsonOpt = False,
) -> None:
    """Dry run of a strict replay of SCOPE, in creation order: what each key would do (exit 1: stale/corrupt).

    \b
    Examples:
      lashdb effects replay f6db04a9 --scope turn-1
      lashdb effects replay --scope turn-1 --key K --json
    """
    from lashdb.engine.ops import effects as fx
    from lashdb.engine.errors import LookupFailed

    path = common.sidecar_store(session, db, "effects")
    info = fx.effects_info(path)
    now = common.now_ms()
    rows = fx.list_effects(path, scope=scope)
    output.warn_about(info)
    if not rows:
        raise _scope_missing(path, scope)
    if key is not None:
        matches = [r for r in rows if r.replay_key == key]
        if not matches:
            keys = [r.replay_key for r in rows]
            raise LookupFailed(key, f"{path}: scope `{scope}` has no replay key `{key}` (keys: "
                               + ", ".join(keys[:10]) + (", …" if len(keys) > 10 else "") + ")", keys,
                               hint=f"list the scope's keys with `lashdb effects replay --scope {scope}`")
        _print_key(path, matches[0], fx.replay_step_for(matches[0], now), now, json)
        return
    steps = [fx.replay_step_for(r, now) for r in rows]
    docs = [step_json(s) for s in steps]
    counts = {action: sum(1 for s in steps if s.action == action) for action in ACTIONS}
    problems = counts["stale_lease"] + counts["corrupt"]
    if json:
        output.emit({"path": str(path), "scope_id": scope, "foreign": info.foreign,
                     "now": output.iso_ms(now), "now_epoch_ms": now, "steps": docs, "counts": counts,
                     "problems": problems}, json=True)
    else:
        output.emit([dict(d, reading=d["detail"], created=output.short_time(d["created_at_epoch_ms"]))
                     for d in docs], REPLAY_COLUMNS, title=f"{path} · scope {scope}")
        if problems:
            output.info(f"{problems} of {len(steps)} key(s) would not replay from the journal "
                        f"({counts['stale_lease']} stale, {counts['corrupt']} corrupt)", quiet=common.state().quiet)
    if problems:
        raise typer.Exit(common.EXIT_PROBLEMS)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    group = typer.Typer(help="Inspect an effect journal: its rows, and a dry run of a strict replay (read-only).",
                        no_args_is_help=True)
    app.add_typer(group, name="effects")

    group.command("list")(common.paged(list_))
    group.command("replay")(common.paged(replay))
    group.command("resolve")(resolve)


class SettleAs(str, enum.Enum):
    """What ``effects resolve`` may record (only a failure: an outcome cannot be invented)."""

    failed = "failed"


def resolve(
    session: Annotated[str, typer.Argument(metavar="SESSION", help="Session whose effect journal holds the row.")],
    scope: Annotated[str, typer.Option("--scope", metavar="S", help="The row's scope id.")],
    key: Annotated[str, typer.Option("--key", metavar="K", help="The row's replay key.")],
    as_: Annotated[SettleAs, typer.Option("--as", help="What to record.")],
    reason: Annotated[Optional[str], typer.Option("--reason", metavar="TEXT", help="The recorded error's message.",
                                                  show_default=False)] = None,
    dry_run: common.DryRunOpt = False,
    json: common.JsonOpt = False,
) -> None:
    """Settle a stale in-progress effect as failed, so a replay reports that error instead of running it
    again (a live lease is refused, exit 1).

    \b
    Examples:
      lashdb effects resolve 7f3a --scope turn-4 --key tool:call_1:attempt:1 --as failed --dry-run
      lashdb effects resolve 7f3a --scope turn-4 --key tool:call_1:attempt:1 --as failed --reason "host died"
    """
    from lashdb.engine.ops import remedies

    target = common.resolve(session)
    done = remedies.resolve_effect(common.state().backend, target, scope, key, now_ms=common.now_ms(),
                                   reason=reason, dry_run=dry_run)
    if json:
        output.emit(done.to_json(), json=True)
    else:
        output.line(f"{done.action}: effect `{key}` of scope `{scope}` (lease of `{done.lease_owner_id}` expired "
                    f"{output.iso_ms(done.lease_expires_at_ms)}) → {done.error['code']}: {done.error['message']}")


def _print_key(path: Path, row: Any, step: Any, now: int, json: bool) -> None:
    """``replay --key``: the recorded outcome or error JSON (exit 1 when the row is stale or corrupt)."""
    recorded = row.outcome if step.action == "replay_outcome" else row.error if step.action == "replay_error" else None
    if json:
        output.emit({"path": str(path), "now": output.iso_ms(now), "now_epoch_ms": now, "step": step_json(step),
                     "outcome": row.outcome, "error": row.error, "outcome_json": row.outcome_json,
                     "error_json": row.error_json, "decode_error": row.decode_error}, json=True)
    elif step.action in ("replay_outcome", "replay_error"):
        typer.echo(output.dumps(recorded))
    else:
        # Nothing replayable is recorded: say what a replay would do; show any stored text as it is
        # (escaped: it did not decode, so it is not JSON text that escapes its own controls).
        raw = row.outcome_json if row.outcome_json is not None else row.error_json
        if raw is not None:
            output.line(raw)
        output.info(f"{row.scope_id} / {row.replay_key}: {reading(step)} (no recorded outcome or error to print)",
                    quiet=common.state().quiet)
    if step.action in PROBLEM_ACTIONS:
        raise typer.Exit(common.EXIT_PROBLEMS)
