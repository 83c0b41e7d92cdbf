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
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import apsw
from zlib_ng import zlib_ng

from lashdb.engine.session import blobs, gc
from lashdb.engine.session.ports import session_tx
from lashdb.engine.base import codec
from lashdb.engine.base.codec import Verification
from lashdb.engine.base.canonical import jsonable  # noqa: F401  (re-exported: verify.jsonable is public)
from lashdb.engine.sqlite.connection import sidecar
from lashdb.engine.base.errors import (
    BackendError,
    BlobError,
    BlobNotFound,
    DatabaseBusy,
    DatabaseError,
    GcAborted,
    InvalidBlobHash,
    LashdbError,
    LookupFailed,
    one_line,
)
from lashdb.engine.sqlite.session_read import read_meta
from lashdb.engine.session.store import Store

MIN_HASH_PREFIX = 6
HASH_LENGTH = 64
_HEX = re.compile(r"[0-9a-f]*")

# Measured on 2 cores: one thread met the bare loop (0.87-1.07x); two cost ~35% more CPU in GIL
# hand-offs around inflate and gained nothing. More jobs stay available with --jobs.
DEFAULT_JOBS = 1
"""Worker threads for verification: 1 (the calling thread), on purpose; see the comment above."""

# A batch handed to one worker: up to this many stored bytes or rows, whichever comes first.
_BATCH_BYTES = 2 << 20
_BATCH_ROWS = 256

Advance = Callable[[int], None]
"""``advance(n)``: ``n`` more blobs were verified."""


class ReachabilityUnknown(LashdbError):
    """Reachability of a session's blobs cannot be computed, so unreachable ones cannot be listed."""

    def __init__(self, path: os.PathLike[str] | str, note: str):
        self.path = os.fspath(path)
        self.note = note
        super().__init__(f"{self.path}: cannot tell which blobs are unreachable: {note}",
                         hint="list every blob without --unreachable")


class BlobReadFailed(BlobError):
    """A blob of a named database cannot be decoded or does not match its hash."""

    def __init__(self, path: os.PathLike[str] | str, cause: BlobError):
        self.path = os.fspath(path)
        self.cause = cause
        super().__init__(cause.blob_hash, f"{self.path}: {cause}", hint=cause.hint)


# --- small helpers ----------------------------------------------------------------------------------


def looks_like_text(data: bytes) -> bool:
    """True when ``data`` is UTF-8 without NUL or other control bytes (tab, newline, CR, ESC allowed)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return not any(ord(ch) < 32 and ch not in "\t\n\r\f\b\x1b" or ch == "\x7f" for ch in text)


def is_damage(exc: BaseException) -> bool:
    """True when ``exc`` (or what caused it) is SQLite reporting the file malformed (SQLITE_CORRUPT):
    the file is a database, damaged, rather than missing, foreign or not SQLite at all."""
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        if isinstance(cur, apsw.CorruptError):
            return True
        seen.add(id(cur))
        cur = cur.__cause__ or cur.__context__
    return False


def damage_reason(exc: BaseException) -> str:
    """SQLite's own words for a damaged file (``database disk image is malformed``)."""
    cur: BaseException | None = exc
    while cur is not None and not isinstance(cur, apsw.CorruptError):
        cur = cur.__cause__ or cur.__context__
    return " ".join(str(cur or exc).split())


def error_text(path: str | os.PathLike[str], exc: BaseException) -> str:
    """One line naming ``path`` and what went wrong (errors from SQLite do not always name the file)."""
    text = one_line(exc)
    where = os.fspath(path)
    return text if where in text else f"{where}: {text}"


def wal_missing(path: str | os.PathLike[str]) -> bool:
    """True when the ``-shm`` is beside the database but its ``-wal`` is not."""
    return os.path.exists(sidecar(path, "-shm")) and not os.path.exists(sidecar(path, "-wal"))


@contextlib.contextmanager
def _naming(path: str | os.PathLike[str]) -> Iterator[None]:
    """Re-raise a backend failure that does not say which file it is about as one that does."""
    try:
        yield
    except BackendError as exc:
        if isinstance(exc, (GcAborted, DatabaseBusy)) or os.fspath(path) in str(exc):
            raise
        raise DatabaseError(path, error_text(path, exc),
                            hint="run `lashdb doctor` on it" if is_damage(exc) else None) from exc


WAL_MISSING = ("its -shm is here but its -wal is not: the -wal of a live database was deleted, and "
               "commits not yet checkpointed into the database are lost")


def _session_id(c: apsw.Connection) -> str | None:
    meta = read_meta(c)
    return meta.session_id if meta else None


def _version(store: Store) -> int | None:
    return store.classification.user_version if store.classification else None


def _foreign_note(store: Store) -> str:
    return (f"not computed: session schema v{_version(store)} is foreign and roots its blobs in other "
            "tables than the v4 schema this lashdb collects by")


# --- reading rows -----------------------------------------------------------------------------------


# The columns are declared TEXT and BLOB, but SQLite keeps whatever type was written: a damaged or
# hand-edited row may hold TEXT that is not UTF-8 (which apsw would refuse to fetch), a number or
# NULL. CAST(… AS BLOB) hands over the stored bytes whatever they are (a no-op for a BLOB).
_ROWS = "SELECT CAST(hash AS BLOB), CAST(content AS BLOB) FROM blobs"


def _text(raw: Any) -> str:
    return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else ("" if raw is None else str(raw))


def table_rows(c: apsw.Connection, *, ordered: bool = False) -> Iterator[tuple[str, bytes]]:
    """Every ``(hash, stored bytes)`` row; in table order unless ``ordered`` (by hash)."""
    # Table order by default: a scan reads the pages front to back, where ORDER BY hash walks the
    # primary-key index and fetches each row from wherever it lies.
    for blob_hash, content in c.execute(_ROWS + (" ORDER BY hash" if ordered else "")):
        yield _text(blob_hash), b"" if content is None else content


def stored_row(c: apsw.Connection, blob_hash: str) -> bytes | None:
    """The stored bytes of one row, or ``None``."""
    for (content,) in c.execute("SELECT CAST(content AS BLOB) FROM blobs WHERE hash = ?", (blob_hash,)):
        return b"" if content is None else content
    return None


# --- blob ls ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BlobRow:
    """One blob as ``blob ls`` shows it."""

    blob_hash: str
    kind: str
    hints: tuple[str, ...]
    compression: str | None
    stored_bytes: int
    logical_bytes: int | None
    reachable: bool | None
    reachable_note: str | None
    format: str
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The documented JSON object."""
        return {"hash": self.blob_hash, "kind": self.kind, "hints": list(self.hints),
                "compression": self.compression, "stored_bytes": self.stored_bytes,
                "logical_bytes": self.logical_bytes, "reachable": self.reachable,
                "reachable_note": self.reachable_note, "format": self.format, "error": self.error}


@dataclass(frozen=True)
class BlobListing:
    """A session's blobs (filtered as asked) and how reachability was decided."""

    path: Path
    session_id: str | None
    foreign: bool
    schema_version: int | None
    root_count: int | None
    reachable_note: str | None
    total_count: int
    rows: tuple[BlobRow, ...]

    def to_json(self) -> dict[str, Any]:
        """The documented JSON object."""
        return {"path": str(self.path), "session_id": self.session_id, "foreign": self.foreign,
                "schema_version": self.schema_version, "root_count": self.root_count,
                "reachable_note": self.reachable_note, "total_count": self.total_count,
                "blobs": [r.to_json() for r in self.rows]}


def list_blobs(path: str | os.PathLike[str], *, kind: str | None = None, unreachable_only: bool = False,
               limit: int = codec.DEFAULT_DECOMPRESSION_LIMIT) -> BlobListing:
    """Every blob of one session with kind, hints, sizes, format and reachability; read-only."""
    with _naming(path), Store.open_readonly(path) as store:
        def read(c: apsw.Connection) -> BlobListing:
            reachable, roots, note = None, None, None
            if store.foreign:
                note = _foreign_note(store)
            else:
                try:
                    found = gc.find_reachable_objects(session_tx(c), limit)
                    reachable, roots = found.reachable, found.root_count
                except BackendError as exc:  # GcAborted (undecodable live manifest) or a damaged head
                    note = "not computed: " + " ".join(str(exc).split())
            if unreachable_only and reachable is None:
                raise ReachabilityUnknown(store.path, note or "unknown")
            rows, total = [], 0
            for blob_hash, stored in table_rows(c, ordered=True):
                total += 1
                if unreachable_only and blob_hash in reachable:
                    continue
                info = blobs.describe(blob_hash, stored, limit)
                if kind is not None and info.kind.lower() != kind.lower():
                    continue
                rows.append(BlobRow(blob_hash, info.kind, info.hints, info.compression, info.stored_bytes,
                                    info.logical_bytes, None if reachable is None else blob_hash in reachable,
                                    note, info.format, info.error))
            return BlobListing(Path(store.path), _session_id(c), store.foreign, _version(store), roots, note,
                               total, tuple(rows))
        return store.read(read)


# --- blob cat ---------------------------------------------------------------------------------------


def normalize_hash(query: str) -> str:
    """A HASH argument as lowercase hex of 6 to 64 digits; otherwise :class:`InvalidBlobHash`."""
    text = query.strip().lower()
    if not text:
        raise InvalidBlobHash(query, "it is empty")
    if not _HEX.fullmatch(text):
        bad = sorted({ch for ch in text if ch not in "0123456789abcdef"})
        raise InvalidBlobHash(query, "it has non-hex characters " + " ".join(repr(ch) for ch in bad[:5]))
    if len(text) > HASH_LENGTH:
        raise InvalidBlobHash(query, f"it has {len(text)} digits; a SHA-256 hash has {HASH_LENGTH}")
    if len(text) < MIN_HASH_PREFIX:
        raise InvalidBlobHash(query, f"a prefix needs at least {MIN_HASH_PREFIX} hex digits (got {len(text)})")
    return text


@dataclass(frozen=True)
class BlobLocation:
    """Where a HASH was found: the full hash, the database holding it, and other databases that do too."""

    blob_hash: str
    path: Path
    also_in: tuple[Path, ...] = ()


def find_blob(query: str, paths: Sequence[str | os.PathLike[str]], *, where: str | None = None,
              skip_unreadable: bool = False) -> BlobLocation:
    """The one blob a hash or unique prefix names among ``paths`` (``where`` describes them in errors)."""
    prefix = normalize_hash(query)
    matches: dict[str, list[Path]] = {}
    unreadable: list[tuple[Path, LashdbError]] = []
    for path in paths:
        try:
            with _naming(path), Store.open_readonly(path) as store:
                found = store.snapshot(lambda tx: blobs.hashes_with_prefix(tx, prefix))
        except LashdbError as exc:
            if not skip_unreadable:
                raise
            unreadable.append((Path(path), exc))
            continue
        for blob_hash in found:
            matches.setdefault(blob_hash, []).append(Path(path))
    if len(matches) == 1:
        (blob_hash, holders), = matches.items()
        return BlobLocation(blob_hash, holders[0], tuple(holders[1:]))
    if len(matches) > 1:
        listed = [f"{h} ({holders[0].name}{f' +{len(holders) - 1}' if len(holders) > 1 else ''})"
                  for h, holders in sorted(matches.items())]
        raise LookupFailed(query, f"blob prefix `{prefix}` matches {len(matches)} blobs: "
                           + ", ".join(listed[:10]) + (", …" if len(listed) > 10 else ""),
                           listed, hint="type more of the hash")
    scope = where or f"{len(paths)} database(s)"
    skipped = ""
    if unreadable:
        skipped = (f"; {len(unreadable)} could not be read: "
                   + ", ".join(f"{p.name} ({' '.join(str(e).split())})" for p, e in unreadable[:3]))
    raise LookupFailed(query, f"no blob `{prefix}` in {scope}{skipped}", [],
                       hint="list blobs with `lashdb blob ls SESSION`")


@dataclass(frozen=True)
class _Row:
    stored: bytes
    session_id: str | None
    foreign: bool
    schema_version: int | None


def _stored(location: BlobLocation) -> _Row:
    with _naming(location.path), Store.open_readonly(location.path) as store:
        stored, session_id = store.read(lambda c: (stored_row(c, location.blob_hash), _session_id(c)))
        foreign, version = store.foreign, _version(store)
    if stored is None:
        raise BlobNotFound(location.blob_hash, os.fspath(location.path))
    return _Row(stored, session_id, foreign, version)


@dataclass(frozen=True)
class BlobContent:
    """A blob's envelope and its verified logical content."""

    path: Path
    blob_hash: str
    envelope: codec.Envelope
    content: bytes
    foreign: bool
    schema_version: int | None


def read_blob(location: BlobLocation, limit: int = codec.DEFAULT_DECOMPRESSION_LIMIT) -> BlobContent:
    """The verified logical content of one blob; a damaged or altered row raises :class:`BlobReadFailed`."""
    row = _stored(location)
    try:
        decoded = codec.decode_blob(location.blob_hash, row.stored, limit)
    except BlobError as exc:
        raise BlobReadFailed(location.path, exc) from exc
    return BlobContent(location.path, location.blob_hash, decoded.envelope, decoded.content, row.foreign,
                       row.schema_version)


@dataclass(frozen=True)
class BlobEnvelope:
    """Envelope metadata of one blob and its verification outcome (a damaged row is described, not raised)."""

    location: BlobLocation
    session_id: str | None
    foreign: bool
    schema_version: int | None
    info: blobs.BlobInfo
    check: Verification

    def to_json(self) -> dict[str, Any]:
        """The documented JSON object."""
        status = f"foreign v{self.schema_version}" if self.foreign else "ok"
        return {"hash": self.location.blob_hash, "path": str(self.location.path), "session_id": self.session_id,
                "status": status, "foreign": self.foreign, "schema_version": self.schema_version,
                "format": self.info.format, "kind": self.info.kind, "hints": list(self.info.hints),
                "compression": self.info.compression, "stored_bytes": self.info.stored_bytes,
                "logical_bytes": self.check.logical_bytes, "verification": self.check.status,
                "reason": self.check.reason, "also_in": [str(p) for p in self.location.also_in]}


def blob_envelope(location: BlobLocation, limit: int = codec.DEFAULT_DECOMPRESSION_LIMIT) -> BlobEnvelope:
    """The envelope metadata of one blob, with its verification outcome."""
    row = _stored(location)
    info = blobs.describe(location.blob_hash, row.stored, limit, measure=False)
    return BlobEnvelope(location, row.session_id, row.foreign, row.schema_version, info,
                        codec.verify_blob(location.blob_hash, row.stored, limit))


def decode_content(content: bytes, envelope_format: str, blob_hash: str | None = None) -> tuple[str, Any]:
    """Decode logical content as JSON text, CBOR or MessagePack; return ``(format, JSON-safe value)``."""
    try:
        return "json", json.loads(content.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        pass
    order = [codec.FORMAT_MSGPACK, codec.FORMAT_CBOR] if envelope_format == codec.FORMAT_MSGPACK \
        else [codec.FORMAT_CBOR, codec.FORMAT_MSGPACK]
    for fmt in order:
        try:
            return fmt, jsonable(codec.decode_value(content, fmt, blob_hash))
        except BlobError:
            continue
    raise BlobError(blob_hash, f"blob {blob_hash}: content is not JSON, CBOR or MessagePack "
                               f"({len(content)} bytes)", hint="print it as it is, without --decode")


# --- blob verify ------------------------------------------------------------------------------------


# Output chunk of the streaming inflate: small enough to stay in cache and be reused by malloc
# (a whole multi-megabyte blob would be a fresh mmap, page-faulted in, for every row).
_INFLATE_CHUNK = 256 << 10


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


def verify_one(blob_hash: str, stored: bytes, limit: int = codec.DEFAULT_DECOMPRESSION_LIMIT) -> Verification:
    """:func:`codec.verify_blob`'s outcome for one row. The common case, an envelope of opaque bytes
    whose content hashes to its address, is checked by a streaming inflate; typed values (which must
    also decode) and anything else are left to :func:`codec.verify_blob`, so every other outcome and
    its reason are the codec's own."""
    try:
        envelope = codec.parse_envelope(stored, blob_hash)
    except BlobError:
        return codec.verify_blob(blob_hash, stored, limit)
    if envelope.format != codec.FORMAT_RAW and envelope.kind not in codec.VALUE_KINDS:
        size = _hashes_to(blob_hash, envelope, limit)
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
    entry = SessionVerification(Path(os.fspath(path)))

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


def _read_all(c: apsw.Connection, entry: SessionVerification, jobs: int, limit: int,
              sink: Callable[[list[Verification]], None]) -> None:
    entry.session_id = _session_id(c)
    verify_rows(table_rows(c), jobs=jobs, limit=limit, sink=sink)
    if not entry.foreign:  # another schema's head is laid out differently; its roots are not read here
        problem = head_checkpoint_problem(c)
        if problem:
            entry.problems.append(problem)


def head_checkpoint_problem(c: apsw.Connection) -> str | None:
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
