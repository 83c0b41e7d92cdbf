"""The real upstream v38 files (SPEC §3.5 "foreign"): refused for writing with the right versions
and not a byte changed; read-only inspection of their blobs works.

The fixture directory is read-only in CI and tests run as root there (so permissions would not
stop a write): every write attempt below runs on a copy in ``tmp_path``.
"""

from __future__ import annotations

import hashlib
import shutil

import msgpack
import pytest
from conftest import file_sha256, snapshot_dir

from lashdb.engine import codec
from lashdb.engine.sqlite import schema
from lashdb.engine.errors import SchemaVersionError
from lashdb.engine.session.store import ReadOnlyStore, Store

FIXTURES = [
    # file, kind, supported version, version upstream wrote
    pytest.param("durable-core.db", schema.SESSION, 4, 38, id="session"),
    pytest.param("effects.db", schema.EFFECT_REPLAY, 1, 11, id="effects"),
    pytest.param("processes.db", schema.PROCESS_REGISTRY, 7, 24, id="processes"),
    pytest.param("triggers.db", schema.TRIGGER_STORE, 1, 6, id="triggers"),
]

# The six MessagePack blobs of durable-core.db: hash -> (kind, hints, logical bytes).
BLOBS = {
    "121392d01ce7a57a0cc9867127576041609d889a7a4c21ec18dbfd2572f9f8ca":
        ("CheckpointComponent", ("Compressible", "LargePayload"), 22),
    "3889c03ef030a2c50f57de91cb03927423b8a83a5c9f29bbf8a5be3b9722b1b7":
        ("ProcessExecutionEnv", ("Compressible",), 196),
    "5cae1f5e80c69846241f7314bdfe9db9b5ff4acd1778feb8e48715ed5c56fe68":
        ("CheckpointManifest", ("Compressible",), 570),
    "a2da855fd72740bde2949b614e5b12dc7fae0b14191c7d6832fbce213141b942":
        ("CheckpointComponent", ("Compressible", "LargePayload"), 207),
    "ae62c3c799a20bffc7a658902d16647546ba09abc77ed54ea76c38b8c909249f":
        ("CheckpointManifest", ("Compressible",), 207),
    "b9187311a43c21099d0489147774b854c2eb60b83b11a5321c77de172fb404c6":
        ("CheckpointComponent", ("Compressible", "LargePayload"), 6),
}


@pytest.fixture
def no_writable_open(monkeypatch):
    """Fail the test if anything opens a writable connection (the refusal must come first)."""
    def refuse(path):
        raise AssertionError(f"a writable connection was opened on {path}")
    monkeypatch.setattr(schema, "open_write", refuse)


def _open_for_writing(path, kind):
    if kind is schema.SESSION:
        Store.open(path).close()
    else:
        schema.open_for_kind(path, kind).close()


@pytest.mark.parametrize("name, kind, expected, found", FIXTURES)
def test_write_open_refuses_a_copy_untouched(fixtures_dir, tmp_path, name, kind, expected, found, no_writable_open):
    copy = tmp_path / name
    shutil.copyfile(fixtures_dir / name, copy)
    before = snapshot_dir(tmp_path)
    assert before[name] == file_sha256(fixtures_dir / name)
    with pytest.raises(SchemaVersionError) as err:
        _open_for_writing(copy, kind)
    assert (err.value.kind, err.value.expected, err.value.found) == (kind.name, expected, found)
    assert f"schema version {expected}" in str(err.value) and f"reports version {found}" in str(err.value)
    assert snapshot_dir(tmp_path) == before  # same SHA-256, no -wal/-shm/-journal


@pytest.mark.parametrize("name, kind, expected, found", FIXTURES)
def test_write_open_refuses_even_through_the_real_open(fixtures_dir, tmp_path, name, kind, expected, found):
    # The same without the guard: nothing after the refusal gets a chance to write either.
    copy = tmp_path / name
    shutil.copyfile(fixtures_dir / name, copy)
    before = snapshot_dir(tmp_path)
    with pytest.raises(SchemaVersionError):
        _open_for_writing(copy, kind)
    assert snapshot_dir(tmp_path) == before


@pytest.mark.parametrize("name, kind, expected, found", FIXTURES)
def test_classification_in_place(fixtures_dir, name, kind, expected, found):
    before = snapshot_dir(fixtures_dir)
    result = schema.classify(fixtures_dir / name)
    assert result.kind is kind and result.user_version == found
    assert result.foreign and not result.supported
    with pytest.raises(SchemaVersionError) as err:
        result.require(kind)
    assert (err.value.expected, err.value.found) == (expected, found)
    assert snapshot_dir(fixtures_dir) == before


def test_readonly_store_in_place_reads_all_six_blobs(fixtures_dir):
    before = snapshot_dir(fixtures_dir)
    with Store.open_readonly(fixtures_dir / "durable-core.db") as store:
        assert store.readonly and store.foreign and store.classification.user_version == 38
        assert store.blob_hashes() == sorted(BLOBS)
        assert store.blob_count_and_size() == (6, 120 + 281 + 655 + 305 + 291 + 104)
        for blob_hash, (kind, hints, logical) in BLOBS.items():
            content = store.get_blob(blob_hash)
            assert hashlib.sha256(content).hexdigest() == blob_hash and len(content) == logical
            envelope = store.get_blob_envelope(blob_hash)
            assert (envelope.format, envelope.kind, envelope.descriptor.hints, envelope.compression) == (
                "msgpack", kind, hints, "None")
        for blob_hash, stored in store.iter_blob_rows():
            check = codec.verify_blob(blob_hash, stored)
            assert (check.status, check.format, check.kind) == ("ok", "msgpack", BLOBS[blob_hash][0])
            assert check.logical_bytes == BLOBS[blob_hash][2]
        # Typed values upstream wrote (MessagePack inside the envelope).
        manifest = store.get_typed_blob("5cae1f5e80c69846241f7314bdfe9db9b5ff4acd1778feb8e48715ed5c56fe68")
        assert manifest["schema_version"] == 2 and manifest["turn_state"]["turn_index"] == 7
        assert manifest["turn_state"]["token_usage"]["input_tokens"] == 13
        assert store.get_typed_blob("121392d01ce7a57a0cc9867127576041609d889a7a4c21ec18dbfd2572f9f8ca") == {
            "generation": 887, "tools": {}}
        assert store.get_blob("b9187311a43c21099d0489147774b854c2eb60b83b11a5321c77de172fb404c6") == b"FIG887"
        assert store.get_blob("0" * 64) is None
        env = "3889c03ef030a2c50f57de91cb03927423b8a83a5c9f29bbf8a5be3b9722b1b7"
        assert store.list_artifact_refs() == [(f"process-env:v3:sha256:{env}", env)]
    assert snapshot_dir(fixtures_dir) == before


def test_readonly_store_refuses_writes_on_a_foreign_file(fixtures_dir):
    before = snapshot_dir(fixtures_dir)
    with Store.open_readonly(fixtures_dir / "durable-core.db") as store:
        with pytest.raises(ReadOnlyStore):
            store.put_blob(b"nope")
        with pytest.raises(ReadOnlyStore):
            store.gc_unreachable()
        with pytest.raises(ReadOnlyStore):
            store.vacuum()
    assert snapshot_dir(fixtures_dir) == before


def test_checkpoint_component_kind_is_accepted_as_spelled():
    content = msgpack.packb({"generation": 887, "tools": {}})
    stored = msgpack.packb({"descriptor": {"kind": "CheckpointComponent", "hints": ["Compressible", "LargePayload"]},
                            "compression": "None", "content": content}, use_bin_type=True)
    blob_hash = hashlib.sha256(content).hexdigest()
    decoded = codec.decode_blob(blob_hash, stored)
    assert decoded.envelope.kind == "CheckpointComponent" and decoded.content == content
    assert codec.verify_blob(blob_hash, stored).kind == "CheckpointComponent"


def test_v4_int_array_envelopes_read_through_a_store(tmp_db):
    # Upstream at schema v4 could write `content` as a MessagePack array of integers (SPEC §4, W26).
    value = {"turn_state": {"turn_index": 2}, "tool_state_ref": "f" * 64}
    content = msgpack.packb(value)
    stored = msgpack.packb({"descriptor": {"kind": "CheckpointManifest", "hints": ["Compressible"]},
                            "compression": "None", "content": list(content)})
    assert len(content) == 106 and b"\xa7content\xdc\x00\x6a" in stored  # array16 of 106 ints, not bin
    blob_hash = hashlib.sha256(content).hexdigest()
    with Store.open(tmp_db) as store:
        store.write(lambda c: c.execute("INSERT INTO blobs (hash, content) VALUES (?, ?)", (blob_hash, stored)))
        assert store.get_blob(blob_hash) == content
        assert store.get_typed_blob(blob_hash) == value
        envelope = store.get_blob_envelope(blob_hash)
        assert (envelope.format, envelope.kind) == ("msgpack", "CheckpointManifest")
    assert codec.verify_blob(blob_hash, stored).status == "ok"


def test_gc_on_a_read_only_foreign_session_is_the_cutover_error(fixtures_dir) -> None:
    """GC (even a dry run) refuses a foreign session schema with the cutover error, reading nothing."""
    from lashdb.engine import SchemaVersionError, Store

    with Store.open_readonly(fixtures_dir / "durable-core.db") as store:
        with pytest.raises(SchemaVersionError) as info:
            store.gc_unreachable(dry_run=True)
    assert (info.value.expected, info.value.found) == (4, 38)
