"""`lashdb gc` and `lashdb vacuum`: the two commands that change session databases.

JSON documents (keys are stable; sizes in bytes):
- ``gc``: dry_run, force, sessions (path, session_id, outcome — collected, dry-run, busy, refused, aborted,
  failed —, root_count, retained_blob_count, deleted_blob_count, freed_bytes, missing_blob_count,
  batch_count, busy — null, or session_id, owner_id, expires_at, expires_at_epoch_ms of the live lease —,
  error), total (sessions, collected, busy, refused, aborted, failed, root_count, retained_blob_count,
  deleted_blob_count, freed_bytes, unreadable), unreadable.
- ``vacuum``: compact, sessions (path, session_id, outcome — vacuumed, not-compacted, refused, failed —,
  removed_node_count, compressed_blobs, compressed_bytes_saved, compacted, compact_error, size_before,
  size_after, error), total (sessions, vacuumed, not_compacted, refused, failed, removed_node_count,
  compressed_blobs, compressed_bytes_saved, size_before, size_after, unreadable),
  unreadable. Sizes are measured after the command (db + -wal); ``not-compacted`` keeps the nodes
  removed and says why.
- ``unreadable`` (both): the files ``--all`` found and could not read, skipped — path, file, status
  ``unreadable``, reason; each is also named on stderr.
Exit codes: a file that is not a v4 session (foreign schema: the cutover message) or cannot be opened
exits 3 and the others still run; an aborted GC or a compaction that could not finish exits 1; a file
``--all`` skipped as unreadable does not change the exit code. ``gc`` skips a session whose execution
lease is live (a runtime may have written blobs its next head will name) and prints ``busy: lease
held by OWNER until TIME``: with ``--all`` that is exit 0, for a named session exit 3; ``--force``
collects it anyway. ``gc --dry-run`` only reads.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Callable

import typer

from .. import common, output

GC_COLUMNS = [("session", "session"), ("file", "file"), ("outcome", "outcome"), ("root_count", "roots"),
              ("retained_blob_count", "retained"), ("deleted_blob_count", "deleted"), ("freed", "freed")]
VACUUM_COLUMNS = [("session", "session"), ("file", "file"), ("outcome", "outcome"),
                  ("removed_node_count", "nodes removed"), ("compressed_blobs", "blobs compressed"),
                  ("before", "size before"), ("after", "size after")]


def _finish(results: list, doc: dict, columns: list, json: bool, footer: str | None = None,
            extra: list[str] = (), code: int = 0, unreadable: common.Unreadable = ()) -> None:
    """Print each failure's error line, the document or table (footer, extra lines), and exit with the
    worst code (at least ``code``). Files ``--all`` found and could not read were named on stderr
    already; they go into the document and footer but not the exit code (nothing was done to them, as
    to a file that is not a session)."""
    doc["unreadable"] = common.unreadable_json(unreadable)
    doc["total"]["unreadable"] = len(unreadable)
    if footer and unreadable:
        footer += f", {len(unreadable)} file(s) unreadable (skipped)"
    rows = [dict(d, session=d["session_id"] or "-", file=Path(d["path"]).name, freed=output.human_bytes(
        d.get("freed_bytes")), before=output.human_bytes(d.get("size_before")),
        after=output.human_bytes(d.get("size_after"))) for d in doc["sessions"]]

    def show() -> None:
        if json:
            output.emit(doc, json=True)
        elif rows:
            output.emit(rows, columns)
            if footer:
                typer.echo(footer)  # counts only
            for line in extra:
                output.line(line)

    failures = [(r.error, d["error"]) for r, d in zip(results, doc["sessions"]) if r.error is not None]
    common.report_failures(failures, code=code, show=show)


def _each(paths: list, label: str, json: bool, run: Callable[[Any], list]) -> list:
    """``run`` over each session in turn, behind a progress bar on stderr (a terminal, not --json/-q)."""
    results: list = []
    with output.progress(len(paths), label, enabled=common.show_progress(json)) as advance:
        for path in paths:
            results += run(path)
            advance(1)
    return results


def gc(
    sessions: common.SessionArgs = None,
    session: common.SessionOpt = None,
    all_: common.AllOpt = False,
    dry_run: common.DryRunOpt = False,
    force: Annotated[bool, typer.Option("--force", help="Collect a session even while a runtime holds its "
                                        "execution lease (it may delete blobs the runtime is about to "
                                        "name).")] = False,
    json: common.JsonOpt = False,
) -> None:
    """Delete blobs no GC root reaches; report roots, retained, deleted and freed bytes per session.

    \b
    Examples:
      lashdb gc --all --dry-run
      lashdb gc 0336164f && lashdb vacuum --compact 0336164f
    """
    from lashdb.engine.ops import maintenance

    paths, unreadable = common.session_paths(sessions, session, all_)
    results = _each(paths, "collecting garbage", json,
                    lambda p: maintenance.gc_sessions([p], dry_run=dry_run, force=force))
    t = maintenance.gc_totals(results)
    footer = (f"\ntotal: {t['sessions']} session(s), {t['deleted_blob_count']} blob(s) "
              + (f"to delete, would free {output.human_bytes(t['freed_bytes'])}" if dry_run
                 else f"deleted, freed {output.human_bytes(t['freed_bytes'])}"))
    docs = [r.to_json() for r in results]
    for d in docs:
        if d["busy"] is not None:
            d["busy"] = output.with_iso(d["busy"], "expires_at_ms")
    busy = [d for d in docs if d["busy"] is not None]
    extra = [f"busy: lease held by {d['busy']['owner_id']} until {d['busy']['expires_at']} "
             f"(session {d['session_id'] or Path(d['path']).name} "
             + (f"stopped after {d['deleted_blob_count']} blob(s) deleted" if d["batch_count"] else "skipped")
             + "; --force collects it anyway)" for d in busy]
    # Over --all a busy session is the normal state of a running deployment; named, it was not done.
    code = common.EXIT_UNUSABLE if busy and not all_ else common.EXIT_OK
    if t["freed_bytes"] and not json and isinstance(common.state().root, Path):
        footer += " inside the files"
        # SQLite keeps freed pages in the file for reuse: `ls -l` shows no change until a compaction.
        import shlex

        named = "--all" if all_ else " ".join(shlex.quote(d["session_id"] or d["path"]) for d in docs
                                              if d["freed_bytes"])
        output.info(f"the files keep their size until `lashdb vacuum --compact {named}` returns the free "
                    "pages to the file system", quiet=common.state().quiet)
    _finish(results, {"dry_run": dry_run, "force": force, "sessions": docs, "total": t},
            GC_COLUMNS, json, footer, extra, code, unreadable)


def vacuum(
    sessions: common.SessionArgs = None,
    session: common.SessionOpt = None,
    all_: common.AllOpt = False,
    compact: Annotated[bool, typer.Option("--compact", help="Also return free pages to the file system "
                                          "and report the size before and after.")] = False,
    json: common.JsonOpt = False,
) -> None:
    """Remove tombstoned graph nodes, compress snapshots stored uncompressed (and with --compact, shrink the file).

    \b
    Examples:
      lashdb vacuum --all
      lashdb vacuum 0336164f --compact
    """
    from lashdb.engine.ops import maintenance

    paths, unreadable = common.session_paths(sessions, session, all_)
    results = _each(paths, "vacuuming", json, lambda p: maintenance.vacuum_sessions([p], compact=compact))
    t = maintenance.vacuum_totals(results)
    footer = f"\ntotal: {t['sessions']} session(s), {t['removed_node_count']} tombstoned node(s) removed"
    if t["compressed_blobs"]:
        footer += (f", {t['compressed_blobs']} blob(s) compressed "
                   f"({output.human_bytes(t['compressed_bytes_saved'])} saved)")
    if t["not_compacted"]:
        footer += f", {t['not_compacted']} not compacted"
    if t["size_before"] is not None:
        footer += (f", {output.human_bytes(t['size_before'])} → {output.human_bytes(t['size_after'])} "
                   "on disk")
    _finish(results, {"compact": compact, "sessions": [r.to_json() for r in results], "total": t},
            VACUUM_COLUMNS, json, footer, unreadable=unreadable)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.command("gc")(gc)
    app.command("vacuum")(vacuum)
