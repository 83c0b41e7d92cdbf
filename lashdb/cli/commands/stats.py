"""`lashdb stats [SESSION…]`: the totals of the store (or of the named sessions).

JSON document (sizes in bytes): store, kind (directory, postgres), sessions, live_nodes,
tombstoned_nodes, blobs, stored_bytes (blob contents as kept), logical_bytes (decoded), size_bytes
(files with their -wal on a directory; blob contents plus node JSON on PostgreSQL), gc_freeable_bytes
(what `gc --all --dry-run` would free), gc_busy_sessions (sessions gc skips: a live execution lease), compact_reclaimable_bytes (what `vacuum --compact` would return:
free pages plus -wal on SQLite; null on PostgreSQL, with compact_note saying why), compact_note,
largest (at most five: session_id, session_name, path, size_bytes; largest first), skipped (path,
status: sessions that could not be read, counted with their listed sizes only). Read-only.
"""

from __future__ import annotations

from typing import Optional

import typer

from .. import common, output

LARGEST_COLUMNS = [("session", "session"), ("session_name", "name"), ("size", "size"), ("path", "path")]


def stats(
    sessions: common.SessionArgs = None,
    jobs: Optional[int] = typer.Option(None, "--jobs", "-j", min=1, show_default=False,
                                       help="Processes listing the files [default: the cores, at most 4]."),
    json: common.JsonOpt = False,
) -> None:
    """Sessions, nodes, blobs, logical and stored bytes, what GC and vacuum --compact would return.

    Examples: lashdb stats; lashdb --store postgresql://host/db stats --json; lashdb stats SESSION
    """
    from lashdb.engine import parallel
    from lashdb.engine.ops import stats as ops_stats

    st = common.state()
    targets = [common.resolve(s) for s in sessions or []]
    result = ops_stats.store_stats(st.backend, targets or None, recursive=st.recursive,
                                   jobs=jobs or parallel.DEFAULT_JOBS)
    doc = result.to_json()
    if json:
        output.emit(doc, json=True)
        return
    for path, status in result.skipped:
        output.warn(f"{path}: {status}; counted with its listed sizes only")
    hb = output.human_bytes
    compact = hb(doc["compact_reclaimable_bytes"]) if doc["compact_reclaimable_bytes"] is not None \
        else f"- ({doc['compact_note']})"
    output.emit({
        "store": doc["store"], "kind": doc["kind"], "sessions": doc["sessions"],
        "nodes": f"{doc['live_nodes']} live, {doc['tombstoned_nodes']} tombstoned", "blobs": doc["blobs"],
        "blob bytes": f"{hb(doc['stored_bytes'])} stored, {hb(doc['logical_bytes'])} logical",
        "size": hb(doc["size_bytes"]), "gc would free": hb(doc["gc_freeable_bytes"]) + (
            f" ({doc['gc_busy_sessions']} session(s) busy, skipped)" if doc["gc_busy_sessions"] else ""),
        "vacuum --compact would return": compact,
    })
    if doc["largest"]:
        rows = [dict(r, session=r["session_id"] or "-", size=hb(r["size_bytes"])) for r in doc["largest"]]
        output.emit(rows, LARGEST_COLUMNS, title="largest sessions")


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.command("stats")(stats)
