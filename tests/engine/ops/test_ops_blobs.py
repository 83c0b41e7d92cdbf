"""Blob listing, lookup and reading in the engine (lashdb.engine.ops.blobs; SPEC §4; CLI.md `blob ls`,
`blob cat`).

Expected numbers come from the raw rows, read with plain apsw and decoded here with cbor2/zlib,
not from the code under test. (The tests reach the functions through ``ops.verify``, which
re-exports them.)
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import apsw
import cbor2
import msgpack
import pytest

from lashdb.engine.ops.demo import build_demo
from lashdb.engine import Store
from lashdb.engine.ops import verify
from lashdb.engine.errors import DatabaseError, InvalidBlobHash, LookupFailed, NotALashDatabase, UsageError
from conftest import FIXTURES_DIR
from blob_support import alter, colliding_pair, logical, raw_rows, reachable

V38 = FIXTURES_DIR / "durable-core.db"


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return build_demo(tmp_path_factory.mktemp("demo") / "root")


@pytest.fixture
def demo(built, tmp_path):
    """A fresh copy of the demo root; ``demo.sessions`` paths point into the copy."""
    dest = tmp_path / "root"
    shutil.copytree(built.root, dest)
    return [dest / s.path.name for s in built.sessions]


def test_normalize_hash():
    full = "ab" * 32
    assert verify.normalize_hash(full) == full
    assert verify.normalize_hash(" ABCDEF ") == "abcdef"
    for bad, why in [("", "empty"), ("abcde", "at least 6"), ("abcdeg", "non-hex characters 'g'"),
                     ("zz-top!", "non-hex"), (full + "0", "65 digits"), ("-", "non-hex")]:
        with pytest.raises(InvalidBlobHash, match=why) as info:
            verify.normalize_hash(bad)
        assert isinstance(info.value, UsageError)
    with pytest.raises(InvalidBlobHash) as info:
        verify.normalize_hash("a" * 10_000)
    assert len(str(info.value)) < 200 and "10000 digits" in str(info.value)


def test_list_blobs_matches_the_raw_rows(demo):
    path = demo[0]
    rows = raw_rows(path)
    keep = reachable(path)
    listing = verify.list_blobs(path)
    assert listing.total_count == len(rows) == len(listing.rows)
    assert listing.root_count == 2 and not listing.foreign and listing.schema_version == 4
    assert listing.session_id == path.name[:-len("-0123456789abcdef.db")]
    by_hash = {r.blob_hash: r for r in listing.rows}
    assert set(by_hash) == set(rows)
    for blob_hash, stored in rows.items():
        row = by_hash[blob_hash]
        env = cbor2.loads(stored)
        assert row.stored_bytes == len(stored) and row.logical_bytes == len(logical(stored))
        assert row.kind == env["descriptor"]["kind"] and row.hints == tuple(env["descriptor"].get("hints", ()))
        assert row.compression == env["compression"] and row.format == "cbor" and row.error is None
        assert row.reachable is (blob_hash in keep)
    assert {r.compression for r in listing.rows} == {"None", "Zlib"}

    unreachable = verify.list_blobs(path, unreachable_only=True)
    assert {r.blob_hash for r in unreachable.rows} == set(rows) - keep
    assert unreachable.total_count == len(rows)
    tool = verify.list_blobs(path, kind="toolstate")
    assert tool.rows and all(r.kind == "ToolState" for r in tool.rows)
    assert verify.list_blobs(path, kind="NoSuchKind").rows == ()


def test_list_blobs_when_reachability_cannot_be_known(demo):
    path = demo[0]
    manifest = json.loads(_head(path))["checkpoint_ref"]
    alter(path, manifest, 2)  # the live manifest's envelope no longer decodes: GC would abort
    listing = verify.list_blobs(path)
    assert all(r.reachable is None for r in listing.rows)
    assert listing.reachable_note.startswith("not computed:") and manifest in listing.reachable_note
    with pytest.raises(verify.ReachabilityUnknown, match="cannot tell which blobs are unreachable"):
        verify.list_blobs(path, unreachable_only=True)


def _head(path: Path) -> str:
    conn = apsw.Connection(f"file:{path}?immutable=1", flags=apsw.SQLITE_OPEN_READONLY | apsw.SQLITE_OPEN_URI)
    try:
        return conn.execute("SELECT head_json FROM session_head").fetchall()[0][0]
    finally:
        conn.close()


def test_list_blobs_of_the_upstream_fixture_in_place():
    before = hashlib.sha256(V38.read_bytes()).hexdigest()
    listing = verify.list_blobs(V38)
    assert listing.foreign and listing.schema_version == 38 and listing.session_id == "durable-read-fixture"
    assert listing.total_count == len(listing.rows) == 6
    assert all(r.format == "msgpack" and r.reachable is None and r.error is None for r in listing.rows)
    assert "foreign" in listing.reachable_note
    with pytest.raises(verify.ReachabilityUnknown):
        verify.list_blobs(V38, unreachable_only=True)
    assert hashlib.sha256(V38.read_bytes()).hexdigest() == before


def test_list_blobs_refuses_what_is_not_a_session(tmp_path):
    (tmp_path / "text.db").write_text("hello\n")
    with pytest.raises(NotALashDatabase):
        verify.list_blobs(tmp_path / "text.db")
    with pytest.raises(DatabaseError):
        verify.list_blobs(tmp_path)


def test_find_blob_by_prefix_across_sessions(demo):
    rows = raw_rows(demo[0])
    blob_hash = sorted(rows)[0]
    holders = [p for p in demo if blob_hash in raw_rows(p)]
    found = verify.find_blob(blob_hash[:10].upper(), demo)
    assert found.blob_hash == blob_hash and found.path == holders[0] and list(found.also_in) == holders[1:]
    assert verify.find_blob(blob_hash, [demo[0]]).also_in == ()
    with pytest.raises(LookupFailed, match="no blob `000000` in the demo"):
        verify.find_blob("000000", demo, where="the demo")
    with pytest.raises(InvalidBlobHash):
        verify.find_blob("xyz", demo)


def test_find_blob_ambiguous_prefix_lists_the_matches(tmp_path):
    first, second, prefix = colliding_pair()
    with Store.open(tmp_path / "s.db") as store:
        a, b = store.put_blob(first), store.put_blob(second)
    with pytest.raises(LookupFailed, match="matches 2 blobs") as info:
        verify.find_blob(prefix, [tmp_path / "s.db"])
    assert sorted(c.split()[0] for c in info.value.candidates) == sorted([a, b])
    assert verify.find_blob(a[:12], [tmp_path / "s.db"]).blob_hash == a


def test_find_blob_skips_unreadable_files_only_when_asked(demo, tmp_path):
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"\x00" * 100)
    with pytest.raises(NotALashDatabase):
        verify.find_blob("000000", [junk, demo[0]])
    with pytest.raises(LookupFailed, match="1 could not be read: junk.db"):
        verify.find_blob("000000", [junk, demo[0]], skip_unreadable=True)
    blob_hash = sorted(raw_rows(demo[0]))[0]
    assert verify.find_blob(blob_hash[:8], [junk, demo[0]], skip_unreadable=True).path == demo[0]


def test_read_blob_and_envelope(demo):
    path = demo[0]
    rows = raw_rows(path)
    compressed = next(h for h, s in rows.items() if cbor2.loads(s)["compression"] == "Zlib")
    blob = verify.read_blob(verify.find_blob(compressed, [path]))
    assert blob.content == logical(rows[compressed]) and hashlib.sha256(blob.content).hexdigest() == compressed
    assert blob.envelope.compression == "Zlib" and not blob.foreign
    meta = verify.blob_envelope(verify.find_blob(compressed, [path])).to_json()
    assert meta["verification"] == "ok" and meta["reason"] is None and meta["status"] == "ok"
    assert meta["stored_bytes"] == len(rows[compressed]) and meta["logical_bytes"] == len(blob.content)
    assert meta["session_id"] and meta["path"] == str(path) and meta["compression"] == "Zlib"

    alter(path, compressed)
    with pytest.raises(verify.BlobReadFailed, match=compressed) as info:
        verify.read_blob(verify.find_blob(compressed, [path]))
    assert str(path) in str(info.value)
    damaged = verify.blob_envelope(verify.find_blob(compressed, [path])).to_json()
    assert damaged["verification"] == "undecodable" and "zlib" in damaged["reason"]


def test_decode_content_formats():
    assert verify.decode_content(b'{"a": [1, 2]}', "cbor") == ("json", {"a": [1, 2]})
    assert verify.decode_content(cbor2.dumps({"k": b"\x01\xff", 1: "x"}), "cbor") == \
        ("cbor", {"k": "01ff", "1": "x"})
    assert verify.decode_content(msgpack.packb({"m": [1, None]}), "msgpack") == ("msgpack", {"m": [1, None]})
    with pytest.raises(verify.BlobError, match="not JSON, CBOR or MessagePack"):
        verify.decode_content(b"\xc1\xc1\xc1", "raw", "ab" * 32)


def test_text_detection_and_jsonable():
    assert verify.looks_like_text("héllo\n\tworld\x1b[0m".encode())
    assert not verify.looks_like_text(b"\x00abc") and not verify.looks_like_text(b"\xff\xfe")
    assert verify.jsonable({b"k": (1, b"\x00")}) == {'"6b"': [1, "00"]}


def test_is_damage_follows_the_cause():
    try:
        try:
            raise apsw.CorruptError("database disk image is malformed")
        except apsw.Error as exc:
            raise verify.BackendError("wrapped") from exc
    except verify.BackendError as wrapped:
        assert verify.is_damage(wrapped) and verify.damage_reason(wrapped) == "database disk image is malformed"
    assert not verify.is_damage(apsw.NotADBError("file is not a database"))
    assert verify.error_text("/x/y.db", ValueError("boom")) == "/x/y.db: boom"
    assert verify.error_text("/x/y.db", ValueError("/x/y.db: boom")) == "/x/y.db: boom"



def test_verify_reexports_these_functions_from_ops_blobs():
    from lashdb.engine.ops import blobs

    for name in ("normalize_hash", "list_blobs", "find_blob", "read_blob", "blob_envelope", "decode_content",
                 "looks_like_text", "is_damage", "damage_reason", "error_text", "ReachabilityUnknown",
                 "BlobReadFailed"):
        assert getattr(verify, name) is getattr(blobs, name), name
