"""SqliteSessionBackend: transactions and rollback, the tx's lazily built rows objects, read-only opens, typed errors."""

from __future__ import annotations

import apsw
import pytest

from lashdb.engine.base.errors import BackendError, LashdbError, NotALashDatabase, SchemaVersionError
from lashdb.engine.sqlite.deployment_backend import open_deployment
from lashdb.engine.sqlite.kinds import PROCESS_REGISTRY, SESSION
from lashdb.engine.sqlite.queued_work import SqliteQueueRows
from lashdb.engine.sqlite.session_backend import SqliteSessionBackend, SqliteSessionTx, open_session, session_tx
from lashdb.engine.sqlite.session_rows import SqliteSessionRows


def _put(tx: SqliteSessionTx, ref: str = "a") -> None:
    tx.rows.put_artifact_ref(ref, "blob")


def _refs(tx: SqliteSessionTx) -> list:
    return tx.rows.artifact_refs()


def test_in_memory_write_then_read():
    b = open_session(None)
    try:
        assert (b.path, b.readonly, b.size_on_disk()) == (None, False, 0)
        b.write(_put)
        assert b.read(_refs) == [("a", "blob")]
        assert list(b.read_iter(lambda tx: iter(_refs(tx)))) == [("a", "blob")]
        assert b.raw_read(lambda c: c.execute("SELECT count(*) FROM artifact_refs").fetchall()) == [(1,)]
        assert b.compact() is None
    finally:
        b.close()


def test_tx_builds_each_rows_object_once():
    b = open_session(None)
    try:
        def look(tx):
            assert isinstance(tx.rows, SqliteSessionRows) and tx.rows is tx.rows
            assert isinstance(tx.queue, SqliteQueueRows) and tx.queue is tx.queue
            assert tx.graph.conn is tx.blobs.conn is tx.leases.conn is tx.attachments.conn is tx.conn
            return True
        assert b.read(look)
        assert isinstance(session_tx(b.conn), SqliteSessionTx)
    finally:
        b.close()


def test_change_marker_moves_only_on_a_change():
    b = open_session(None)
    try:
        first = b.read(lambda tx: tx.change_marker())
        assert b.read(lambda tx: tx.change_marker()) == first
        b.write(_put)
        assert b.read(lambda tx: tx.change_marker()) != first
    finally:
        b.close()


def test_write_rolls_back_on_exception(tmp_path):
    b = open_session(tmp_path / "s.db")
    try:
        def boom(tx):
            _put(tx)
            raise KeyError("caller")
        with pytest.raises(KeyError):
            b.write(boom)
        with pytest.raises(KeyError):
            b.raw_write(lambda c: (c.execute("INSERT INTO artifact_refs VALUES ('x', 'y')"), {}["k"]))
        assert b.read(_refs) == []
        b.write(_put)
        assert b.read(_refs) == [("a", "blob")]
        assert b.size_on_disk() > 0
    finally:
        b.close()


def test_closed_backend_write_raises_typed_error_naming_the_file(tmp_path):
    b = open_session(tmp_path / "s.db")
    b.close()
    for call in (b.write, b.raw_write):
        with pytest.raises(BackendError) as info:
            call(lambda _: None)
        assert info.value.path == str(tmp_path / "s.db")
        assert isinstance(info.value.__cause__, apsw.Error)


def test_closed_backend_read_raises_typed_error_naming_the_file(tmp_path):
    b = open_session(tmp_path / "s.db")
    b.close()
    with pytest.raises(BackendError) as info:
        b.read(_refs)
    assert info.value.path == str(tmp_path / "s.db")


def test_readonly_open(tmp_path):
    path = tmp_path / "s.db"
    w = open_session(path)
    w.write(_put)
    w.close()
    before = path.read_bytes()
    r = open_session(path, readonly=True)
    try:
        assert r.readonly and r.classification is not None and r.classification.kind is SESSION
        assert r.read(_refs) == [("a", "blob")]
        with pytest.raises(LashdbError):
            r.write(lambda tx: _put(tx, "b"))
        err = r.wrong_version()
        assert isinstance(err, SchemaVersionError) and str(path) in str(err)
    finally:
        r.close()
    assert path.read_bytes() == before


def test_readonly_refuses_another_kind(tmp_path):
    path = tmp_path / "p.db"
    open_deployment(PROCESS_REGISTRY, path).close()
    with pytest.raises(NotALashDatabase) as info:
        open_session(path, readonly=True)
    assert str(path) in str(info.value)
    with pytest.raises(NotALashDatabase):
        open_session(path)


def test_readonly_corrupt_file_is_typed(tmp_path):
    path = tmp_path / "junk.db"
    path.write_bytes(b"not a database at all" * 200)
    with pytest.raises(LashdbError) as info:
        open_session(path, readonly=True)
    assert str(path) in str(info.value)


def test_backend_type():
    b = open_session(None)
    try:
        assert isinstance(b, SqliteSessionBackend)
    finally:
        b.close()


def test_a_write_transaction_reads_data_version_once_and_it_holds(tmp_path):
    # The commit path asks for the marker before and after its writes; the second answer reuses
    # the first data_version, which must be what SQLite would still say (and move for other writers).
    a, b = open_session(tmp_path / "s.db"), open_session(tmp_path / "s.db")
    try:
        def inside(tx):
            before = tx.change_marker()
            _put(tx)
            return before, tx.change_marker(), tx.conn.execute("PRAGMA data_version").fetchall()[0][0]
        before, after, fresh = a.write(inside)
        assert after[0] == before[0] == fresh and after[1] > before[1]
        assert a.write(lambda tx: tx.change_marker())[0] == before[0]  # our own commit did not move it
        b.write(lambda tx: tx.conn.execute("INSERT INTO artifact_refs VALUES ('b', 'blob')"))
        assert a.write(lambda tx: tx.change_marker())[0] != before[0]
    finally:
        a.close()
        b.close()


def _settings(backend) -> tuple[int, int]:
    return (backend.conn.execute("PRAGMA wal_autocheckpoint").fetchall()[0][0],
            backend.conn.execute("PRAGMA mmap_size").fetchall()[0][0])


def test_gc_batches_defer_checkpoints_to_after_gc_batch_and_restore_the_settings(tmp_path):
    from lashdb.engine.sqlite import session_backend

    backend = open_session(str(tmp_path / "s.db"))
    try:
        before = _settings(backend)
        with backend.gc_batches():
            assert _settings(backend)[1] == session_backend.GC_MMAP_BYTES
            # The commit reports its -wal pages to the GC's hook instead of checkpointing ...
            backend.write(lambda tx: tx.blobs.put([(f"h{i}", bytes(4000)) for i in range(600)]))
            assert backend._wal_pages >= session_backend.GC_CHECKPOINT_PAGES
            # ... after_gc_batch checkpoints, outside any transaction, and counts afresh.
            backend.after_gc_batch()
            assert backend._wal_pages == 0
            backend.write(lambda tx: tx.blobs.put([("more", bytes(4000))]))
            small = backend._wal_pages
            backend.after_gc_batch()  # under the threshold: left for later
            assert 0 < small < session_backend.GC_CHECKPOINT_PAGES and backend._wal_pages == small
        assert _settings(backend) == before
        backend.after_gc_batch()  # outside a GC: nothing to do, no error
    finally:
        backend.close()


def test_gc_batches_in_memory_change_nothing():
    memory = open_session(None)
    try:
        with memory.gc_batches():
            memory.after_gc_batch()
    finally:
        memory.close()
