"""`lashdb gc` and `lashdb vacuum`: the two commands that change session databases.

JSON documents (keys are stable; sizes in bytes):
- ``gc``: dry_run, sessions (path, session_id, outcome — collected, dry-run, refused, aborted, failed —,
  root_count, retained_blob_count, deleted_blob_count, freed_bytes, missing_blob_count, error), total
  (sessions, collected, refused, aborted, failed, root_count, retained_blob_count, deleted_blob_count,
  freed_bytes).
- ``vacuum``: compact, sessions (path, session_id, outcome — vacuumed, not-compacted, refused, failed —,
  removed_node_count, compacted, compact_error, size_before, size_after, error), total (sessions,
  vacuumed, not_compacted, refused, failed, removed_node_count, size_before, size_after). Sizes are
  measured after the command (db + -wal); ``not-compacted`` keeps the nodes removed and says why.
Exit codes: a file that is not a v4 session (foreign schema: the cutover message) or cannot be opened
exits 3 and the others still run; an aborted GC or a compaction that could not finish exits 1.
``gc --dry-run`` only reads.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from . import common, output

GC_COLUMNS = [("session", "session"), ("file", "file"), ("outcome", "outcome"), ("root_count", "roots"),
              ("retained_blob_count", "retained"), ("deleted_blob_count", "deleted"), ("freed", "freed")]
VACUUM_COLUMNS = [("session", "session"), ("file", "file"), ("outcome", "outcome"),
                  ("removed_node_count", "nodes removed"), ("before", "size before"), ("after", "size after")]


def _finish(results: list, doc: dict, columns: list, json: bool, footer: str | None = None) -> None:
    """Print each failure's error line, the document or table (and footer), and exit with the worst code."""
    for r, d in zip(results, doc["sessions"]):
        if r.error is not None:
            hint = getattr(r.error, "hint", "")
            sys.stderr.write(f"lashdb: error: {d['error']}" + (f" ({hint})" if hint else "") + "\n")
    rows = [dict(d, session=d["session_id"] or "-", file=Path(d["path"]).name, freed=output.human_bytes(
        d.get("freed_bytes")), before=output.human_bytes(d.get("size_before")),
        after=output.human_bytes(d.get("size_after"))) for d in doc["sessions"]]
    if json:
        output.emit(doc, json=True)
    elif rows:
        output.emit(rows, columns)
        if footer:
            typer.echo(footer)
    code = max([common.exit_code(r.error) for r in results if r.error is not None], default=common.EXIT_OK)
    if code:
        raise typer.Exit(code)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""

    @app.command("gc")
    def gc(
        sessions: common.SessionArgs = None,
        session: common.SessionOpt = None,
        all_: common.AllOpt = False,
        dry_run: common.DryRunOpt = False,
        json: common.JsonOpt = False,
    ) -> None:
        """Delete blobs no GC root reaches; report roots, retained, deleted and freed bytes per session."""
        from lashdb.engine import maintenance

        results = maintenance.gc_sessions(common.session_paths(sessions, session, all_), dry_run=dry_run)
        t = maintenance.gc_totals(results)
        footer = (f"\ntotal: {t['sessions']} session(s), {t['deleted_blob_count']} blob(s) "
                  + (f"to delete, would free {output.human_bytes(t['freed_bytes'])}" if dry_run
                     else f"deleted, freed {output.human_bytes(t['freed_bytes'])}"))
        _finish(results, {"dry_run": dry_run, "sessions": [r.to_json() for r in results], "total": t},
                GC_COLUMNS, json, footer)

    @app.command("vacuum")
    def vacuum(
        sessions: common.SessionArgs = None,
        session: common.SessionOpt = None,
        all_: common.AllOpt = False,
        compact: Annotated[bool, typer.Option("--compact", help="Also return free pages to the file system "
                                              "and report the size before and after.")] = False,
        json: common.JsonOpt = False,
    ) -> None:
        """Remove tombstoned graph nodes (and with --compact, shrink the file)."""
        from lashdb.engine import maintenance

        results = maintenance.vacuum_sessions(common.session_paths(sessions, session, all_), compact=compact)
        t = maintenance.vacuum_totals(results)
        footer = f"\ntotal: {t['sessions']} session(s), {t['removed_node_count']} tombstoned node(s) removed"
        if t["not_compacted"]:
            footer += f", {t['not_compacted']} not compacted"
        if t["size_before"] is not None:
            footer += (f", {output.human_bytes(t['size_before'])} → {output.human_bytes(t['size_after'])} "
                       "on disk")
        _finish(results, {"compact": compact, "sessions": [r.to_json() for r in results], "total": t},
                VACUUM_COLUMNS, json, footer)
