"""Blob inspection for the CLI: list a session's blobs with reachability (``blob ls``), find one blob
by hash or prefix and read its content (``blob cat``); plus the helpers verification shares (CLI.md
``blob``; SPEC §4).

Contract: see :mod:`lashdb.engine.ops.verify` (read-only, foreign schemas read as far as their
``blobs`` table goes, reachability ``None`` with a note when it cannot be computed, HASH lookup rules).
Rows are read through the backend's :class:`~.ports.SessionReader` (``raw_blob_rows``: the stored bytes
whatever their type), never with SQL here.
"""

from __future__ import annotations

from lashdb.engine.base.locator import as_target, is_location

import contextlib
import json
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import apsw

from lashdb.engine.session.ports import session_tx
from lashdb.engine.session import blobs, gc
from lashdb.engine.base import codec
from lashdb.engine.base.canonical import jsonable
from lashdb.engine.base.codec import Verification
from lashdb.engine.base.files import sidecar
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
from lashdb.engine.session.store import Store
from .ports import read_meta, session_reader

MIN_HASH_PREFIX = 6
HASH_LENGTH = 64
_HEX = re.compile(r"[0-9a-f]*")


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
    where = str(path)
    return text if where in text else f"{where}: {text}"


def wal_missing(path: str | os.PathLike[str]) -> bool:
    """True when the ``-shm`` is beside the database but its ``-wal`` is not (never for a located session)."""
    if is_location(path):
        return False
    return os.path.exists(sidecar(path, "-shm")) and not os.path.exists(sidecar(path, "-wal"))


@contextlib.contextmanager
def _naming(path: str | os.PathLike[str]) -> Iterator[None]:
    """Re-raise a backend failure that does not say which file it is about as one that does."""
    try:
        yield
    except BackendError as exc:
        if isinstance(exc, (GcAborted, DatabaseBusy)) or str(path) in str(exc):
            raise
        raise DatabaseError(path, error_text(path, exc),
                            hint="run `lashdb doctor` on it" if is_damage(exc) else None) from exc


WAL_MISSING = ("its -shm is here but its -wal is not: the -wal of a live database was deleted, and "
               "commits not yet checkpointed into the database are lost")


def _session_id(c: Any) -> str | None:
    meta = read_meta(c)
    return meta.session_id if meta else None


def _version(store: Store) -> int | None:
    return store.classification.user_version if store.classification else None


def _foreign_note(store: Store) -> str:
    return (f"not computed: session schema v{_version(store)} is foreign and roots its blobs in other "
            "tables than the v4 schema this lashdb collects by")


# --- reading rows -----------------------------------------------------------------------------------


def _text(raw: Any) -> str:
    return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else ("" if raw is None else str(raw))


def table_rows(c: Any, *, ordered: bool = False) -> Iterator[tuple[str, bytes]]:
    """Every ``(hash, stored bytes)`` row; in table order unless ``ordered`` (by hash)."""
    for blob_hash, content in session_reader(c).raw_blob_rows(ordered):
        yield _text(blob_hash), b"" if content is None else content


def stored_row(c: Any, blob_hash: str) -> bytes | None:
    """The stored bytes of one row, or ``None``."""
    row = session_reader(c).raw_blob_row(blob_hash)
    if row is None:
        return None
    return b"" if row[0] is None else row[0]


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
        def read(c: Any) -> BlobListing:
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
            unreadable.append((as_target(path), exc))
            continue
        for blob_hash in found:
            matches.setdefault(blob_hash, []).append(as_target(path))
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


