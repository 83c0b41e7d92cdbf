"""`lashdb sessions list|show|delete|backup|restore`.

JSON documents (keys are stable; sizes in bytes; each time as ``<name>`` ISO 8601 UTC plus
``<name>_epoch_ms``):
- ``list``: an array of ``SessionSummary.to_json()`` objects — path, file, kind, status, foreign,
  schema_version, session_id, session_name, model, cwd, relation, parent_session_id, created_at(+_epoch_ms),
  modified_at(+_epoch_ms), head_revision, live_nodes, tombstoned_nodes, user_messages, blobs, blob_bytes,
  size_bytes, first_user_message, sidecars.
- ``show``: ``SessionDetails.to_json()`` — path, status, foreign, schema_version,
  supported_schema_version, meta, relation, head, user_messages, token_ledger, token_totals, blobs,
  execution_lease, queued_work, attachments, turn_commits, sidecars, files.
- ``delete``: path, session_id, execution_lease (as in ``show``, or null), children_kept (session_id,
  path: child sessions naming this one as parent, which stay), sidecars_kept, dry_run, files (path,
  bytes), removed. A live execution lease refuses the delete (exit 3) unless ``--force``.
- ``backup`` / ``restore``: ``BackupReport.to_json()`` — command, store, dest, dry_run, force, sessions (each:
  session_id, source, target, status ``copied``/``restored``/``refused``/``failed``, files (role, source,
  path, bytes), bytes, blobs, reason), total (sessions, copied, restored, refused, failed, files, bytes).
  Exit 1 when a session was refused (already there, or in use) or failed (its copy did not verify).
A ``*.db`` under the root that cannot be read (symlink loop, permission denied, an unreadable
``-wal``/``-shm``) is a ``list`` row with status ``unreadable: <reason>``; one that is not a regular
file (FIFO, socket, directory) is a row only with ``--all``. Each is also named on stderr. A root
that does not exist or is not a directory exits 3.

``list`` filters (all given must hold; applied while reading, before ``--sort`` and ``--limit``; see
``lashdb.engine.base.listing``): ``--since``/``--until`` bound the modified time (ISO date or
date-time, UTC without an offset, or a span back from now: 30m, 2h, 3d, 1w; both bounds inclusive);
``--model`` equal; ``--cwd DIR`` that directory or beneath it; ``--status`` ok|foreign|unreadable|damaged;
``--parent ID`` the children of the session ID (or an id prefix); ``--grep TEXT`` in the name or the
first user message, case-insensitively; ``--children`` only child sessions (those with a parent),
``--no-children`` only top-level ones; neither lists both, each child naming its parent (``id ← parent``).
"""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from .. import common, output

LIST_COLUMNS = [
    ("id", "session"), ("session_name", "name", output.FIT), ("model", "model"), ("created", "created"),
    ("modified", "modified"), ("head_revision", "rev"), ("live_nodes", "nodes"), ("user_messages", "msgs"),
    ("blobs", "blobs"), ("size", "size"), ("first", "first user message", output.FIT), ("status", "status", output.FIT),
]
ALL_COLUMNS = LIST_COLUMNS[:1] + [("kind", "kind")] + LIST_COLUMNS[1:]


class SortKey(str, enum.Enum):
    """What `sessions list` sorts by (newest/largest first; name A→Z)."""

    modified = "modified"
    created = "created"
    size = "size"
    name = "name"


def _list_row(row: dict, short: dict[str, str]) -> dict:
    parent = row["parent_session_id"]
    ident = short.get(row["session_id"] or "", row["session_id"]) or row["file"]
    return dict(row, id=ident + (f" ← {short.get(parent, parent)}" if parent else ""),
                created=output.short_time(row["created_at_epoch_ms"]),
                modified=output.short_time(row["modified_at_epoch_ms"]), size=output.human_bytes(row["size_bytes"]),
                first=output.one_line(row["first_user_message"], 50))


def _show_view(doc: dict) -> dict:
    """``sessions show`` for humans: the lease's expiry and the oldest uncommitted attachment's age as durations."""
    view = dict(doc)
    lease = doc["execution_lease"]
    if lease and lease["expires_in_ms"] is not None:
        left = lease["expires_in_ms"]
        expires = f"in {output.span(left)}" if left > 0 else f"expired {output.span(left)} ago"
        view["execution_lease"] = dict(lease, expires=expires)
    attachments = doc["attachments"]
    if attachments and attachments["oldest_uncommitted_age_ms"] is not None:
        age = output.span(attachments["oldest_uncommitted_age_ms"])
        view["attachments"] = dict(attachments, oldest_uncommitted_age=age)
    return view


def list_(
    sort: Annotated[SortKey, typer.Option("--sort", help="Sort by modified, created, size (newest/largest "
                                          "first) or name.")] = SortKey.modified,
    limit: Annotated[Optional[int], typer.Option("--limit", min=0, help="Show at most N rows.")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Also list the non-session databases, with their kind.")]
    = False,
    jobs: Annotated[Optional[int], typer.Option(
        "--jobs", "-j", min=1, show_default=False,
        help="Processes reading the files [default: the cores, at most 4; one below 100 files].")] = None,
    since: Annotated[Optional[str], typer.Option("--since", metavar="WHEN", show_default=False,
                     help="Modified at or after WHEN: ISO date/time (UTC) or a span back from now (2h, 3d).")] = None,
    until: Annotated[Optional[str], typer.Option("--until", metavar="WHEN", show_default=False,
                     help="Modified at or before WHEN (same forms as --since).")] = None,
    model: Annotated[Optional[str], typer.Option("--model", show_default=False,
                     help="Only sessions of this model (exact).")] = None,
    cwd: Annotated[Optional[str], typer.Option("--cwd", metavar="DIR", show_default=False,
                   help="Only sessions whose working directory is DIR or beneath it.")] = None,
    status: Annotated[Optional[str], typer.Option("--status", show_default=False,
                      help="Only rows of this status: ok, foreign, unreadable, damaged.")] = None,
    parent: Annotated[Optional[str], typer.Option("--parent", metavar="ID", show_default=False,
                      help="Only the child sessions of the session ID (an id or its prefix).")] = None,
    grep: Annotated[Optional[str], typer.Option("--grep", metavar="TEXT", show_default=False,
                    help="Only sessions whose name or first user message holds TEXT (any case).")] = None,
    children: Annotated[Optional[bool], typer.Option("--children/--no-children", show_default=False,
                        help="Only child sessions (--children) or only top-level ones (--no-children); "
                        "both by default.")] = None,
    json: common.JsonOpt = False,
) -> None:
    """One row per session: id, name, model, times, revision, nodes, messages, blobs, size, status.

    
    Examples:
      lashdb sessions list --since 3d --model gpt-4o --grep deploy --limit 20
      lashdb --store postgresql://lash@db/lash sessions list --json
    """
    # Not ops.sessions or ops.inspect: a URL store's listing needs neither (nor the SQLite store they load).
    from lashdb.engine.ops.list_rows import ListingFilter, SessionSummary, parse_when
    from lashdb.engine import parallel

    st = common.state()
    now = common.now_ms() if since or until else 0
    filters = ListingFilter(
        since_ms=None if since is None else parse_when(since, now_ms=now, option="--since"),
        until_ms=None if until is None else parse_when(until, now_ms=now, option="--until"),
        model=model, cwd=cwd, status=status, parent=parent, grep=grep, children=children)
    skipped: list[SessionSummary] = []
    with output.ticker("reading sessions", enabled=common.show_progress(json)) as tick:
        rows = st.backend.list_sessions(recursive=st.recursive, include_all=all_, sort=sort.value, limit=limit,
                                        jobs=jobs or parallel.DEFAULT_JOBS, skipped=skipped, filters=filters,
                                        progress=tick)
    common.warn_unreadable([(r.path, r.unreadable_reason) for r in rows + skipped if r.unreadable_reason])
    docs = [r.to_json() for r in rows]
    foreign = [d["file"] for d in docs if d["foreign"] and d["kind"] == "session"]
    if foreign:
        output.warn(f"{len(foreign)} session file(s) have a foreign schema and are shown read-only: "
                    + ", ".join(foreign[:3]) + (", …" if len(foreign) > 3 else ""))
    if not docs and not json and filters.active:
        output.info(f"no sessions under {st.backend.target} match the filters", quiet=st.quiet)
        return
    if not docs and not json:
        output.info(f"no sessions under {st.backend.target}; create some to explore with `lashdb demo DIR` "
                    "and then `lashdb --root DIR sessions list`", quiet=st.quiet)
        return
    if json:
        output.emit(docs, json=True)
        return
    from lashdb.engine.ops import inspect

    short = inspect.short_ids([d["session_id"] for d in docs if d["session_id"]], 8)
    output.emit([_list_row(d, short) for d in docs], ALL_COLUMNS if all_ else LIST_COLUMNS)


def show(
    session: Annotated[str, typer.Argument(metavar="SESSION", help="Session: path, file name, session id or unique prefix.",
                                           autocompletion=common.complete_session)],
    json: common.JsonOpt = False,
) -> None:
    """Meta, head, token ledger, blobs, lease, queued work, attachments, turn commits, sidecars, files.

    \b
    Examples:
      lashdb sessions show 0336164f
      lashdb sessions show 0336164f --json | jq .blobs
    """

    details = common.state().backend.session_details(common.resolve(session))
    if details.foreign:
        output.warn(f"{details.path.name}: foreign schema (session v{details.schema_version}, this lashdb "
                    f"supports v4); shown read-only, columns this version lacks are empty")
    doc = details.to_json()
    output.emit(doc if json else _show_view(doc), json=json, title=None if json else str(details.path))


def delete(
    session: Annotated[str, typer.Argument(metavar="SESSION", help="Session: path, file name, session id or unique prefix.",
                                           autocompletion=common.complete_session)],
    yes: common.YesOpt = False,
    dry_run: common.DryRunOpt = False,
    force: Annotated[bool, typer.Option("--force", help="Delete even while a runtime holds the session's "
                                        "live execution lease.")] = False,
    json: common.JsonOpt = False,
) -> None:
    """Delete a session database and its -wal/-shm (asks first unless --yes); refuses a session in use.

    \b
    Examples:
      lashdb sessions delete 0336164f --dry-run
      lashdb sessions delete 0336164f --yes
    """
    import shlex

    from lashdb.engine.ops import inspect, maintenance

    path = common.resolve(session)
    plan = maintenance.plan_session_delete(path, now_ms=common.now_ms(), force=force)
    files = plan.files_json()
    removed: list[str] = []
    if not dry_run:
        common.require_yes(yes, f"delete session {plan.session_id or path.name} ({path})")
        removed = [str(p) for p in maintenance.delete_session_database(plan, now_ms=common.now_ms(),
                                                                       force=force)]
    doc = {**plan.to_json(), "dry_run": dry_run, "files": files, "removed": removed}
    if json:
        output.emit(doc, json=True)
        return
    verb, keep = ("would delete", "would keep") if dry_run else ("deleted", "kept")
    for f in files if dry_run else [{"path": p} for p in removed]:
        output.line(f"{verb} {f['path']}")
    for child_id, child in plan.children:
        output.warn(f"{keep} child session {child_id} ({child}); its parent {plan.session_id} is gone "
                    f"(delete it too with `lashdb sessions delete {shlex.quote(str(child))}`)")
    for role, p in plan.sidecars:
        rm = " ".join(shlex.quote(str(f)) for f in inspect.database_files(p))
        output.info(f"{keep} sidecar {p} ({role}); remove it with `rm -- {rm}` if it is no longer needed",
                    quiet=common.state().quiet)


COPY_COLUMNS = [("session", "session"), ("status", "status"), ("files", "files"), ("size", "size"),
                ("where", "to"), ("reason", "reason")]


def backup(
    out: Annotated[Path, typer.Option("--output", "-o", metavar="DIR", help="Directory the copies go into "
                                      "(created when absent; it is a sessions root afterwards).",
                                      show_default=False)],
    sessions: common.SessionArgs = None,
    all_: common.AllOpt = False,
    dry_run: common.DryRunOpt = False,
    json: common.JsonOpt = False,
) -> None:
    """Copy sessions and their sidecars into DIR, consistent while a runtime writes, each verified.

    \b
    Examples:
      lashdb sessions backup --all -o /backups/2026-12-05
      lashdb --store postgresql://lash@db/lash sessions backup 0336164f -o ./copy --json
    """
    from lashdb.engine.ops import backup as ops

    targets, unreadable = common.session_paths(sessions, None, all_)
    st = common.state()
    with _progress(json, len(targets), "backing up sessions") as advance:
        report = ops.backup(st.backend, targets, out, dry_run=dry_run, progress=lambda *_a: advance(1))
    _render_copies(report, json, unreadable)


def restore(
    backups: Annotated[list[Path], typer.Argument(metavar="BACKUP", help="A backed-up session file, or a "
                                                  "backup directory (every session in it).", show_default=False)],
    force: Annotated[bool, typer.Option("--force", help="Replace a session that exists at the store (refused "
                                        "while its execution lease is live).")] = False,
    yes: common.YesOpt = False,
    dry_run: common.DryRunOpt = False,
    json: common.JsonOpt = False,
) -> None:
    """Put sessions back from a `sessions backup` copy where nothing of them exists (or, with --force, replace them).

    \b
    Examples:
      lashdb sessions restore /backups/2026-12-05/3f2a….db
      lashdb sessions restore /backups/2026-12-05/3f2a….db --force --yes
    """
    from lashdb.engine.ops import backup as ops

    st = common.state()
    if force and not dry_run:
        common.require_yes(yes, f"replace the sessions in {st.backend.target} with the backups' copies")
    files = ops.backup_files(backups)
    with _progress(json, len(files), "restoring sessions") as advance:
        report = ops.restore(st.backend, files, now_ms=common.now_ms(), force=force, dry_run=dry_run,
                             progress=lambda *_a: advance(1))
    _render_copies(report, json, [])


def _progress(json: bool, total: int, label: str):
    return output.progress(total, label, enabled=common.show_progress(json))


def _render_copies(report, json: bool, unreadable: common.Unreadable) -> None:
    doc = report.to_json()
    if unreadable:
        doc["unreadable"] = common.unreadable_json(unreadable)
    failures = [(r.error, None) for r in report.sessions if r.error is not None]

    def show() -> None:
        if json:
            output.emit(doc, json=True)
            return
        rows = [dict(d, session=d["session_id"] or d["source"], files=len(d["files"]),
                     size=output.human_bytes(d["bytes"]), where=d["target"] or "", reason=d["reason"] or "")
                for d in doc["sessions"]]
        if rows:
            output.emit(rows, COPY_COLUMNS)
        t = doc["total"]
        done = t["copied"] + t["restored"]
        verb = ("would back up" if report.command == "backup" else "would restore") if report.dry_run else \
            ("backed up" if report.command == "backup" else "restored")
        typer.echo(f"\ntotal: {t['sessions']} session(s): {done} {verb}, {t['refused']} refused, {t['failed']} "
                   f"failed; {t['files']} file(s), {output.human_bytes(t['bytes'])}")

    problems = common.EXIT_PROBLEMS if (not report.ok or unreadable) else common.EXIT_OK
    common.report_failures(failures, code=problems, show=show)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    group = typer.Typer(help="List, show, delete, back up and restore session databases.", no_args_is_help=True)
    app.add_typer(group, name="sessions")

    group.command("list")(common.paged(list_))
    group.command("show")(common.paged(show))
    group.command("delete")(delete)
    group.command("backup")(backup)
    group.command("restore")(restore)
