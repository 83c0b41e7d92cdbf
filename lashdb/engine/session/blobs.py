"""Content-addressed blob rows of a session database.

Contract: functions here take the transaction's :class:`~.ports.SessionTx` (statements behind
:class:`~.ports.BlobRows`); the caller owns the transaction. Writes keep the first row for a hash
(equal content, one row, first envelope kept). Reads decode and verify: a missing row is ``None``; a damaged one raises a typed
:class:`BlobError` naming its hash, never returns the stored bytes as if they were content.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from lashdb.engine.base import codec
from lashdb.engine.base.codec import BlobProfile, DecodedBlob, Descriptor
from lashdb.engine.base.errors import BlobDecodeError, BlobError

from .ports import SessionTx


def put_content(tx: SessionTx, descriptor: Descriptor, content: bytes, profile: BlobProfile) -> str:
    """Store ``content`` under its SHA-256 in a CBOR envelope; return the hash."""
    content = bytes(content)
    blob_hash = codec.sha256_hex(content)
    tx.blobs.put([(blob_hash, codec.encode_envelope(descriptor, content, profile))])
    return blob_hash


def put_value(tx: SessionTx, descriptor: Descriptor, value: Any, profile: BlobProfile) -> str:
    """Store a typed value (CBOR-encoded) as a blob of ``descriptor``; return its hash."""
    return put_content(tx, descriptor, codec.encode_value(value), profile)


def get_stored(tx: SessionTx, blob_hash: str) -> bytes | None:
    """The stored row bytes (the envelope) for ``blob_hash``, or ``None``."""
    return tx.blobs.get(blob_hash)


def get_decoded(tx: SessionTx, blob_hash: str, limit: int) -> DecodedBlob | None:
    """Decode and verify one blob; ``None`` when absent."""
    stored = get_stored(tx, blob_hash)
    if stored is None:
        return None
    return codec.decode_blob(blob_hash, stored, limit)


def get_value(tx: SessionTx, blob_hash: str, limit: int) -> Any:
    """Decode a typed value blob (CBOR or MessagePack, following its envelope); ``None`` when absent."""
    decoded = get_decoded(tx, blob_hash, limit)
    if decoded is None:
        return None
    return codec.decode_value(decoded.content, decoded.envelope.format, blob_hash)


def iter_rows(tx: SessionTx, hashes: Iterable[str] | None = None) -> Iterator[tuple[str, bytes]]:
    """Yield ``(hash, stored bytes)`` for every blob (hash order) or for the given hashes."""
    if hashes is None:
        yield from tx.blobs.iter_all()
        return
    for blob_hash in hashes:
        stored = get_stored(tx, blob_hash)
        if stored is not None:
            yield blob_hash, stored


def _compressible_later(stored: bytes, profile: BlobProfile) -> codec.Envelope | None:
    """The envelope of a CBOR row stored uncompressed that ``profile`` compresses, else ``None``."""
    try:
        envelope = codec.parse_envelope(stored)
    except BlobError:
        return None  # damaged: left as it is, for `blob verify` and `doctor` to name
    if envelope.format != codec.FORMAT_CBOR or envelope.compression != "None" or envelope.descriptor is None:
        return None
    return envelope if codec.should_compress(profile, envelope.descriptor, len(envelope.stored_content)) else None


def uncompressed_hashes(tx: SessionTx, profile: BlobProfile) -> list[str]:
    """Hashes of the rows stored uncompressed that ``profile`` compresses (a commit's deferred snapshots)."""
    return [h for h, stored in tx.blobs.iter_all() if _compressible_later(stored, profile) is not None]


def compress_rows(tx: SessionTx, hashes: Iterable[str], profile: BlobProfile) -> tuple[int, int]:
    """Compress in place those of ``hashes`` still stored uncompressed that ``profile`` compresses;
    (rows rewritten, bytes saved). Each is rewritten only when its content hashes to its address and
    the compressed envelope is smaller: a blob's address and logical bytes never change."""
    rows = saved = 0
    for blob_hash in hashes:
        stored = tx.blobs.get(blob_hash)
        envelope = None if stored is None else _compressible_later(stored, profile)
        if envelope is None:
            continue
        if codec.sha256_hex(envelope.stored_content) != blob_hash:
            continue  # not its content: `blob verify` names it; compressing would hide the damage
        new = codec.encode_envelope(envelope.descriptor, envelope.stored_content, profile)
        if len(new) < len(stored) and tx.blobs.rewrite(blob_hash, stored, new):
            rows += 1
            saved += len(stored) - len(new)
    return rows, saved


def count_and_size(tx: SessionTx) -> tuple[int, int]:
    """Number of blob rows and the sum of their stored lengths."""
    return tx.blobs.count_and_size()


def hashes_with_prefix(tx: SessionTx, prefix: str) -> list[str]:
    """Blob hashes that start with ``prefix`` (lowercase hex), in order."""
    return tx.blobs.hashes_with_prefix(prefix)


@dataclass(frozen=True)
class BlobInfo:
    """One blob as ``blob ls`` shows it; ``error`` is set when the envelope cannot be read."""

    blob_hash: str
    format: str
    kind: str
    hints: tuple[str, ...]
    compression: str | None
    stored_bytes: int
    logical_bytes: int | None
    error: str | None = None


def describe(blob_hash: str, stored: bytes, limit: int, *, measure: bool = True) -> BlobInfo:
    """Describe a stored row without raising; compressed rows are inflated only if ``measure``."""
    try:
        env = codec.parse_envelope(stored, blob_hash)
    except BlobError as exc:
        reason = exc.reason if isinstance(exc, BlobDecodeError) else str(exc)
        return BlobInfo(blob_hash, codec.sniff_format(stored), "?", (), None, len(stored), None, reason)
    hints = env.descriptor.hints if env.descriptor else ()
    logical: int | None = len(env.stored_content)
    error = None
    if env.compression == "Zlib":
        logical = None
        if measure:
            try:
                logical = len(codec.inflate(env.stored_content, limit, blob_hash))
            except BlobDecodeError as exc:
                error = exc.reason
    return BlobInfo(blob_hash, env.format, env.kind, hints, env.compression, len(stored), logical, error)
