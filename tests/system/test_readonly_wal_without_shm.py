"""A database left with a ``-wal`` but no ``-shm`` is read without creating the ``-shm``.

SQLite creates a missing ``-shm`` even for a read-only open; lashdb reads such a file from a
private copy instead, so the look shows the WAL's rows and leaves the directory as it was.
"""

from __future__ import annotations

import gc
import hashlib
import shutil

import apsw

from lashdb.engine.sqlite.connection import open_readonly


def _digests(directory) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(directory.iterdir())}


def test_wal_without_shm_is_read_from_a_copy(tmp_path) -> None:
    live = tmp_path / "live"
    live.mkdir()
    writer = apsw.Connection(str(live / "a.db"))
    for sql in ("PRAGMA journal_mode = WAL", "PRAGMA wal_autocheckpoint = 0", "CREATE TABLE t (x)",
                "INSERT INTO t VALUES (1), (2), (3)"):
        writer.execute(sql).fetchall()
    left = tmp_path / "left"
    left.mkdir()
    shutil.copyfile(live / "a.db", left / "a.db")
    shutil.copyfile(live / "a.db-wal", left / "a.db-wal")
    writer.close()
    before = _digests(left)
    assert sorted(before) == ["a.db", "a.db-wal"]

    conn = open_readonly(left / "a.db")
    # The rows live only in the WAL: reading them proves the WAL was used.
    assert conn.execute("SELECT count(*) FROM t").fetchall() == [(3,)]
    conn.close()
    del conn
    gc.collect()

    assert _digests(left) == before
