"""Blob inspection and verification in the engine (lashdb.engine.verify; SPEC §4, §6; CLI.md `blob`).

Expected numbers come from the raw rows, read with plain apsw and decoded here with cbor2/zlib,
not from the code under test.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import shutil
import zlib
from pathlib import Path

import apsw
import cbor2
import msgpack
import pytest

from lashdb.engine.ops.demo import build_demo
from lashdb.engine import Store, StoreOptions
from lashdb.engine.ops import verify
from lashdb.engine.codec import BlobProfile, Descriptor
from lashdb.engine.errors import DatabaseError, InvalidBlobHash, LookupFailed, NotALashDatabase, UsageError
from conftest import FIXTURES_DIR

FIXTURES = FIXTURES_DIR
V38 = FIXTURES / "durable-core.db"


# --- helpers ----------------------------------------------------------------------------------------


def raw_rows(path: Path) -> dict[str, bytes]:
    conn = apsw.Connection(f"file:{path}?immutable=1", flags=apsw.SQLITE_OPEN_READONLY | apsw.SQLITE_OPEN_URI)
    try:
        return {h: bytes(c) for h, c in conn.execute("SELECT hash, content FROM blobs")}
    finally:
        conn.close()


def logical(stored: bytes) -> bytes:
    env = cbor2.loads(stored)
    return zlib.decompress(env["content"]) if env["compression"] == "Zlib" else env["content"]


def reachable(path: Path) -> set[str]:
    """GC roots and the manifest's children, decoded here."""
    conn = apsw.Connection(f"file:{path}?immutable=1", flags=apsw.SQLITE_OPEN_READONLY | apsw.SQLITE_OPEN_URI)
    try:
        head = json.loads(conn.execute("SELECT head_json FROM session_head").fetchall()[0][0])
        out = {r[0] for r in conn.execute("SELECT blob_ref FROM artifact_refs")}
    finally:
        conn.close()
    ref = head.get("checkpoint_ref")
    if ref:
        out.add(ref)
        manifest = cbor2.loads(logical(raw_rows(path)[ref]))
        out |= {manifest[k] for k in ("tool_state_ref", "plugin_snapshot_ref", "execution_state_ref") if k in manifest}
    return out


def alter(path: Path, blob_hash: str, position: int = -1) -> None:
    """Flip one byte of a stored row (default: its last byte, inside the content) with plain apsw."""
    conn = apsw.Connection(str(path))
    try:
        (content,), = conn.execute("SELECT content FROM blobs WHERE hash = ?", (blob_hash,)).fetchall()
        changed = bytearray(content)
        changed[position] ^= 0x5A
        conn.execute("UPDATE blobs SET content = ? WHERE hash = ?", (bytes(changed), blob_hash))
    finally:
        conn.close()


def colliding_pair(prefix_len: int = 6) -> tuple[bytes, bytes, str]:
    """Two contents whose SHA-256 hex share the first ``prefix_len`` digits."""
    seen: dict[str, bytes] = {}
    for i in itertools.count():
        content = f"collide {i}".encode()
        key = hashlib.sha256(content).hexdigest()[:prefix_len]
        if key in seen:
            return seen[key], content, key
        seen[key] = content


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return build_demo(tmp_path_factory.mktemp("demo") / "root")


@pytest.fixture
def demo(built, tmp_path):
    """A fresh copy of the demo root; ``demo.sessions`` paths point into the copy."""
    dest = tmp_path / "root"
    shutil.copytree(built.root, dest)
    return [dest / s.path.name for s in built.sessions]


# --- hashes -----------------------------------------------------------------------------------------


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


# --- blob ls ----------------------------------------------------------------------------------------


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


# --- blob cat: lookup and content --------------------------------------------------------------------


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


# --- blob verify ------------------------------------------------------------------------------------


def test_verify_rows_same_outcomes_in_order_for_any_jobs():
    contents = [f"raw row {i}".encode() * 40 for i in range(600)]
    good = [(hashlib.sha256(c).hexdigest(), c) for c in contents]
    rows = good[:300] + [("0" * 64, b"not this")] + good[300:]
    runs = {}
    for jobs in (1, 3):
        seen = []
        assert verify.verify_rows(iter(rows), jobs=jobs, sink=seen.extend) == len(rows)
        runs[jobs] = [(v.blob_hash, v.status) for v in seen]
    assert runs[1] == runs[3] and runs[1][300] == ("0" * 64, "raw-mismatch")
    assert sum(s == "raw-ok" for _h, s in runs[1]) == 600
    with pytest.raises(ValueError):
        verify.verify_rows(iter(rows), jobs=0)


def test_verify_sessions_totals_match_the_raw_rows(demo):
    report = verify.verify_sessions(demo)
    assert report.ok and report.jobs == verify.DEFAULT_JOBS == 1
    doc = report.to_json()
    for path, entry in zip(demo, doc["sessions"]):
        rows = raw_rows(path)
        assert entry["path"] == str(path) and entry["result"] == "ok" and entry["status"] == "ok"
        assert entry["blobs"] == entry["passed"] == entry["counts"]["ok"] == len(rows)
        assert entry["stored_bytes"] == sum(map(len, rows.values()))
        assert entry["logical_bytes"] == sum(len(logical(s)) for s in rows.values())
        assert entry["failures"] == [] and entry["problems"] == [] and entry["error"] is None
    total = doc["total"]
    all_rows = [raw_rows(p) for p in demo]
    assert total["blobs"] == total["passed"] == sum(map(len, all_rows)) and total["failed"] == 0
    assert total["stored_bytes"] == sum(len(s) for r in all_rows for s in r.values())
    assert (total["sessions"], total["sessions_failed"], total["damaged"], total["errors"]) == (len(demo), 0, 0, 0)
    assert verify.count_blobs(demo) == total["blobs"]
    assert verify.verify_sessions(demo, jobs=2).to_json()["total"] == total


def test_verify_names_each_altered_blob(demo):
    path = demo[2]
    rows = raw_rows(path)
    plain = sorted(h for h, s in rows.items() if cbor2.loads(s)["compression"] == "None")[:2]
    packed = sorted(h for h, s in rows.items() if cbor2.loads(s)["compression"] == "Zlib")[:1]
    for blob_hash in plain + packed:
        alter(path, blob_hash)
    alter(path, plain[1], 0)  # the envelope's first byte: no longer a CBOR map, and not raw either
    entry = verify.verify_sessions([path]).sessions[0]
    assert not entry.ok and entry.result == "failed" and entry.failed == 3
    statuses = {v.blob_hash: v.status for v in entry.failures}
    assert statuses == {plain[0]: "mismatch", plain[1]: "raw-mismatch", packed[0]: "undecodable"}
    assert entry.counts["ok"] == len(rows) - 3
    assert next(v for v in entry.failures if v.blob_hash == plain[0]).reason.startswith("content hashes to ")


def test_verify_legacy_raw_rows(tmp_path):
    with Store.open(tmp_path / "s.db") as store:
        store.put_blob(b"a lashdb blob")
    raw = b"upstream put_blob stored these bytes as they were"
    conn = apsw.Connection(str(tmp_path / "s.db"))
    conn.execute("INSERT INTO blobs VALUES (?, ?), (?, ?)", (hashlib.sha256(raw).hexdigest(), raw,
                                                              "f" * 64, b"raw bytes that hash elsewhere"))
    conn.close()
    entry = verify.verify_sessions([tmp_path / "s.db"]).sessions[0]
    assert entry.counts == {"ok": 1, "raw-ok": 1, "mismatch": 0, "undecodable": 0, "raw-mismatch": 1,
                            "undecodable-value": 0}
    assert [v.blob_hash for v in entry.failures] == ["f" * 64]


def test_verify_foreign_fixture_in_place():
    before = hashlib.sha256(V38.read_bytes()).hexdigest()
    entry = verify.verify_sessions([V38]).sessions[0].to_json()
    assert entry["ok"] and entry["foreign"] and entry["status"] == "foreign v38" and entry["blobs"] == 6
    assert entry["session_id"] == "durable-read-fixture"
    assert hashlib.sha256(V38.read_bytes()).hexdigest() == before


def test_verify_keeps_damage_and_errors_per_session(demo, tmp_path):
    truncated = tmp_path / "truncated.db"
    shutil.copy(demo[1], truncated)
    with open(truncated, "r+b") as fh:
        fh.truncate(truncated.stat().st_size // 2)
    text = tmp_path / "text.db"
    text.write_text("not a database\n")
    report = verify.verify_sessions([demo[0], truncated, text, tmp_path / "missing.db"])
    ok, damaged, not_sqlite, missing = report.sessions
    assert ok.ok and ok.blobs > 0
    assert damaged.result == "damaged" and damaged.error is None and damaged.status == "unreadable"
    assert damaged.problems == ["the database is damaged (database disk image is malformed) when opened"]
    assert not_sqlite.result == "error" and isinstance(not_sqlite.error, NotALashDatabase)
    assert missing.result == "error" and "missing.db" in missing.error_text
    total = report.total()
    assert (total["sessions_failed"], total["damaged"], total["errors"]) == (3, 1, 2)


def test_verify_reports_damage_found_while_reading(tmp_path):
    path = tmp_path / "s.db"
    with Store.open_with_options(path, StoreOptions(blob_profile=BlobProfile.LOW_LATENCY)) as store:
        hashes = [store.put_blob(f"row {i:04d} ".encode() * 300) for i in range(120)]
    data = bytearray(path.read_bytes())
    page = 4096
    marker = data.find(b"row 0100 ")
    start = marker - marker % page
    assert start > page
    data[start:start + page] = b"\x00" * page  # one leaf of the blobs table: an invalid b-tree page
    path.write_bytes(bytes(data))
    for jobs in (1, 2):
        entry = verify.verify_sessions([path], jobs=jobs).sessions[0]
        assert entry.result == "damaged" and entry.error is None and entry.failed == 0
        assert 90 <= entry.blobs < len(hashes)  # what was read before the damaged page was verified
        assert entry.problems == [f"the database is damaged (database disk image is malformed) "
                                  f"after {entry.blobs} blob(s) were read"]


def test_verify_reports_a_deleted_wal(demo):
    path = demo[0]
    Path(str(path) + "-shm").write_bytes(b"\x00" * 32768)
    entry = verify.verify_sessions([path]).sessions[0]
    assert entry.result == "damaged" and entry.problems == [verify.WAL_MISSING] and entry.failed == 0


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


def test_streaming_verification_agrees_with_the_codec():
    from lashdb.engine import codec

    big = b"snapshot line, compressible\n" * 40_000  # ~1.1 MB: several inflate chunks
    small = b"tiny"
    # Opaque (not typed-value) kinds: typed values are decoded whole, not streamed (issue 10).
    packed = codec.encode_envelope(Descriptor.lashlang_module(), big, BlobProfile.BALANCED)
    plain = codec.encode_envelope(Descriptor.generic(), small, BlobProfile.BALANCED)
    env = cbor2.loads(packed)
    stream = env["content"]
    legacy = b"legacy raw bytes"
    upstream = msgpack.packb({"descriptor": {"kind": "LashlangModule", "hints": ["Compressible"]},
                              "compression": "None", "content": list(small)})
    h_big, h_small = hashlib.sha256(big).hexdigest(), hashlib.sha256(small).hexdigest()
    rows = [
        (h_big, packed), (h_small, plain), (h_small, upstream), (h_big, plain), (h_small, packed),
        (h_big, cbor2.dumps({**env, "content": stream[:-10]})),             # truncated stream
        (h_big, cbor2.dumps({**env, "content": stream + b"junk"})),         # bytes after the stream
        (h_big, cbor2.dumps({**env, "content": stream[:100] + bytes(50) + stream[150:]})),  # damaged
        (hashlib.sha256(legacy).hexdigest(), legacy), ("0" * 64, legacy), (h_big, b"\xa3"),
    ]
    for limit in (codec.DEFAULT_DECOMPRESSION_LIMIT, 1000):
        for blob_hash, stored in rows:
            assert verify.verify_one(blob_hash, stored, limit) == codec.verify_blob(blob_hash, stored, limit)
    assert verify.verify_one(h_big, packed).status == "ok"
    assert verify.verify_one(h_big, packed, 1000).status == "undecodable"
