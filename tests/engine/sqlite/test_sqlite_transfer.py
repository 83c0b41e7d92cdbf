"""sqlite/transfer.py: a session file's rows out and in as neutral records (postgres.md §5).

Export is read-only (no byte of the source changes); an import is one transaction that also
creates the schema, lands in the file the factory names (SPEC §7), and refuses a session that is
there; remove deletes the file and its sidecars; a foreign sidecar refuses its session.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import apsw
import pytest

from conftest import FIXTURES_DIR, snapshot_dir
from lashdb.engine.base.errors import DatabaseError, SchemaVersionError
from lashdb.engine.ops.demo import build_demo
from lashdb.engine.session.factory import safe_session_file_name
from lashdb.engine.sqlite.transfer import SqliteTransfer


@pytest.fixture
def demo(tmp_path: Path) -> Path:
    root = tmp_path / "demo"
    build_demo(root, 1)
    return root


def test_export_is_read_only_and_import_round_trips(demo, tmp_path):
    before = snapshot_dir(demo)
    src = SqliteTransfer(demo, readonly=True)
    listed = src.sessions()
    assert len(listed) == 2 and all(refusal is None for _s, _w, refusal in listed)
    parent = next(s for s, w, _r in listed if Path(f"{w}.processes.db").exists())
    records = src.export(parent)
    assert snapshot_dir(demo) == before
    assert "singleton" not in records["session_meta"][0] and records["session_meta"][0]["session_id"] == parent
    assert records["triggers.trigger_subscription_seq"][0]["last_number"] >= 1
    assert all(isinstance(r["content"], bytes) for r in records["blobs"])

    dst = SqliteTransfer(tmp_path / "out")
    dst.import_session(parent, records)
    path = tmp_path / "out" / safe_session_file_name(parent)
    assert path.exists() and Path(f"{path}.effects.db").exists()
    assert dst.export(parent) == records
    conn = apsw.Connection(str(path))
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 4
    conn.close()
    with pytest.raises(DatabaseError, match="already there"):
        dst.import_session(parent, records)
    dst.remove(parent)
    assert not list((tmp_path / "out").glob("*.db*"))
    assert dst.export(parent) is None


def test_an_empty_file_left_by_an_interrupted_import_is_not_a_session(tmp_path, demo):
    src = SqliteTransfer(demo, readonly=True)
    sid = src.sessions()[0][0]
    out = tmp_path / "out"
    out.mkdir()
    apsw.Connection(str(out / safe_session_file_name(sid))).close()  # an empty database file
    dst = SqliteTransfer(out)
    assert dst.export(sid) is None
    dst.import_session(sid, src.export(sid))
    assert dst.export(sid) == src.export(sid)


def test_foreign_session_and_foreign_sidecar_are_refused(tmp_path, demo):
    listed = SqliteTransfer(FIXTURES_DIR, readonly=True).sessions()
    assert [(s, type(r)) for s, _w, r in listed] == [("durable-read-fixture", SchemaVersionError)]
    src = SqliteTransfer(demo, readonly=True)
    sid, where, _ = src.sessions()[0]
    shutil.copy(FIXTURES_DIR / "effects.db", f"{where}.effects.db")
    refusal = dict((s, r) for s, _w, r in SqliteTransfer(demo).sessions())[sid]
    assert isinstance(refusal, SchemaVersionError)
