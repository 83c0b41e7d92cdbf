"""`sessions list` reads each file once, and a v4 session with one statement (inspect._scan_summary):
every row must equal what the general path (discover, then session_summary) gives, for ordinary,
odd and damaged files alike.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import apsw
import pytest

from lashdb.engine.ops.demo import build_demo
from lashdb.engine import Store
from lashdb.engine.ops import discovery, inspect
from lashdb.engine.sqlite import inspect_session
from conftest import FIXTURES_DIR

FIXTURES = FIXTURES_DIR


def general(root: Path, include_all: bool) -> list[inspect.SessionSummary]:
    rows = [inspect.session_summary(f) for f in discovery.discover(root) if include_all or f.is_session]
    return sorted(rows, key=lambda r: str(r.path))


def fast(root: Path, include_all: bool) -> list[inspect.SessionSummary]:
    return sorted(inspect.list_sessions(root, include_all=include_all), key=lambda r: str(r.path))


def sql(path: Path, *statements: str) -> None:
    conn = apsw.Connection(str(path))
    try:
        for statement in statements:
            conn.execute(statement)
    finally:
        conn.close()


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return build_demo(tmp_path_factory.mktemp("demo") / "root")


@pytest.fixture
def root(built, tmp_path):
    dest = tmp_path / "root"
    shutil.copytree(built.root, dest)
    return dest


def test_rows_equal_the_general_path(root, built):
    paths = [root / s.path.name for s in built.sessions]
    odd = [root / "odd-1.db", root / "odd-2.db", root / "odd-3.db", root / "odd-4.db"]
    for path in odd:
        shutil.copy(paths[0], path)
    # a node that is not JSON but mentions "User"; the fast statement fails and the general path runs
    sql(odd[0], "INSERT INTO graph_nodes (node_id, node_json) VALUES ('bad', 'not json \"User\"')")
    sql(odd[1], "DELETE FROM session_meta")                          # no meta: the head names the session
    sql(odd[2], "DELETE FROM session_head", "UPDATE graph_nodes SET tombstoned = 1")
    sql(odd[3], "UPDATE session_head SET head_json = '[1]'")         # a damaged head: unreadable, counts kept
    (root / "noise.db").write_bytes(os.urandom(3000))
    (root / "empty.db").write_bytes(b"")
    if FIXTURES.is_dir():
        shutil.copy(FIXTURES / "durable-core.db", root / "v38.db")
    with Store.open(paths[1]) as writer:  # a live writer: its -wal holds a row
        writer.put_blob(b"only in the wal" * 10)
        for include_all in (False, True):
            assert fast(root, include_all) == general(root, include_all)
    rows = {r.path.name: r for r in fast(root, True)}
    assert rows["odd-1.db"].user_messages == rows[paths[0].name].user_messages
    assert rows["odd-2.db"].session_id == built.sessions[0].session_id and rows["odd-2.db"].session_name is None
    assert rows["odd-3.db"].live_nodes == 0 and rows["odd-3.db"].head_revision is None
    assert rows["odd-4.db"].status.startswith("unreadable: ") and rows["odd-4.db"].blob_count
    assert rows["noise.db"].kind == "unreadable" and rows["empty.db"].kind == "not lash"
    first = rows[paths[0].name]
    assert first.sidecars == {role: root / p.name for role, p in built.sessions[0].sidecars.items()}
    assert {"processes", "triggers"} <= set(first.sidecars)
    assert first.first_user_message == built.sessions[0].first_user_message


def test_a_plain_root_reads_each_file_once(root, monkeypatch):
    opened: list[str] = []
    real = inspect_session.open_readonly

    def counting(path, **options):
        opened.append(os.fspath(path))
        return real(path, **options)

    monkeypatch.setattr(inspect_session, "open_readonly", counting)
    rows = inspect.list_sessions(root, include_all=True)
    assert sorted(opened) == sorted(str(p) for p in root.glob("*.db")) and len(rows) == len(opened)
    assert json.loads(json.dumps([r.to_json() for r in rows]))


def test_a_snapshot_that_cannot_begin_marks_only_that_row(root, built, monkeypatch):
    from lashdb.engine.errors import DatabaseBusy

    def busy(conn, path):
        raise DatabaseBusy(f"{path}: database is locked", path=path)

    live = root / built.sessions[1].path.name
    with Store.open(live) as writer:  # a live writer: the file has a -wal, so the list takes a snapshot
        writer.put_blob(b"only in the wal" * 10)
        monkeypatch.setattr(inspect_session, "read_snapshot", busy)
        rows = {r.path.name: r for r in inspect.list_sessions(root)}
    assert rows[live.name].status.startswith("unreadable: ") and "database is locked" in rows[live.name].status
    others = [r for name, r in rows.items() if name != live.name]
    assert others and all(r.status == "ok" for r in others)
