"""`lashdb doctor`: read-only health checks over every database under the root (or the given paths).

JSON document (keys are stable; sizes in bytes): ok, paths, checked_at, checked_at_epoch_ms, checked,
problem_files, errors, warnings, files — each: path, file, kind, status (ok, problems, or unreadable
for a file that cannot be read at all or is not a regular file), reason (why it is unreadable, else
null), schema_version, supported_schema_version, db_bytes, wal_bytes, ok, checks (check name →
ok/problems), findings (check, severity error/warning, subject, message, remedy — the command that
fixes it, or null when only a person can decide). With ``--fix`` also fixes (each: file, check,
subject, command, action applied|would apply|failed|left, detail), and the rest of the document
is the check after the fixes. Exit 1 when anything is
wrong (an unreadable file included); 3 when a PATH does not exist or the root is not a directory.
With ``--store URL`` the first entry is the store (kind ``postgres store``, path its URL without
password) and each session follows (path ``<url>#<session id>``); PATHs are SESSIONs, and a store
that cannot be connected to or read exits 3 after the document. Checking a directory (the root) also
lists the private copies that read-only looks of killed processes left in ``$TMPDIR`` (kind ``stale
private copy``, check ``stale_private_copies``, remedy ``rm -r -- DIR``; ``--fix`` removes them).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from .. import common, output

COLUMNS = [("file", "file"), ("kind", "kind"), ("schema", "schema"), ("wal", "wal"), ("result", "result", output.FIT)]
FINDING_COLUMNS = [("file", "file"), ("severity", "severity"), ("check", "check"), ("message", "problem", output.FIT),
                   ("remedy", "remedy")]
FIX_COLUMNS = [("file", "file"), ("check", "check"), ("action", "action"), ("detail", "detail", output.FIT),
               ("command", "command")]


def doctor(
    paths: Annotated[Optional[list[Path]], typer.Argument(
        metavar="SESSION", help="Sessions (path, file name, session id or unique prefix) or directories to check "
        "[default: the root].", show_default=False, autocompletion=common.complete_session)]
    = None,
    json: common.JsonOpt = False,
    fix: Annotated[bool, typer.Option("--fix", help="Apply the remedies safe without judgement (expired leases, "
                                      "orphan -wal/-shm, stale private copies); list the rest with their commands.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="With --fix: say what it would apply; change nothing.")]
    = False,
) -> None:
    """Check kind, schema, integrity, WAL, blobs, leases and attachments of every database; exit 1 on problems.

    
    Examples:
      lashdb doctor 0336164f --json
      lashdb doctor --fix --dry-run
    """
    from lashdb.engine.errors import LashdbError, UsageError
    from lashdb.engine.ops import doctor_fix
    from lashdb.engine.ops.backend import wall_clock_ms

    if dry_run and not fix:
        raise UsageError("--dry-run goes with --fix")
    st = common.state()
    try:
        now = common.now_ms()
    except LashdbError:  # a store whose clock cannot be read: the report says why it cannot be read
        now = wall_clock_ms()
    with output.ticker("checking databases", enabled=common.show_progress(json)) as tick:
        report = doctor_fix.with_remedies(st.backend.doctor(paths, now_ms=now, recursive=st.recursive, progress=tick))
    fixes = None
    if fix and report.unusable is None:
        fixes = [f.to_json() for f in doctor_fix.fix(st.backend, report, dry_run=dry_run)]
        if not dry_run and any(f["action"] == doctor_fix.APPLIED for f in fixes):
            # What is left after the fixes is what the exit code and the table are about.
            report = doctor_fix.with_remedies(st.backend.doctor(paths, now_ms=now, recursive=st.recursive))
    doc = report.to_json()
    if fixes is not None:
        doc["fixes"] = fixes
    # The path as the report gives it: a store URL is no file path (Path() would fold its "//").
    common.warn_unreadable([(f["path"], f["reason"]) for f in doc["files"] if f["status"] == "unreadable"])
    if json:
        output.emit(doc, json=True)
    else:
        if fixes:
            output.emit(fixes, FIX_COLUMNS, title="fixes:")
            typer.echo("")
        _render(doc)
    if report.unusable is not None:  # a store that cannot be read at all, like a missing PATH
        raise typer.Exit(common.EXIT_UNUSABLE)
    if not report.ok:
        raise typer.Exit(common.EXIT_PROBLEMS)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.command("doctor")(common.paged(doctor))


def _render(doc: dict) -> None:
    rows = [dict(f, schema=(f"v{f['schema_version']}" + ("" if f["schema_version"] == f["supported_schema_version"]
                                                           else f" (supports v{f['supported_schema_version']})"))
                 if f["schema_version"] is not None else None,
                 wal=output.human_bytes(f["wal_bytes"]) if f["wal_bytes"] else None,
                 result=f"unreadable: {f['reason']}" if f["status"] == "unreadable" else
                 "ok" if f["ok"] else f"{len(f['findings'])} problem(s)") for f in doc["files"]]
    output.emit(rows, COLUMNS)
    findings = [dict(x, file=f["file"]) for f in doc["files"] for x in f["findings"]]
    if findings:
        typer.echo("")
        output.emit(findings, FINDING_COLUMNS, title="problems:")
    typer.echo(f"\n{doc['checked']} file(s) checked: "
               + ("no problems" if doc["ok"] else f"{doc['errors']} error(s), {doc['warnings']} warning(s) "
                  f"in {doc['problem_files']} file(s)"))
