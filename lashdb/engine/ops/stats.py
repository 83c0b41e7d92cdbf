"""``lashdb stats``: totals of a store (a sessions directory or a PostgreSQL store), or of named sessions.

Contract:
- Read-only on both store kinds: the rows come from ``sessions list``'s reader, each readable v4
  session is opened read-only once for its blobs and free pages, and its GC is a dry run: the
  ``gc --all --dry-run`` answer, so a session whose execution lease is live frees nothing (``gc``
  skips it) and is counted in ``gc_busy_sessions``.
- Totals: sessions (rows of kind session), live and tombstoned nodes, blobs, their stored bytes
  (as kept in the table) and logical bytes (decoded), the store's bytes (files with their ``-wal``
  on a directory; blob contents plus node JSON on PostgreSQL), the bytes GC would free, and the bytes
  ``vacuum --compact`` would return: on SQLite each file's free pages (freelist count × page size)
  plus its ``-wal``; on PostgreSQL ``null`` with a note (the sessions share tables, so free space
  belongs to no session; ``VACUUM FULL`` of the ``lash_*`` tables is the database's own business).
- ``largest``: the five largest sessions by their bytes, largest first (ties by id).
- A session that cannot be read (unreadable, foreign, damaged) still counts as a session and its
  listed sizes count; it is named in ``skipped`` with its status and adds nothing it could not read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lashdb.engine.base import kinds
from lashdb.engine.base.errors import LashdbError, one_line
from lashdb.engine.base.locator import is_location
from lashdb.engine.session import blobs
from lashdb.engine.session.store import Store

from . import discovery
from .maintenance import gc_session
from .ports import session_reader
from .sessions import SessionSummary, located_summaries, session_summary
from .views import file_sizes

LARGEST = 5
PG_COMPACT_NOTE = ("not measured on PostgreSQL: sessions share the lash_* tables, so free space belongs to "
                   "no session (the database's VACUUM returns it)")


@dataclass
class SessionStats:
    """What one readable session adds beyond its listing row."""

    logical_bytes: int = 0
    gc_freeable_bytes: int = 0
    compact_bytes: int | None = None
    gc_busy: bool = False


@dataclass
class StoreStats:
    """The totals of ``lashdb stats`` (see the module contract)."""

    target: str
    kind: str
    sessions: int = 0
    live_nodes: int = 0
    tombstoned_nodes: int = 0
    blobs: int = 0
    stored_bytes: int = 0
    logical_bytes: int = 0
    size_bytes: int = 0
    gc_freeable_bytes: int = 0
    gc_busy_sessions: int = 0
    compact_reclaimable_bytes: int | None = 0
    compact_note: str | None = None
    largest: list[SessionSummary] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """The documented JSON object."""
        return {
            "store": self.target, "kind": self.kind, "sessions": self.sessions, "live_nodes": self.live_nodes,
            "tombstoned_nodes": self.tombstoned_nodes, "blobs": self.blobs, "stored_bytes": self.stored_bytes,
            "logical_bytes": self.logical_bytes, "size_bytes": self.size_bytes,
            "gc_freeable_bytes": self.gc_freeable_bytes, "gc_busy_sessions": self.gc_busy_sessions,
            "compact_reclaimable_bytes": self.compact_reclaimable_bytes, "compact_note": self.compact_note,
            "largest": [{"session_id": r.session_id, "session_name": r.session_name, "path": str(r.path),
                         "size_bytes": r.size_bytes} for r in self.largest],
            "skipped": [{"path": p, "status": s} for p, s in self.skipped],
        }


def session_stats(target: Any) -> SessionStats:
    """Logical blob bytes, GC-freeable bytes (a dry run; 0 when a live lease makes GC skip it) and
    compactable bytes of one readable v4 session."""
    with Store.open_readonly(target) as store:
        limit = store.options.decompression_limit

        def read(c: Any) -> tuple[int, int | None]:
            reader = session_reader(c)
            logical = 0
            for blob_hash, content in reader.blob_contents() or []:
                logical += blobs.describe(blob_hash, content, limit).logical_bytes or 0
            return logical, reader.free_page_bytes()
        logical, free = store.read(read)
    gc = gc_session(target, dry_run=True)
    freed = gc.report.freed_bytes if gc.report is not None and gc.busy is None else 0
    compact = None if free is None else free + file_sizes(target).wal_bytes
    return SessionStats(logical, freed, compact, gc.busy is not None)


def _summaries(backend: Any, targets: list[Any] | None, recursive: bool, jobs: int) -> list[SessionSummary]:
    if not targets:
        return backend.list_sessions(recursive=recursive, jobs=jobs)
    located = [t.session_id for t in targets if is_location(t)]
    rows = located_summaries(backend, session_ids=located) if located else []
    return rows + [session_summary(discovery.examine(t)) for t in targets if not is_location(t)]


def store_stats(backend: Any, targets: list[Any] | None = None, *, recursive: bool = False,
                jobs: int = 1) -> StoreStats:
    """Totals of every session of ``backend`` (a directory backend or a URL store), or of ``targets``
    (resolved SESSIONs: paths or locations)."""
    kind = "postgres" if getattr(backend, "kind", None) == "postgres" else "directory"
    out = StoreStats(backend.target, kind, compact_note=PG_COMPACT_NOTE if kind == "postgres" else None,
                     compact_reclaimable_bytes=None if kind == "postgres" else 0)
    rows = [r for r in _summaries(backend, targets, recursive, jobs) if r.kind in (kinds.SESSION, "unreadable")]
    for row in rows:
        out.sessions += 1
        out.size_bytes += row.size_bytes
        out.live_nodes += row.live_nodes or 0
        out.tombstoned_nodes += row.tombstoned_nodes or 0
        out.blobs += row.blob_count or 0
        out.stored_bytes += row.blob_bytes or 0
        if row.status != "ok":
            out.skipped.append((str(row.path), row.status))
            continue
        try:
            extra = session_stats(row.path)
        except LashdbError as exc:
            out.skipped.append((str(row.path), f"unreadable: {one_line(exc)}"))
            continue
        out.logical_bytes += extra.logical_bytes
        out.gc_freeable_bytes += extra.gc_freeable_bytes
        out.gc_busy_sessions += extra.gc_busy
        if out.compact_reclaimable_bytes is not None and extra.compact_bytes is not None:
            out.compact_reclaimable_bytes += extra.compact_bytes
    out.largest = sorted(rows, key=lambda r: (-r.size_bytes, r.session_id or "", str(r.path)))[:LARGEST]
    return out


__all__ = ["LARGEST", "PG_COMPACT_NOTE", "SessionStats", "StoreStats", "session_stats", "store_stats"]
