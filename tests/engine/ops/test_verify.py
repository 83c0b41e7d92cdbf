"""Blob verification in the engine (lashdb.engine.ops.verify; SPEC §4, §6; CLI.md `blob verify`).
Listing, lookup and reading blobs (ops.blobs) are in test_ops_blobs.py.

Expected numbers come from the raw rows, read with plain apsw and decoded here with cbor2/zlib,
not from the code under test.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import apsw
import cbor2
import msgpack
import pytest

from lashdb.engine.ops.demo import build_demo
from lashdb.engine import Store, StoreOptions
from lashdb.engine.ops import verify
from lashdb.engine.codec import BlobProfile, Descriptor
from lashdb.engine.errors import NotALashDatabase
from conftest import FIXTURES_DIR
from blob_support import alter, logical, raw_rows

FIXTURES = FIXTURES_DIR
V38 = FIXTURES / "durable-core.db"


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return build_demo(tmp_path_factory.mktemp("demo") / "root")


@pytest.fixture
def demo(built, tmp_path):
    """A fresh copy of the demo root; ``demo.sessions`` paths point into the copy."""
    dest = tmp_path / "root"
    shutil.copytree(built.root, dest)
    return [dest / s.path.name for s in built.sessions]


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


def test_typed_values_are_checked_from_one_parse_and_agree_with_the_codec():
    from lashdb.engine import codec

    value = {"entries": [{"tool": f"t{i}", "n": i} for i in range(5_000)]}
    good = codec.encode_value(value)
    not_cbor = b'{"json": "is not a CBOR value"}' * 10
    rows = []
    for kind in (Descriptor.tool_state(), Descriptor.plugin_session_snapshot(), Descriptor.checkpoint_manifest()):
        for content in (good, not_cbor):
            for profile in (BlobProfile.BALANCED, BlobProfile.LOW_LATENCY):
                stored = codec.encode_envelope(kind, content, profile)
                rows.append((hashlib.sha256(content).hexdigest(), stored))
                rows.append(("f" * 64, stored))  # hashes wrong
    statuses = set()
    for limit in (codec.DEFAULT_DECOMPRESSION_LIMIT, 1000):
        for blob_hash, stored in rows:
            got = verify.verify_one(blob_hash, stored, limit)
            assert got == codec.verify_blob(blob_hash, stored, limit)
            statuses.add(got.status)
    assert {"ok", "undecodable-value", "mismatch", "undecodable"} <= statuses
