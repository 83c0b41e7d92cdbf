"""Issue 10, connection items: the asyncio facade never runs store code on the event loop (5),
SQLite's file errors name the file and the remedy (12), and private read-only copies left by a killed
inspection are removed by the next run (15).
"""

from __future__ import annotations

import asyncio
import gc
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
from pathlib import Path

import apsw
import pytest
from typer.testing import CliRunner

from lashdb.cli.main import app
from lashdb.engine.ops.demo import build_demo
from lashdb.engine import aio
from lashdb.engine.sqlite import connection
from lashdb.engine.base.errors import RESTORE
from lashdb.engine.errors import (
    BackendError,
    BlobDecodeError,
    DatabaseCorrupt,
    DatabaseError,
    DatabaseReadOnly,
    DiskFull,
    StoreClosed,
)
from lashdb.engine.session.store import Store, StoreOptions
from lashdb.engine.ops.verify import is_damage

HANG_GUARD_S = 60  # only so that a regression fails instead of hanging the suite; never a timing check
runner = CliRunner()


def guarded(awaitable):
    return asyncio.wait_for(awaitable, HANG_GUARD_S)


# --- 5: asyncio facade ---------------------------------------------------------------------------------


class RecordingStore(Store):
    """A store whose blob-row generator notes the thread each row is produced on."""

    produced_on: list[str]

    def iter_blob_rows(self, hashes=None):
        self.produced_on = getattr(self, "produced_on", [])
        for row in super().iter_blob_rows(hashes):
            self.produced_on.append(threading.current_thread().name)
            yield row


def _open_recording(path: Path) -> Store:
    return RecordingStore.open_with_options(path, StoreOptions())


def test_iterating_blob_rows_runs_on_the_worker_and_the_next_call_completes(tmp_path):
    async def main():
        st = await aio.AsyncFacade.create(_open_recording, tmp_path / "s.db")
        async with st:
            contents = [f"blob {i}".encode() for i in range(3 * aio.ITER_CHUNK + 5)]
            hashes = [await st.put_blob(c) for c in contents]
            rows = await st.iter_blob_rows()
            assert not hasattr(rows, "__next__")  # nothing to call on the loop thread
            first = await guarded(rows.__anext__())
            # Before: the generator ran on the loop thread holding the store lock; this never returned.
            added = await guarded(st.put_blob(b"written while iterating"))
            rest = await guarded(rows.collect())
            count = await guarded(st.blob_count_and_size())
            return hashes, contents, [first, *rest], added, count, st.sync.produced_on

    hashes, contents, rows, added, count, threads = asyncio.run(main())
    assert hashes == [hashlib.sha256(c).hexdigest() for c in contents]
    # One snapshot, as the sync generator gives: hash order, every row, not the blob added meanwhile.
    assert [h for h, _ in rows] == sorted(hashes)
    assert added not in dict(rows)
    assert count[0] == len(hashes) + 1
    assert len(threads) == len(hashes) and set(t.startswith("lashdb-aio") for t in threads) == {True}


def test_rows_are_the_stored_bytes(tmp_path):
    path = tmp_path / "s.db"
    with Store.open(path) as sync:
        refs = [sync.put_blob(bytes([i]) * 100) for i in range(5)]
        expected = sorted(sync.iter_blob_rows())

    async def main():
        st = await aio.open_store(path)
        async with st:
            return [row async for row in await st.iter_blob_rows()], \
                [row async for row in await st.iter_blob_rows(refs[:2])]

    everything, two = asyncio.run(main())
    assert everything == expected and len(everything) == 5
    assert two == [(ref, dict(expected)[ref]) for ref in refs[:2]]
    assert [hashlib.sha256(bytes([i]) * 100).hexdigest() for i in range(5)] == refs


def test_an_abandoned_or_closed_iterator_releases_the_store(tmp_path):
    async def main():
        st = await aio.open_store(tmp_path / "s.db")
        async with st:
            for i in range(2 * aio.ITER_CHUNK):
                await st.put_blob(b"%d" % i)
            closed = await st.iter_blob_rows()
            await guarded(closed.__anext__())
            await guarded(closed.aclose())
            after_close = [row async for row in closed]
            dropped = await st.iter_blob_rows()
            await guarded(dropped.__anext__())
            del dropped
            gc.collect()
            # A write needs BEGIN IMMEDIATE: it fails if a read transaction of the iterator were open.
            ref = await guarded(st.put_blob(b"after"))
            return after_close, ref, await guarded(st.blob_count_and_size())

    after_close, ref, (count, _) = asyncio.run(main())
    assert after_close == [] and ref == hashlib.sha256(b"after").hexdigest()
    assert count == 2 * aio.ITER_CHUNK + 1


class FailingStore(Store):
    def iter_blob_rows(self, hashes=None):
        yield from list(super().iter_blob_rows(hashes))[:2]
        raise BlobDecodeError("ab" * 32, "damaged envelope")


def test_an_error_inside_the_iterator_comes_after_the_rows_read_before_it(tmp_path):
    async def main():
        st = await aio.AsyncFacade.create(FailingStore.open, tmp_path / "s.db")
        async with st:
            for i in range(3):
                await st.put_blob(b"%d" % i)
            rows = await st.iter_blob_rows()
            got = [await rows.__anext__(), await rows.__anext__()]
            with pytest.raises(BlobDecodeError, match="damaged envelope"):
                await guarded(rows.__anext__())
            with pytest.raises(StopAsyncIteration):
                await rows.__anext__()
            return got, await guarded(st.blob_count_and_size())

    got, (count, _) = asyncio.run(main())
    assert len(got) == 2 and count == 3


def test_calls_after_close_raise_store_closed_naming_the_file(tmp_path):
    path = tmp_path / "s.db"

    async def main():
        st = await aio.open_store(path)
        pending = await st.iter_blob_rows()
        await st.close()
        await st.close()  # a second close is harmless
        errors = []
        for call in (st.blob_count_and_size(), st.put_blob(b"x"), pending.__anext__()):
            with pytest.raises(StoreClosed) as err:
                await guarded(call)
            errors.append(err.value)
        registry = await aio.open_process_registry(tmp_path / "p.db")
        await registry.close()
        with pytest.raises(StoreClosed) as reg_err:
            await guarded(registry.await_process("nope", timeout=HANG_GUARD_S))
        mem = await aio.memory_store()
        await mem.close()
        with pytest.raises(StoreClosed) as mem_err:
            await mem.load_session_meta()
        return errors, reg_err.value, mem_err.value

    errors, reg_err, mem_err = asyncio.run(main())
    for err in errors:
        assert err.path == str(path) and str(err) == f"{path}: the Store is closed"
        assert "open the store again" in err.hint
    assert reg_err.path == str(tmp_path / "p.db") and "ProcessRegistry is closed" in str(reg_err)
    assert mem_err.path is None and str(mem_err) == "the in-memory database: the Store is closed"


# --- 12: SQLite errors name the file and the remedy -----------------------------------------------------


def test_disk_full_names_the_file_rolls_back_and_a_retry_succeeds(tmp_path):
    path = tmp_path / "s.db"
    big = os.urandom(256 << 10)  # incompressible: needs ~64 more pages
    with Store.open(path) as store:
        store.put_blob(b"before")
        pages = store.read(lambda c: c.execute("PRAGMA page_count").fetchall()[0][0])
        store.write(lambda c: c.execute(f"PRAGMA max_page_count = {pages + 4}").fetchall())
        with pytest.raises(DiskFull) as err:
            store.put_blob(big)
        assert isinstance(err.value, BackendError) and err.value.path == str(path)
        assert str(err.value) == f"store backend error: database or disk is full: {path}"
        assert err.value.hint == f"free space on {tmp_path} and retry; the transaction was rolled back"
        assert store.blob_count_and_size()[0] == 1  # nothing of the failed write stayed
        store.write(lambda c: c.execute("PRAGMA max_page_count = 1073741823").fetchall())
        assert store.put_blob(big) == hashlib.sha256(big).hexdigest()
        assert store.get_blob(hashlib.sha256(big).hexdigest()) == big


def test_disk_full_in_memory_says_so():
    store = Store.memory()
    store.write(lambda c: c.execute("PRAGMA max_page_count = 40").fetchall())
    with pytest.raises(DiskFull) as err:
        store.put_blob(os.urandom(1 << 20))
    assert str(err.value) == "store backend error: database or disk is full: the in-memory database"
    assert "free memory and retry" in err.value.hint


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return build_demo(tmp_path_factory.mktemp("demo") / "root", 1)


def _damaged_copy(src: Path, dest: Path, table: str = "graph_nodes") -> Path:
    """A checkpointed copy of ``src`` whose ``table`` root page is overwritten with 0xFF."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dest)
    if os.path.exists(f"{src}-wal"):
        shutil.copyfile(f"{src}-wal", f"{dest}-wal")
    conn = apsw.Connection(str(dest))
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
    conn.execute("PRAGMA journal_mode = DELETE").fetchall()
    page_size = conn.execute("PRAGMA page_size").fetchall()[0][0]
    [(root,)] = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = ?", (table,)).fetchall()
    conn.close()
    with open(dest, "r+b") as fh:
        fh.seek((root - 1) * page_size)
        fh.write(b"\xff" * page_size)
    return dest


def test_a_malformed_database_names_the_file_and_says_run_doctor(built, tmp_path):
    damaged = _damaged_copy(built.sessions[0].path, tmp_path / "bad" / "damaged.db")
    with Store.open_readonly(damaged) as store, pytest.raises(DatabaseCorrupt) as err:
        store.load_session_graph()
    assert err.value.path == str(damaged) and is_damage(err.value)
    assert str(err.value) == f"store backend error: {damaged} is damaged: database disk image is malformed"
    assert err.value.hint == f"run `lashdb doctor {damaged}` to see what is readable; restore it with {RESTORE}"

    digest = hashlib.sha256(damaged.read_bytes()).hexdigest()
    result = runner.invoke(app, ["--root", str(damaged.parent), "graph", "show", str(damaged)])
    assert result.exit_code == 3 and result.stdout == ""
    assert result.stderr.splitlines() == [
        f"lashdb: error: store backend error: {damaged} is damaged: database disk image is malformed "
        f"(run `lashdb doctor {damaged}` to see what is readable; restore it with {RESTORE})"]
    assert hashlib.sha256(damaged.read_bytes()).hexdigest() == digest


def test_cli_disk_full_is_one_line_with_file_and_remedy(tmp_path, monkeypatch):
    # SQLite's own SQLITE_FULL: every connection lashdb opens is capped one page past the empty
    # schema, so building the demo's first session runs out of room exactly as on a full disk.
    real = connection._pragmas
    monkeypatch.setattr(connection, "_pragmas",
                        lambda conn: (real(conn), conn.execute("PRAGMA max_page_count = 28").fetchall()))
    target = tmp_path / "demo"
    result = runner.invoke(app, ["demo", str(target)])
    assert result.exit_code == 3 and "Traceback" not in result.output
    [line] = result.stderr.splitlines()
    [db] = [p for p in target.iterdir() if str(p) in line]
    assert line == (f"lashdb: error: store backend error: database or disk is full: {db} "
                    f"(free space on {target} and retry; the transaction was rolled back)")


IO_LIMITED = textwrap.dedent("""
    import resource, signal, sys
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead
    resource.setrlimit(resource.RLIMIT_FSIZE, (int(sys.argv[1]), int(sys.argv[1])))
    from lashdb.cli.main import main
    sys.argv = ["lashdb", *sys.argv[2:]]
    main()
""")


def test_cli_io_error_is_one_line_with_file_and_remedy(tmp_path):
    # The kernel refuses the write (EFBIG past RLIMIT_FSIZE): SQLite reports SQLITE_IOERR_WRITE.
    target = tmp_path / "demo"
    result = subprocess.run([sys.executable, "-c", IO_LIMITED, str(100 << 10), "demo", str(target)],
                            capture_output=True, text=True)
    assert result.returncode == 3 and "Traceback" not in result.stderr, result.stderr
    [line] = result.stderr.splitlines()
    [db] = [p for p in target.iterdir() if str(p) in line]
    assert line.startswith(f"lashdb: error: store backend error: {db}: disk I/O error (")
    assert line.endswith(f"(check the disk and free space on {target} (the kernel log says more), then "
                         f"retry; if it keeps failing run `lashdb doctor {db}`)")


def test_a_write_on_a_read_only_connection_names_the_file(tmp_path):
    path = tmp_path / "s.db"
    Store.open(path).close()
    with Store.open_readonly(path) as store, pytest.raises(DatabaseReadOnly) as err:
        store.read(lambda c: c.execute("INSERT INTO blobs VALUES ('x', x'00')"))
    assert str(err.value) == f"store backend error: {path}: attempt to write a readonly database"
    assert err.value.hint.startswith(f"check that you may write {path}, its -wal/-shm and {tmp_path}")


def _raw_count(path: Path) -> int:
    conn = apsw.Connection(f"file:{path}?mode=ro", flags=apsw.SQLITE_OPEN_READONLY | apsw.SQLITE_OPEN_URI)
    try:
        return conn.execute("SELECT count(*) FROM blobs").fetchall()[0][0]
    finally:
        conn.close()


# --- 15: private copies of a -wal without -shm ---------------------------------------------------------


def _wal_without_shm(directory: Path) -> Path:
    live = directory / "live"
    live.mkdir(parents=True)
    writer = apsw.Connection(str(live / "a.db"))
    for sql in ("PRAGMA journal_mode = WAL", "PRAGMA wal_autocheckpoint = 0", "CREATE TABLE t (x)",
                "INSERT INTO t VALUES (1), (2), (3)"):
        writer.execute(sql).fetchall()
    left = directory / "left"
    left.mkdir()
    shutil.copyfile(live / "a.db", left / "a.db")
    shutil.copyfile(live / "a.db-wal", left / "a.db-wal")
    writer.close()
    return left / "a.db"


HOLDER = textwrap.dedent("""
    import sys
    from lashdb.engine.connection import open_readonly
    conn = open_readonly(sys.argv[1])
    rows = conn.execute("SELECT count(*) FROM t").fetchall()[0][0]
    print(rows, conn.filename, flush=True)
    sys.stdin.read()  # hold the copy until killed or told to go
""")


def _holder(db: Path, env: dict[str, str]) -> tuple[subprocess.Popen, Path]:
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(db)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, env=env)
    rows, copy = proc.stdout.readline().split()
    assert rows == "3"  # the WAL's rows: the copy holds the WAL
    return proc, Path(copy).parent


def test_a_killed_inspections_copy_is_removed_by_the_next_run(tmp_path, monkeypatch):
    db = _wal_without_shm(tmp_path)
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = {**os.environ, "TMPDIR": str(tmp)}
    killed, killed_copy = _holder(db, env)
    alive, alive_copy = _holder(db, env)
    copies = tmp / f"lashdb-ro-copies-{os.getuid()}"
    assert killed_copy.parent == alive_copy.parent == copies
    assert killed_copy.name.startswith(f"{killed.pid}-") and alive_copy.name.startswith(f"{alive.pid}-")
    assert os.stat(copies).st_mode & 0o777 == 0o700
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    assert (killed_copy / "copy.db").stat().st_size == db.stat().st_size  # left behind, full size

    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    assert connection.stale_private_copies() == [str(killed_copy)]

    # The next run (a fresh process inspecting any file, here one with no -wal) removes it.
    plain = tmp_path / "plain.db"
    apsw.Connection(str(plain)).execute("CREATE TABLE t (x)")
    next_run = subprocess.run(
        [sys.executable, "-c", "import sys; from lashdb.engine.connection import open_readonly; "
         "open_readonly(sys.argv[1]).close()", str(plain)], env=env, check=True)
    assert next_run.returncode == 0
    assert not killed_copy.exists()
    assert {"copy.db", "copy.db-wal"} <= set(os.listdir(alive_copy))  # a live owner's copy stays
    assert connection.stale_private_copies() == []

    alive.communicate("")  # a normal exit removes its own copy
    assert alive.returncode == 0 and not alive_copy.exists()
    assert os.listdir(copies) == []
    assert sorted(os.listdir(db.parent)) == ["a.db", "a.db-wal"]


def test_clean_stale_private_copies_spares_live_and_unknown_entries(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    db = _wal_without_shm(tmp_path / "w")
    conn = connection.open_readonly(db)  # this process's copy: alive
    mine = Path(conn.filename).parent
    root = Path(connection.private_copy_root())
    assert mine.parent == root
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    dead = root / f"{child.pid}-0-abcdef"
    dead.mkdir()
    (dead / "copy.db").write_bytes(b"x" * 100)
    reused = root / f"{os.getpid()}-1-ghijkl"  # our pid, but another start time: a reused pid
    reused.mkdir()
    unknown = root / "not-a-copy"
    unknown.mkdir()
    assert connection.clean_stale_private_copies() == sorted([str(dead), str(reused)])
    assert sorted(p.name for p in root.iterdir()) == sorted([mine.name, "not-a-copy"])
    assert conn.execute("SELECT count(*) FROM t").fetchall() == [(3,)]
    conn.close()
    del conn
    gc.collect()
    assert not mine.exists()


def test_a_foreign_copy_directory_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    db = _wal_without_shm(tmp_path / "w")
    root = Path(connection.private_copy_root())
    root.mkdir(mode=0o755)
    os.chmod(root, 0o755)  # readable by others: copies of session data must not go there
    with pytest.raises(DatabaseError) as err:
        connection.open_readonly(db)
    assert err.value.path == str(root) and "not a private directory" in str(err.value)
    assert "remove it" in err.value.hint
    assert os.listdir(root) == []
