"""ops/backup.py (issue 14): verified backups of sessions and sidecars, and restores, on a directory
and on PostgreSQL. Expected rows come from the files read with plain apsw (test_migrate's helpers)
and from the stores' own exports, never from the code under test.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import apsw
import pytest

from conftest import snapshot_dir
from lashdb.engine import Store
from lashdb.engine.base.timing import wall_clock_ms
from lashdb.engine.ops import backup as ops
from lashdb.engine.ops.backend import open_backend
from lashdb.engine.ops.demo import build_demo
from lashdb.engine.ops.migrate import migrate_stores
from test_migrate import file_rows, sidecar_rows

NOW = wall_clock_ms()


@pytest.fixture
def demo(tmp_path: Path) -> Path:
    root = tmp_path / "demo"
    build_demo(root, 2)
    return root


def session_files(root: Path) -> list[Path]:
    return sorted(f.path for f in open_backend(root).discover() if f.is_session)


def test_backup_copies_each_session_and_its_sidecars_and_leaves_the_source_as_it_was(demo, tmp_path):
    before, out = snapshot_dir(demo), tmp_path / "bk"
    report = ops.backup(open_backend(demo), session_files(demo), out)
    assert snapshot_dir(demo) == before
    assert report.ok and [s.status for s in report.sessions] == ["copied"] * 3
    assert sorted(os.listdir(out)) == sorted(os.listdir(demo))  # sidecars too, no staging left behind
    written = sum(os.path.getsize(out / n) for n in os.listdir(out))
    for path in session_files(demo):
        assert file_rows(out / path.name) == file_rows(path)
        assert sidecar_rows(out / path.name) == sidecar_rows(path)
    with_sidecars = [s for s in report.sessions if len(s.files) == 4][0]
    assert sorted(f["role"] for f in with_sidecars.files) == ["effects", "processes", "session", "triggers"]
    assert with_sidecars.bytes == sum(os.path.getsize(f["path"]) for f in with_sidecars.files)
    assert all(s.blobs > 0 for s in report.sessions)
    assert report.totals() == {"copied": 3, "restored": 0, "refused": 0, "failed": 0, "sessions": 3,
                                    "files": 6, "bytes": written}


def test_dry_run_writes_nothing(demo, tmp_path):
    report = ops.backup(open_backend(demo), session_files(demo), tmp_path / "bk", dry_run=True)
    assert not (tmp_path / "bk").exists()
    assert [s.status for s in report.sessions] == ["copied"] * 3 and report.totals()["files"] == 6


def test_a_copy_that_fails_verification_never_replaces_the_older_backup(demo, tmp_path):
    out = tmp_path / "bk"
    target = session_files(demo)[0]
    ops.backup(open_backend(demo), [target], out)
    older = snapshot_dir(out)
    conn = apsw.Connection(str(target))
    conn.execute("UPDATE blobs SET content = zeroblob(length(content)) WHERE rowid = (SELECT min(rowid) FROM blobs)")
    conn.close()
    report = ops.backup(open_backend(demo), [target], out)
    [result] = report.sessions
    assert result.status == "failed" and "failed verification" in result.reason and not report.ok
    assert snapshot_dir(out) == older  # nothing replaced, no staging directory left


def test_restore_refuses_an_existing_session_and_puts_one_back_where_none_is(demo, tmp_path):
    out = tmp_path / "bk"
    ops.backup(open_backend(demo), session_files(demo), out)
    report = ops.restore(open_backend(demo), [out], now_ms=NOW)
    assert [s.status for s in report.sessions] == ["refused"] * 3 and "already exists" in report.sessions[0].reason
    fresh = tmp_path / "fresh"
    before = snapshot_dir(out)
    report = ops.restore(open_backend(fresh), [out], now_ms=NOW)
    assert report.ok and [s.status for s in report.sessions] == ["restored"] * 3
    assert snapshot_dir(out) == before
    assert sorted(os.listdir(fresh)) == sorted(os.listdir(demo))
    for path in session_files(demo):
        assert file_rows(fresh / path.name) == file_rows(path)
        assert sidecar_rows(fresh / path.name) == sidecar_rows(path)


def test_restore_force_replaces_the_session_and_its_stale_files_but_not_under_a_live_lease(demo, tmp_path):
    out = tmp_path / "bk"
    target = session_files(demo)[0]
    ops.backup(open_backend(demo), [target], out)
    expected = file_rows(target)
    conn = apsw.Connection(str(target))
    conn.execute("UPDATE session_meta SET session_name = 'changed since the backup'")
    conn.close()
    assert file_rows(target) != expected
    stray = Path(f"{target}.effects.db")
    donor = [p for p in demo.iterdir() if p.name.endswith(".effects.db")][0]
    shutil.copyfile(donor, stray)  # a sidecar the backup does not have: replaced means gone
    report = ops.restore(open_backend(demo), [out / target.name], now_ms=NOW, force=True)
    assert [s.status for s in report.sessions] == ["restored"], report.sessions[0].reason
    assert not stray.exists() and not Path(f"{target}-wal").exists()
    assert file_rows(target) == expected

    with Store.open(target) as store:
        store.try_claim_session_execution_lease(expected["session_meta"][0][0], "runtime-b", 3_600_000)
    before = snapshot_dir(demo)
    report = ops.restore(open_backend(demo), [out / target.name], now_ms=wall_clock_ms(), force=True)
    [result] = report.sessions
    assert result.status == "refused" and "runtime-b" in result.reason and snapshot_dir(demo) == before


def test_restore_of_a_damaged_backup_fails_and_writes_nothing(demo, tmp_path):
    out = tmp_path / "bk"
    target = session_files(demo)[0]
    ops.backup(open_backend(demo), [target], out)
    conn = apsw.Connection(str(out / target.name))
    conn.execute("UPDATE blobs SET content = zeroblob(length(content)) WHERE rowid = (SELECT min(rowid) FROM blobs)")
    conn.close()
    for suffix in ("-wal", "-shm"):
        Path(f"{out / target.name}{suffix}").unlink(missing_ok=True)
    fresh = tmp_path / "fresh"
    [result] = ops.restore(open_backend(fresh), [out / target.name], now_ms=NOW).sessions
    assert result.status == "failed" and "failed verification" in result.reason
    assert not fresh.exists() or os.listdir(fresh) == []


def test_postgres_backup_and_restore_round_trip(demo, tmp_path, pg_url):
    assert migrate_stores(open_backend(demo), open_backend(pg_url)).ok
    backend = open_backend(pg_url)
    try:
        sessions = [f.path for f in backend.discover() if f.is_session]
        out = tmp_path / "bk"
        report = ops.backup(backend, sessions, out)
        assert [s.status for s in report.sessions] == ["copied"] * 3
        assert sorted(os.listdir(out)) == sorted(os.listdir(demo))
        for path in session_files(demo):
            assert sidecar_rows(out / path.name) == sidecar_rows(path)
            assert file_rows(out / path.name)["blobs"] == file_rows(path)["blobs"]
            assert file_rows(out / path.name)["graph_nodes"] == file_rows(path)["graph_nodes"]

        refused = ops.restore(backend, [out], now_ms=NOW)
        assert [s.status for s in refused.sessions] == ["refused"] * 3
        source = backend.transfer(readonly=True)
        try:
            sid = sessions[0].session_id
            before = source.export(sid)
        finally:
            source.close()
        forced = ops.restore(backend, [out], now_ms=NOW, force=True)
        assert [s.status for s in forced.sessions] == ["restored"] * 3, [s.reason for s in forced.sessions]
        again = backend.transfer(readonly=True)
        try:
            after = again.export(sid)
        finally:
            again.close()
        assert after["blobs"] == before["blobs"] and after["graph_nodes"] == before["graph_nodes"]
        assert after["session_head"] == before["session_head"]
    finally:
        backend.close()


def test_restore_into_an_empty_postgres_store_is_a_migrate_from_the_backup(demo, tmp_path, pg_url):
    out = tmp_path / "bk"
    ops.backup(open_backend(demo), session_files(demo), out)
    backend = open_backend(pg_url)
    try:
        report = ops.restore(backend, [out], now_ms=NOW, dry_run=True)
        assert [s.status for s in report.sessions] == ["restored"] * 3
        assert [f for f in backend.discover() if f.is_session] == []
        report = ops.restore(backend, [out], now_ms=NOW)
        assert [s.status for s in report.sessions] == ["restored"] * 3
        assert sorted(f.path.session_id for f in backend.discover() if f.is_session) == \
            sorted(s.session_id for s in report.sessions)
    finally:
        backend.close()
