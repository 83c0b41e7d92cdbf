"""sqlite/backup.py: SQLite's online backup of one file from a read-only connection (issue 14).

The source's bytes and files are compared before and after with hashlib and os.listdir; the copy's
rows are read with plain apsw.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import apsw
import pytest

from conftest import snapshot_dir
from lashdb.engine.base.errors import DatabaseBusy, DatabaseError, DatabaseNotFound
from lashdb.engine.sqlite import backup
from lashdb.engine.sqlite.connection import open_write


def rows(path: Path) -> list[tuple]:
    conn = apsw.Connection(f"file:{path}?mode=ro", flags=apsw.SQLITE_OPEN_READONLY | apsw.SQLITE_OPEN_URI)
    # (a plain mode=ro open of a WAL file adds its -wal/-shm: only after the files were compared)
    try:
        return conn.execute("SELECT id, body FROM t ORDER BY id").fetchall()
    finally:
        conn.close()


@pytest.fixture
def source(tmp_path: Path) -> Path:
    """A WAL database of 50 rows, closed (so no -wal/-shm beside it)."""
    path = tmp_path / "src" / "s.db"
    path.parent.mkdir()
    conn = open_write(path)
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, body BLOB)")
    conn.executemany("INSERT INTO t VALUES (?, ?)", [(i, os.urandom(64)) for i in range(50)])
    conn.close()
    assert sorted(os.listdir(path.parent)) == ["s.db"]
    return path


def test_a_closed_file_is_copied_and_left_exactly_as_it_was(source, tmp_path):
    before = snapshot_dir(source.parent)
    dest = tmp_path / "out.db"
    size = backup.backup_file(source, dest)
    assert snapshot_dir(source.parent) == before  # same names (no -wal/-shm) and same bytes
    assert sorted(os.listdir(tmp_path)) == ["out.db", "src"]  # nothing left beside the copy
    assert size == dest.stat().st_size and rows(dest) == rows(source) and len(rows(dest)) == 50


def test_a_live_writers_committed_rows_are_in_the_copy_and_its_wal_is_untouched(source, tmp_path):
    writer = open_write(source)
    try:
        writer.execute("INSERT INTO t VALUES (1000, x'00')")  # committed into the -wal, not the file
        files = {n: hashlib.sha256((source.parent / n).read_bytes()).hexdigest()
                 for n in os.listdir(source.parent) if not n.endswith("-shm")}
        assert set(files) == {"s.db", "s.db-wal"}
        dest = tmp_path / "out.db"
        backup.backup_file(source, dest)
        assert {n: hashlib.sha256((source.parent / n).read_bytes()).hexdigest()
                for n in os.listdir(source.parent) if not n.endswith("-shm")} == files
        assert [r[0] for r in rows(dest)] == list(range(50)) + [1000]
    finally:
        writer.close()


def test_a_copy_whose_source_moved_without_a_lock_is_taken_again(source, tmp_path, monkeypatch):
    real, calls = backup._copy_once, []

    def moving(src: str, dst: str) -> None:
        real(src, dst)
        calls.append(dst)
        if len(calls) == 1:  # a checkpoint by a writer that appeared during the first copy
            os.utime(src, ns=(1, 1))

    monkeypatch.setattr(backup, "_copy_once", moving)
    backup.backup_file(source, tmp_path / "out.db")
    assert len(calls) == 2 and rows(tmp_path / "out.db") == rows(source)


def test_a_source_that_never_holds_still_is_busy_and_leaves_nothing(source, tmp_path, monkeypatch):
    real, calls = backup._copy_once, []

    def always_moving(src: str, dst: str) -> None:
        real(src, dst)
        calls.append(dst)
        os.utime(src, ns=(len(calls), len(calls)))

    monkeypatch.setattr(backup, "_copy_once", always_moving)
    with pytest.raises(DatabaseBusy) as err:
        backup.backup_file(source, tmp_path / "out.db")
    assert len(calls) == backup.ATTEMPTS and str(source) in str(err.value)
    assert sorted(os.listdir(tmp_path)) == ["src"]


def test_an_existing_destination_or_a_missing_source_is_refused(source, tmp_path):
    taken = tmp_path / "taken.db"
    taken.write_bytes(b"keep")
    with pytest.raises(DatabaseError) as err:
        backup.backup_file(source, taken)
    assert "already exists" in str(err.value) and taken.read_bytes() == b"keep"
    with pytest.raises(DatabaseNotFound):
        backup.backup_file(tmp_path / "missing.db", tmp_path / "new.db")
    assert not (tmp_path / "new.db").exists()
