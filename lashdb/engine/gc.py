"""Garbage collection of unreachable blobs (SPEC §6).

Contract: plain functions over an open session connection; the caller holds one ``BEGIN
IMMEDIATE`` transaction around :func:`collect` so mark and sweep see one state. Roots are the
head's ``checkpoint_ref`` (a manifest, whose three child refs are marked too) and every
``artifact_refs.blob_ref``. A manifest root that is present but cannot be decoded aborts with
:class:`GcAborted` before anything is deleted. The sweep is one set-based ``DELETE``. A dry run
computes the same report and deletes nothing. Progress goes to an optional callback.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

import apsw

from . import blobs, codec
from .connection import query_one
from .errors import BackendError, BlobError, GcAborted
from .model import GcReport, SessionCheckpoint, SessionHeadMeta

Progress = Callable[[str, int, int], None]
"""``progress(phase, done, total)``; phases are ``mark`` and ``sweep``."""


@dataclass(frozen=True)
class Reachability:
    """The roots found and every blob hash reachable from them."""

    root_count: int
    reachable: frozenset[str]


def head_checkpoint_ref(conn: apsw.Connection) -> str | None:
    """The head's ``checkpoint_ref``; a head whose JSON cannot be read is an error, not "none"."""
    row = query_one(conn, "SELECT head_json FROM session_head WHERE singleton = 1")
    if row is None:
        return None
    # The full head decode, as every store read does: a head that parses as JSON but is not a head
    # (a list, a numeric checkpoint_ref, no config) must abort GC, not read as "no root" and let the
    # sweep delete the live checkpoint (runtime-contract W2).
    try:
        return SessionHeadMeta.from_json(json.loads(row[0])).checkpoint_ref
    except (ValueError, TypeError) as exc:
        raise BackendError(f"decode session head: {exc}") from exc


def find_reachable_objects(conn: apsw.Connection, limit: int, progress: Progress | None = None) -> Reachability:
    """Mark every blob reachable from the GC roots; abort on an undecodable live manifest."""
    manifests = []
    head_ref = head_checkpoint_ref(conn)
    if head_ref is not None:
        manifests.append(head_ref)
    artifact_roots = [r[0] for r in conn.execute("SELECT blob_ref FROM artifact_refs ORDER BY artifact_ref")]
    reachable: set[str] = set(artifact_roots)
    for done, manifest_ref in enumerate(manifests, 1):
        reachable.add(manifest_ref)
        try:
            decoded = blobs.get_decoded(conn, manifest_ref, limit)
            if decoded is None:
                continue  # collected earlier or never written: nothing below it to keep
            value = codec.decode_value(decoded.content, decoded.envelope.format, manifest_ref)
            manifest = SessionCheckpoint.from_json(value)
        except (BlobError, ValueError, TypeError) as exc:
            raise GcAborted(manifest_ref, str(exc)) from exc
        reachable.update(ref for ref, _kind in manifest.child_refs())
        if progress:
            progress("mark", done, len(manifests))
    return Reachability(len(manifests) + len(artifact_roots), frozenset(reachable))


def collect(conn: apsw.Connection, *, limit: int, dry_run: bool = False,
            progress: Progress | None = None) -> GcReport:
    """Mark, then delete (unless ``dry_run``) every unreachable blob; report what happened."""
    found = find_reachable_objects(conn, limit, progress)
    conn.execute("CREATE TEMP TABLE IF NOT EXISTS lashdb_gc_marked (hash TEXT PRIMARY KEY)")
    try:
        conn.execute("DELETE FROM temp.lashdb_gc_marked")
        conn.executemany("INSERT OR IGNORE INTO temp.lashdb_gc_marked (hash) VALUES (?)",
                         [(h,) for h in found.reachable])
        present = int(query_one(
            conn, "SELECT count(*) FROM blobs WHERE hash IN (SELECT hash FROM temp.lashdb_gc_marked)")[0])
        doomed, freed = query_one(
            conn,
            "SELECT count(*), coalesce(sum(length(content)), 0) FROM blobs "
            "WHERE hash NOT IN (SELECT hash FROM temp.lashdb_gc_marked)",
        )
        if not dry_run and doomed:
            conn.execute("DELETE FROM blobs WHERE hash NOT IN (SELECT hash FROM temp.lashdb_gc_marked)")
        if progress:
            progress("sweep", int(doomed), int(doomed))
    finally:
        conn.execute("DROP TABLE IF EXISTS temp.lashdb_gc_marked")
    return GcReport(
        root_count=found.root_count,
        retained_blob_count=present,
        deleted_blob_count=int(doomed),
        freed_bytes=int(freed),
        dry_run=dry_run,
        missing_blob_count=len(found.reachable) - present,
    )
