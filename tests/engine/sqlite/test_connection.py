"""Connections (SPEC §2): writable pragmas and read-only inspection that changes nothing on disk.
(Many processes creating one new database at once: tests/system/test_first_open_crossprocess.py.)
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import apsw
import pytest
from conftest import snapshot_dir

from lashdb.engine.sqlite import connection
from lashdb.engine.errors import BackendError, DatabaseError, DatabaseNotFound
from lashdb.engine.session.model import GraphNode, SessionMeta
from lashdb.engine.session.store import Store



def _pragmas(conn: apsw.Connection) -> dict[str, object]:
    return {name: conn.execute(f"PRAGMA {name}").fetchall()[0][0]
            for name in ("busy_timeout", "journal_mode", "synchronous", "foreign_keys", "cache_size")}


def test_writable_connection_pragmas(tmp_db):
    conn = connection.open_write(tmp_db)
    try:
        # The 15 s wait is a busy handler (sqlite/busy.py, which says who holds the lock), so the
        # pragma reads 0; tests/engine/sqlite/test_sqlite_busy.py checks the wait itself.
        assert _pragmas(conn) == {"busy_timeout": 0, "journal_mode": "wal", "synchronous": 1,
                                  "foreign_keys": 1, "cache_size": -2000}
    finally:
        conn.close()


def test_memory_connection_pragmas():
    conn = connection.open_memory()
    try:
        assert _pragmas(conn) == {"busy_timeout": 15_000, "journal_mode": "memory", "synchronous": 1,
                                  "foreign_keys": 1, "cache_size": -2000}
    finally:
        conn.close()


def test_write_transaction_rolls_back_everything_on_error(tmp_db):
    conn = connection.open_write(tmp_db)
    try:
        conn.execute("CREATE TABLE t (x UNIQUE)")
        with pytest.raises(Exception, match="UNIQUE"):
            with connection.write_transaction(conn, str(tmp_db)) as c:
                c.execute("INSERT INTO t VALUES (1)")
                c.execute("INSERT INTO t VALUES (1)")
        assert conn.get_autocommit()
        assert conn.execute("SELECT count(*) FROM t").fetchall() == [(0,)]
    finally:
        conn.close()


# --- read-only inspection changes nothing ---------------------------------------------------------


def _seed(store: Store) -> str:
    store.save_session_meta(SessionMeta("s1", "s1", "unix:1700000000", "m", "/w"))
    store.append_session_graph_nodes([GraphNode.message("n1", "User", "hello", timestamp="t1")])
    return store.put_blob(b"payload")


def _inspect(path: Path, ref: str) -> None:
    with Store.open_readonly(path) as store:
        assert store.load_session_meta().session_id == "s1"
        assert [n.node_id for n in store.load_session_graph().nodes] == ["n1"]
        assert store.get_blob(ref) == b"payload"
        assert store.load_picker_info().first_user_message == "hello"
        with pytest.raises(BackendError, match="readonly database"):
            store.read(lambda c: c.execute("INSERT INTO blobs VALUES ('x', x'00')"))


def test_readonly_open_without_wal_changes_nothing(tmp_path):
    src, copy = tmp_path / "src", tmp_path / "copy"
    src.mkdir()
    with Store.open(src / "s.db") as store:
        ref = _seed(store)
    assert sorted(os.listdir(src)) == ["s.db"]  # a clean close leaves no -wal
    shutil.copytree(src, copy)
    before = snapshot_dir(copy)
    _inspect(copy / "s.db", ref)
    assert snapshot_dir(copy) == before


@pytest.fixture
def live_wal_copy(tmp_path):
    """A copy of db, -wal and -shm taken while a writer holds the database open with unmerged WAL."""
    src, copy = tmp_path / "src", tmp_path / "copy"
    src.mkdir()
    writer = Store.open(src / "s.db")
    writer.write(lambda c: c.execute("PRAGMA wal_autocheckpoint = 0"))
    ref = _seed(writer)
    assert sorted(os.listdir(src)) == ["s.db", "s.db-shm", "s.db-wal"]
    shutil.copytree(src, copy)
    yield copy, ref, writer
    writer.close()


def test_readonly_open_with_wal_changes_nothing(live_wal_copy):
    copy, ref, _writer = live_wal_copy
    before = snapshot_dir(copy)
    assert set(before) == {"s.db", "s.db-wal", "s.db-shm"}
    _inspect(copy / "s.db", ref)  # the rows live only in the -wal: they are read from it
    assert snapshot_dir(copy) == before


def test_readonly_open_in_a_read_only_directory(live_wal_copy, tmp_path):
    copy, ref, _writer = live_wal_copy
    plain = tmp_path / "plain"
    plain.mkdir()
    with Store.open(plain / "s.db") as store:
        plain_ref = _seed(store)
    snapshots = {copy: snapshot_dir(copy), plain: snapshot_dir(plain)}
    # Root ignores the mode bits, so the assertion is on the files, not on a permission error.
    for directory in snapshots:
        directory.chmod(0o555)
    try:
        _inspect(copy / "s.db", ref)
        _inspect(plain / "s.db", plain_ref)
    finally:
        for directory in snapshots:
            directory.chmod(0o755)
    for directory, before in snapshots.items():
        assert snapshot_dir(directory) == before


def test_readonly_reader_beside_a_live_writer_sees_new_commits(live_wal_copy, tmp_path):
    _copy, ref, writer = live_wal_copy
    src = Path(writer.path).parent
    reader = Store.open_readonly(writer.path)
    try:
        assert reader.get_blob(ref) == b"payload"
        second = writer.put_blob(b"second")
        assert reader.get_blob(second) == b"second"
        assert sorted(os.listdir(src)) == ["s.db", "s.db-shm", "s.db-wal"]
    finally:
        reader.close()


def test_readonly_open_errors_name_the_path(tmp_path):
    with pytest.raises(DatabaseNotFound) as err:
        connection.open_readonly(tmp_path / "missing.db")
    assert err.value.path == str(tmp_path / "missing.db")
    with pytest.raises(DatabaseError, match="is a directory"):
        connection.open_readonly(tmp_path)
    assert os.listdir(tmp_path) == []
