"""Fuzzing the codec and the JSON readers: whatever the bytes, only lashdb errors come out.

At least 10,000 generated cases run in CI (the settings below), spread over the decoders a
damaged database can reach: envelope parsing, full decode with verification, typed values,
bounded inflate, and the JSON readers of every stored document type.
"""

from __future__ import annotations

import json

import cbor2
import msgpack
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lashdb.engine import codec
from lashdb.engine.errors import LashdbError
from lashdb.engine.session.model import (
    GraphNode,
    HydratedCheckpoint,
    SessionCheckpoint,
    SessionHeadMeta,
    SessionMeta,
    SessionRelation,
    TokenLedgerEntry,
)

FUZZ = settings(max_examples=3400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
HASH = "0" * 64

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=5),
    max_leaves=20,
)

# Bytes that look like envelopes often enough to reach deep decoder paths.
envelope_like = st.one_of(
    st.binary(max_size=300),
    st.builds(lambda d: cbor2.dumps(d), st.dictionaries(
        st.sampled_from(["descriptor", "compression", "content", "x"]),
        st.one_of(st.binary(max_size=40), st.text(max_size=10), st.integers(), st.dictionaries(
            st.sampled_from(["kind", "hints"]), st.one_of(st.text(max_size=10), st.lists(st.text(max_size=8))))),
        max_size=4)),
    st.builds(lambda d: msgpack.packb(d), st.dictionaries(
        st.sampled_from(["descriptor", "compression", "content"]),
        st.one_of(st.binary(max_size=40), st.sampled_from(["None", "Zlib", "Gzip"]),
                  st.lists(st.integers(min_value=-5, max_value=300), max_size=8),
                  st.fixed_dictionaries({"kind": st.text(max_size=10)})),
        max_size=3)),
)


@FUZZ
@given(envelope_like, st.booleans())
def test_envelope_decoding_raises_only_lashdb_errors(data: bytes, truncate: bool) -> None:
    if truncate and data:
        data = data[: len(data) // 2]
    for call in (lambda: codec.parse_envelope(data, HASH), lambda: codec.decode_blob(HASH, data),
                 lambda: codec.decode_value(data, codec.FORMAT_CBOR, HASH),
                 lambda: codec.decode_value(data, codec.FORMAT_MSGPACK, HASH),
                 lambda: codec.decode_value(data, codec.FORMAT_RAW, HASH)):
        try:
            call()
        except LashdbError:
            pass
    result = codec.verify_blob(HASH, data)
    assert result.status in {"ok", "mismatch", "undecodable", "raw-ok", "raw-mismatch"}


@FUZZ
@given(st.binary(max_size=400), st.integers(min_value=0, max_value=4096))
def test_inflate_of_garbage_raises_only_lashdb_errors(data: bytes, limit: int) -> None:
    try:
        out = codec.inflate(data, limit, HASH)
    except LashdbError:
        return
    assert len(out) <= limit


READERS = (SessionMeta.from_json, SessionHeadMeta.from_json, GraphNode.from_json, SessionCheckpoint.from_json,
           HydratedCheckpoint.from_json, TokenLedgerEntry.from_json, SessionRelation.from_json)


@FUZZ
@given(json_values)
def test_json_readers_accept_or_raise_value_error(doc: object) -> None:
    # Round-trip through text first, as the store does with its JSON columns.
    doc = json.loads(json.dumps(doc))
    for reader in READERS:
        try:
            reader(doc)
        except ValueError:
            pass
