"""`lashdb processes list|show`: read-only views of a process registry (deployment-stores §4.1).

The registry read is SESSION's ``<file>.db.processes.db`` sidecar, the file named by ``--db PATH``,
or — with neither — the only process registry under the root (several → exit 3 listing them). It is
opened read-only: no byte written, no sidecar created. A foreign-schema registry is listed where its
columns allow, after one ``lashdb: warning:`` line. Lease states are taken at the wall clock.

JSON documents (keys are stable; each time as ``<name>`` ISO 8601 UTC — null when unset — plus
``<name>_epoch_ms``):
- ``list``: an array of processes — process_id, status, record_status, identity_kind, identity_label,
  input_type, originator_scope_id, wake_target_scope_id, env_ref, created_at(+_epoch_ms),
  updated_at(+_epoch_ms), event_count, last_event_type, last_event_at(+_epoch_ms), waiting,
  wait_signal, wait_since(+_epoch_ms), lease, grant_count, external_ref, decode_error. ``lease`` is
  null or: process_id, owner_id, lease_token, fencing_token, claimed_at(+_epoch_ms),
  expires_at(+_epoch_ms), state (live | expired | released), process_status.
- ``show``: store (path, kind, schema_version, supported_version, foreign, unavailable, damaged), process
  (one ``list`` row), record (the stored record, as stored), caused_by, await_output, wait, grants
  (null when the schema has none; else session_id, scope_id, process_id, descriptor_kind,
  descriptor_label), events (the last N: process_id, sequence, event_type, occurred_at(+_epoch_ms),
  replay_key, payload, payload_hash, terminal_state, wake_input, wake_dedupe_key, acked,
  decode_error), unacked_wake_sequences (null when the schema has no wake acks).
"""

from __future__ import annotations

from typing import Annotated, Any, Optional

import typer

from .. import common, output

SUMMARY_TIMES = ("created_at_ms", "updated_at_ms", "last_event_at_ms", "wait_since_ms")
LEASE_TIMES = ("claimed_at_ms", "expires_at_ms")

LIST_COLUMNS = [
    ("process_id", "process"), ("status", "status"), ("identity", "identity"), ("originator", "originator"),
    ("wake_target", "wake target"), ("created", "created"), ("updated", "updated"), ("events", "events"),
    ("wait", "wait"), ("lease_text", "lease"), ("grant_count", "grants"), ("external_ref", "external"),
]
EVENT_COLUMNS = [
    ("sequence", "seq"), ("time", "time"), ("event_type", "type"), ("replay_key", "replay key"),
    ("payload_text", "payload", output.FIT), ("semantics", "semantics"), ("acked", "acked"),
]


def summary_json(summary: Any) -> dict[str, Any]:
    """A ``ProcessSummary`` as the CLI prints it: times with ISO text, lease likewise."""
    doc = output.with_iso(summary.to_json(), *SUMMARY_TIMES)
    if doc["lease"] is not None:
        doc["lease"] = output.with_iso(doc["lease"], *LEASE_TIMES)
    return doc


def lease_text(lease: dict[str, Any] | None, now_ms: int) -> str | None:
    """``live · owner · 58m left``, ``expired 3h ago · owner`` or ``released`` (tables only)."""
    if lease is None:
        return None
    state, expires = lease["state"], lease["expires_at_epoch_ms"]
    if state == "live":
        return f"live · {lease['owner_id']} · {output.span(expires - now_ms)} left"
    if state == "expired":
        return f"expired {output.span(now_ms - expires)} ago · {lease['owner_id']}"
    return state


def _identity(kind: str | None, label: str | None) -> str | None:
    if kind and label:
        return f"{kind}: {label}"
    return kind or label


def _list_row(doc: dict[str, Any], now_ms: int) -> dict[str, Any]:
    events = str(doc["event_count"]) + (f" · {doc['last_event_type']}" if doc["last_event_type"] else "")
    wait = None
    if doc["waiting"]:
        wait = (doc["wait_signal"] or "?") + (f" since {output.short_time(doc['wait_since_epoch_ms'])}"
                                               if doc["wait_since_epoch_ms"] else "")
    return dict(doc, identity=_identity(doc["identity_kind"], doc["identity_label"]),
                originator=output.short_scope(doc["originator_scope_id"]),
                wake_target=output.short_scope(doc["wake_target_scope_id"]),
                created=output.short_time(doc["created_at_epoch_ms"]),
                updated=output.short_time(doc["updated_at_epoch_ms"]),
                events=events, wait=wait, lease_text=lease_text(doc["lease"], now_ms))


def _event_json(event: Any) -> dict[str, Any]:
    return output.with_iso(event.to_json(), "occurred_at_ms")


def _event_row(doc: dict[str, Any]) -> dict[str, Any]:
    semantics = []
    if doc["terminal_state"]:
        semantics.append(f"terminal: {doc['terminal_state']}")
    if doc["wake_input"] is not None:
        semantics.append(f"wake: {output.one_line(doc['wake_input'], 30)}")
    return dict(doc, time=doc["occurred_at"], payload_text=output.one_line_json(doc["payload"], 50),
                semantics=", ".join(semantics) or None)


def _show_document(doc: dict[str, Any], now_ms: int) -> dict[str, Any]:
    """The key/value view of ``processes show`` (tables; JSON prints ``doc`` itself)."""
    process = doc["process"]
    lease = process["lease"]
    lease_line = None
    if lease is not None:
        lease_line = lease_text(lease, now_ms) + f" · fencing {lease['fencing_token']}"
        if lease["state"] != "released":
            lease_line += f" · claimed {lease['claimed_at']} · expires {lease['expires_at']}"
    view: dict[str, Any] = {
        "process": process["process_id"], "status": process["status"],
        "identity": _identity(process["identity_kind"], process["identity_label"]),
        "input": process["input_type"], "env_ref": process["env_ref"],
        "originator": process["originator_scope_id"], "wake target": process["wake_target_scope_id"],
        "external ref": process["external_ref"], "created": process["created_at"], "updated": process["updated_at"],
        "caused by": doc["caused_by"], "await output": doc["await_output"],
        "wait": None if not process["waiting"] else (
            f"{process['wait_signal']} since {output.iso_ms(process['wait_since_epoch_ms'])}"
            if process["wait_since_epoch_ms"] else process["wait_signal"]),
        "lease": lease_line,
        "events": str(process["event_count"]) + (f", the last {len(doc['events'])} below" if doc["events"] else ""),
        "unacked wakes": doc["unacked_wake_sequences"],
    }
    if doc["grants"] is None:
        view["grants"] = "not in this schema"
    elif not doc["grants"]:
        view["grants"] = "none"
    else:
        view["grants"] = [{"scope": g["scope_id"], "descriptor": _identity(g["descriptor_kind"], g["descriptor_label"])}
                          for g in doc["grants"]]
    if process["decode_error"]:
        view["decode error"] = process["decode_error"]
    return view


def list_(
    session: common.StoreSessionArg = None,
    db: common.DbOpt = None,
    status: Annotated[str, typer.Option(
        "--status", metavar="S", help="Only this status: running, completed, failed, cancelled (or a "
        "foreign label); any for all.")] = "any",
    grant_session: Annotated[Optional[str], typer.Option(
        "--granted-to", metavar="ID", help="Only processes this session id (any frame) holds a handle grant for.",
        show_default=False)] = None,
    limit: Annotated[Optional[int], typer.Option("--limit", min=0, help="Show at most N processes.")] = None,
    json: common.JsonOpt = False,
) -> None:
    """One row per process: status, identity, originator, wake target, times, events, wait, lease, grants.

    \b
    Examples:
      lashdb processes list f6db04a9 --status running
      lashdb processes list --granted-to 0336164f --json
    """
    now = common.now_ms()
    with common.open_inspector(session, db, "processes") as (path, inspector):
        info = inspector.info
        rows = [summary_json(s) for s in inspector.list_processes(
            status=status, session_id=grant_session, limit=limit, now_ms=now)]
    output.warn_about(info, rows)
    if json:
        output.emit(rows, json=True)
        return
    if not rows:
        wanted = "" if status == "any" else f" with status {status}"
        wanted += "" if grant_session is None else f" granted to session {grant_session}"
        output.info(f"no processes{wanted} in {path}", quiet=common.state().quiet)
        return
    output.emit([_list_row(r, now) for r in rows], LIST_COLUMNS, title=str(path))


def show(
    process_id: Annotated[str, typer.Argument(
        metavar="ID", help="Process id (or a unique prefix, 4+ chars).", autocompletion=common.complete_process)],
    session: common.StoreSessionArg = None,
    db: common.DbOpt = None,
    events: Annotated[int, typer.Option("--events", min=0, help="Show the last N events.")] = 20,
    json: common.JsonOpt = False,
) -> None:
    """Record, status and await output, wait, external ref, grants, lease, last events, unacked wakes.

    \b
    Examples:
      lashdb processes show proc_201
      lashdb processes show proc_201 f6db04a9 --events 50
    """
    from lashdb.engine.errors import LookupFailed

    now = common.now_ms()
    with common.open_inspector(session, db, "processes") as (path, inspector):
        info = inspector.info
        try:
            detail = inspector.show_process(process_id, event_limit=events, now_ms=now)
        except LookupFailed:
            matches = [] if len(process_id) < 4 else [
                p.process_id for p in inspector.list_processes(now_ms=now) if p.process_id.startswith(process_id)]
            if len(matches) > 1:
                raise LookupFailed(process_id, f"`{process_id}` matches {len(matches)} processes in {path}: "
                                   + ", ".join(matches[:10]), matches, hint="type more of the id") from None
            if not matches:
                raise
            detail = inspector.show_process(matches[0], event_limit=events, now_ms=now)
    raw = detail.to_json()
    doc = {"store": info.to_json(), "process": summary_json(detail.summary), "record": raw["record"],
           "caused_by": raw["caused_by"], "await_output": raw["await_output"], "wait": raw["wait"],
           "grants": raw["grants"], "events": [_event_json(e) for e in detail.events],
           "unacked_wake_sequences": raw["unacked_wake_sequences"]}
    output.warn_about(info, [doc["process"]])
    if json:
        output.emit(doc, json=True)
        return
    output.emit(_show_document(doc, now), title=str(path))
    if doc["events"]:
        output.emit([_event_row(e) for e in doc["events"]], EVENT_COLUMNS,
                    title=f"events (last {len(doc['events'])} of {detail.summary.event_count})")


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    group = typer.Typer(help="List and show the background processes of a process registry (read-only).",
                        no_args_is_help=True)
    app.add_typer(group, name="processes")

    group.command("list")(common.paged(list_))
    group.command("show")(common.paged(show))
