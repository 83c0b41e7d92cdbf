"""Session blobs over a real SessionTx: content-addressed puts, envelope decoding, typed values, and
``describe`` that never raises (a damaged row reads as an error string)."""

from __future__ import annotations

import hashlib

import pytest

from lashdb.engine.base import codec
from lashdb.engine.base.codec import BlobProfile, Descriptor
from lashdb.engine.base.errors import ChecksumMismatch
from lashdb.engine.session import blobs
from lashdb.engine.session.store import Store

LIMIT = 1 << 20


@pytest.fixture
def store():
    with Store.memory() as s:
        yield s


def test_content_is_stored_under_its_sha256_once(store):
    data = b"hello blob"
    h = store._write(lambda tx: blobs.put_content(tx, Descriptor.generic(), data, BlobProfile.LOW_LATENCY))
    assert h == hashlib.sha256(data).hexdigest()
    again = store._write(lambda tx: blobs.put_content(tx, Descriptor.tool_state(), data, BlobProfile.COMPACT))
    assert again == h
    assert store._read(blobs.count_and_size)[0] == 1
    decoded = store._read(lambda tx: blobs.get_decoded(tx, h, LIMIT))
    assert decoded.content == data and decoded.envelope.kind == "GenericBlob"  # the first row stays
    assert store._read(lambda tx: blobs.get_decoded(tx, "ab" * 32, LIMIT)) is None
    assert store._read(lambda tx: blobs.hashes_with_prefix(tx, h[:6])) == [h]


def test_values_round_trip_and_iteration_follows_the_hashes_given(store):
    a = store._write(lambda tx: blobs.put_value(tx, Descriptor.tool_state(), {"k": [1, 2]}, BlobProfile.BALANCED))
    b = store._write(lambda tx: blobs.put_value(tx, Descriptor.tool_state(), "text", BlobProfile.BALANCED))
    assert store._read(lambda tx: blobs.get_value(tx, a, LIMIT)) == {"k": [1, 2]}
    assert store._read(lambda tx: blobs.get_value(tx, "cd" * 32, LIMIT)) is None
    assert [h for h, _ in store._read(lambda tx: list(blobs.iter_rows(tx)))] == sorted([a, b])
    assert [h for h, _ in store._read(lambda tx: list(blobs.iter_rows(tx, [b, "missing", a])))] == [b, a]


def test_a_row_whose_content_was_altered_is_a_checksum_mismatch(store):
    h = store._write(lambda tx: blobs.put_content(tx, Descriptor.generic(), b"original", BlobProfile.LOW_LATENCY))
    altered = codec.encode_envelope(Descriptor.generic(), b"tampered", BlobProfile.LOW_LATENCY)
    store.write(lambda c: c.execute("UPDATE blobs SET content = ? WHERE hash = ?", (altered, h)))
    with pytest.raises(ChecksumMismatch) as caught:
        store._read(lambda tx: blobs.get_decoded(tx, h, LIMIT))
    assert (caught.value.expected, caught.value.got) == (h, hashlib.sha256(b"tampered").hexdigest())


def test_describe_measures_compressed_rows_and_never_raises():
    data = b"x" * 10_000
    h = hashlib.sha256(data).hexdigest()
    stored = codec.encode_envelope(Descriptor.plugin_session_snapshot(), data, BlobProfile.BALANCED)
    info = blobs.describe(h, stored, LIMIT)
    assert (info.kind, info.compression, info.stored_bytes, info.logical_bytes, info.error) == \
        ("PluginSessionSnapshot", "Zlib", len(stored), 10_000, None)
    assert blobs.describe(h, stored, LIMIT, measure=False).logical_bytes is None
    limited = blobs.describe(h, stored, 100)
    assert limited.logical_bytes is None and "decompression limit" in limited.error
    raw = blobs.describe("ee" * 32, b"\xff\x00junk", LIMIT)  # not an envelope: raw bytes, as upstream reads them
    assert (raw.format, raw.kind, raw.stored_bytes, raw.logical_bytes, raw.error) == ("raw", "raw", 6, 6, None)
    truncated = blobs.describe("ee" * 32, b"\xa1", LIMIT)
    assert (truncated.format, truncated.kind, truncated.logical_bytes) == ("cbor", "?", None)
    assert truncated.error.startswith("bad cbor envelope: ")
