"""`lashdb migrate SOURCE DEST`: copy sessions between two stores (postgres.md §5).

SOURCE and DEST are each a directory of session files or a ``postgresql://`` URL (never printed
with its password). Each session is copied in one destination transaction and verified after.
JSON document (``--json``): source, dest, dry_run, force, sessions — each: session_id, source,
status (``copied``, ``skipped``, ``conflict``, ``refused``, ``failed``), rows, bytes, reason —,
total (sessions, copied, skipped, conflict, refused, failed, rows, bytes).
Without ``--json`` each finished session is named on stderr (a bar instead, on a terminal), then a
table goes to stdout. Writing asks for confirmation unless ``--yes`` (``--dry-run`` writes nothing).
Exit codes: 1 when a session conflicted, failed its verification (rolled back) or was refused for
its live lease; 3 when a source session has a foreign schema (the cutover error), the destination
refused a write, or a store cannot be used; 2 for usage errors.
"""

from __future__ import annotations

import sys
from typing import Annotated, Any, Optional

import typer

from .. import common, output

COLUMNS = [("session", "session"), ("status", "status"), ("rows", "rows"), ("size", "bytes"), ("reason", "reason", output.FIT)]


def migrate(
    source: Annotated[str, typer.Argument(metavar="SOURCE", help="A sessions directory or a postgresql:// URL.")],
    dest: Annotated[str, typer.Argument(metavar="DEST", help="A sessions directory or a postgresql:// URL.")],
    session: Annotated[Optional[list[str]], typer.Option(
        "--session", "-s", metavar="ID", help="Copy only this session (id or unique 4+ prefix; repeatable).")] = None,
    dry_run: common.DryRunOpt = False,
    force: Annotated[bool, typer.Option("--force", help="Copy a session even while a runtime holds its execution "
                                        "lease (the copy is the session as it is now).")] = False,
    yes: common.YesOpt = False,
    json: common.JsonOpt = False,
) -> None:
    """Copy sessions between stores (directory ↔ PostgreSQL, directory → directory); verify each copy.

    \b
    Examples:
      lashdb migrate ~/.lash/sessions postgresql://lash@db/lash --dry-run
      lashdb migrate postgresql://lash@db/lash ./copy -s 0336164f --yes
    """
    from lashdb.engine.ops import migrate as ops
    from lashdb.engine.ops.backend import open_backend

    src_backend, dst_backend = open_backend(source), open_backend(dest)
    if not dry_run:
        common.require_yes(yes, f"copy sessions from {src_backend.target} into {dst_backend.target}")
    bar = common.show_progress(json) and sys.stderr.isatty()
    lines = common.show_progress(json) and not bar

    def announce(result: Any, done: int, total: int) -> None:
        if lines:
            extra = f" ({result.rows} rows, {output.human_bytes(result.bytes)})" if result.status == ops.COPIED else ""
            sys.stderr.write(output.safe(f"[{done}/{total}] {result.status} {result.session_id}{extra}") + "\n")
            sys.stderr.flush()  # a watcher (or a test) reacts to each session as it finishes

    try:
        src = src_backend.transfer(readonly=True)
        try:
            dst = dst_backend.transfer()
            try:
                if bar:
                    report = _with_bar(ops, src, dst, session, dry_run, force)
                else:
                    report = ops.migrate(src, dst, sessions=session, dry_run=dry_run, force=force, progress=announce)
            finally:
                dst.close()
        finally:
            src.close()
    finally:
        for backend in (src_backend, dst_backend):
            close = getattr(backend, "close", None)
            if close is not None:
                close()
    # A conflict has no error of its own; every other failure's exit code is its error's (common.exit_code).
    _render(report, json, common.EXIT_PROBLEMS if any(r.status == ops.CONFLICT for r in report.sessions)
            else common.EXIT_OK)


def _with_bar(ops: Any, src: Any, dst: Any, session: Any, dry_run: bool, force: bool) -> Any:
    """Run the migration behind a progress bar on stderr (a terminal only)."""
    import contextlib

    with contextlib.ExitStack() as stack:
        advance: list[Any] = [lambda n=1: None]

        def on_start(total: int) -> None:
            advance[0] = stack.enter_context(output.progress(total, "migrating sessions"))

        return ops.migrate(src, dst, sessions=session, dry_run=dry_run, force=force,
                           progress=lambda _r, _d, _t: advance[0](1), on_start=on_start)


def _render(report: Any, json: bool, code: int) -> None:
    doc = report.to_json()
    failures = [(r.error, None) for r in report.sessions if r.error is not None]

    def show() -> None:
        if json:
            output.emit(doc, json=True)
            return
        rows = [dict(d, session=d["session_id"], size=output.human_bytes(d["bytes"]), reason=d["reason"] or "")
                for d in doc["sessions"]]
        t = doc["total"]
        if rows:
            output.emit(rows, COLUMNS)
        verb = "would copy" if report.dry_run else "copied"
        typer.echo(f"\ntotal: {t['sessions']} session(s): {t['copied']} {verb}, {t['skipped']} skipped, "
                   f"{t['conflict']} conflict(s), {t['refused']} refused, {t['failed']} failed; "
                   f"{t['rows']} row(s), {output.human_bytes(t['bytes'])}")

    common.report_failures(failures, code=code, show=show)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.command("migrate")(migrate)
