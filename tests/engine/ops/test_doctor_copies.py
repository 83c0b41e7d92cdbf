"""Stale private copies as a doctor finding and a `doctor --fix` remedy (issue 14): listed before doctor
opens anything (its own opens do not sweep them unseen), judged stale again before removal, a dry run
removes nothing, a live owner's copy is refused."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import apsw
import pytest

from lashdb.engine.base.errors import DatabaseError
from lashdb.engine.base.timing import wall_clock_ms
from lashdb.engine.ops import doctor_copies, doctor_fix
from lashdb.engine.ops.backend import open_backend
from lashdb.engine.sqlite import connection


@pytest.fixture
def copies_root(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr(connection, "_swept", False)  # as in a fresh process
    root = Path(connection.private_copy_root())
    root.mkdir(mode=0o700)
    return root


def _dead_copy(root: Path, size: int = 4096) -> Path:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    copy = root / f"{child.pid}-0-abcdef"
    copy.mkdir()
    (copy / "copy.db").write_bytes(b"x" * size)
    (copy / "copy.db-wal").write_bytes(b"y" * 100)
    return copy


def _root_needing_a_copy(tmp_path: Path) -> Path:
    """A sessions root whose one database has a -wal but no -shm (doctor reads it from a copy)."""
    live, root = tmp_path / "live", tmp_path / "root"
    live.mkdir()
    root.mkdir()
    writer = apsw.Connection(str(live / "a.db"))
    for sql in ("PRAGMA journal_mode = WAL", "PRAGMA wal_autocheckpoint = 0", "CREATE TABLE t (x)",
                "INSERT INTO t VALUES (1)"):
        writer.execute(sql).fetchall()
    shutil.copyfile(live / "a.db", root / "a.db")
    shutil.copyfile(live / "a.db-wal", root / "a.db-wal")
    writer.close()
    return root


def test_doctor_of_a_root_lists_each_stale_copy_before_its_own_opens_could_sweep_it(tmp_path, copies_root):
    dead = _dead_copy(copies_root)
    root = _root_needing_a_copy(tmp_path)
    report = open_backend(root).doctor(now_ms=wall_clock_ms())
    assert dead.exists()  # doctor's read of a.db (through a copy of its own) left it
    [entry] = [f for f in report.files if f.kind == doctor_copies.KIND]
    assert (entry.path, entry.db_bytes, entry.checks) == (dead, 4196, {"stale_private_copies": "problems"})
    [finding] = entry.findings
    assert (finding.check, finding.severity, finding.subject) == ("stale_private_copies", "warning", str(dead))
    assert finding.message == (f"{dead.name} (4196 bytes) is the private copy of a read-only look by process "
                               f"{dead.name.split('-')[0]}, which is gone; delete it")
    assert not report.ok
    doc = entry.to_json()
    assert (doc["kind"], doc["status"], doc["file"]) == ("stale private copy", "problems", dead.name)
    # Named files are about those files: the machine's copies are not listed.
    named = open_backend(root).doctor([root / "a.db"], now_ms=wall_clock_ms())
    assert [f.kind for f in named.files if f.kind == doctor_copies.KIND] == []


def test_fix_removes_the_copy_and_a_dry_run_removes_nothing(tmp_path, copies_root):
    dead = _dead_copy(copies_root)
    root = tmp_path / "root"
    root.mkdir()
    backend = open_backend(root)
    report = doctor_fix.with_remedies(backend.doctor(now_ms=wall_clock_ms()))
    [finding] = [x for f in report.files for x in f.findings]
    assert finding.remedy == f"rm -r -- {dead}"
    assert "stale_private_copies" in doctor_fix.SAFE_CHECKS
    [dry] = doctor_fix.fix(backend, report, dry_run=True)
    assert (dry.action, dry.detail, dry.command) == ("would apply", f"would remove {dead.name}", f"rm -r -- {dead}")
    assert sorted(os.listdir(dead)) == ["copy.db", "copy.db-wal"]
    [done] = doctor_fix.fix(backend, report)
    assert (done.action, done.detail) == ("applied", f"removed {dead.name}")
    assert not dead.exists() and os.listdir(copies_root) == []
    assert open_backend(root).doctor(now_ms=wall_clock_ms()).ok
    [again] = doctor_fix.fix(backend, report)  # the report was stale: nothing left to remove
    assert (again.action, again.detail) == ("applied", f"{dead.name}: already gone")


def test_a_live_owners_copy_is_not_listed_and_its_removal_is_refused(tmp_path, copies_root):
    conn = connection.open_readonly(_root_needing_a_copy(tmp_path) / "a.db")  # this process's own copy
    mine = os.path.dirname(conn.filename)
    try:
        with doctor_copies.kept() as copies:
            assert copies == []
        with pytest.raises(DatabaseError) as err:
            doctor_copies.remove(mine)
        assert "not a private copy of a process that is gone" in str(err.value)
        assert os.path.isdir(mine)
        assert conn.execute("SELECT count(*) FROM t").fetchall() == [(1,)]
    finally:
        conn.close()


def test_kept_stops_this_process_sweeping_until_the_report_is_done(tmp_path, copies_root):
    dead = _dead_copy(copies_root)
    with doctor_copies.kept() as copies:
        assert copies == [str(dead)]
        connection.open_readonly(_root_needing_a_copy(tmp_path) / "a.db").close()
        assert dead.exists()
    plain = tmp_path / "plain.db"
    apsw.Connection(str(plain)).execute("CREATE TABLE t (x)")
    connection.open_readonly(plain).close()
    assert dead.exists()  # listed for a report: the once-a-process sweep leaves it to the remedy
    assert connection.clean_stale_private_copies() == [str(dead)]
