"""The blob envelope codec (SPEC §4).

Contract:
- A blob row is ``hash -> content`` where ``hash`` is the lowercase hex SHA-256 of the logical
  content and ``content`` an envelope ``{descriptor: {kind, hints?}, compression, content}``.
- lashdb writes envelopes as CBOR, deterministically (fixed key order, no floats, no tags), and
  compresses with zlib through zlib-ng only for ``Compressible`` descriptors at the profile's
  threshold. It reads CBOR and upstream's MessagePack envelopes (``content`` as ``bin`` or as an
  array of integers), and rows that are neither as legacy raw blobs.
- Decompression is bounded: a stream that would inflate past the limit is refused as soon as that
  is known, without holding the output in memory.
- Every malformed input raises :class:`BlobDecodeError` (naming the hash), never a bare library
  exception; a content whose hash differs raises :class:`ChecksumMismatch`.
"""

from __future__ import annotations

import enum
import hashlib
import io
from dataclasses import dataclass
from typing import Any

import cbor2
import msgpack
from zlib_ng import zlib_ng

from .errors import BlobDecodeError, ChecksumMismatch, DecompressionLimitExceeded
from .values import READ_MAX_NESTING

KNOWN_KINDS = (
    "GenericBlob",
    "CheckpointManifest",
    "ToolState",
    "PluginSessionSnapshot",
    "ExecutionStateSnapshot",
    "LashlangModule",
    "ProcessExecutionEnv",
)
KNOWN_HINTS = ("Compressible", "InlinePreferred", "LargePayload")
COMPRESSIONS = ("None", "Zlib")
DEFAULT_DECOMPRESSION_LIMIT = 1 << 30  # 1 GiB
# Inflate in one call up to this size; past it, count first and only then materialise.
_ONE_SHOT_CAP = 64 << 20
_COUNT_CHUNK = 1 << 20

FORMAT_CBOR = "cbor"
FORMAT_MSGPACK = "msgpack"
FORMAT_RAW = "raw"

# What the third-party decoders raise on bad input; each becomes a BlobDecodeError.
_DECODE_ERRORS = (
    cbor2.CBORError,
    msgpack.exceptions.UnpackException,
    ValueError,
    TypeError,
    KeyError,
    IndexError,
    OverflowError,
    RecursionError,
    MemoryError,
    EOFError,
    zlib_ng.error,
)


class BlobProfile(str, enum.Enum):
    """When compressible blobs are compressed: never, at 4 KiB, or at 1 KiB."""

    LOW_LATENCY = "LowLatency"
    BALANCED = "Balanced"
    COMPACT = "Compact"


_THRESHOLDS = {BlobProfile.BALANCED: 4096, BlobProfile.COMPACT: 1024}


@dataclass(frozen=True)
class Descriptor:
    """What a blob is (``kind``) and how it may be stored (``hints``)."""

    kind: str
    hints: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """The envelope's ``descriptor`` map; ``hints`` omitted when empty."""
        out: dict[str, Any] = {"kind": self.kind}
        if self.hints:
            out["hints"] = list(self.hints)
        return out

    @classmethod
    def generic(cls) -> Descriptor:
        return cls("GenericBlob")

    @classmethod
    def checkpoint_manifest(cls) -> Descriptor:
        return cls("CheckpointManifest", ("Compressible",))

    @classmethod
    def tool_state(cls) -> Descriptor:
        return cls("ToolState", ("Compressible", "LargePayload"))

    @classmethod
    def plugin_session_snapshot(cls) -> Descriptor:
        return cls("PluginSessionSnapshot", ("Compressible", "LargePayload"))

    @classmethod
    def execution_state_snapshot(cls) -> Descriptor:
        return cls("ExecutionStateSnapshot", ("Compressible", "LargePayload"))

    @classmethod
    def lashlang_module(cls) -> Descriptor:
        return cls("LashlangModule", ("Compressible", "LargePayload"))

    @classmethod
    def process_execution_env(cls) -> Descriptor:
        return cls("ProcessExecutionEnv", ("Compressible",))


@dataclass(frozen=True)
class Envelope:
    """A parsed stored row: its format, descriptor and the (possibly compressed) content field."""

    format: str
    descriptor: Descriptor | None
    compression: str | None
    stored_content: bytes

    @property
    def kind(self) -> str:
        return self.descriptor.kind if self.descriptor else "raw"


@dataclass(frozen=True)
class DecodedBlob:
    """A blob's envelope plus its verified logical content."""

    envelope: Envelope
    content: bytes


def sha256_hex(data: bytes) -> str:
    """Lowercase hex SHA-256 of ``data``: a blob's content address."""
    return hashlib.sha256(data).hexdigest()


def should_compress(profile: BlobProfile, descriptor: Descriptor, size: int) -> bool:
    """True when a blob of ``size`` logical bytes is stored zlib-compressed under ``profile``."""
    if "Compressible" not in descriptor.hints:
        return False
    # A BlobProfile is its own key; converting it again costs an Enum call per blob (commit path).
    threshold = _THRESHOLDS.get(profile if type(profile) is BlobProfile else BlobProfile(profile))
    return threshold is not None and size >= threshold


# The zlib level follows the profile's intent. Balanced (the file default) puts compression on
# every commit's path: level 1 (zlib-ng's quick strategy) took 106 µs a turn on the commit
# benchmark's snapshots (CBOR of tool and plugin state, half-random execution state) against
# 270 µs at level 2 and ~700 µs at 6, storing 49% of the logical bytes against 41% and 39%.
# Compact asks for small files, so it uses zlib's default level 6, as upstream does for every
# blob. Any level inflates the same way.
COMPRESSION_LEVELS = {BlobProfile.BALANCED: 1, BlobProfile.COMPACT: 6}


def compress(data: bytes, profile: BlobProfile = BlobProfile.BALANCED) -> bytes:
    """zlib (RFC 1950) stream of ``data`` at ``profile``'s level (:data:`COMPRESSION_LEVELS`), through zlib-ng."""
    key = profile if type(profile) is BlobProfile else BlobProfile(profile)
    return zlib_ng.compress(data, COMPRESSION_LEVELS.get(key, COMPRESSION_LEVELS[BlobProfile.BALANCED]))


def inflate(data: bytes, limit: int = DEFAULT_DECOMPRESSION_LIMIT, blob_hash: str | None = None) -> bytes:
    """Inflate a complete zlib stream, refusing output longer than ``limit`` bytes."""
    try:
        d = zlib_ng.decompressobj()
        first = d.decompress(data, min(limit, _ONE_SHOT_CAP) + 1)
        if d.eof:
            if len(first) > limit:
                raise DecompressionLimitExceeded(blob_hash, limit)
            _check_tail(d, blob_hash)
            return first
        if len(first) > limit:
            raise DecompressionLimitExceeded(blob_hash, limit)
        # Large (or hostile) stream: count the rest without keeping it, then inflate for real.
        total = len(first)
        del first
        tail = d.unconsumed_tail
        while not d.eof:
            chunk = d.decompress(tail, _COUNT_CHUNK)
            total += len(chunk)
            if total > limit:
                raise DecompressionLimitExceeded(blob_hash, limit)
            tail = d.unconsumed_tail
            if not chunk and not tail:
                break
        if not d.eof:
            raise BlobDecodeError(blob_hash, "zlib stream is truncated")
        _check_tail(d, blob_hash)
        return zlib_ng.decompress(data)
    except zlib_ng.error as exc:
        raise BlobDecodeError(blob_hash, f"bad zlib stream: {exc}") from exc


def _check_tail(d: Any, blob_hash: str | None) -> None:
    if d.unused_data:
        raise BlobDecodeError(blob_hash, f"{len(d.unused_data)} bytes follow the zlib stream")


def encode_envelope(descriptor: Descriptor, content: bytes, profile: BlobProfile) -> bytes:
    """The CBOR envelope lashdb stores for ``content``; same input, same bytes."""
    if should_compress(profile, descriptor, len(content)):
        compression, stored = "Zlib", compress(content, profile)
    else:
        compression, stored = "None", bytes(content)
    return cbor2.dumps(
        {"descriptor": descriptor.to_dict(), "compression": compression, "content": stored}
    )


def _looks_cbor_map(first: int) -> bool:
    return 0xA0 <= first <= 0xBB


def _looks_msgpack_map(first: int) -> bool:
    return 0x80 <= first <= 0x8F or first in (0xDE, 0xDF)


def sniff_format(stored: bytes) -> str:
    """Which envelope format the first byte announces (``raw`` when neither)."""
    if not stored:
        return FORMAT_RAW
    if _looks_cbor_map(stored[0]):
        return FORMAT_CBOR
    if _looks_msgpack_map(stored[0]):
        return FORMAT_MSGPACK
    return FORMAT_RAW


def _cbor_loads_exact(data: bytes) -> Any:
    fp = io.BytesIO(data)
    value = cbor2.CBORDecoder(fp, max_depth=READ_MAX_NESTING).decode()
    if fp.tell() != len(data):
        raise ValueError(f"{len(data) - fp.tell()} bytes follow the CBOR item")
    return value


def _msgpack_loads(data: bytes) -> Any:
    return msgpack.unpackb(data, raw=False, strict_map_key=False)


def _as_bytes(value: Any, what: str) -> bytes:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, (list, tuple)) and all(isinstance(b, int) and 0 <= b <= 255 for b in value):
        # Upstream at schema v4 serialised Vec<u8> as an array of small integers.
        return bytes(value)
    raise TypeError(f"{what} is {type(value).__name__}, not bytes")


def _envelope_from_map(fmt: str, value: Any) -> Envelope:
    if not isinstance(value, dict):
        raise TypeError(f"envelope is {type(value).__name__}, not a map")
    for key in ("descriptor", "compression", "content"):
        if key not in value:
            raise KeyError(f"envelope has no `{key}` field")
    desc = value["descriptor"]
    if not isinstance(desc, dict) or not isinstance(desc.get("kind"), str):
        raise TypeError("descriptor is not a map with a text `kind`")
    hints = desc.get("hints", [])
    if not isinstance(hints, (list, tuple)) or not all(isinstance(h, str) for h in hints):
        raise TypeError("descriptor hints are not a list of text")
    compression = value["compression"]
    if compression not in COMPRESSIONS:
        raise ValueError(f"unknown compression {compression!r}")
    return Envelope(fmt, Descriptor(desc["kind"], tuple(hints)), compression,
                    _as_bytes(value["content"], "envelope content"))


def parse_envelope(stored: bytes, blob_hash: str | None = None) -> Envelope:
    """Parse a stored row; a row in neither envelope format is a legacy ``raw`` envelope."""
    stored = bytes(stored)
    fmt = sniff_format(stored)
    if fmt == FORMAT_RAW:
        return Envelope(FORMAT_RAW, None, None, stored)
    try:
        value = _cbor_loads_exact(stored) if fmt == FORMAT_CBOR else _msgpack_loads(stored)
        return _envelope_from_map(fmt, value)
    except _DECODE_ERRORS as exc:
        # A legacy raw row may start with a map byte; its bytes then hash to its own address.
        if blob_hash is not None and sha256_hex(stored) == blob_hash:
            return Envelope(FORMAT_RAW, None, None, stored)
        raise BlobDecodeError(blob_hash, f"bad {fmt} envelope: {_reason(exc)}") from exc


def _reason(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."


def logical_content(envelope: Envelope, limit: int = DEFAULT_DECOMPRESSION_LIMIT,
                    blob_hash: str | None = None) -> bytes:
    """The logical bytes an envelope carries (inflated when compressed)."""
    if envelope.compression == "Zlib":
        return inflate(envelope.stored_content, limit, blob_hash)
    return envelope.stored_content


def decode_blob(blob_hash: str, stored: bytes, limit: int = DEFAULT_DECOMPRESSION_LIMIT,
                verify: bool = True) -> DecodedBlob:
    """Decode a stored row to its logical content, checking it hashes to ``blob_hash``."""
    envelope = parse_envelope(stored, blob_hash)
    content = logical_content(envelope, limit, blob_hash)
    if verify:
        got = sha256_hex(content)
        if got != blob_hash:
            if envelope.format != FORMAT_RAW and sha256_hex(bytes(stored)) == blob_hash:
                # A raw row that happens to parse as an envelope: its own bytes are the content.
                raw = bytes(stored)
                return DecodedBlob(Envelope(FORMAT_RAW, None, None, raw), raw)
            raise ChecksumMismatch(blob_hash, got)
    return DecodedBlob(envelope, content)


# --- verification ---------------------------------------------------------------------------------

OK = "ok"
MISMATCH = "mismatch"
UNDECODABLE = "undecodable"
RAW_OK = "raw-ok"
RAW_MISMATCH = "raw-mismatch"
UNDECODABLE_VALUE = "undecodable-value"
# Kinds whose content is a typed value (CBOR, or MessagePack from upstream): verification decodes
# them too, so a blob that hashes right but cannot be read back is reported, not called healthy.
VALUE_KINDS = frozenset(("CheckpointManifest", "ToolState", "PluginSessionSnapshot", "ExecutionStateSnapshot"))


@dataclass(frozen=True)
class Verification:
    """Outcome of re-hashing one blob (SPEC §4): status, reason and the sizes seen."""

    blob_hash: str
    status: str
    reason: str | None
    format: str
    kind: str
    stored_bytes: int
    logical_bytes: int | None

    @property
    def ok(self) -> bool:
        return self.status in (OK, RAW_OK)


def verify_blob(blob_hash: str, stored: bytes, limit: int = DEFAULT_DECOMPRESSION_LIMIT) -> Verification:
    """Decode, inflate and re-hash one row, and decode a typed value (:data:`VALUE_KINDS`); never raises
    for a damaged row."""
    stored = bytes(stored)
    try:
        envelope = parse_envelope(stored, blob_hash)
    except BlobDecodeError as exc:
        return Verification(blob_hash, UNDECODABLE, exc.reason, sniff_format(stored), "?", len(stored), None)
    if envelope.format == FORMAT_RAW:
        got = sha256_hex(stored)
        status, reason = (RAW_OK, None) if got == blob_hash else (RAW_MISMATCH, f"raw bytes hash to {got}")
        return Verification(blob_hash, status, reason, FORMAT_RAW, "raw", len(stored), len(stored))
    try:
        content = logical_content(envelope, limit, blob_hash)
    except BlobDecodeError as exc:
        return Verification(blob_hash, UNDECODABLE, exc.reason, envelope.format, envelope.kind,
                            len(stored), None)
    got = sha256_hex(content)
    if got == blob_hash:
        if envelope.kind in VALUE_KINDS:
            try:
                decode_value(content, envelope.format, blob_hash)
            except BlobDecodeError as exc:
                return Verification(blob_hash, UNDECODABLE_VALUE, exc.reason, envelope.format, envelope.kind,
                                    len(stored), len(content))
        return Verification(blob_hash, OK, None, envelope.format, envelope.kind, len(stored), len(content))
    if sha256_hex(stored) == blob_hash:
        return Verification(blob_hash, RAW_OK, None, FORMAT_RAW, "raw", len(stored), len(stored))
    return Verification(blob_hash, MISMATCH, f"content hashes to {got}", envelope.format,
                        envelope.kind, len(stored), len(content))


# --- typed values inside blobs --------------------------------------------------------------------


def encode_value(value: Any) -> bytes:
    """CBOR bytes of a typed value: map keys in the value's own order, so the same value gives the same blob."""
    try:
        # Not canonical=True: sorting every map costs ~5x the encode on the commit path, and one
        # producer builds its values in a stable order anyway.
        return cbor2.dumps(value)
    except (cbor2.CBOREncodeError, TypeError, ValueError) as exc:
        raise TypeError(f"value cannot be stored as CBOR: {exc}") from exc


def decode_value(data: bytes, fmt: str, blob_hash: str | None = None) -> Any:
    """Decode a typed value written in ``fmt`` (CBOR by lashdb, MessagePack by upstream)."""
    try:
        if fmt == FORMAT_CBOR:
            return _cbor_loads_exact(data)
        if fmt == FORMAT_MSGPACK:
            return _msgpack_loads(data)
        # Legacy raw rows came from upstream's put_typed_blob: MessagePack first, then CBOR.
        try:
            return _msgpack_loads(data)
        except _DECODE_ERRORS:
            return _cbor_loads_exact(data)
    except _DECODE_ERRORS as exc:
        raise BlobDecodeError(blob_hash, f"bad {fmt} value: {_reason(exc)}") from exc
