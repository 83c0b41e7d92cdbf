"""Health checks in the engine (lashdb.engine.doctor; CLI.md `doctor`): each check on a file built to
trip it, the report's shape, and that doctor never writes.

"now" is passed explicitly, so expiry-based findings do not depend on the wall clock.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import apsw
import pytest

from lashdb.engine.ops.demo import build_demo
from lashdb.engine import AttachmentIntent, Store, StoreOptions
from lashdb.engine.ops import doctor
from lashdb.engine.codec import BlobProfile
from lashdb.engine.errors import DatabaseNotFound
from conftest import FIXTURES_DIR

FIXTURES = FIXTURES_DIR
NOW = 1_790_000_000_000
HOUR = 3_600_000


def snapshot(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def by_name(report: doctor.DoctorReport) -> dict[str, doctor.FileReport]:
    return {f.path.name: f for f in report.files}


def checks_of(report: doctor.FileReport) -> dict[str, list[doctor.Finding]]:
    out: dict[str, list[doctor.Finding]] = {}
    for finding in report.findings:
        out.setdefault(finding.check, []).append(finding)
    return out


class Clock:
    def __init__(self, now: int) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


def session(path: Path, clock: Clock | None = None) -> Store:
    return Store.open_with_options(path, StoreOptions(blob_profile=BlobProfile.BALANCED, clock=clock))


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return build_demo(tmp_path_factory.mktemp("demo") / "root")


@pytest.fixture
def demo(built, tmp_path):
    dest = tmp_path / "root"
    shutil.copytree(built.root, dest)
    return dest, [dest / s.path.name for s in built.sessions]


# --- the demo ---------------------------------------------------------------------------------------


def test_demo_root_has_no_damage(demo):
    root, paths = demo
    before = snapshot(root)
    report = doctor.run([root], now_ms=NOW)
    files = by_name(report)
    assert set(files) == {p.name for p in root.glob("*.db")}
    for path in paths:
        entry = files[path.name]
        assert entry.kind == "session" and entry.schema_version == entry.supported_version == 4
        for name in ("readable", "lash_kind", "schema_version", "quick_check", "blob_envelopes", "gc_roots"):
            assert entry.checks[name] == "ok", (path.name, name)
        assert entry.db_bytes == path.stat().st_size and entry.wal_bytes == 0
    assert not [x for f in report.files for x in f.findings if x.severity == doctor.ERROR]
    assert {f.kind for f in report.files} >= {"session", "process registry", "trigger store"}
    doc = report.to_json()
    assert set(doc) == {"ok", "paths", "checked_at", "checked_at_epoch_ms", "checked", "problem_files", "errors",
                        "warnings", "files"}
    assert doc["checked"] == len(files) and doc["checked_at_epoch_ms"] == NOW and doc["errors"] == 0
    assert doc["ok"] is (doc["warnings"] == 0) and doc["checked_at"] == "2026-09-21T14:13:20Z"
    assert set(doc["files"][0]) == {"path", "file", "kind", "status", "reason", "schema_version", "supported_schema_version",
                                    "db_bytes", "wal_bytes", "ok", "checks", "findings"}
    assert snapshot(root) == before


# --- one file per problem ---------------------------------------------------------------------------


def test_expired_execution_lease(tmp_path):
    clock = Clock(NOW - 2 * HOUR)
    path = tmp_path / "s.db"
    with session(path, clock) as store:
        held = store.try_claim_session_execution_lease("sess-1", "runner-a", 60_000)
        store.try_claim_session_execution_lease("sess-2", "runner-b", 60_000)
        store.release_session_execution_lease(held.completion())  # a released lease is fine
    found = checks_of(by_name(doctor.run([path], now_ms=NOW))["s.db"])
    assert [f.subject for f in found["execution_leases"]] == ["sess-2"]
    assert "`runner-b`" in found["execution_leases"][0].message and "1 h 59 min ago" in found["execution_leases"][0].message
    assert found["execution_leases"][0].severity == doctor.WARNING
    assert "execution_leases" not in checks_of(by_name(doctor.run([path], now_ms=NOW - 2 * HOUR))["s.db"])


def test_stale_uncommitted_attachment(tmp_path):
    path = tmp_path / "s.db"
    with session(path, Clock(NOW)) as store:
        store.record_intent(AttachmentIntent("att-old", "sess", "attachment://old.png", NOW - 3 * HOUR))
        store.record_intent(AttachmentIntent("att-new", "sess", "attachment://new.png", NOW - 60_000))
        store.record_intent(AttachmentIntent("att-done", "sess", "attachment://done.png", NOW - 5 * HOUR))
        store.commit_refs("sess", ["att-done"])
    report = by_name(doctor.run([path], now_ms=NOW))["s.db"]
    assert report.checks["attachment_intents"] == "problems"
    (finding,) = checks_of(report)["attachments"]
    assert finding.subject == "att-old" and "attachment://old.png" in finding.message
    assert finding.message.endswith("still uncommitted after 3 h")


def test_altered_blob_and_undecodable_live_manifest(demo):
    _root, paths = demo
    path = paths[0]
    conn = apsw.Connection(str(path))
    ref = json.loads(conn.execute("SELECT head_json FROM session_head").fetchall()[0][0])["checkpoint_ref"]
    other = conn.execute("SELECT hash FROM blobs WHERE hash != ? ORDER BY hash LIMIT 1", (ref,)).fetchall()[0][0]
    (content,), = conn.execute("SELECT content FROM blobs WHERE hash = ?", (ref,)).fetchall()
    conn.execute("UPDATE blobs SET content = ? WHERE hash = ?", (b"\xa3" + content[3:], ref))
    # `||` makes TEXT (here not even UTF-8) of the row: still read and verified, not a crash
    conn.execute("UPDATE blobs SET content = substr(content, 1, length(content) - 1) || x'ff' WHERE hash = ?",
                 (other,))
    conn.close()
    report = by_name(doctor.run([path], now_ms=NOW))[path.name]
    found = checks_of(report)
    assert {f.subject for f in found["blobs"]} == {ref, other}
    assert all(f.severity == doctor.ERROR and f.message.startswith(f"blob {f.subject}: ") for f in found["blobs"])
    assert found["gc_roots"][0].subject == ref and "gc would abort" in found["gc_roots"][0].message
    assert report.checks["quick_check"] == "ok" and not report.ok


def test_files_that_are_not_lash_databases(tmp_path):
    conn = apsw.Connection(str(tmp_path / "other.db"))
    conn.execute("CREATE TABLE notes(x); CREATE TABLE tags(y)")
    conn.close()
    (tmp_path / "empty.db").write_bytes(b"")
    (tmp_path / "noise.db").write_bytes(os.urandom(3000))
    (tmp_path / "text.db").write_text("hello\n" * 100)
    files = by_name(doctor.run([tmp_path], now_ms=NOW))
    assert files["other.db"].findings[0].message == "not a lash database (tables: notes, tags)"
    assert files["other.db"].findings[0].severity == doctor.WARNING and files["other.db"].kind == "not lash"
    assert files["empty.db"].findings[0].message == "not a lash database (an empty file)"
    for name in ("noise.db", "text.db"):
        (finding,) = files[name].findings
        assert files[name].kind == "unreadable" and finding.check == "readable" and finding.severity == doctor.ERROR
        assert finding.message.startswith("cannot be read:") and "file is not a database" in finding.message


def test_damaged_files(demo, tmp_path):
    _root, paths = demo
    truncated = tmp_path / "truncated.db"
    shutil.copy(paths[1], truncated)
    os.truncate(truncated, truncated.stat().st_size // 2)
    torn = tmp_path / "torn.db"
    with session(torn) as store:
        for i in range(80):
            store.put_blob(f"row {i:03d} ".encode() * 300)
    data = bytearray(torn.read_bytes())
    at = data.find(b"row 060 ")
    data[at - at % 4096: at - at % 4096 + 4096] = b"\x00" * 4096
    torn.write_bytes(bytes(data))
    before = snapshot(tmp_path)
    files = by_name(doctor.run([truncated, torn], now_ms=NOW))
    (finding,) = files["truncated.db"].findings
    assert finding.message.startswith("damaged: SQLite cannot read it (database disk image is malformed)")
    found = checks_of(files["torn.db"])
    assert found["quick_check"] and all(f.severity == doctor.ERROR for f in files["torn.db"].findings)
    assert found["blobs"][-1].message.startswith("damaged: SQLite stopped reading the blobs after ")
    assert snapshot(tmp_path) == before


def test_wal_files(demo, tmp_path, monkeypatch):
    root, paths = demo
    # a live database whose -wal was deleted: only its -shm is left
    Path(f"{paths[0]}-shm").write_bytes(b"\x00" * 32768)
    # a -wal without its -shm (a copy of db + wal): read from a private copy, no -shm created
    with Store.open(paths[1]) as writer:
        new = writer.put_blob(b"committed, only in the wal " * 40)
        shutil.copy(paths[1], tmp_path / "copy.db")
        shutil.copy(f"{paths[1]}-wal", tmp_path / "copy.db-wal")
    # orphans
    (root / "gone.db-wal").write_bytes(b"\x01" * 100)
    (root / "gone.db-shm").write_bytes(b"\x00" * 32768)
    before = snapshot(root), snapshot(tmp_path)
    files = by_name(doctor.run([root, tmp_path / "copy.db"], now_ms=NOW))
    (lost,) = checks_of(files[paths[0].name])["wal"]
    assert "-wal of a live database was deleted" in lost.message and lost.severity == doctor.WARNING
    copy = files["copy.db"]
    assert copy.ok and copy.wal_bytes > 0 and copy.checks["blob_envelopes"] == "ok"
    for name in ("gone.db-wal", "gone.db-shm"):
        assert files[name].kind == doctor.ORPHAN_SIDECAR and files[name].findings[0].check == "orphan_sidecar"
        assert "has no database gone.db beside it" in files[name].findings[0].message
    assert files["gone.db-wal"].wal_bytes == 100
    assert (snapshot(root), snapshot(tmp_path)) == before
    assert new  # the copy's wal holds it; blob_envelopes verified it
    monkeypatch.setattr(doctor, "LARGE_WAL_BYTES", 10)
    big = checks_of(by_name(doctor.run([tmp_path / "copy.db"], now_ms=NOW))["copy.db"])
    assert "checkpoints are not keeping up" in big["wal"][0].message


def test_foreign_fixture_in_place():
    before = snapshot(FIXTURES)
    files = by_name(doctor.run([FIXTURES], now_ms=NOW))
    assert set(files) == {"durable-core.db", "effects.db", "processes.db", "triggers.db"}
    core = files["durable-core.db"]
    assert (core.kind, core.schema_version, core.supported_version) == ("session", 38, 4)
    assert core.checks["quick_check"] == "ok" and core.checks["blob_envelopes"] == "ok"
    assert "gc_roots" not in core.checks  # a foreign schema roots its blobs elsewhere
    assert core.findings[0].check == "schema" and "version 38" in core.findings[0].message
    assert {f.kind for f in files.values()} == {"session", "effect replay", "process registry", "trigger store"}
    assert snapshot(FIXTURES) == before


# --- running ----------------------------------------------------------------------------------------


def test_a_failing_check_becomes_a_finding(demo, monkeypatch):
    _root, paths = demo

    def explodes(found, ctx):
        raise RuntimeError("boom")

    monkeypatch.setattr(doctor, "CHECKS", [*doctor.CHECKS, explodes])
    report = by_name(doctor.run([paths[0]], now_ms=NOW))[paths[0].name]
    (finding,) = checks_of(report)["explodes"]
    assert finding.severity == doctor.ERROR and finding.message == "check failed: RuntimeError: boom"
    assert report.checks["quick_check"] == "ok" and report.checks["explodes"] == "problems"


def test_run_paths_dedup_recursion_and_missing(demo, tmp_path):
    root, paths = demo
    nested = root / "archive" / "2025"
    nested.mkdir(parents=True)
    shutil.copy(paths[2], nested / "old.db")
    flat = doctor.run([root, paths[0], root / ".." / "root" / paths[0].name], now_ms=NOW)
    assert [f.path.name for f in flat.files].count(paths[0].name) == 1 and "old.db" not in by_name(flat)
    assert "old.db" in by_name(doctor.run([root], now_ms=NOW, recursive=True))
    with pytest.raises(DatabaseNotFound):
        doctor.run([tmp_path / "missing"], now_ms=NOW)
    assert doctor.run([tmp_path / "root" / "archive"], now_ms=NOW).files == ()
    assert doctor.ago(59_999) == "59 s" and doctor.ago(61 * 60_000) == "1 h 1 min" and doctor.ago(72 * HOUR) == "3 days"
