"""Blob inspection for the CLI: list a session's blobs with reachability, find one blob by hash or
prefix, read its content, and verify every blob of one or many sessions (CLI.md ``blob``; SPEC §4, §6).

Contract:
- Read-only: every database is opened through :meth:`Store.open_readonly` (``immutable=1`` without
  a ``-wal``, ``mode=ro`` with one); nothing here writes, checkpoints or creates a file. Foreign
  session schemas (another ``user_version``, e.g. upstream v38) are read as far as their ``blobs``
  table goes; every result carries ``foreign`` and ``schema_version`` so callers can warn.
- Reachability (``blob ls``) is :func:`gc.find_reachable_objects` on the read-only connection, in
  the same read snapshot as the listing. When it cannot be computed — a foreign schema roots its
  blobs in other tables, a live manifest cannot be decoded, the head JSON is damaged — every row's
  ``reachable`` is ``None`` and ``reachable_note`` says why; asking for unreachable blobs only then
  raises :class:`ReachabilityUnknown` rather than guessing.
- Lookup (``blob cat``): a HASH is 6 to 64 hex digits (case-insensitive); anything else raises
  :class:`InvalidBlobHash` (a usage error). A prefix matching two different hashes raises
  :class:`LookupFailed` listing them; no match raises :class:`LookupFailed` naming where it looked
  and which databases could not be read.
- Verification re-hashes every row (:func:`codec.verify_blob`: ``ok``, ``mismatch``,
  ``undecodable``, ``raw-ok``, ``raw-mismatch``, and ``undecodable-value`` for a typed value —
  checkpoint manifest, tool state, plugin snapshot, execution state — that hashes right but cannot
  be decoded) in table order, in one read snapshot, on the
  calling thread by default (``jobs`` > 1 hands batches to worker threads). A damaged row is a
  result, never an exception. Damage to the file itself is a *problem* of that session, also a
  result: SQLite reports the file malformed (a truncated or overwritten database, at open or while
  reading the rows), or its ``-shm`` is there without its ``-wal`` (the ``-wal`` of a live database
  was deleted: commits not yet checkpointed are lost), or its head cannot be decoded or names a
  checkpoint manifest that is not stored (SPEC §6 amended). A session that cannot be used at all (missing,
  not SQLite, not a session database, busy, I/O error) keeps its typed error; the others go on.
- This module keeps verification; listing, lookup and the shared helpers live in :mod:`.blobs` and are
  re-exported here under their old names.
"""

from __future__ import annotations

from lashdb.engine.base.locator import as_target

import hashlib
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zlib_ng import zlib_ng

from lashdb.engine.session.ports import session_tx
from lashdb.engine.session import gc
from lashdb.engine.base import codec
from lashdb.engine.base.codec import Verification
from lashdb.engine.base.canonical import jsonable  # noqa: F401  (re-exported: verify.jsonable is public)
from lashdb.engine.base.errors import BackendError, BlobError, DatabaseBusy, LashdbError
from lashdb.engine.session.store import Store
from .blobs import (  # noqa: F401  (re-exported: the old names of verify)
    HASH_LENGTH,
    MIN_HASH_PREFIX,
    WAL_MISSING,
    _HEX,
    BlobContent,
    BlobEnvelope,
    BlobListing,
    BlobLocation,
    BlobReadFailed,
    BlobRow,
    ReachabilityUnknown,
    _foreign_note,
    _naming,
    _Row,
    _session_id,
    _stored,
    _text,
    _version,
    blob_envelope,
    damage_reason,
    decode_content,
    error_text,
    find_blob,
    is_damage,
    list_blobs,
    looks_like_text,
    normalize_hash,
    read_blob,
    stored_row,
    table_rows,
    wal_missing,
)


# Measured on 2 cores: one thread met the bare loop (0.87-1.07x); two cost ~35% more CPU in GIL
# hand-offs around inflate and gained nothing. More jobs stay available with --jobs.
DEFAULT_JOBS = 1
"""Worker threads for verification: 1 (the calling thread), on purpose; see the comment above."""

# A batch handed to one worker: up to this many stored bytes or rows, whichever comes first.
_BATCH_BYTES = 2 << 20
_BATCH_ROWS = 256

Advance = Callable[[int], None]
"""``advance(n)``: ``n`` more blobs were verified."""



# --- blob verify ------------------------------------------------------------------------------------


# Output chunk of the streaming inflate: measured on 200 MB of 2 KB-2 MB blobs, 1 MiB chunks inflated
# and hashed 12% faster than inflating each blob whole (the bare loop's way: a buffer grown by
# realloc, then hashed from memory rather than cache) and 5% faster than 256 KiB chunks (each call
# copies the unconsumed input again); a 2 MiB blob is two calls.
_INFLATE_CHUNK = 1 << 20


def _hashes_to(blob_hash: str, envelope: codec.Envelope, limit: int) -> int | None:
    """Logical size when the envelope's content hashes to ``blob_hash``; ``None`` when it does not
    or cannot be inflated. The content is inflated in chunks straight into SHA-256, never whole."""
    data = envelope.stored_content
    if envelope.compression != "Zlib":
        return len(data) if hashlib.sha256(data).hexdigest() == blob_hash else None
    digest = hashlib.sha256()
    total = 0
    try:
        d = zlib_ng.decompressobj()
        while True:
            chunk = d.decompress(data, _INFLATE_CHUNK)
            total += len(chunk)
            if total > limit:
                return None
            digest.update(chunk)
            if d.eof:
                break
            data = d.unconsumed_tail
            if not data and not chunk:
                return None  # truncated stream
    except zlib_ng.error:
        return None
    if d.unused_data:
        return None
    return total if digest.hexdigest() == blob_hash else None


def _value_ok(blob_hash: str, envelope: codec.Envelope, limit: int) -> int | None:
    """Logical size when a typed value's content hashes to ``blob_hash`` and decodes; else ``None``."""
    try:
        content = codec.logical_content(envelope, limit, blob_hash)
        if hashlib.sha256(content).hexdigest() != blob_hash:
            return None
        codec.decode_value(content, envelope.format, blob_hash)
    except BlobError:
        return None
    return len(content)


def verify_one(blob_hash: str, stored: bytes, limit: int = codec.DEFAULT_DECOMPRESSION_LIMIT) -> Verification:
    """:func:`codec.verify_blob`'s outcome for one row. The common cases are checked from one parse
    of the envelope: opaque bytes by a streaming inflate into SHA-256, a typed value (which must
    also decode) inflated whole, hashed and decoded. Anything that does not pass that way goes to
    :func:`codec.verify_blob`, so every other outcome and its reason are the codec's own."""
    try:
        envelope = codec.parse_envelope(stored, blob_hash)
    except BlobError:
        return codec.verify_blob(blob_hash, stored, limit)
    if envelope.format != codec.FORMAT_RAW:
        check = _value_ok if envelope.kind in codec.VALUE_KINDS else _hashes_to
        size = check(blob_hash, envelope, limit)
        if size is not None:
            return Verification(blob_hash, codec.OK, None, envelope.format, envelope.kind, len(stored), size)
    return codec.verify_blob(blob_hash, stored, limit)


def _verify_batch(batch: list[tuple[str, bytes]], limit: int) -> list[Verification]:
    return [verify_one(h, stored, limit) for h, stored in batch]


def _batches(rows: Iterable[tuple[str, bytes]]) -> Iterator[list[tuple[str, bytes]]]:
    batch: list[tuple[str, bytes]] = []
    size = 0
    source = iter(rows)
    while True:
        try:
            row = next(source)
        except StopIteration:
            break
        except BaseException:
            # Reading failed (e.g. a damaged page): the rows read so far are still verified, then
            # the failure goes on to the caller.
            if batch:
                yield batch
            raise
        batch.append(row)
        size += len(row[1])
        if size >= _BATCH_BYTES or len(batch) >= _BATCH_ROWS:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


def verify_rows(rows: Iterable[tuple[str, bytes]], *, jobs: int = DEFAULT_JOBS,
                limit: int = codec.DEFAULT_DECOMPRESSION_LIMIT,
                sink: Callable[[list[Verification]], None] | None = None) -> int:
    """Verify ``(hash, stored)`` rows (read on the calling thread) with ``jobs`` workers; each batch of
    outcomes goes to ``sink`` in row order. Returns the number of rows verified."""
    if jobs < 1:
        raise ValueError(f"jobs must be at least 1 (got {jobs})")
    done = 0
    if jobs == 1:
        for batch in _batches(rows):
            results = _verify_batch(batch, limit)
            done += len(results)
            if sink:
                sink(results)
        return done
    inflight: deque[Future[list[Verification]]] = deque()

    def collect(keep: int) -> None:
        nonlocal done
        while len(inflight) > keep:
            results = inflight.popleft().result()
            done += len(results)
            if sink:
                sink(results)

    with ThreadPoolExecutor(jobs, thread_name_prefix="lashdb-verify") as pool:
        try:
            try:
                for batch in _batches(rows):
                    inflight.append(pool.submit(_verify_batch, batch, limit))
                    collect(2 * jobs)
            except Exception:
                collect(0)  # reading failed: report the rows already handed out, then the failure
                raise
            collect(0)
        finally:
            for pending in inflight:
                pending.cancel()
    return done


STATUSES = (codec.OK, codec.RAW_OK, codec.MISMATCH, codec.UNDECODABLE, codec.RAW_MISMATCH, codec.UNDECODABLE_VALUE)


@dataclass
class SessionVerification:
    """The verification of one session database: counts by status, every failing blob, damage to
    the file itself (``problems``) and, when it could not be used at all, its typed ``error``."""

    path: Path
    session_id: str | None = None
    foreign: bool = False
    schema_version: int | None = None
    blobs: int = 0
    stored_bytes: int = 0
    logical_bytes: int = 0
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STATUSES, 0))
    failures: list[Verification] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    error: LashdbError | None = None

    def add(self, results: list[Verification]) -> None:
        """Count a batch of outcomes."""
        for v in results:
            self.counts[v.status] = self.counts.get(v.status, 0) + 1
            self.stored_bytes += v.stored_bytes
            self.logical_bytes += v.logical_bytes or 0
            if not v.ok:
                self.failures.append(v)
        self.blobs += len(results)

    @property
    def failed(self) -> int:
        """Blobs whose status is not ``ok``/``raw-ok``."""
        return len(self.failures)

    @property
    def ok(self) -> bool:
        """True when the session was read to the end, undamaged, and every blob verified."""
        return self.error is None and not self.failures and not self.problems

    @property
    def result(self) -> str:
        """``ok``; ``failed`` (blobs failed); ``damaged`` (the file itself); ``error`` (not usable)."""
        if self.error is not None:
            return "error"
        if self.problems:
            return "damaged"
        return "failed" if self.failures else "ok"

    @property
    def status(self) -> str:
        """The schema status, as ``sessions list`` shows it: ``ok``, ``foreign vN``, or ``unreadable``
        when the file could not be opened."""
        if self.schema_version is None:
            return "unreadable"
        return f"foreign v{self.schema_version}" if self.foreign else "ok"

    @property
    def error_text(self) -> str | None:
        """The error on one line, naming the file."""
        return None if self.error is None else error_text(self.path, self.error)

    def to_json(self) -> dict[str, Any]:
        """The documented JSON object."""
        return {"path": str(self.path), "session_id": self.session_id,
                "status": self.status, "foreign": self.foreign, "schema_version": self.schema_version,
                "ok": self.ok, "result": self.result, "blobs": self.blobs, "passed": self.blobs - self.failed,
                "failed": self.failed, "counts": dict(self.counts), "stored_bytes": self.stored_bytes,
                "logical_bytes": self.logical_bytes,
                "failures": [{"hash": v.blob_hash, "status": v.status, "reason": v.reason, "format": v.format,
                              "kind": v.kind, "stored_bytes": v.stored_bytes}
                             for v in sorted(self.failures, key=lambda v: v.blob_hash)],
                "problems": list(self.problems), "error": self.error_text}


@dataclass(frozen=True)
class VerifyReport:
    """Per-session verification results and their total."""

    sessions: tuple[SessionVerification, ...]
    jobs: int

    @property
    def ok(self) -> bool:
        """True when every session was read and every blob verified."""
        return all(s.ok for s in self.sessions)

    def total(self) -> dict[str, Any]:
        """Totals over every session."""
        counts = dict.fromkeys(STATUSES, 0)
        for s in self.sessions:
            for k, n in s.counts.items():
                counts[k] = counts.get(k, 0) + n
        blobs_total = sum(s.blobs for s in self.sessions)
        failed = sum(s.failed for s in self.sessions)
        return {"sessions": len(self.sessions), "sessions_failed": sum(1 for s in self.sessions if not s.ok),
                "damaged": sum(1 for s in self.sessions if s.problems),
                "errors": sum(1 for s in self.sessions if s.error is not None), "blobs": blobs_total,
                "passed": blobs_total - failed, "failed": failed, "counts": counts,
                "stored_bytes": sum(s.stored_bytes for s in self.sessions),
                "logical_bytes": sum(s.logical_bytes for s in self.sessions)}

    def to_json(self) -> dict[str, Any]:
        """The documented JSON document."""
        return {"ok": self.ok, "jobs": self.jobs, "sessions": [s.to_json() for s in self.sessions],
                "total": self.total()}


def count_blobs(paths: Iterable[str | os.PathLike[str]]) -> int:
    """Blob rows in the given sessions (a progress total); unreadable files count 0."""
    total = 0
    for path in paths:
        try:
            with Store.open_readonly(path) as store:
                total += store.blob_count_and_size()[0]
        except LashdbError:
            continue  # verify_sessions reports this file's error; it has no rows to count
    return total


def _keep(entry: SessionVerification, exc: LashdbError, during: str) -> None:
    """File damage becomes a problem of the session; anything else is its error."""
    if is_damage(exc) and not isinstance(exc, DatabaseBusy):
        entry.problems.append(f"the database is damaged ({damage_reason(exc)}) {during}")
    else:
        entry.error = exc


def verify_session(path: str | os.PathLike[str], *, jobs: int = DEFAULT_JOBS, progress: Advance | None = None,
                   limit: int = codec.DEFAULT_DECOMPRESSION_LIMIT) -> SessionVerification:
    """Verify every blob of one session read-only; damage and errors are kept in the result."""
    entry = SessionVerification(as_target(path))

    def sink(results: list[Verification]) -> None:
        entry.add(results)
        if progress:
            progress(len(results))

    if wal_missing(entry.path):
        entry.problems.append(WAL_MISSING)
    try:
        store = Store.open_readonly(entry.path)
    except LashdbError as exc:
        _keep(entry, exc, "when opened")
        return entry
    with store:
        entry.foreign, entry.schema_version = store.foreign, _version(store)
        try:
            store.read(lambda c: _read_all(c, entry, jobs, limit, sink))
        except LashdbError as exc:
            _keep(entry, exc, f"after {entry.blobs} blob(s) were read")
    return entry


def _read_all(c: Any, entry: SessionVerification, jobs: int, limit: int,
              sink: Callable[[list[Verification]], None]) -> None:
    entry.session_id = _session_id(c)
    verify_rows(table_rows(c), jobs=jobs, limit=limit, sink=sink)
    if not entry.foreign:  # another schema's head is laid out differently; its roots are not read here
        problem = head_checkpoint_problem(c)
        if problem:
            entry.problems.append(problem)


def head_checkpoint_problem(c: Any) -> str | None:
    """Why the head's checkpoint cannot be loaded (the head undecodable, or naming a missing blob), or ``None``."""
    try:
        ref = gc.head_checkpoint_ref(session_tx(c))
    except BackendError as exc:
        return f"the session head cannot be decoded ({exc.message})"
    if ref is not None and stored_row(c, ref) is None:
        return f"the session head names checkpoint {ref}, which is missing from the blobs table"
    return None


def verify_sessions(paths: Iterable[str | os.PathLike[str]], *, jobs: int = DEFAULT_JOBS,
                    progress: Advance | None = None,
                    limit: int = codec.DEFAULT_DECOMPRESSION_LIMIT) -> VerifyReport:
    """Verify every blob of every session read-only; one session's failure does not stop the others."""
    if jobs < 1:
        raise ValueError(f"jobs must be at least 1 (got {jobs})")
    return VerifyReport(tuple(verify_session(p, jobs=jobs, progress=progress, limit=limit) for p in paths), jobs)

