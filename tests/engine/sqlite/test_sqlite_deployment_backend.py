"""SqliteDeploymentBackend: one transaction per call, rollback on any exception, typed errors naming the file."""

from __future__ import annotations

import apsw
import pytest

from lashdb.engine.base.errors import BackendError, DatabaseCorrupt, LashdbError, NotALashDatabase
from lashdb.engine.sqlite.deployment_backend import (SqliteDeploymentBackend, open_deployment,
                                                     open_process_registry, open_trigger_store)
from lashdb.engine.sqlite.kinds import EFFECT_REPLAY, PROCESS_REGISTRY, TRIGGER_STORE
from lashdb.engine.sqlite.registry import SqliteRegistryRows
from lashdb.engine.sqlite.triggers import SqliteTriggerRows


def _count(conn: apsw.Connection) -> int:
    return conn.execute("SELECT count(*) FROM processes").fetchall()[0][0]


def _insert(conn: apsw.Connection, pid: str) -> None:
    conn.execute("INSERT INTO processes (process_id, registration_hash, owner_scope_id, created_at_ms, "
                 "updated_at_ms, status, record_json) VALUES (?, 'h', 's', 1, 1, 'running', '{}')", (pid,))


@pytest.fixture
def backend(tmp_path):
    b = open_deployment(PROCESS_REGISTRY, tmp_path / "processes.db")
    yield b
    b.close()


def test_default_rows_is_the_connection(backend, tmp_path):
    assert backend.path == str(tmp_path / "processes.db")
    assert backend.read(lambda rows: rows) is backend.conn
    backend.write(lambda c: _insert(c, "p1"))
    assert backend.read(_count) == 1


def test_write_rolls_back_on_exception(backend):
    def boom(conn):
        _insert(conn, "p1")
        assert conn.get_autocommit() is False  # inside BEGIN IMMEDIATE
        raise ValueError("caller failed")
    with pytest.raises(ValueError, match="caller failed"):
        backend.write(boom)
    assert backend.read(_count) == 0
    assert backend.conn.get_autocommit() is True


def test_write_driver_error_is_typed_and_rolled_back(backend):
    def dup(conn):
        _insert(conn, "p1")
        _insert(conn, "p1")
    with pytest.raises(BackendError) as info:
        backend.write(dup)
    assert isinstance(info.value.__cause__, apsw.ConstraintError)
    assert backend.read(_count) == 0


def test_autocommit_commits_each_statement(backend):
    def half(conn):
        _insert(conn, "p1")
        raise ValueError("after the first statement")
    with pytest.raises(ValueError):
        backend.autocommit(half)
    assert backend.read(_count) == 1


def test_closed_connection_is_typed_and_names_the_file(backend):
    backend.close()
    for call in (backend.write, backend.read, backend.autocommit):
        with pytest.raises(LashdbError) as info:
            call(_count)
        assert not isinstance(info.value, apsw.Error)
        assert isinstance(info.value, BackendError)
        assert info.value.path == backend.path
        # refused before SQLite is asked: the message itself names the file (apsw's would not)
        assert info.value.driver_message == f"{backend.path}: the store was closed"


def test_open_memory_and_named_openers():
    for opener, rows_type in ((open_process_registry, SqliteRegistryRows), (open_trigger_store, SqliteTriggerRows)):
        b = opener(None)
        try:
            assert isinstance(b, SqliteDeploymentBackend) and b.path is None
            assert type(b.read(lambda r: r)) is rows_type
        finally:
            b.close()


def test_open_refuses_another_kind_without_touching_it(tmp_path):
    path = tmp_path / "t.db"
    open_deployment(TRIGGER_STORE, path).close()
    before = path.read_bytes()
    with pytest.raises(NotALashDatabase):
        open_deployment(EFFECT_REPLAY, path)
    assert path.read_bytes() == before


def test_corrupt_file_is_typed(tmp_path):
    path = tmp_path / "junk.db"
    path.write_bytes(b"SQLite format 3\x00" + b"\xff" * 4080)
    with pytest.raises(LashdbError) as info:
        open_deployment(PROCESS_REGISTRY, path)
    assert isinstance(info.value, (DatabaseCorrupt, NotALashDatabase, BackendError))
    assert str(path) in str(info.value)
