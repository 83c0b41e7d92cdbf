"""Reading a checkpoint back from its manifest blob: absent parts are None, damaged ones raise naming the blob."""

from __future__ import annotations

import pytest

from lashdb.engine.base.codec import BlobProfile, Descriptor
from lashdb.engine.base.errors import BlobDecodeError
from lashdb.engine.session import blobs
from lashdb.engine.session.checkpoints import load_checkpoint, value_bytes
from lashdb.engine.session.model import HydratedCheckpoint, SessionCheckpoint, default_turn_state
from lashdb.engine.session.store import Store

LIMIT = 1 << 20
P = BlobProfile.LOW_LATENCY


@pytest.fixture
def store():
    with Store.memory() as s:
        yield s


def _put(store, descriptor, value):
    return store._write(lambda tx: blobs.put_value(tx, descriptor, value, P))


def _load(store, ref):
    return store._read(lambda tx: load_checkpoint(tx, ref, LIMIT))


def test_a_manifest_and_its_children_are_hydrated(store):
    tool = _put(store, Descriptor.tool_state(), {"t": 1})
    plugin = _put(store, Descriptor.plugin_session_snapshot(), {"p": [1]})
    execution = _put(store, Descriptor.execution_state_snapshot(), b"\x00vm")
    manifest = SessionCheckpoint(default_turn_state(), tool, plugin, 5, execution)
    ref = _put(store, Descriptor.checkpoint_manifest(), manifest.to_json())
    assert _load(store, ref) == HydratedCheckpoint(default_turn_state(), tool, {"t": 1}, plugin, {"p": [1]}, 5,
                                                   execution, b"\x00vm")


def test_absent_manifest_or_children_read_as_none(store):
    assert _load(store, "ab" * 32) is None
    missing = "cd" * 32
    ref = _put(store, Descriptor.checkpoint_manifest(),
               SessionCheckpoint(tool_state_ref=missing, execution_state_ref=missing).to_json())
    got = _load(store, ref)
    assert (got.tool_state_ref, got.tool_state, got.execution_state_ref, got.execution_state) == \
        (missing, None, missing, None)


def test_a_value_that_is_not_a_manifest_is_a_decode_error_naming_it(store):
    ref = _put(store, Descriptor.checkpoint_manifest(), ["not", "a", "manifest"])
    with pytest.raises(BlobDecodeError) as caught:
        _load(store, ref)
    assert caught.value.blob_hash == ref
    assert str(caught.value).startswith(f"blob {ref}: cannot decode: not a checkpoint manifest: ")


def test_execution_state_must_be_bytes(store):
    text = _put(store, Descriptor.execution_state_snapshot(), "text")
    ref = _put(store, Descriptor.checkpoint_manifest(), SessionCheckpoint(execution_state_ref=text).to_json())
    with pytest.raises(BlobDecodeError, match="execution state is str, not bytes"):
        _load(store, ref)


def test_value_bytes_accepts_bytes_and_upstream_v4_integer_arrays():
    assert value_bytes(b"ab", "h") == b"ab"
    assert value_bytes(bytearray(b"ab"), "h") == b"ab"
    assert value_bytes([0, 255, 7], "h") == b"\x00\xff\x07"
    for bad in ([256], [-1], [True, "x"], {"a": 1}):
        with pytest.raises(BlobDecodeError) as caught:
            value_bytes(bad, "h")
        assert caught.value.blob_hash == "h"
