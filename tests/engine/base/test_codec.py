"""The blob envelope codec (SPEC §4): exact CBOR bytes, the compression decision at every profile
threshold, round trips of both envelope formats, bounded inflate, and hostile input.

Broad fuzzing lives in test_fuzz.py; the properties here are about correctness, with modest
example counts so the file runs in a few seconds.
"""

from __future__ import annotations

import hashlib
import json
import random
import subprocess
import sys
import textwrap
import zlib

import cbor2
import msgpack
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from zlib_ng import zlib_ng

from lashdb.engine import codec
from lashdb.engine.codec import BlobProfile, Descriptor
from lashdb.engine.errors import BlobDecodeError, ChecksumMismatch, DecompressionLimitExceeded, LashdbError

PROPS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# SPEC §4 compression thresholds, by profile (LowLatency never compresses).
THRESHOLD = {BlobProfile.LOW_LATENCY: None, BlobProfile.BALANCED: 4096, BlobProfile.COMPACT: 1024}

STANDARD = [
    Descriptor.generic(), Descriptor.checkpoint_manifest(), Descriptor.tool_state(),
    Descriptor.plugin_session_snapshot(), Descriptor.execution_state_snapshot(),
    Descriptor.lashlang_module(), Descriptor.process_execution_env(),
]
OTHERS = [Descriptor("CheckpointComponent", ("Compressible", "LargePayload")),
          Descriptor("GenericBlob", ("InlinePreferred",))]

UNDECODED = {"undecodable", "mismatch", "raw-mismatch"}


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def expected_compression(descriptor: Descriptor, size: int, profile: BlobProfile) -> str:
    threshold = THRESHOLD[profile]
    if "Compressible" in descriptor.hints and threshold is not None and size >= threshold:
        return "Zlib"
    return "None"


def msgpack_envelope(kind: str, content: bytes, *, hints=(), compression="None", int_array=False) -> bytes:
    """An upstream-style envelope: a MessagePack map with named fields; content as bin or int array."""
    descriptor = {"kind": kind}
    if hints:
        descriptor["hints"] = list(hints)
    stored = zlib.compress(content) if compression == "Zlib" else content
    return msgpack.packb({"descriptor": descriptor, "compression": compression,
                          "content": list(stored) if int_array else stored}, use_bin_type=True)


# --- what lashdb writes ----------------------------------------------------------------------------


def test_envelope_bytes_are_the_cbor_map_of_spec_section_4():
    stored = codec.encode_envelope(Descriptor.generic(), b"hi", BlobProfile.BALANCED)
    assert stored == (b"\xa3"
                      b"\x6adescriptor" b"\xa1" b"\x64kind" b"\x6bGenericBlob"
                      b"\x6bcompression" b"\x64None"
                      b"\x67content" b"\x42hi")
    hinted = codec.encode_envelope(Descriptor.checkpoint_manifest(), b"", BlobProfile.COMPACT)
    assert hinted == (b"\xa3"
                      b"\x6adescriptor" b"\xa2" b"\x64kind" b"\x72CheckpointManifest"
                      b"\x65hints" b"\x81" b"\x6cCompressible"
                      b"\x6bcompression" b"\x64None"
                      b"\x67content" b"\x40")


def test_compressed_envelope_is_rfc1950_zlib():
    content = b"lash " * 1000  # 5000 bytes, over the Balanced threshold
    stored = codec.encode_envelope(Descriptor.tool_state(), content, BlobProfile.BALANCED)
    value = cbor2.loads(stored)
    assert list(value) == ["descriptor", "compression", "content"]
    assert value["descriptor"] == {"kind": "ToolState", "hints": ["Compressible", "LargePayload"]}
    assert value["compression"] == "Zlib"
    assert value["content"][:1] == b"\x78"  # zlib header (RFC 1950)
    assert zlib.decompress(value["content"]) == content  # any zlib reader can inflate it
    assert value["content"] == codec.compress(content)  # same input, same stream
    assert len(value["content"]) < 100


def test_each_profile_compresses_at_its_level():
    import zlib_ng.zlib_ng as zlib_ng

    content = b"".join(b'{"tool_%d": "alpha beta gamma %d"},' % (i, i * 7919 % 1000) for i in range(600))
    balanced = cbor2.loads(codec.encode_envelope(Descriptor.tool_state(), content, BlobProfile.BALANCED))["content"]
    compact = cbor2.loads(codec.encode_envelope(Descriptor.tool_state(), content, BlobProfile.COMPACT))["content"]
    assert balanced == zlib_ng.compress(content, 1) and compact == zlib_ng.compress(content, 6)
    assert len(compact) < len(balanced) < len(content) // 3
    assert zlib.decompress(balanced) == zlib.decompress(compact) == content
    assert codec.compress(content) == balanced and codec.compress(content, BlobProfile.COMPACT) == compact


@pytest.mark.parametrize("size", [1023, 1024, 1025, 4095, 4096, 4097])
@pytest.mark.parametrize("profile", list(BlobProfile))
@pytest.mark.parametrize("descriptor", [Descriptor.checkpoint_manifest(), Descriptor.generic()],
                         ids=["compressible", "not-compressible"])
def test_compression_choice_at_each_threshold(size, profile, descriptor):
    # Random (incompressible) bytes: the choice follows hints and size only, not the ratio.
    content = random.Random(size).randbytes(size)
    want = {
        (True, BlobProfile.BALANCED): size >= 4096,
        (True, BlobProfile.COMPACT): size >= 1024,
    }.get(("Compressible" in descriptor.hints, profile), False)
    stored = codec.encode_envelope(descriptor, content, profile)
    envelope = codec.parse_envelope(stored, sha(content))
    assert envelope.compression == ("Zlib" if want else "None")
    assert codec.should_compress(profile, descriptor, size) is want
    assert (envelope.stored_content == content) is not want
    assert codec.decode_blob(sha(content), stored).content == content


# --- round trips -----------------------------------------------------------------------------------

sizes = st.one_of(st.integers(0, 5000), st.sampled_from([1023, 1024, 1025, 4095, 4096, 4097]))
contents = st.builds(lambda pattern, n: (pattern * (n // len(pattern) + 1))[:n],
                     st.binary(min_size=1, max_size=48), sizes)


@PROPS
@given(content=contents, descriptor=st.sampled_from(STANDARD + OTHERS), profile=st.sampled_from(list(BlobProfile)))
def test_cbor_round_trip_under_every_profile(content, descriptor, profile):
    stored = codec.encode_envelope(descriptor, content, profile)
    assert stored == codec.encode_envelope(descriptor, bytes(content), profile)  # deterministic
    blob_hash = sha(content)
    envelope = codec.parse_envelope(stored, blob_hash)
    assert envelope.format == "cbor" and envelope.descriptor == descriptor
    assert envelope.compression == expected_compression(descriptor, len(content), profile)
    if envelope.compression == "None":
        assert envelope.stored_content == content
    assert ("hints" in cbor2.loads(stored)["descriptor"]) is bool(descriptor.hints)
    decoded = codec.decode_blob(blob_hash, stored)
    assert decoded.content == content and decoded.envelope == envelope
    check = codec.verify_blob(blob_hash, stored)
    # A typed-value kind must also decode (issue 10): arbitrary bytes under it are not healthy.
    expected = "ok"
    if descriptor.kind in codec.VALUE_KINDS:
        try:
            codec.decode_value(content, "cbor", blob_hash)
        except BlobDecodeError:
            expected = "undecodable-value"
    assert (check.status, check.format, check.kind) == (expected, "cbor", descriptor.kind)
    assert (check.stored_bytes, check.logical_bytes) == (len(stored), len(content))


@PROPS
@given(content=contents, kind=st.sampled_from(["CheckpointManifest", "CheckpointComponent", "GenericBlob"]),
       compression=st.sampled_from(["None", "Zlib"]), int_array=st.booleans())
def test_upstream_msgpack_envelopes_decode(content, kind, compression, int_array):
    stored = msgpack_envelope(kind, content, hints=("Compressible",), compression=compression, int_array=int_array)
    decoded = codec.decode_blob(sha(content), stored)
    assert decoded.content == content
    assert (decoded.envelope.format, decoded.envelope.kind, decoded.envelope.compression) == (
        "msgpack", kind, compression)
    assert decoded.envelope.descriptor.hints == ("Compressible",)
    expected = "ok"
    if kind in codec.VALUE_KINDS:  # a typed value must also decode (issue 10)
        try:
            codec.decode_value(content, "msgpack")
        except BlobDecodeError:
            expected = "undecodable-value"
    assert codec.verify_blob(sha(content), stored).status == expected


def test_v4_int_array_content_is_read():
    # How upstream at schema v4 may have written Vec<u8>: a MessagePack array of integers (W26).
    stored = msgpack.packb({"descriptor": {"kind": "CheckpointManifest", "hints": ["Compressible"]},
                            "compression": "None", "content": [0, 1, 127, 128, 255]})
    assert stored[0] == 0x83 and b"\x95\x00\x01\x7f\xcc\x80\xcc\xff" in stored
    decoded = codec.decode_blob(sha(bytes([0, 1, 127, 128, 255])), stored)
    assert decoded.content == bytes([0, 1, 127, 128, 255]) and decoded.envelope.format == "msgpack"


def test_legacy_raw_rows_are_their_own_content():
    for raw, wrong_hash_status in ((b"plain legacy bytes", "raw-mismatch"), (b"", "raw-mismatch"),
                                   (b"\x83 starts like a fixmap but is not one", "undecodable")):
        decoded = codec.decode_blob(sha(raw), raw)
        assert decoded.content == raw and decoded.envelope.format == "raw"
        assert codec.verify_blob(sha(raw), raw).status == "raw-ok"
        assert codec.verify_blob("0" * 64, raw).status == wrong_hash_status


def test_typed_values_are_cbor_and_read_from_msgpack():
    assert codec.encode_value({"a": [1, 2]}) == bytes.fromhex("a1616182" "0102")
    value = {"turn_state": {"turn_index": 3}, "tool_state_ref": "ab" * 32, "bytes": b"\x00\xff"}
    assert codec.encode_value(value) == codec.encode_value(dict(value))
    assert codec.decode_value(codec.encode_value(value), "cbor") == value
    assert codec.decode_value(msgpack.packb(value, use_bin_type=True), "msgpack") == value
    with pytest.raises(BlobDecodeError):
        codec.decode_value(b"\xa1", "cbor", "f" * 64)


# --- damaged and hostile input ---------------------------------------------------------------------

map_prefixed = st.builds(lambda first, rest: bytes([first]) + rest,
                         st.sampled_from([*range(0xA0, 0xBC), *range(0x80, 0x90), 0xDE, 0xDF]),
                         st.binary(max_size=200))
hashes = st.one_of(st.just("0" * 64), st.text("0123456789abcdef", min_size=64, max_size=64))


@PROPS
@given(data=st.one_of(st.binary(max_size=200), map_prefixed), blob_hash=hashes)
def test_random_bytes_raise_only_lashdb_errors(data, blob_hash):
    try:
        decoded = codec.decode_blob(blob_hash, data)
    except (BlobDecodeError, ChecksumMismatch) as exc:
        assert exc.blob_hash == blob_hash
    else:
        assert sha(decoded.content) == blob_hash
    try:
        codec.parse_envelope(data, blob_hash)
    except BlobDecodeError as exc:
        assert blob_hash in str(exc)
    check = codec.verify_blob(blob_hash, data)  # never raises
    assert check.status in {"ok", "raw-ok"} | UNDECODED and check.ok is (check.status in {"ok", "raw-ok"})


envelopes = st.one_of(
    st.builds(codec.encode_envelope, st.sampled_from(STANDARD), contents, st.sampled_from(list(BlobProfile))),
    st.builds(lambda c, z, a: msgpack_envelope("ToolState", c, compression=z, int_array=a),
              contents, st.sampled_from(["None", "Zlib"]), st.booleans()),
)


def _logical(stored: bytes) -> bytes:
    envelope = codec.parse_envelope(stored)
    return codec.logical_content(envelope)


@PROPS
@given(stored=envelopes, data=st.data())
def test_truncated_envelopes_are_refused(stored, data):
    blob_hash = sha(_logical(stored))
    # (Cut 0 leaves b"": a legacy raw row, which is the valid empty blob when the content was empty.)
    cut = data.draw(st.integers(1, len(stored) - 1))
    # A prefix that is itself the logical content (a one-byte content b"\xa3" cut after the map
    # header b"\xa3") is a valid legacy raw row of that very content: nothing to refuse.
    assume(stored[:cut] != _logical(stored))
    with pytest.raises((BlobDecodeError, ChecksumMismatch)):
        codec.decode_blob(blob_hash, stored[:cut])
    assert codec.verify_blob(blob_hash, stored[:cut]).status in UNDECODED


@PROPS
@given(stored=envelopes, data=st.data())
def test_flipped_bytes_never_yield_wrong_content(stored, data):
    content = _logical(stored)
    at = data.draw(st.integers(0, len(stored) - 1))
    damaged = bytearray(stored)
    damaged[at] ^= data.draw(st.integers(1, 255))
    try:
        assert codec.decode_blob(sha(content), bytes(damaged)).content == content
    except (BlobDecodeError, ChecksumMismatch):
        pass
    codec.verify_blob(sha(content), bytes(damaged))


HOSTILE = {
    "cbor-deep-nesting": b"\xa1" + b"\x81" * 50_000 + b"\x00",
    "msgpack-deep-nesting": b"\x81" + b"\x91" * 50_000 + b"\x00",
    "cbor-claims-2^64-byte-string": b"\xa1\x5b" + b"\xff" * 8,
    "cbor-claims-huge-map": b"\xbb" + b"\xff" * 8,
    "msgpack-claims-4GiB-bin": b"\x81\xc6\xff\xff\xff\xff",
    "cbor-bad-datetime-tag": b"\xa1\x00\xc1\x78\x01a",
    "cbor-array-as-map-key": b"\xa1\x81\x00\x00",
    "cbor-trailing-bytes": codec.encode_envelope(Descriptor.generic(), b"x", BlobProfile.BALANCED) + b"\x00",
    "cbor-text-content": cbor2.dumps({"descriptor": {"kind": "GenericBlob"}, "compression": "None", "content": "x"}),
    "cbor-unknown-compression": cbor2.dumps({"descriptor": {"kind": "GenericBlob"}, "compression": "Gzip",
                                             "content": b"x"}),
    "cbor-missing-content": cbor2.dumps({"descriptor": {"kind": "GenericBlob"}, "compression": "None"}),
    "cbor-kind-not-text": cbor2.dumps({"descriptor": {"kind": 7}, "compression": "None", "content": b"x"}),
    "cbor-hints-not-list": cbor2.dumps({"descriptor": {"kind": "ToolState", "hints": "Compressible"},
                                        "compression": "None", "content": b"x"}),
    "msgpack-int-over-255": msgpack.packb({"descriptor": {"kind": "GenericBlob"}, "compression": "None",
                                           "content": [1, 256]}),
    "zlib-bad-header": cbor2.dumps({"descriptor": {"kind": "GenericBlob"}, "compression": "Zlib",
                                    "content": b"\x00\x01\x02\x03"}),
    "zlib-truncated": cbor2.dumps({"descriptor": {"kind": "GenericBlob"}, "compression": "Zlib",
                                   "content": zlib.compress(b"x" * 5000)[:-6]}),
    "zlib-trailing-garbage": cbor2.dumps({"descriptor": {"kind": "GenericBlob"}, "compression": "Zlib",
                                          "content": zlib.compress(b"x" * 5000) + b"junk"}),
}


@pytest.mark.parametrize("stored", HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_rows_are_typed_errors(stored):
    with pytest.raises(BlobDecodeError) as err:
        codec.decode_blob("a" * 64, stored)
    assert err.value.blob_hash == "a" * 64 and "a" * 64 in str(err.value)
    check = codec.verify_blob("a" * 64, stored)
    assert check.status == "undecodable" and check.reason


# --- bounded decompression -------------------------------------------------------------------------


def test_inflate_limit_is_exact():
    content = bytes(10_000)
    stream = zlib.compress(content)
    assert codec.inflate(stream, limit=10_000) == content
    with pytest.raises(DecompressionLimitExceeded) as err:
        codec.inflate(stream, limit=9_999, blob_hash="c" * 64)
    assert err.value.limit == 9_999 and err.value.blob_hash == "c" * 64
    stored = codec.encode_envelope(Descriptor.checkpoint_manifest(), content, BlobProfile.COMPACT)
    assert codec.decode_blob(sha(content), stored, limit=10_000).content == content
    with pytest.raises(DecompressionLimitExceeded):
        codec.decode_blob(sha(content), stored, limit=9_999)
    assert codec.verify_blob(sha(content), stored, limit=9_999).status == "undecodable"


def test_inflate_limit_past_the_one_shot_buffer():
    size = (65 << 20) + 3  # beyond the first inflate call's output cap: the counting path decides
    compressor = zlib_ng.compressobj()
    stream = compressor.compress(bytes(size)) + compressor.flush()
    assert len(codec.inflate(stream, limit=size)) == size
    with pytest.raises(DecompressionLimitExceeded):
        codec.inflate(stream, limit=size - 1)
    with pytest.raises(BlobDecodeError, match="truncated"):
        codec.inflate(stream[: len(stream) // 2], limit=size)


_BOMB = textwrap.dedent("""
    import json, resource, time
    import cbor2
    from zlib_ng import zlib_ng
    from lashdb.engine import codec
    from lashdb.engine.errors import DecompressionLimitExceeded

    # 1 GiB + 1 MiB of zeros, compressed a MiB at a time: the test never holds the output.
    compressor = zlib_ng.compressobj(6)
    zeros = bytes(1 << 20)
    stream = b"".join([compressor.compress(zeros) for _ in range(1025)] + [compressor.flush()])
    stored = cbor2.dumps({"descriptor": {"kind": "ToolState", "hints": ["Compressible"]},
                          "compression": "Zlib", "content": stream})
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.monotonic()
    outcome = None
    try:
        codec.decode_blob("b" * 64, stored)
    except DecompressionLimitExceeded as exc:
        outcome = {"refused": True, "limit": exc.limit, "hash": exc.blob_hash}
    elapsed = time.monotonic() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    verify = codec.verify_blob("b" * 64, stored)
    print(json.dumps({"outcome": outcome, "elapsed": elapsed, "stream": len(stream), "peak_kib": peak,
                      "peak_delta_kib": peak - base, "verify": verify.status}))
""")


def test_zlib_bomb_is_refused_quickly_without_the_memory():
    run = subprocess.run([sys.executable, "-c", _BOMB], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    assert report["outcome"] == {"refused": True, "limit": 1 << 30, "hash": "b" * 64}
    assert 512 << 10 < report["stream"] < 2 << 20  # about 1 MB on disk...
    assert report["peak_delta_kib"] < 300 * 1024   # ...never 1 GiB in memory
    assert report["peak_kib"] < 300 * 1024         # the whole process included (interpreter, stream)
    assert report["elapsed"] < 20
    assert report["verify"] == "undecodable"


def test_every_codec_error_is_a_lashdb_error():
    for cls in (BlobDecodeError, ChecksumMismatch, DecompressionLimitExceeded):
        assert issubclass(cls, LashdbError)
