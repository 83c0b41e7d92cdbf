"""`lashdb blob ls|cat|verify`: read-only views of a session's content-addressed blobs.

JSON documents (keys are stable; sizes in bytes):
- ``ls``: an array of ``BlobRow.to_json()`` — hash, kind, hints, compression, stored_bytes, logical_bytes,
  reachable (true/false, null when it cannot be computed), reachable_note, format (cbor/msgpack/raw), error.
- ``cat --envelope``: ``BlobEnvelope.to_json()`` — hash, path, session_id, status, foreign, schema_version,
  format, kind, hints, compression, stored_bytes, logical_bytes, verification (ok, mismatch, undecodable,
  raw-ok, raw-mismatch, undecodable-value), reason, also_in. ``cat --decode``: the decoded content itself.
- ``cat --json``: envelope (as ``--envelope``), content_format (json, cbor, msgpack: decoded; text: UTF-8
  that is none of those; base64: other bytes), content (the decoded value, the text, or base64 text).
- ``verify --json``: ``VerifyReport.to_json()`` — ok, jobs, sessions (path, session_id, status (ok /
  foreign vN), foreign, schema_version, ok, result (ok, failed, damaged, error), blobs, passed, failed,
  counts (by verification status), stored_bytes, logical_bytes, failures (hash, status, reason, format,
  kind, stored_bytes), problems (damage to the file itself: malformed database, deleted -wal), error),
  total (sessions, sessions_failed, damaged, errors, blobs, passed, failed, counts, stored_bytes,
  logical_bytes, unreadable), unreadable (files ``--all`` found and could not read, not verified: path,
  file, status ``unreadable``, reason).
Exit codes: 2 for a malformed hash or too short a prefix; 3 for an unknown or ambiguous session, an
unknown or ambiguous hash, a file that is not a session database, a damaged blob to cat; ``verify``
exits 1 when any blob fails, a database is damaged or a file ``--all`` found cannot be read, and 3
when a named session cannot be used at all.
``cat -o -`` writes to stdout.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from .. import common, output

LS_COLUMNS = [("short", "hash"), ("kind", "kind"), ("hints_text", "hints", output.FIT), ("compression", "compression"),
              ("stored", "stored"), ("logical", "logical"), ("reachable", "reachable"), ("format", "format")]
VERIFY_COLUMNS = [("session", "session"), ("file", "file"), ("blobs", "blobs"), ("passed", "ok"),
                  ("failed", "failed"), ("status", "status")]
FAILURE_COLUMNS = [("hash", "hash"), ("file", "file"), ("status", "status"), ("reason", "reason", output.FIT)]
PROBLEM_COLUMNS = [("file", "file"), ("problem", "problem", output.FIT)]

SessionArg = Annotated[Optional[str], typer.Argument(
    metavar="SESSION", help="Session: path, file name, session id or unique prefix.", show_default=False,
    autocompletion=common.complete_session)]
SessionOne = Annotated[Optional[str], typer.Option(
    "--session", "-s", metavar="SESSION", help="Session to search (default: every session under the root).",
    show_default=False, autocompletion=common.complete_session)]
SessionLs = Annotated[Optional[str], typer.Option(
    "--session", "-s", metavar="SESSION", help="The session to list (the same as SESSION; one session).",
    show_default=False, autocompletion=common.complete_session)]


def _kinds() -> tuple[str, ...]:
    from lashdb.engine.ops.complete import blob_kinds

    return blob_kinds()


def _warn_foreign(items: list[tuple[str, int | None]]) -> None:
    if items:
        names = ", ".join(f"{name} (session v{version})" for name, version in items[:3])
        output.warn(f"foreign schema, read-only: {names}{', …' if len(items) > 3 else ''}; "
                    "this lashdb writes v4")


def _one(session: str | None, sessions: list[str] | None) -> Path:
    targets = common.session_targets([session] if session else [], sessions)
    if len(targets) != 1:
        from lashdb.engine.errors import UsageError

        raise UsageError("name exactly one SESSION (or --session ID)")
    return common.resolve(targets[0])


def _ls_row(doc: dict, short: dict[str, str]) -> dict:
    return dict(doc, short=short[doc["hash"]], hints_text=",".join(doc["hints"]) or None,
                stored=output.human_bytes(doc["stored_bytes"]), logical=output.human_bytes(doc["logical_bytes"]))


def _locate(query: str, session: str | None):
    from lashdb.engine.ops import discovery, verify

    verify.normalize_hash(query)  # a malformed hash is a usage error before any lookup
    if session is not None:
        path = common.resolve(session)
        return verify.find_blob(query, [path], where=str(path))
    st = common.state()
    found = st.backend.discover(recursive=st.recursive)
    common.warn_unreadable([(f.path, discovery.unreadable_reason(f.error)) for f in found if f.unreadable],
                           "; not searched")
    paths = [f.path for f in found if f.is_session]
    return verify.find_blob(query, paths, where=f"the sessions under {st.backend.target}", skip_unreadable=True)


def ls(
    session: SessionArg = None,
    session_opt: SessionLs = None,
    kind: Annotated[Optional[str], typer.Option(
        "--kind", metavar="KIND", help="Only blobs of this kind (e.g. ToolState).", show_default=False,
        autocompletion=lambda incomplete: [k for k in _kinds() if k.lower().startswith(incomplete.lower())])]
    = None,
    unreachable: Annotated[bool, typer.Option("--unreachable", help="Only blobs no GC root reaches.")] = False,
    json: common.JsonOpt = False,
) -> None:
    """Hash, kind, hints, compression, stored and logical bytes, reachability and format of each blob.

    \b
    Examples:
      lashdb blob ls 0336164f
      lashdb blob ls -s 0336164f --kind ToolState --unreachable
    """
    from lashdb.engine.ops import inspect, verify
    if kind is not None and kind.lower() not in {k.lower() for k in _kinds()}:
        from lashdb.engine.errors import UsageError

        raise UsageError(f"--kind: unknown blob kind `{kind}` (kinds: {', '.join(_kinds())})")
    listing = verify.list_blobs(_one(session, [session_opt] if session_opt else None), kind=kind, unreachable_only=unreachable)
    _warn_foreign([(listing.path.name, listing.schema_version)] if listing.foreign else [])
    docs = [row.to_json() for row in listing.rows]
    short = inspect.short_ids([d["hash"] for d in docs], 12)
    output.emit(docs if json else [_ls_row(d, short) for d in docs], LS_COLUMNS, json=json)
    if listing.reachable_note and not json:
        output.info(f"reachable: {listing.reachable_note}", quiet=common.state().quiet)


def cat(
    hash_: Annotated[str, typer.Argument(
        metavar="HASH", help="Blob hash or unique prefix (6+ hex digits).", autocompletion=common.complete_blob)],
    session: SessionOne = None,
    out: Annotated[Optional[Path], typer.Option("--output", "-o", metavar="FILE", dir_okay=False,
                                                help="Write to FILE instead of stdout (`-`: stdout).",
                                                show_default=False)] = None,
    envelope: Annotated[bool, typer.Option("--envelope", help="Print the envelope metadata as JSON.")] = False,
    decode: Annotated[bool, typer.Option("--decode", help="Render CBOR/MessagePack/JSON content as JSON.")]
    = False,
    force: Annotated[bool, typer.Option("--force", help="Write binary content to a terminal anyway.")] = False,
    json: Annotated[bool, typer.Option("--json", help="Print the envelope and the content as one JSON "
                                       "document.")] = False,
) -> None:
    """Write a blob's logical content (binary-safe), its envelope metadata, or its decoded value.

    \b
    Examples:
      lashdb blob cat 7e6c30527435 --decode
      lashdb blob cat 7e6c30527435 -s 0336164f -o state.bin
    """
    from lashdb.engine.ops import verify
    from lashdb.engine.errors import LashdbError, UsageError

    if envelope and decode:
        raise UsageError("give --envelope or --decode, not both")
    if json and (envelope or decode):
        raise UsageError("give --json alone: it holds the envelope and the decoded content")
    location = _locate(hash_, session)
    if json:
        meta, blob = verify.blob_envelope(location), verify.read_blob(location)
        foreign, version = blob.foreign, blob.schema_version
        payload = output.dumps({"envelope": meta.to_json(), **_content_json(blob.content, blob.envelope.format,
                                                                             location.blob_hash)}) + "\n"
    elif envelope:
        meta = verify.blob_envelope(location)
        foreign, version, payload = meta.foreign, meta.schema_version, output.dumps(meta.to_json()) + "\n"
    else:
        blob = verify.read_blob(location)
        foreign, version, payload = blob.foreign, blob.schema_version, blob.content
        if decode:
            _fmt, value = verify.decode_content(blob.content, blob.envelope.format, location.blob_hash)
            payload = output.dumps(value) + "\n"
    _warn_foreign([(location.path.name, version)] if foreign else [])
    data = payload.encode("utf-8") if isinstance(payload, str) else payload
    if out is not None and str(out) != "-":
        try:
            out.write_bytes(data)
        except OSError as exc:
            raise LashdbError(f"{out}: cannot write ({exc.strerror or exc})") from None
        output.info(f"wrote {len(data)} bytes to {out}", quiet=common.state().quiet)
        return
    if out is not None:
        force = True  # `-o -`: stdout was asked for by name
    if sys.stdout.isatty() and not force and not verify.looks_like_text(data):
        raise UsageError(f"blob {location.blob_hash} is binary ({len(data)} bytes); not writing it to a "
                         "terminal (use -o FILE, --force, --decode or a pipe)")
    stream = typer.get_binary_stream("stdout")
    stream.write(data)
    stream.flush()


def _content_json(content: bytes, envelope_format: str, blob_hash: str) -> dict:
    """``content_format`` and ``content``: decoded JSON/CBOR/MessagePack, else UTF-8 text, else base64."""
    import base64

    from lashdb.engine.errors import BlobError
    from lashdb.engine.ops import verify

    try:
        fmt, value = verify.decode_content(content, envelope_format, blob_hash)
        return {"content_format": fmt, "content": value}
    except BlobError:
        pass
    try:
        return {"content_format": "text", "content": content.decode("utf-8")}
    except UnicodeDecodeError:
        return {"content_format": "base64", "content": base64.b64encode(content).decode("ascii")}


def verify_(
    sessions: common.SessionArgs = None,
    session: common.SessionOpt = None,
    all_: common.AllOpt = False,
    jobs: Annotated[Optional[int], typer.Option("--jobs", "-j", min=1, show_default=False,
                                                help="Worker threads [default: 1; more rarely help].")]
    = None,
    json: common.JsonOpt = False,
) -> None:
    """Re-hash every blob; summary per session and in total; failing blobs with reasons (exit 1).

    \b
    Examples:
      lashdb blob verify --all
      lashdb blob verify 0336164f --json
    """
    from lashdb.engine.ops import verify

    paths, unreadable = common.session_paths(sessions, session, all_)
    bar = common.show_progress(json) and sys.stderr.isatty()
    with output.progress(verify.count_blobs(paths) if bar else 0, "verifying blobs", enabled=bar) as advance:
        report = verify.verify_sessions(paths, jobs=jobs or verify.DEFAULT_JOBS, progress=advance)
    _warn_foreign([(s.path.name, s.schema_version) for s in report.sessions if s.foreign])
    doc = report.to_json()
    # A file --all found and could not read was not verified: the run found a problem.
    doc["ok"] = report.ok and not unreadable
    doc["unreadable"] = common.unreadable_json(unreadable)
    doc["total"]["unreadable"] = len(unreadable)
    common.report_failures([(s.error, s.error_text) for s in report.sessions if s.error is not None],
                           code=common.EXIT_OK if doc["ok"] else common.EXIT_PROBLEMS,
                           show=lambda: output.emit(doc, json=True) if json else _render_verify(doc))


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    group = typer.Typer(help="List, print and verify a session's content-addressed blobs.", no_args_is_help=True)
    app.add_typer(group, name="blob")

    group.command("ls")(common.paged(ls))
    group.command("cat")(cat)
    group.command("verify")(common.paged(verify_))


def _render_verify(doc: dict) -> None:
    rows = [dict(s, session=s["session_id"] or "-", file=Path(s["path"]).name,
                 status=s["result"] if s["result"] in ("ok", "error") else s["result"].upper())
            for s in doc["sessions"]]
    output.emit(rows, VERIFY_COLUMNS)
    failures = [dict(f, file=r["file"]) for r in rows for f in r["failures"]]
    if failures:
        typer.echo("")
        output.emit(failures, FAILURE_COLUMNS, title="failing blobs:")
    problems = [{"file": r["file"], "problem": p} for r in rows for p in r["problems"]]
    if problems:
        typer.echo("")
        output.emit(problems, PROBLEM_COLUMNS, title="damaged databases:")
    t = doc["total"]
    typer.echo(f"\ntotal: {t['sessions']} session(s), {t['blobs']} blob(s), {t['passed']} ok, {t['failed']} failed"
               + (f", {t['damaged']} database(s) damaged" if t["damaged"] else "")
               + (f", {t['errors']} session(s) unusable" if t["errors"] else "")
               + (f", {t['unreadable']} file(s) unreadable (skipped)" if t["unreadable"] else ""))
