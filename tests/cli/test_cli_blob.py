"""`lashdb blob ls|cat|verify` through the Typer app (CliRunner): JSON keys and values, exit codes,
error lines, corruption, and that inspection never changes a byte.

Expected values come from the raw rows (plain apsw + cbor2/zlib here), not from the code under test.
"""

from __future__ import annotations

import hashlib
import json
import os
import pty
import random
import shutil
import subprocess
import sys
import zlib
from pathlib import Path

import apsw
import cbor2
import pytest
from typer.testing import CliRunner

from lashdb.cli.main import app
from lashdb.engine.ops.demo import build_demo
from lashdb.engine import Store
from conftest import FIXTURES_DIR

FIXTURES = FIXTURES_DIR
V38 = FIXTURES / "durable-core.db"
runner = CliRunner()

LS_KEYS = {"hash", "kind", "hints", "compression", "stored_bytes", "logical_bytes", "reachable", "reachable_note",
           "format", "error"}
ENVELOPE_KEYS = {"hash", "path", "session_id", "status", "foreign", "schema_version", "format", "kind", "hints",
                 "compression", "stored_bytes", "logical_bytes", "verification", "reason", "also_in"}
VERIFY_KEYS = {"ok", "jobs", "sessions", "total", "unreadable"}
VERIFY_SESSION_KEYS = {"path", "session_id", "status", "foreign", "schema_version", "ok", "result", "blobs",
                       "passed", "failed", "counts", "stored_bytes", "logical_bytes", "failures", "problems",
                       "error"}
VERIFY_TOTAL_KEYS = {"sessions", "sessions_failed", "damaged", "errors", "blobs", "passed", "failed", "counts",
                     "stored_bytes", "logical_bytes", "unreadable"}


# --- helpers ----------------------------------------------------------------------------------------


def run(root, *args):
    return runner.invoke(app, ["--root", str(root), *args])


def no_crash(result):
    assert "Traceback" not in result.output, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    return result


def one_error_line(result, code=3, *, stdout_empty=True):
    no_crash(result)
    assert result.exit_code == code, (result.exit_code, result.output)
    errors = [line for line in result.stderr.splitlines() if line.startswith("lashdb: error: ")]
    assert len(errors) == 1, result.stderr
    assert all(line.startswith("lashdb: ") for line in result.stderr.splitlines()), result.stderr
    if stdout_empty:
        assert result.stdout == ""
    return errors[0]


def ro(path: Path) -> apsw.Connection:
    return apsw.Connection(f"file:{path}?immutable=1", flags=apsw.SQLITE_OPEN_READONLY | apsw.SQLITE_OPEN_URI)


def raw_rows(path: Path) -> dict[str, bytes]:
    conn = ro(path)
    try:
        return {h: bytes(c) for h, c in conn.execute("SELECT hash, content FROM blobs")}
    finally:
        conn.close()


def logical(stored: bytes) -> bytes:
    env = cbor2.loads(stored)
    return zlib.decompress(env["content"]) if env["compression"] == "Zlib" else env["content"]


def reachable(path: Path) -> set[str]:
    conn = ro(path)
    try:
        head = json.loads(conn.execute("SELECT head_json FROM session_head").fetchall()[0][0])
        out = {r[0] for r in conn.execute("SELECT blob_ref FROM artifact_refs")}
    finally:
        conn.close()
    if head.get("checkpoint_ref"):
        out.add(head["checkpoint_ref"])
        manifest = cbor2.loads(logical(raw_rows(path)[head["checkpoint_ref"]]))
        out |= {manifest[k] for k in ("tool_state_ref", "plugin_snapshot_ref", "execution_state_ref") if k in manifest}
    return out


def alter(path: Path, blob_hash: str, position: int = -1) -> None:
    conn = apsw.Connection(str(path))
    try:
        (content,), = conn.execute("SELECT content FROM blobs WHERE hash = ?", (blob_hash,)).fetchall()
        changed = bytearray(content)
        changed[position] ^= 0x5A
        conn.execute("UPDATE blobs SET content = ? WHERE hash = ?", (bytes(changed), blob_hash))
    finally:
        conn.close()


def snapshot(root: Path) -> dict[str, tuple[str, int]]:
    return {str(p.relative_to(root)): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return build_demo(tmp_path_factory.mktemp("demo") / "root")


class Demo:
    def __init__(self, root: Path, built) -> None:
        self.root = root
        self.ids = [s.session_id for s in built.sessions]
        self.paths = [root / s.path.name for s in built.sessions]


@pytest.fixture
def demo(built, tmp_path):
    dest = tmp_path / "root"
    shutil.copytree(built.root, dest)
    return Demo(dest, built)


# --- blob ls ----------------------------------------------------------------------------------------


def test_ls_json_keys_and_values(demo):
    path = demo.paths[0]
    rows, keep = raw_rows(path), reachable(path)
    result = run(demo.root, "blob", "ls", demo.ids[0], "--json")
    assert result.exit_code == 0 and result.stderr == ""
    docs = json.loads(result.stdout)
    assert len(docs) == len(rows) and all(set(d) == LS_KEYS for d in docs)
    for doc in docs:
        stored = rows[doc["hash"]]
        env = cbor2.loads(stored)
        assert doc["kind"] == env["descriptor"]["kind"] and doc["hints"] == env["descriptor"].get("hints", [])
        assert doc["compression"] == env["compression"] and doc["format"] == "cbor"
        assert doc["stored_bytes"] == len(stored) and doc["logical_bytes"] == len(logical(stored))
        assert doc["reachable"] is (doc["hash"] in keep) and doc["reachable_note"] is None and doc["error"] is None
    assert [d["hash"] for d in docs] == sorted(rows)


def test_ls_table_filters_and_session_forms(demo):
    path = demo.paths[2]
    rows, keep = raw_rows(path), reachable(path)
    table = run(demo.root, "blob", "ls", path.name)
    assert table.exit_code == 0
    lines = table.stdout.splitlines()
    assert lines[0].split() == ["hash", "kind", "hints", "compression", "stored", "logical", "reachable", "format"]
    assert len(lines) == 1 + len(rows)
    assert sum(line.split()[-2] == "yes" for line in lines[1:]) == len(keep & set(rows))

    for form in (["-s", demo.ids[2][:6]], ["--session", str(path)], [path.name[:-3]]):
        docs = json.loads(run(demo.root, "blob", "ls", *form, "--json").stdout)
        assert {d["hash"] for d in docs} == set(rows)
    unreachable = json.loads(run(demo.root, "blob", "ls", demo.ids[2], "--unreachable", "--json").stdout)
    assert {d["hash"] for d in unreachable} == set(rows) - keep and unreachable
    assert all(d["reachable"] is False for d in unreachable)
    tool = json.loads(run(demo.root, "blob", "ls", demo.ids[2], "--kind", "ToolState", "--json").stdout)
    assert tool and {d["kind"] for d in tool} == {"ToolState"}
    assert len(tool) == sum(cbor2.loads(s)["descriptor"]["kind"] == "ToolState" for s in rows.values())
    both = json.loads(run(demo.root, "blob", "ls", demo.ids[2], "--kind", "toolstate", "--unreachable",
                          "--json").stdout)
    assert {d["hash"] for d in both} == {d["hash"] for d in tool} - keep


def test_ls_needs_exactly_one_session(demo):
    assert "name exactly one SESSION" in one_error_line(run(demo.root, "blob", "ls"), 2)
    assert "name exactly one SESSION" in one_error_line(
        run(demo.root, "blob", "ls", demo.ids[0], "-s", demo.ids[1]), 2)


def test_ls_cat_verify_of_the_upstream_fixture_in_place():
    before = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in FIXTURES.iterdir()}
    names = sorted(os.listdir(FIXTURES))
    listed = run(FIXTURES, "blob", "ls", str(V38), "--json")
    assert listed.exit_code == 0
    assert listed.stderr.startswith("lashdb: warning: foreign schema, read-only: durable-core.db (session v38)")
    docs = json.loads(listed.stdout)
    assert len(docs) == 6 and all(d["format"] == "msgpack" and d["reachable"] is None for d in docs)
    assert all("foreign" in d["reachable_note"] for d in docs)
    table = run(FIXTURES, "blob", "ls", "durable-read-fixture")
    assert table.exit_code == 0 and "reachable: not computed" in table.stderr
    assert "unreachable" in one_error_line(run(FIXTURES, "blob", "ls", str(V38), "--unreachable"), 3)

    manifest = next(d for d in docs if d["kind"] == "CheckpointManifest")
    meta = json.loads(run(FIXTURES, "blob", "cat", manifest["hash"][:8], "--envelope").stdout)
    assert set(meta) == ENVELOPE_KEYS and meta["status"] == "foreign v38" and meta["format"] == "msgpack"
    assert meta["verification"] == "ok" and meta["session_id"] == "durable-read-fixture"
    content = run(FIXTURES, "blob", "cat", manifest["hash"], "-s", str(V38)).stdout_bytes
    assert hashlib.sha256(content).hexdigest() == manifest["hash"] and len(content) == manifest["logical_bytes"]
    decoded = run(FIXTURES, "blob", "cat", manifest["hash"], "--decode")
    assert decoded.exit_code == 0 and isinstance(json.loads(decoded.stdout), dict)

    verified = run(FIXTURES, "blob", "verify", str(V38), "--json")
    assert verified.exit_code == 0 and "foreign schema" in verified.stderr
    doc = json.loads(verified.stdout)
    assert doc["ok"] and doc["sessions"][0]["status"] == "foreign v38" and doc["total"]["blobs"] == 6
    assert run(FIXTURES, "blob", "verify", "--all").exit_code == 0
    assert {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in FIXTURES.iterdir()} == before
    assert sorted(os.listdir(FIXTURES)) == names


# --- blob cat ---------------------------------------------------------------------------------------


def test_cat_content_prefix_session_and_output_file(demo, tmp_path):
    path = demo.paths[0]
    rows = raw_rows(path)
    blob_hash = next(h for h, s in sorted(rows.items()) if cbor2.loads(s)["compression"] == "Zlib")
    want = logical(rows[blob_hash])
    for args in ([blob_hash], [blob_hash[:6]], [blob_hash[:20].upper(), "--session", demo.ids[0]],
                 [blob_hash[:8], "-s", str(path)], [blob_hash, "-o", "-"]):
        result = run(demo.root, "blob", "cat", *args)
        assert result.exit_code == 0 and result.stdout_bytes == want and result.stderr == "", args
    out = tmp_path / "out.bin"
    result = run(demo.root, "blob", "cat", blob_hash[:10], "-o", str(out))
    assert result.exit_code == 0 and result.stdout == "" and out.read_bytes() == want
    assert result.stderr == f"wrote {len(want)} bytes to {out}\n"
    assert runner.invoke(app, ["--root", str(demo.root), "-q", "blob", "cat", blob_hash, "-o", str(out)]).stderr == ""
    assert "cannot write" in one_error_line(run(demo.root, "blob", "cat", blob_hash, "-o",
                                                str(tmp_path / "no" / "such" / "dir" / "f")), 3)
    assert run(demo.root, "blob", "cat", blob_hash, "-o", str(tmp_path)).exit_code == 2  # a directory


def test_cat_envelope_and_decode(demo):
    path = demo.paths[0]
    rows = raw_rows(path)
    conn = ro(path)
    manifest = json.loads(conn.execute("SELECT head_json FROM session_head").fetchall()[0][0])["checkpoint_ref"]
    conn.close()
    result = run(demo.root, "blob", "cat", manifest, "--envelope")
    assert result.exit_code == 0
    meta = json.loads(result.stdout)
    env = cbor2.loads(rows[manifest])
    assert set(meta) == ENVELOPE_KEYS
    assert (meta["hash"], meta["kind"], meta["hints"], meta["compression"]) == \
        (manifest, "CheckpointManifest", ["Compressible"], env["compression"])
    assert meta["stored_bytes"] == len(rows[manifest]) and meta["logical_bytes"] == len(logical(rows[manifest]))
    assert meta["verification"] == "ok" and meta["status"] == "ok" and meta["session_id"] == demo.ids[0]
    assert meta["path"] == str(path) and not meta["foreign"] and meta["schema_version"] == 4
    decoded = json.loads(run(demo.root, "blob", "cat", manifest, "--decode").stdout)
    assert decoded == cbor2.loads(logical(rows[manifest]))
    assert decoded["tool_state_ref"] in rows
    assert "not both" in one_error_line(run(demo.root, "blob", "cat", manifest, "--envelope", "--decode"), 2)


def test_cat_refuses_binary_to_a_terminal(demo):
    rows = raw_rows(demo.paths[0])
    binary = next(h for h, s in sorted(rows.items()) if not _is_text(logical(s)))
    exe = shutil.which("lashdb") or str(Path(sys.executable).parent / "lashdb")
    for extra, code in (([], 2), (["--force"], 0), (["--decode"], 0)):
        leader, follower = pty.openpty()
        try:
            done = subprocess.run([exe, "--root", str(demo.root), "blob", "cat", binary, *extra], stdout=follower,
                                  stderr=subprocess.PIPE, text=True, check=False, timeout=60)
        finally:
            os.close(follower)
            os.close(leader)
        assert done.returncode == code, (extra, done.stderr)
        if code:
            assert done.stderr.startswith(f"lashdb: error: blob {binary} is binary") and done.stderr.count("\n") == 1


def _is_text(data: bytes) -> bool:
    try:
        text = data.decode()
    except UnicodeDecodeError:
        return False
    return not any(ord(c) < 32 and c not in "\t\n\r\f\b\x1b" for c in text)


def test_cat_ambiguous_and_unknown_hashes(demo, tmp_path):
    # Two blobs whose hashes share six hex digits, in two different sessions of the root.
    seen: dict[str, bytes] = {}
    i = 0
    while True:
        content = f"collide {i}".encode()
        key = hashlib.sha256(content).hexdigest()[:6]
        if key in seen:
            break
        seen[key] = content
        i += 1
    with Store.open(demo.paths[1]) as store:
        first = store.put_blob(seen[key])
    with Store.open(demo.paths[3]) as store:
        second = store.put_blob(content)
    line = one_error_line(run(demo.root, "blob", "cat", key))
    assert "matches 2 blobs" in line and first in line and second in line
    assert run(demo.root, "blob", "cat", key, "-s", demo.ids[1]).stdout_bytes == seen[key]
    assert "no blob `000000`" in one_error_line(run(demo.root, "blob", "cat", "000000", "-s", demo.ids[0]))
    missing = one_error_line(run(demo.root, "blob", "cat", "0" * 64))
    assert f"the sessions under {demo.root}" in missing


def test_cat_of_an_altered_blob_fails_naming_it(demo):
    rows = raw_rows(demo.paths[3])
    blob_hash = sorted(rows)[0]
    alter(demo.paths[3], blob_hash)
    line = one_error_line(run(demo.root, "blob", "cat", blob_hash, "-s", demo.ids[3]))
    assert blob_hash in line and str(demo.paths[3]) in line
    meta = json.loads(run(demo.root, "blob", "cat", blob_hash, "-s", demo.ids[3], "--envelope").stdout)
    assert meta["verification"] in ("mismatch", "undecodable") and meta["reason"]


@pytest.mark.parametrize(("query", "why"), [
    ("zzzzzz", "non-hex characters 'z'"), ("12345g", "non-hex"), ("abc", "at least 6 hex digits"),
    ("-", "non-hex"), ("a" * 65, "65 digits"), ("a" * 10_000, "10000 digits"), ("", "empty"),
    ("ab cd ef", "non-hex")])
def test_cat_malformed_hashes_are_usage_errors(demo, query, why):
    line = one_error_line(run(demo.root, "blob", "cat", query), 2)
    assert why in line and len(line) < 300


# --- blob verify ------------------------------------------------------------------------------------


def test_verify_json_keys_and_totals(demo):
    result = run(demo.root, "blob", "verify", "--all", "--json")
    assert result.exit_code == 0 and result.stderr == ""
    doc = json.loads(result.stdout)
    assert set(doc) == VERIFY_KEYS and doc["ok"] and doc["jobs"] == 1
    assert set(doc["total"]) == VERIFY_TOTAL_KEYS
    by_path = {s["path"]: s for s in doc["sessions"]}
    assert set(by_path) == {str(p) for p in demo.paths}
    for path, sid in zip(demo.paths, demo.ids):
        entry, rows = by_path[str(path)], raw_rows(path)
        assert set(entry) == VERIFY_SESSION_KEYS and entry["session_id"] == sid
        assert entry["blobs"] == entry["passed"] == entry["counts"]["ok"] == len(rows) and entry["failed"] == 0
        assert entry["stored_bytes"] == sum(map(len, rows.values()))
        assert entry["logical_bytes"] == sum(len(logical(s)) for s in rows.values())
        assert (entry["result"], entry["status"], entry["failures"], entry["problems"]) == ("ok", "ok", [], [])
    every = [raw_rows(p) for p in demo.paths]
    assert doc["total"]["blobs"] == doc["total"]["passed"] == sum(map(len, every))
    assert doc["total"]["stored_bytes"] == sum(len(s) for r in every for s in r.values())
    assert doc["total"]["logical_bytes"] == sum(len(logical(s)) for r in every for s in r.values())
    assert (doc["total"]["sessions"], doc["total"]["failed"], doc["total"]["errors"]) == (len(demo.paths), 0, 0)

    two = json.loads(run(demo.root, "blob", "verify", demo.ids[0], "-s", demo.ids[1], "--jobs", "2",
                         "--json").stdout)
    assert two["jobs"] == 2 and [s["session_id"] for s in two["sessions"]] == demo.ids[:2]
    table = run(demo.root, "blob", "verify", demo.ids[0], demo.paths[0].name)  # the same file twice: once
    assert table.exit_code == 0 and table.stdout.splitlines()[0].split() == \
        ["session", "file", "blobs", "ok", "failed", "status"]
    assert f"total: 1 session(s), {len(raw_rows(demo.paths[0]))} blob(s)" in table.stdout


def test_verify_usage_errors(demo):
    assert "pass --all" in one_error_line(run(demo.root, "blob", "verify"), 2)
    for bad in ("0", "-1", "many"):
        result = no_crash(run(demo.root, "blob", "verify", "--all", "--jobs", bad))
        assert result.exit_code == 2 and "Traceback" not in result.output


def test_verify_names_an_altered_blob_and_exits_1(demo):
    path = demo.paths[1]
    blob_hash = sorted(raw_rows(path))[-1]
    alter(path, blob_hash)
    result = run(demo.root, "blob", "verify", demo.ids[1])
    assert result.exit_code == 1 and result.stderr == ""
    assert "failing blobs:" in result.stdout and blob_hash in result.stdout and "FAILED" in result.stdout
    doc = json.loads(run(demo.root, "blob", "verify", "--all", "--json").stdout)
    entry = next(s for s in doc["sessions"] if s["path"] == str(path))
    assert not doc["ok"] and entry["result"] == "failed" and entry["failed"] == 1
    assert [f["hash"] for f in entry["failures"]] == [blob_hash]
    assert entry["failures"][0]["status"] in ("mismatch", "undecodable") and entry["failures"][0]["reason"]
    assert doc["total"]["failed"] == 1 and doc["total"]["sessions_failed"] == 1


def test_corruption_is_named_and_nothing_crashes(demo, tmp_path):
    root = demo.root
    rng = random.Random(1234)
    # 1. random byte flips inside stored blobs of one session (the content tail of each row)
    flipped_session = demo.paths[2]
    flipped = rng.sample(sorted(raw_rows(flipped_session)), 3)
    for blob_hash in flipped:
        alter(flipped_session, blob_hash, -1 - rng.randrange(8))
    # 2. a truncated database file
    truncated = root / "truncated.db"
    shutil.copy(demo.paths[3], truncated)
    os.truncate(truncated, truncated.stat().st_size * 2 // 3)
    # 3. the -wal of a live database deleted: a writer holds commits that only its -wal has
    live = demo.paths[4]
    writer = Store.open(live)
    try:
        writer.read(lambda c: c.execute("PRAGMA wal_autocheckpoint = 0"))
        for n in range(3):
            writer.put_blob(os.urandom(3000) + bytes([n]))
        assert Path(f"{live}-wal").stat().st_size > 0
        lost_wal = root / "lostwal.db"
        shutil.copy(live, lost_wal)
        shutil.copy(f"{live}-shm", f"{lost_wal}-shm")
    finally:
        writer.close()
    # 4. a stray -wal and -shm without their database; 5. a .db that is not lash
    (root / "gone.db-wal").write_bytes(os.urandom(512))
    (root / "gone.db-shm").write_bytes(b"\x00" * 32768)
    conn = apsw.Connection(str(root / "other.db"))
    conn.execute("CREATE TABLE t(x); INSERT INTO t VALUES (1)")
    conn.close()

    before = snapshot(root)
    result = no_crash(run(root, "blob", "verify", "--all"))
    assert result.exit_code == 1, result.output
    for blob_hash in flipped:
        assert blob_hash in result.stdout
    assert "truncated.db" in result.stdout and "lostwal.db" in result.stdout
    assert "database disk image is malformed" in result.stdout and "-wal of a live database was deleted" in result.stdout
    doc = json.loads(run(root, "blob", "verify", "--all", "--json").stdout)
    by_name = {Path(s["path"]).name: s for s in doc["sessions"]}
    assert {f["hash"] for f in by_name[flipped_session.name]["failures"]} == set(flipped)
    assert by_name["truncated.db"]["result"] == "damaged" and by_name["lostwal.db"]["result"] == "damaged"
    assert "other.db" not in by_name  # not a lash database: `doctor` reports it, verify skips it
    assert doc["total"]["damaged"] == 2 and doc["total"]["failed"] == 3 and doc["total"]["errors"] == 0
    for name in ("truncated.db", "lostwal.db"):
        named = no_crash(run(root, "blob", "verify", name))
        assert named.exit_code == 1 and name in named.stdout and named.stderr == ""
    assert "not a lash" in one_error_line(run(root, "blob", "verify", "other.db"), 3, stdout_empty=False)
    assert snapshot(root) == before


@pytest.mark.parametrize("command", [["blob", "ls"], ["blob", "verify"], ["blob", "cat", "abcdef", "-s"]])
def test_error_paths_exit_3_in_one_line(demo, tmp_path, command):
    odd = tmp_path / "odd"
    odd.mkdir()
    (odd / "empty.db").write_bytes(b"")
    (odd / "noise.db").write_bytes(random.Random(5).randbytes(5000))
    (odd / "text.db").write_text("hello, not a database\n" * 20)
    shutil.copy(demo.paths[0], demo.root / f"{demo.ids[0][:4]}-copy.db")  # two files answer to that prefix
    stdout_empty = command[1] != "verify"  # verify still prints its table
    for target in ("nosuchsession", demo.ids[0][:4], str(odd), str(odd / "empty.db"), str(odd / "noise.db"),
                   str(odd / "text.db"), "x" * 10_000, "-", str(tmp_path / "missing.db")):
        line = one_error_line(run(demo.root, *command, target), 3, stdout_empty=stdout_empty)
        assert len(line) < 10_300


def test_inspection_leaves_the_root_byte_identical(demo, tmp_path):
    shutil.copy(V38, demo.root / "upstream.db") if V38.exists() else None
    (demo.root / "noise.db").write_bytes(os.urandom(2000))
    before = snapshot(demo.root)
    rows = sorted(raw_rows(demo.paths[0]))
    out = tmp_path / "out.bin"
    commands = [["blob", "verify", "--all"], ["blob", "verify", "--all", "--json", "--jobs", "3"],
                ["blob", "cat", rows[0]], ["blob", "cat", rows[1][:8], "--envelope"],
                ["blob", "cat", rows[2], "--decode", "-s", demo.ids[0]], ["blob", "cat", rows[3], "-o", str(out)]]
    for sid in demo.ids + (["upstream.db"] if V38.exists() else []):
        commands += [["blob", "ls", sid], ["blob", "ls", sid, "--json"], ["blob", "ls", sid, "--kind", "ToolState"],
                     ["blob", "verify", sid]]
    for command in commands:
        no_crash(run(demo.root, *command))
    assert snapshot(demo.root) == before


def test_inspection_beside_a_live_writer(demo):
    path = demo.paths[0]
    with Store.open(path) as writer:
        new = writer.put_blob(b"only in the -wal while the writer is open " * 20)
        wal = Path(f"{path}-wal")
        db_before, wal_before = path.read_bytes(), wal.read_bytes()
        names = sorted(os.listdir(demo.root))
        listed = json.loads(run(demo.root, "blob", "ls", str(path), "--json").stdout)
        assert new in {d["hash"] for d in listed}
        assert run(demo.root, "blob", "cat", new).stdout_bytes == b"only in the -wal while the writer is open " * 20
        verified = json.loads(run(demo.root, "blob", "verify", str(path), "--json").stdout)
        assert verified["ok"] and verified["total"]["blobs"] == len(listed)
        assert path.read_bytes() == db_before and wal.read_bytes() == wal_before
        assert sorted(os.listdir(demo.root)) == names
