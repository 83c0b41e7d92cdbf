"""Garbage collection of unreachable blobs (SPEC §6, amended 2026-12: batches and the runtime's lease).

Contract: :func:`collect` runs batches, each through the caller's ``transaction`` (one ``BEGIN
IMMEDIATE``; PostgreSQL: the session's advisory lock), so a committer waits for one batch at most.
Each batch first asks ``busy`` (a live execution lease someone else holds stops the GC: the report
says who, with what was deleted so far), then re-reads the roots — the head's ``checkpoint_ref`` (a
manifest, whose three child refs are marked too) and, for the rows it looks at, every
``artifact_refs.blob_ref`` naming them —, and deletes set-based at most ``size`` rows no root
names, walking the table from where the previous batch stopped (so no batch re-reads the rows
earlier batches kept). Rows kept because the head named them are looked at again at the end (a
head that moved during the GC frees them); a row that became garbage behind the walk otherwise is
left to the next GC. ``size`` is ``batch_size``, or, with a ``target_s``, adapted after each batch
so that a batch holds the lock about ``target_s`` (starting at :data:`FIRST_BATCH` rows, growing
at most 1.5x and shrinking at most 2x per batch, within [:data:`MIN_BATCH`, ``batch_size``]). It
stops after a batch that reaches the end of the table and deletes fewer than its size. Between two
batches it runs ``between`` and sleeps ``pause_s``, so a writer waiting for the lock gets it. A
manifest root that is present but cannot be decoded aborts with :class:`GcAborted` before that
batch deletes anything (before the first batch: nothing at all is deleted; earlier batches'
deletions were right when made). Nothing that
reads every row or every root runs under the lock: the progress total is estimated from counts in
a read snapshot before the first batch, and ``root_count``/``missing_blob_count`` are read in one
after the last. A dry run is one read snapshot walking the table as the batches would, deleting
nothing. The report sums the batches (``retained_blob_count``: the rows they looked at and kept).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from . import blobs
from lashdb.engine.base import codec
from lashdb.engine.base.errors import BackendError, BlobError, GcAborted
from .model import GcBusy, GcReport, SessionCheckpoint, SessionHeadMeta
from .ports import SessionTx

Progress = Callable[[str, int, int], None]
"""``progress(phase, done, total)``; phases are ``mark`` (before the first batch) and ``sweep`` (after each batch)."""

Transaction = Callable[[Callable[[SessionTx], Any]], Any]
"""``transaction(fn)`` runs ``fn(tx)`` in one transaction (an exclusive write; a dry run: a read snapshot)."""
BusyCheck = Callable[[SessionTx], "GcBusy | None"]
"""Inside a batch's transaction: the live lease that stops this GC, or ``None`` to go on."""

DEFAULT_BATCH_SIZE = 20_000
"""Most rows one batch deletes (the adaptive size never grows past it)."""
DEFAULT_BATCH_TARGET_MS = 15.0
"""How long a batch aims to hold the write lock: a committer's longest wait is about one batch."""
FIRST_BATCH = 256
"""Rows the first adaptive batch deletes at most: small, so the first pause is short whatever the store."""
MIN_BATCH = 16
MAX_GROWTH = 1.5
"""A batch is at most 1.5x the last, so one slower per row than the last overshoots the target by that much."""
PAUSE_S = 0.002
"""Sleep between batches: a writer polling for the lock (every 1-5 ms) takes it before the next batch."""
_SCAN_CHUNK = 10_000  # rows read per statement while walking the table
_SCAN_FLOOR = 1_024  # a batch may look at this many rows (or 4x its size) before it commits what it found


@dataclass(frozen=True)
class Reachability:
    """The roots found and every blob hash reachable from them."""

    root_count: int
    reachable: frozenset[str]


def head_checkpoint_ref(tx: SessionTx) -> str | None:
    """The head's ``checkpoint_ref``; a head whose JSON cannot be read is an error, not "none"."""
    row = tx.rows.head()
    if row is None:
        return None
    # The full head decode, as every store read does: a head that parses as JSON but is not a head
    # (a list, a numeric checkpoint_ref, no config) must abort GC, not read as "no root" and let the
    # sweep delete the live checkpoint (runtime-contract W2).
    try:
        return SessionHeadMeta.from_json(json.loads(row[0])).checkpoint_ref
    except (ValueError, TypeError) as exc:
        raise BackendError(f"decode session head: {exc}") from exc


def find_reachable_objects(tx: SessionTx, limit: int, progress: Progress | None = None) -> Reachability:
    """Mark every blob reachable from the GC roots; abort on an undecodable live manifest."""
    manifests, marks = manifest_marks(tx, limit, progress)
    artifact_roots = [blob_ref for _ref, blob_ref in tx.rows.artifact_refs()]
    return Reachability(manifests + len(artifact_roots), frozenset(marks | set(artifact_roots)))


def manifest_marks(tx: SessionTx, limit: int, progress: Progress | None = None) -> tuple[int, set[str]]:
    """(manifest roots, the hashes they mark): the head's manifest and its children; abort on an undecodable one."""
    manifests = []
    head_ref = head_checkpoint_ref(tx)
    if head_ref is not None:
        manifests.append(head_ref)
    reachable: set[str] = set()
    for done, manifest_ref in enumerate(manifests, 1):
        reachable.add(manifest_ref)
        try:
            decoded = blobs.get_decoded(tx, manifest_ref, limit)
            if decoded is None:
                continue  # collected earlier or never written: nothing below it to keep
            value = codec.decode_value(decoded.content, decoded.envelope.format, manifest_ref)
            manifest = SessionCheckpoint.from_json(value)
        except (BlobError, ValueError, TypeError) as exc:
            raise GcAborted(manifest_ref, str(exc)) from exc
        reachable.update(ref for ref, _kind in manifest.child_refs())
        if progress:
            progress("mark", done, len(manifests))
    return len(manifests), reachable


@dataclass
class _Walk:
    """Where the walk over the table stands between batches."""

    cursor: Any = None
    at_end: bool = False
    # Rows kept only because the head named them when the walk passed: hash -> (position, stored length).
    revisit: dict[str, tuple[Any, int]] = field(default_factory=dict)


@dataclass(frozen=True)
class _Batch:
    deleted: int
    freed: int
    kept: int
    done: bool  # the walk reached the end and found fewer than ``size`` rows to delete


def _batch(tx: SessionTx, walk: _Walk, *, limit: int, size: int, scan_cap: int, dry_run: bool) -> _Batch:
    """One batch: re-read the roots, walk on from the cursor, delete at most ``size`` unrooted rows."""
    _, marks = manifest_marks(tx, limit)  # before any deletion: an undecodable live manifest aborts here
    doomed: list[tuple[Any, str]] = []
    freed = kept = scanned = 0
    while len(doomed) < size and not walk.at_end and scanned < scan_cap:
        want = min(max(2 * (size - len(doomed)), 64), _SCAN_CHUNK, scan_cap - scanned)
        rows = tx.blobs.scan(walk.cursor, want)
        named = tx.blobs.named_by_artifacts([h for _, h, _ in rows if h not in marks])
        taken = 0
        for position, blob_hash, length in rows:
            taken += 1
            walk.cursor = position
            if blob_hash in marks:
                walk.revisit[blob_hash] = (position, length)
                kept += 1
            elif blob_hash in named:
                kept += 1
            else:
                doomed.append((position, blob_hash))
                freed += length
                if len(doomed) == size:
                    break
        scanned += taken
        walk.at_end = len(rows) < want and taken == len(rows)
    if walk.at_end and len(doomed) < size and walk.revisit:
        # The head may have moved since the walk passed these rows: what it no longer names is garbage.
        candidates = [h for h in walk.revisit if h not in marks][: size - len(doomed)]
        named = tx.blobs.named_by_artifacts(candidates)
        for blob_hash in candidates:
            position, length = walk.revisit.pop(blob_hash)
            if blob_hash not in named:
                doomed.append((position, blob_hash))
                freed += length
                kept -= 1
    if not dry_run:
        lengths = tx.blobs.delete(doomed)  # what another writer deleted first is not counted
        deleted, freed = len(lengths), sum(lengths)
    else:
        deleted = len(doomed)
    done = walk.at_end and len(doomed) < size
    return _Batch(deleted, freed, kept, done)


def _roots(tx: SessionTx, limit: int) -> tuple[int, int]:
    """(root_count, missing_blob_count) as they stand now."""
    manifests, marks = manifest_marks(tx, limit)
    gone = {h for h in marks if not tx.blobs.exists(h)} | set(tx.blobs.artifact_refs_missing())
    return manifests + tx.blobs.artifact_count(), len(gone)


def _estimate(tx: SessionTx, limit: int, progress: Progress | None) -> int:
    """Rows the GC will delete, estimated from counts (no row or root is read one by one)."""
    _, marks = manifest_marks(tx, limit, progress)
    present = sum(1 for h in marks if tx.blobs.exists(h))
    return max(0, tx.blobs.count() - present - tx.blobs.artifact_count())


def collect(transaction: Transaction, *, limit: int, batch_size: int = DEFAULT_BATCH_SIZE,
            target_s: float | None = None, dry_run: bool = False, busy: BusyCheck | None = None,
            progress: Progress | None = None, snapshot: Transaction | None = None,
            between: Callable[[], None] | None = None, pause_s: float = PAUSE_S,
            clock: Callable[[], float] = time.perf_counter) -> GcReport:
    """Collect in batches, each one ``transaction``; stop at the end of the table or when ``busy``
    names a live lease (the report then says so, with what the batches before it did).

    ``snapshot`` runs the reads that need no lock (default: ``transaction``); ``target_s`` makes the
    batch size adaptive (see the module docstring); ``between`` runs after each batch but the last,
    followed by a ``pause_s`` sleep that lets a writer waiting for the lock take it first."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"GC batch_size must be a positive int (got {batch_size!r})")
    if target_s is not None and (isinstance(target_s, bool) or not isinstance(target_s, (int, float))
                                 or not target_s > 0):
        raise ValueError(f"GC batch target must be a positive number of seconds (got {target_s!r})")
    read = snapshot or transaction
    if dry_run:
        return read(lambda tx: _dry_run(tx, limit, batch_size, busy, progress))
    total = read(lambda tx: busy(tx) if busy else None) or read(lambda tx: _estimate(tx, limit, progress))
    if isinstance(total, GcBusy):
        return _report(0, 0, 0, 0, 0, False, 0, total)
    size = batch_size if target_s is None else min(batch_size, FIRST_BATCH)
    walk = _Walk()
    deleted = freed = kept = batches = 0
    started = [0.0]

    def one(tx: SessionTx) -> _Batch | GcBusy:
        started[0] = clock()
        # The lease is read in the batch's own transaction: a runtime that claimed it since the last
        # batch may be about to name blobs this batch would delete.
        holder = busy(tx) if busy else None
        return holder or _batch(tx, walk, limit=limit, size=size, scan_cap=max(4 * size, _SCAN_FLOOR),
                                dry_run=False)

    while True:
        out = transaction(one)
        held = clock() - started[0]
        if isinstance(out, GcBusy):
            return _report(0, kept, 0, deleted, freed, False, batches, out)
        batches += 1
        deleted, freed, kept = deleted + out.deleted, freed + out.freed, kept + out.kept
        if progress:
            progress("sweep", deleted, deleted if out.done else max(total, deleted))
        if out.done:
            root_count, missing = read(lambda tx: _roots(tx, limit))
            return _report(root_count, kept, missing, deleted, freed, False, batches, None)
        if target_s is not None:
            scale = min(MAX_GROWTH, max(0.5, target_s / held)) if held > 0 else MAX_GROWTH
            size = min(batch_size, max(MIN_BATCH, int(size * scale)))
        if between:
            between()
        if pause_s > 0:
            time.sleep(pause_s)


def _dry_run(tx: SessionTx, limit: int, batch_size: int, busy: BusyCheck | None,
             progress: Progress | None) -> GcReport:
    holder = busy(tx) if busy else None
    if holder:
        return _report(0, 0, 0, 0, 0, True, 0, holder)
    manifest_marks(tx, limit, progress)
    out = _batch(tx, _Walk(), limit=limit, size=sys.maxsize, scan_cap=sys.maxsize, dry_run=True)
    if progress:
        progress("sweep", out.deleted, out.deleted)
    root_count, missing = _roots(tx, limit)
    # What batches of ``batch_size`` would do on this state: full batches, then the one that finds fewer.
    return _report(root_count, out.kept, missing, out.deleted, out.freed, True, out.deleted // batch_size + 1, None)


def _report(root_count: int, retained: int, missing: int, deleted: int, freed: int, dry_run: bool, batches: int,
            busy: GcBusy | None) -> GcReport:
    return GcReport(root_count=root_count, retained_blob_count=retained, deleted_blob_count=deleted,
                    freed_bytes=freed, dry_run=dry_run, missing_blob_count=missing, batch_count=batches, busy=busy)
