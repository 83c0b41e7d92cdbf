"""Issue 10, maintenance items: `vacuum --compact` reports what really happened, and `sessions delete`
refuses a session in use and names what it leaves behind (with `doctor` reporting it).

- A compaction that cannot finish — a reader in another process keeps the -wal busy, the disk fills up
  (a real tmpfs), a write fails (a file size limit) — is `not-compacted`: the nodes removed in the
  committed step are counted, the reason is given, the sizes are measured on disk afterwards, exit 1.
- A live execution lease refuses `sessions delete` (exit 3, nothing touched) unless `--force`; child
  sessions and sidecars that stay are named, and `doctor` then reports them as warnings.

Expected counts and sizes come from plain apsw and os.stat, not from the code under test.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import apsw
import pytest
from typer.testing import CliRunner

from conftest import FIXTURES_DIR, console_script, snapshot_dir
from lashdb.cli.main import app
from lashdb.engine import (
    CompactionFailed,
    GraphNode,
    SessionInUse,
    SessionRelation,
    SessionStoreCreateRequest,
    SessionStoreFactory,
    Store,
)
from lashdb.engine.sqlite import connection
from lashdb.engine.ops import doctor, maintenance
from lashdb.engine.session.store import wall_clock_ms

runner = CliRunner()
HOUR = 3_600_000


def run(root, *args):
    result = runner.invoke(app, ["--root", str(root), *args])
    assert "Traceback" not in result.output, result.output
    return result


def node(node_id: str, parent: str | None = None) -> GraphNode:
    return GraphNode.message(node_id, "User", "x" * 200, timestamp="2026-01-01T00:00:00Z", parent_node_id=parent)


def make_session(factory: SessionStoreFactory, session_id: str, *, parent: str | None = None,
                 tombstoned: int = 0, padding: int = 0, collect: bool = True) -> Path:
    """A session with ``tombstoned`` tombstoned nodes and ``padding`` bytes of blobs, collected as garbage
    (free pages for VACUUM to return) or, without ``collect``, left in the file (a copy VACUUM must write)."""
    relation = SessionRelation.child(parent) if parent else SessionRelation.root()
    with factory.create_store(SessionStoreCreateRequest(session_id, "m", relation)) as store:
        ids = [f"{session_id}-n{i}" for i in range(tombstoned + 2)]
        store.append_session_graph_nodes([node(i, ids[k - 1] if k else None) for k, i in enumerate(ids)])
        store.tombstone_nodes(ids[2:])
        if padding:
            for i in range(padding // 4096):
                store.put_blob(os.urandom(4096))
            if collect:
                store.gc_unreachable()  # no roots: the padding becomes free pages
    return factory.path_for_session(session_id)


def node_counts(path: Path) -> tuple[int, int]:
    """(live, tombstoned) graph nodes, read with plain apsw."""
    conn = apsw.Connection(str(path), flags=apsw.SQLITE_OPEN_READONLY)
    try:
        return tuple(conn.execute("SELECT count(*) FILTER (WHERE tombstoned = 0), count(*) FILTER (WHERE "
                                  "tombstoned = 1) FROM graph_nodes").fetchone())
    finally:
        conn.close()


def on_disk(path: Path) -> int:
    wal = Path(f"{path}-wal")
    return path.stat().st_size + (wal.stat().st_size if wal.exists() else 0)


READER = """
import sys, apsw
conn = apsw.Connection(sys.argv[1], flags=apsw.SQLITE_OPEN_READONLY)
conn.execute("BEGIN")
print(conn.execute("SELECT count(*) FROM graph_nodes").fetchone()[0], flush=True)
sys.stdin.readline()
conn.execute("COMMIT")
"""


class Reader:
    """Another process holding a read transaction on a session (its snapshot pins the -wal)."""

    def __init__(self, path: Path) -> None:
        self.proc = subprocess.Popen([sys.executable, "-c", READER, str(path)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
        self.rows = int(self.proc.stdout.readline())  # returns once the snapshot is taken

    def close(self) -> None:
        self.proc.communicate("done\n", timeout=60)
        assert self.proc.returncode == 0


@pytest.fixture
def short_busy_timeout(monkeypatch):
    # The checkpoint waits the busy timeout for the reader; the outcome is the same, only sooner.
    monkeypatch.setattr(connection, "BUSY_TIMEOUT_MS", 200)


# --- item 11: vacuum --compact ------------------------------------------------------------------------


def test_a_reader_keeping_the_wal_busy_is_not_compacted_and_says_so(tmp_path, short_busy_timeout):
    factory = SessionStoreFactory(tmp_path)
    busy = make_session(factory, "busy", tombstoned=3, padding=256 << 10)
    calm = make_session(factory, "calm", tombstoned=2, padding=256 << 10)
    assert node_counts(busy) == (2, 3) and node_counts(calm) == (2, 2)
    before = {p: on_disk(p) for p in (busy, calm)}
    reader = Reader(busy)
    try:
        result = run(tmp_path, "vacuum", "--all", "--compact", "--json")
        after_busy = on_disk(busy)  # measured while the reader still pins the -wal
    finally:
        reader.close()
    assert result.exit_code == 1, result.output
    doc = json.loads(result.stdout)
    entries = {Path(e["path"]): e for e in doc["sessions"]}
    stuck, done = entries[busy], entries[calm]
    assert stuck["outcome"] == "not-compacted" and stuck["compacted"] is False
    assert stuck["removed_node_count"] == 3
    assert stuck["compact_error"].startswith("the final checkpoint could not finish: another connection kept "
                                             "the -wal busy")
    # Truthful sizes: VACUUM's copy sits in the -wal, so the session takes more room than before.
    assert stuck["size_before"] == before[busy] and stuck["size_after"] == after_busy > before[busy]
    assert stuck["error"] == f"{busy}: removed 3 tombstoned node(s); not compacted: {stuck['compact_error']}"
    assert done["outcome"] == "vacuumed" and done["compacted"] is True and done["compact_error"] is None
    assert done["removed_node_count"] == 2 and done["size_after"] == on_disk(calm) < before[calm]
    total = doc["total"]
    assert (total["vacuumed"], total["not_compacted"], total["failed"], total["removed_node_count"]) == (1, 1, 0, 5)
    assert (total["size_before"], total["size_after"]) == (before[busy] + before[calm], after_busy + on_disk(calm))
    assert result.stderr.splitlines() == [f"lashdb: error: {stuck['error']} (run `lashdb vacuum --compact` again "
                                          "when no runtime is using the session; the nodes it removed stay removed)"]
    # The removal was committed; with the reader gone the next run compacts.
    assert node_counts(busy) == (2, 0)
    again = run(tmp_path, "vacuum", "busy", "--compact", "--json")
    assert again.exit_code == 0, again.output
    entry = json.loads(again.stdout)["sessions"][0]
    assert (entry["outcome"], entry["compacted"], entry["removed_node_count"]) == ("vacuumed", True, 0)
    assert entry["size_after"] == on_disk(busy) < before[busy]


def test_plain_output_says_what_happened(tmp_path, short_busy_timeout):
    busy = make_session(SessionStoreFactory(tmp_path), "busy", tombstoned=3)
    reader = Reader(busy)
    try:
        result = run(tmp_path, "vacuum", str(busy), "--compact")
    finally:
        reader.close()
    assert result.exit_code == 1
    row = [line for line in result.stdout.splitlines() if busy.name in line]
    assert len(row) == 1 and row[0].split()[2:4] == ["not-compacted", "3"]
    assert "total: 1 session(s), 3 tombstoned node(s) removed, 1 not compacted" in result.stdout
    assert f"lashdb: error: {busy}: removed 3 tombstoned node(s); not compacted: the final checkpoint could " \
           "not finish" in result.stderr


def test_engine_raises_compaction_failed_carrying_the_committed_removal(tmp_path, short_busy_timeout):
    path = make_session(SessionStoreFactory(tmp_path), "s", tombstoned=4, padding=64 << 10)
    reader = Reader(path)
    try:
        with Store.open(path) as store:
            with pytest.raises(CompactionFailed) as err:
                store.vacuum(compact=True)
            assert err.value.report.size_after == store.size_on_disk()
    finally:
        reader.close()
    report = err.value.report
    assert (report.removed_node_count, report.compacted) == (4, False)
    assert report.to_json()["compact_error"] == report.compact_error and "kept the -wal busy" in report.compact_error
    assert err.value.path == str(path) and "vacuum --compact" in err.value.hint
    assert node_counts(path) == (2, 0)


def _tmpfs(mountpoint: Path, size: str) -> None:
    mountpoint.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mountpoint)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here to fill a disk for real: {done.stderr.strip()}")


def test_disk_full_during_vacuum_keeps_the_count_and_reports_the_reason(tmp_path):
    if shutil.which("mount") is None or os.geteuid() != 0:
        pytest.skip("filling a real file system needs root to mount a small tmpfs")
    disk = tmp_path / "disk"
    _tmpfs(disk, "8m")
    try:
        path = make_session(SessionStoreFactory(disk), "s", tombstoned=5, padding=512 << 10, collect=False)
        before = on_disk(path)
        # Leave room for the -shm and the few pages the removal writes, not for VACUUM's copy.
        free = os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize
        (disk / "filler").write_bytes(b"\0" * (free - 96 * 1024))
        result = run(disk, "vacuum", str(path), "--compact", "--json")
        assert result.exit_code == 1, result.output
        entry = json.loads(result.stdout)["sessions"][0]
        assert entry["outcome"] == "not-compacted" and entry["removed_node_count"] == 5
        assert entry["compact_error"].startswith("VACUUM ran out of disk space")
        assert entry["size_before"] == before and entry["size_after"] == on_disk(path)
        assert json.loads(result.stdout)["total"]["removed_node_count"] == 5  # not "nothing removed"
        assert "free disk space" in result.stderr
        (disk / "filler").unlink()
        assert node_counts(path) == (2, 0)
        conn = apsw.Connection(str(path), flags=apsw.SQLITE_OPEN_READONLY)
        assert conn.execute("PRAGMA quick_check").fetchall() == [("ok",)]
        conn.close()
    finally:
        subprocess.run(["umount", str(disk)], check=True)


def _file_size_limit(limit: int):
    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails instead of killing
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


def test_a_failing_write_during_vacuum_in_the_installed_script(tmp_path):
    path = make_session(SessionStoreFactory(tmp_path), "s", tombstoned=3, padding=256 << 10, collect=False)
    before = on_disk(path)
    assert before > 200_000
    # The removal's few -wal pages fit under the limit; VACUUM's copy of the whole database does not.
    done = subprocess.run([console_script(), "--root", str(tmp_path), "vacuum", str(path), "--compact", "--json"],
                          capture_output=True, text=True, preexec_fn=_file_size_limit(100_000), timeout=120)
    assert done.returncode == 1, done.stderr
    entry = json.loads(done.stdout)["sessions"][0]
    assert (entry["outcome"], entry["compacted"], entry["removed_node_count"]) == ("not-compacted", False, 3)
    assert entry["compact_error"].startswith("VACUUM failed: disk I/O error")
    assert entry["size_before"] == before and entry["size_after"] == on_disk(path)
    assert done.stderr.count("lashdb: error: ") == 1 and "Traceback" not in done.stderr
    assert node_counts(path) == (2, 0)


# --- item 14: sessions delete -------------------------------------------------------------------------


def claim(path: Path, session_id: str, ttl_ms: int, owner: str = "lash@host:pid42"):
    with Store.open(path) as store:
        return store.try_claim_session_execution_lease(session_id, owner, ttl_ms)


def test_delete_refuses_a_session_with_a_live_lease_unless_forced(tmp_path):
    factory = SessionStoreFactory(tmp_path)
    path = make_session(factory, "busy")
    lease = claim(path, "busy", HOUR)
    before = snapshot_dir(tmp_path)
    for extra in ([], ["--dry-run"], ["--json"]):
        result = run(tmp_path, "sessions", "delete", "busy", "--yes", *extra)
        assert result.exit_code == 3 and result.stdout == ""
        (line,) = result.stderr.splitlines()
        assert line.startswith(f"lashdb: error: {path}: session `busy` is in use: its execution lease is held by "
                               f"`lash@host:pid42` until ")
        assert "pass --force to delete the session anyway" in line
    assert snapshot_dir(tmp_path) == before
    forced = run(tmp_path, "sessions", "delete", "busy", "--yes", "--force", "--json")
    assert forced.exit_code == 0, forced.output
    doc = json.loads(forced.stdout)
    assert doc["execution_lease"]["state"] == "live" and doc["execution_lease"]["owner_id"] == lease.owner_id
    assert doc["execution_lease"]["expires_at_epoch_ms"] == lease.expires_at_epoch_ms
    assert doc["removed"][0] == str(path) and not path.exists()


def test_an_expired_or_released_lease_does_not_hold_a_delete(tmp_path):
    factory = SessionStoreFactory(tmp_path)
    expired = make_session(factory, "expired")
    with Store.open_with_options(expired, _clock(wall_clock_ms() - 2 * HOUR)) as store:
        store.try_claim_session_execution_lease("expired", "gone", HOUR)
    released = make_session(factory, "released")
    lease = claim(released, "released", HOUR)
    with Store.open(released) as store:
        store.release_session_execution_lease(lease.completion())
    for name, state in (("expired", "expired"), ("released", "released")):
        result = run(tmp_path, "sessions", "delete", name, "--yes", "--json")
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["execution_lease"]["state"] == state
    assert not expired.exists() and not released.exists()


def _clock(now: int):
    from lashdb.engine import StoreOptions
    return StoreOptions(clock=lambda: now)


def test_a_lease_claimed_after_the_plan_still_stops_the_delete(tmp_path):
    path = make_session(SessionStoreFactory(tmp_path), "s")
    plan = maintenance.plan_session_delete(path, now_ms=wall_clock_ms())
    assert plan.lease is None
    claim(path, "s", HOUR, owner="late")
    with pytest.raises(SessionInUse) as err:
        maintenance.delete_session_database(plan, now_ms=wall_clock_ms())
    assert (err.value.session_id, err.value.owner_id) == ("s", "late") and path.exists()
    assert maintenance.delete_session_database(plan, now_ms=wall_clock_ms(), force=True)[0] == path
    assert not path.exists()


def test_delete_names_the_children_and_sidecars_it_leaves_and_doctor_reports_them(tmp_path):
    factory = SessionStoreFactory(tmp_path)
    parent = make_session(factory, "parent")
    child = make_session(factory, "child", parent="parent")
    other = make_session(factory, "other")
    effects = Path(f"{parent}.effects.db")
    shutil.copy(FIXTURES_DIR / "effects.db", effects)
    host = Path(f"{parent}.host.json")
    host.write_text('{"host": "laptop"}')
    clean = doctor.run([tmp_path], now_ms=wall_clock_ms())
    files = {f.path: f for f in clean.files}
    assert files[child].checks["parent_session"] == "ok" and "parent_session" not in files[other].checks
    assert files[effects].checks["session_sidecar"] == "ok"
    assert not [x for f in clean.files for x in f.findings if x.check in ("parent_session", "session_sidecar")]

    dry = run(tmp_path, "sessions", "delete", "parent", "--dry-run")
    assert dry.exit_code == 0 and dry.stdout == f"would delete {parent}\n"
    assert f"lashdb: warning: would keep child session child ({child}); its parent parent is gone" in dry.stderr
    assert f"would keep sidecar {effects} (effects); remove it with `rm -- {effects}`" in dry.stderr
    assert parent.exists()

    result = run(tmp_path, "sessions", "delete", "parent", "--yes", "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["children_kept"] == [{"session_id": "child", "path": str(child)}]
    assert doc["sidecars_kept"] == [str(effects), str(host)] and doc["execution_lease"] is None
    assert not parent.exists() and child.exists() and effects.exists() and host.exists()

    report = doctor.run([tmp_path], now_ms=wall_clock_ms())
    findings = {(x.check, x.subject): (f.path, x) for f in report.files for x in f.findings}
    where, orphan = findings[("parent_session", "parent")]
    assert where == child and orphan.severity == doctor.WARNING
    assert orphan.message == (f"child session `child` names parent session `parent`, which is not under "
                              f"{tmp_path} (deleted?); the child still works, but its parent's history is gone")
    where, journal = findings[("session_sidecar", str(effects))]
    assert where == effects and journal.severity == doctor.WARNING
    assert journal.message.startswith(f"{effects.name} is the effects sidecar of session database {parent.name}, "
                                      "which does not exist")
    where, stray = findings[("session_sidecar", str(host))]
    assert where == host and stray.message.startswith(f"{host.name} is the host sidecar of session database")
    host_report = next(f for f in report.files if f.path == host)
    assert host_report.kind == doctor.ORPHAN_SIDECAR and host_report.db_bytes == host.stat().st_size
    assert not report.ok and not [x for f in report.files for x in f.findings if x.severity == doctor.ERROR]

    cli = run(tmp_path, "doctor", "--json")
    assert cli.exit_code == 1  # warnings are problems: doctor's existing rule
    checks = {(x["check"], x["subject"]) for f in json.loads(cli.stdout)["files"] for x in f["findings"]}
    assert {("parent_session", "parent"), ("session_sidecar", str(effects)), ("session_sidecar", str(host))} <= checks


def test_a_child_whose_parent_lives_under_another_name_is_not_an_orphan(tmp_path):
    # The parent is found by the id stored in its database, not by the file name the factory gives it.
    factory = SessionStoreFactory(tmp_path)
    parent = make_session(factory, "the-parent")
    make_session(factory, "kid", parent="the-parent")
    parent.rename(tmp_path / "renamed.db")
    report = doctor.run([tmp_path], now_ms=wall_clock_ms())
    assert {f.path.name: f.checks.get("parent_session") for f in report.files} == {
        "renamed.db": None, factory.path_for_session("kid").name: "ok"}
