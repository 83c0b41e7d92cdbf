"""`lashdb doctor` through the Typer app (CliRunner): the JSON document, exit codes, damaged and
foreign files named one by one, error lines, and that doctor never changes a byte.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
from pathlib import Path

import apsw
import pytest
from typer.testing import CliRunner

from lashdb.cli.main import app
from lashdb.engine.ops.demo import build_demo
from lashdb.engine import Store
from conftest import FIXTURES_DIR

FIXTURES = FIXTURES_DIR
runner = CliRunner()

DOC_KEYS = {"ok", "paths", "checked_at", "checked_at_epoch_ms", "checked", "problem_files", "errors", "warnings",
            "files"}
FILE_KEYS = {"path", "file", "kind", "status", "reason", "schema_version", "supported_schema_version", "db_bytes", "wal_bytes", "ok",
             "checks", "findings"}
FINDING_KEYS = {"check", "severity", "subject", "message", "remedy"}


def run(root, *args):
    return runner.invoke(app, ["--root", str(root), *args])


def no_crash(result):
    assert "Traceback" not in result.output, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    return result


def snapshot(root: Path) -> dict[str, tuple[str, int]]:
    return {str(p.relative_to(root)): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
            for p in sorted(root.rglob("*")) if p.is_file()}


def files_of(doc: dict) -> dict[str, dict]:
    return {f["file"]: f for f in doc["files"]}


def alter(path: Path, blob_hash: str, position: int) -> None:
    conn = apsw.Connection(str(path))
    try:
        (content,), = conn.execute("SELECT content FROM blobs WHERE hash = ?", (blob_hash,)).fetchall()
        changed = bytearray(content)
        changed[position] ^= 0xFF
        conn.execute("UPDATE blobs SET content = ? WHERE hash = ?", (bytes(changed), blob_hash))
    finally:
        conn.close()


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return build_demo(tmp_path_factory.mktemp("demo") / "root")


@pytest.fixture
def demo(built, tmp_path):
    dest = tmp_path / "root"
    shutil.copytree(built.root, dest)
    return dest, [dest / s.path.name for s in built.sessions]


def clean_session(path: Path) -> Path:
    with Store.open(path) as store:
        store.put_blob(b"fine" * 100)
    return path


def test_demo_root_json(demo):
    root, paths = demo
    before = snapshot(root)
    result = no_crash(run(root, "doctor", "--json"))
    doc = json.loads(result.stdout)
    assert result.exit_code == (0 if doc["ok"] else 1)
    assert set(doc) == DOC_KEYS and doc["paths"] == [str(root)] and doc["errors"] == 0
    files = files_of(doc)
    assert set(files) == {p.name for p in root.glob("*.db")} and doc["checked"] == len(files)
    for path in paths:
        entry = files[path.name]
        assert set(entry) == FILE_KEYS and entry["kind"] == "session"
        assert (entry["schema_version"], entry["supported_schema_version"]) == (4, 4)
        assert entry["db_bytes"] == path.stat().st_size and entry["wal_bytes"] == 0
        assert {entry["checks"][c] for c in ("quick_check", "blob_envelopes", "gc_roots")} == {"ok"}
        assert all(set(f) == FINDING_KEYS and f["severity"] == "warning" for f in entry["findings"])
    assert doc["warnings"] == sum(len(f["findings"]) for f in doc["files"])
    assert doc["problem_files"] == sum(not f["ok"] for f in doc["files"])
    assert snapshot(root) == before


def test_a_healthy_file_passes(tmp_path):
    path = clean_session(tmp_path / "fine.db")
    table = run(tmp_path, "doctor", str(path))
    assert table.exit_code == 0 and table.stderr == ""
    assert table.stdout.splitlines()[0].split() == ["file", "kind", "schema", "wal", "result"]
    assert table.stdout.splitlines()[1].split() == ["fine.db", "session", "v4", "-", "ok"]
    assert table.stdout.rstrip().endswith("1 file(s) checked: no problems")
    doc = json.loads(run(tmp_path, "doctor", "--json").stdout)
    assert doc["ok"] and doc["checked"] == 1 and files_of(doc)["fine.db"]["findings"] == []
    empty = tmp_path / "empty-dir"
    empty.mkdir()
    nothing = run(empty, "doctor")
    assert nothing.exit_code == 0 and "0 file(s) checked: no problems" in nothing.stdout


def test_corruption_each_damaged_file_and_blob_is_named(demo, tmp_path):
    root, paths = demo
    rng = random.Random(99)
    conn = apsw.Connection(f"file:{paths[2]}?immutable=1", flags=apsw.SQLITE_OPEN_READONLY | apsw.SQLITE_OPEN_URI)
    hashes = sorted(r[0] for r in conn.execute("SELECT hash FROM blobs"))
    conn.close()
    flipped = rng.sample(hashes, 3)
    for blob_hash in flipped:
        alter(paths[2], blob_hash, -1 - rng.randrange(6))
    shutil.copy(paths[3], root / "truncated.db")
    os.truncate(root / "truncated.db", (root / "truncated.db").stat().st_size // 3)
    writer = Store.open(paths[4])
    try:
        writer.read(lambda c: c.execute("PRAGMA wal_autocheckpoint = 0"))
        writer.put_blob(os.urandom(4000))
        shutil.copy(paths[4], root / "lostwal.db")
        shutil.copy(f"{paths[4]}-shm", root / "lostwal.db-shm")
    finally:
        writer.close()
    (root / "stray.db-wal").write_bytes(os.urandom(300))
    (root / "stray.db-shm").write_bytes(bytes(32768))
    other = apsw.Connection(str(root / "other.db"))
    other.execute("CREATE TABLE t(x)")
    other.close()
    (root / "noise.db").write_bytes(rng.randbytes(4096))
    before = snapshot(root)

    table = no_crash(run(root, "doctor"))
    assert table.exit_code == 1
    for needle in [*flipped, "truncated.db", "lostwal.db", "stray.db-wal", "stray.db-shm", "other.db", "noise.db"]:
        assert needle in table.stdout, needle
    result = no_crash(run(root, "doctor", "--json"))
    assert result.exit_code == 1 and result.stderr == ""
    doc = json.loads(result.stdout)
    files = files_of(doc)
    blobs = [f for f in files[paths[2].name]["findings"] if f["check"] == "blobs"]
    assert {f["subject"] for f in blobs} == set(flipped) and all(f["severity"] == "error" for f in blobs)
    assert files["truncated.db"]["kind"] == "unreadable"
    assert "database disk image is malformed" in files["truncated.db"]["findings"][0]["message"]
    assert [f["check"] for f in files["lostwal.db"]["findings"]] == ["wal"]
    for name in ("stray.db-wal", "stray.db-shm"):
        assert files[name]["kind"] == "orphan sidecar" and files[name]["findings"][0]["check"] == "orphan_sidecar"
    assert files["other.db"]["findings"][0]["message"] == "not a lash database (tables: t)"
    assert files["noise.db"]["kind"] == "unreadable" and files["noise.db"]["findings"][0]["severity"] == "error"
    assert doc["errors"] >= 5 and not doc["ok"]
    only = json.loads(run(root, "doctor", str(root / "truncated.db"), str(root / "other.db"), "--json").stdout)
    assert [f["file"] for f in only["files"]] == ["truncated.db", "other.db"] and only["checked"] == 2
    assert snapshot(root) == before


@pytest.mark.parametrize("target", ["missing.db", "-", "x" * 10_000, "dir/none"])
def test_a_path_that_does_not_exist_exits_3(tmp_path, target):
    result = no_crash(run(tmp_path, "doctor", target if target != "missing.db" else str(tmp_path / target)))
    assert result.exit_code == 3 and result.stdout == ""
    lines = result.stderr.splitlines()
    # A name without a slash is a SESSION (id, prefix, file name) like every command takes.
    missing = "no such" if "/" in target or target == "missing.db" else f"no session `{target}` under {tmp_path}"
    assert len(lines) == 1 and lines[0].startswith("lashdb: error: ") and missing in lines[0]


def test_doctor_takes_a_session_id_or_prefix(built, demo):
    root, paths = demo
    session = built.sessions[0]
    for query in (session.session_id, session.session_id[:8], paths[0].name):
        doc = json.loads(run(root, "doctor", query, "--json").stdout)
        assert [f["path"] for f in doc["files"]] == [str(paths[0])] and doc["checked"] == 1


def test_odd_files_are_findings_not_errors(tmp_path):
    (tmp_path / "empty.db").write_bytes(b"")
    (tmp_path / "noise.db").write_bytes(random.Random(3).randbytes(2048))
    (tmp_path / "text.db").write_text("just text\n")
    before = snapshot(tmp_path)
    for name, kind in (("empty.db", "not lash"), ("noise.db", "unreadable"), ("text.db", "unreadable")):
        result = no_crash(run(tmp_path, "doctor", str(tmp_path / name), "--json"))
        assert result.exit_code == 1 and result.stderr == ""
        (entry,) = json.loads(result.stdout)["files"]
        assert entry["kind"] == kind and len(entry["findings"]) == 1
    assert snapshot(tmp_path) == before


def test_upstream_fixtures_in_place():
    before = snapshot(FIXTURES)
    result = no_crash(run(FIXTURES, "doctor", "--json"))
    assert result.exit_code == 1
    files = files_of(json.loads(result.stdout))
    assert {name: (f["kind"], f["schema_version"], f["supported_schema_version"]) for name, f in files.items()} == {
        "durable-core.db": ("session", 38, 4), "effects.db": ("effect replay", 11, 1),
        "processes.db": ("process registry", 24, 7), "triggers.db": ("trigger store", 6, 1)}
    for entry in files.values():
        assert entry["findings"][0]["check"] == "schema" and entry["checks"]["quick_check"] == "ok"
    table = run(FIXTURES, "doctor")
    assert "v38 (supports v4)" in table.stdout
    assert snapshot(FIXTURES) == before


def test_recursive_and_live_writer(tmp_path):
    root = tmp_path / "root"
    (root / "nested").mkdir(parents=True)
    top = clean_session(root / "top.db")
    clean_session(root / "nested" / "deep.db")
    assert [f["file"] for f in json.loads(run(root, "doctor", "--json").stdout)["files"]] == ["top.db"]
    deep = json.loads(runner.invoke(app, ["--root", str(root), "--recursive", "doctor", "--json"]).stdout)
    assert sorted(f["file"] for f in deep["files"]) == ["deep.db", "top.db"]
    with Store.open(top) as writer:
        writer.put_blob(b"in the wal" * 50)
        db, wal = top.read_bytes(), Path(f"{top}-wal").read_bytes()
        names = sorted(os.listdir(root))
        result = run(root, "doctor", str(top), "--json")
        assert result.exit_code == 0
        entry = json.loads(result.stdout)["files"][0]
        assert entry["wal_bytes"] == len(wal) > 0 and entry["ok"]
        assert top.read_bytes() == db and Path(f"{top}-wal").read_bytes() == wal
        assert sorted(os.listdir(root)) == names


def test_stale_private_copies_are_a_warning_with_a_remedy_and_doctor_fix_removes_them(tmp_path, monkeypatch):
    import subprocess
    import sys
    import tempfile

    from lashdb.engine.sqlite import connection

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr(connection, "_swept", False)
    copies = Path(connection.private_copy_root())
    copies.mkdir(mode=0o700)
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    dead = copies / f"{child.pid}-0-abcdef"  # a copy whose owner is gone (killed mid-look)
    dead.mkdir()
    (dead / "copy.db").write_bytes(b"x" * 1000)
    root = tmp_path / "root"
    root.mkdir()
    Store.open(str(root / "s.db")).close()

    checked = no_crash(run(root, "doctor", "--json"))
    assert checked.exit_code == 1
    doc = json.loads(checked.stdout)
    [entry] = [f for f in doc["files"] if f["kind"] == "stale private copy"]
    assert set(entry) == FILE_KEYS and (entry["path"], entry["db_bytes"]) == (str(dead), 1000)
    [finding] = entry["findings"]
    assert set(finding) == FINDING_KEYS
    assert (finding["check"], finding["severity"], finding["subject"], finding["remedy"]) == (
        "stale_private_copies", "warning", str(dead), f"rm -r -- {dead}")
    assert [f["ok"] for f in doc["files"] if f["kind"] != "stale private copy"] == [True]
    table = no_crash(run(root, "doctor"))
    assert table.exit_code == 1 and dead.name in table.stdout and "stale_private_copies" in table.stdout

    dry = no_crash(run(root, "doctor", "--fix", "--dry-run", "--json"))
    assert dry.exit_code == 1
    assert [(f["check"], f["action"]) for f in json.loads(dry.stdout)["fixes"]] == [
        ("stale_private_copies", "would apply")]
    assert (dead / "copy.db").stat().st_size == 1000

    fixed = no_crash(run(root, "doctor", "--fix", "--json"))
    assert fixed.exit_code == 0, fixed.output
    doc = json.loads(fixed.stdout)
    assert [(f["check"], f["action"], f["detail"]) for f in doc["fixes"]] == [
        ("stale_private_copies", "applied", f"removed {dead.name}")]
    assert doc["ok"] and not dead.exists()
    assert no_crash(run(root, "doctor")).exit_code == 0
