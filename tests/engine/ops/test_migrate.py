"""Issue 13, `lashdb migrate` (postgres.md §5) at the engine level: directory → PostgreSQL →
directory round trip with every table and blob byte equal; refusals (upstream v38, live lease);
skip, conflict, dry run, selection; a copy that fails verification is rolled back; reruns resume.

Expected values come from the source files read with plain apsw and hashlib, not from the code
under test.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import apsw
import pytest

from conftest import FIXTURES_DIR, snapshot_dir
from lashdb.engine.base.errors import LookupFailed
from lashdb.engine.base.timing import wall_clock_ms
from lashdb.engine.ops import migrate as ops
from lashdb.engine.ops.backend import open_backend
from lashdb.engine.ops.demo import build_demo

TABLES = ("session_meta", "session_head", "blobs", "graph_nodes", "usage_deltas", "runtime_turn_commits",
          "session_execution_leases", "queued_work_batches", "queued_work_items", "attachment_manifest",
          "artifact_refs")


def file_rows(path: Path) -> dict[str, list[tuple]]:
    """Every session table of a file, read with plain apsw (sorted rows, singleton column dropped)."""
    conn = apsw.Connection(f"file:{path}?mode=ro", flags=apsw.SQLITE_OPEN_READONLY | apsw.SQLITE_OPEN_URI)
    try:
        out = {}
        for table in TABLES:
            cur = conn.execute(f"SELECT * FROM {table}")
            rows = [tuple(v for (name, _t), v in zip(cur.getdescription(), row) if name != "singleton")
                    for row in cur]
            out[table] = sorted(rows, key=repr)
        return out
    finally:
        conn.close()


SIDECAR_TABLES = {
    "effects": ("runtime_effect_replay",),
    "processes": ("processes", "process_events", "process_wake_acks", "process_handle_grants", "process_leases"),
    "triggers": ("trigger_subscriptions", "trigger_occurrences", "trigger_deliveries"),
}


def sidecar_rows(session_file: Path) -> dict[str, list[tuple]]:
    """Every sidecar table beside a session file, with plain apsw; the trigger sequence's high-water mark."""
    out: dict[str, list[tuple]] = {}
    for role, tables in SIDECAR_TABLES.items():
        path = Path(f"{session_file}.{role}.db")
        if not path.exists():
            continue
        conn = apsw.Connection(f"file:{path}?mode=ro", flags=apsw.SQLITE_OPEN_READONLY | apsw.SQLITE_OPEN_URI)
        try:
            for table in tables:
                out[f"{role}.{table}"] = sorted(conn.execute(f"SELECT * FROM {table}").fetchall(), key=repr)
            if role == "triggers":
                out["triggers.seq"] = conn.execute("SELECT seq FROM sqlite_sequence").fetchall()
        finally:
            conn.close()
    return out


def session_files(root: Path) -> dict[str, Path]:
    """session id → file, for every session file directly under ``root``."""
    out = {}
    for path in sorted(root.glob("*.db")):
        if path.name.count(".db") > 1:
            continue  # a sidecar
        conn = apsw.Connection(f"file:{path}?mode=ro", flags=apsw.SQLITE_OPEN_READONLY | apsw.SQLITE_OPEN_URI)
        try:
            out[conn.execute("SELECT session_id FROM session_meta").fetchall()[0][0]] = path
        finally:
            conn.close()
    return out


@pytest.fixture
def demo(tmp_path: Path) -> Path:
    root = tmp_path / "demo"
    build_demo(root, 2)  # the fixed demo instant: every lease in it has expired
    return root


def run(source: str | Path, dest: str | Path, **options) -> ops.MigrationReport:
    return ops.migrate_stores(open_backend(str(source)), open_backend(str(dest)), **options)


def statuses(report: ops.MigrationReport) -> dict[str, str]:
    return {r.session_id: r.status for r in report.sessions}


def test_round_trip_directory_postgres_directory_keeps_every_row_and_blob_byte(demo, tmp_path, pg_url):
    before = session_files(demo)
    assert len(before) == 3  # two root sessions and a child
    there = run(demo, pg_url)
    assert statuses(there) == {sid: "copied" for sid in before}
    back = run(pg_url, tmp_path / "back")
    assert statuses(back) == {sid: "copied" for sid in before}
    after = session_files(tmp_path / "back")
    assert set(after) == set(before)
    for sid, path in before.items():
        assert after[sid].name == path.name  # the factory rule names the new file
        src, dst = file_rows(path), file_rows(after[sid])
        # The head's list summary stays behind (ops/migrate.py): the copy's head is the source's without it.
        [(head_sid, head_json, revision)] = src["session_head"]
        head = json.loads(head_json)
        head.pop("lashdb_list_summary", None)
        src["session_head"] = [(head_sid, json.dumps(head, separators=(",", ":")), revision)]
        for table in TABLES:
            assert dst[table] == src[table], (sid, table)
        blobs = {h: bytes(c) for h, c in dst["blobs"]}
        assert blobs and all(hashlib.sha256(c).hexdigest() == hashlib.sha256(bytes(dict(src["blobs"])[h])).hexdigest()
                             for h, c in blobs.items())
        assert src["session_head"][0][2] > 0  # a real head revision made the trip
        assert sidecar_rows(after[sid]) == sidecar_rows(path), sid
    first = before[min(before, key=lambda s: -len(sidecar_rows(before[s])))]
    moved = sidecar_rows(first)
    # The demo's first session has all three sidecars, with rows in every one of them.
    assert {k.split(".")[0] for k in moved} == {"effects", "processes", "triggers"}
    assert moved["processes.processes"] and moved["triggers.trigger_deliveries"] and moved["triggers.seq"][0][0] > 0
    entry = next(r for r in there.sessions if r.session_id == min(before))
    expected_rows = sum(len(v) for v in file_rows(before[entry.session_id]).values())
    assert entry.rows == expected_rows
    assert entry.bytes == sum(len(bytes(c)) for _h, c in file_rows(before[entry.session_id])["blobs"])


def test_the_list_summary_is_left_behind_and_the_copy_lists_the_same(demo, tmp_path):
    from lashdb.engine.ops.sessions import list_sessions

    run(demo, tmp_path / "copy")
    for path in session_files(tmp_path / "copy").values():
        assert "lashdb_list_summary" not in file_rows(path)["session_head"][0][1]

    def rows(root):
        return sorted((r.session_id, r.live_nodes, r.tombstoned_nodes, r.user_messages, r.first_user_message,
                       r.blob_count, r.blob_bytes) for r in list_sessions(root, recursive=True))
    assert rows(tmp_path / "copy") == rows(demo)
    records = {"session_head": [{"head_json": '{"a":1,"lashdb_list_summary":{}}', "head_revision": 2}]}
    assert ops.without_list_summary(records)["session_head"] == [{"head_json": '{"a":1}', "head_revision": 2}]
    assert ops.without_list_summary({"session_head": []}) == {"session_head": []}


def test_directory_to_directory_then_rerun_skips_everything(demo, tmp_path):
    first = run(demo, tmp_path / "copy")
    assert set(statuses(first).values()) == {"copied"}
    again = run(demo, tmp_path / "copy")
    assert set(statuses(again).values()) == {"skipped"}
    assert again.totals()["rows"] == 0 and again.ok


def test_destination_that_differs_is_a_conflict_and_left_alone(demo, tmp_path):
    dest = tmp_path / "copy"
    run(demo, dest)
    sid, path = next(iter(session_files(dest).items()))
    conn = apsw.Connection(str(path))
    conn.execute("UPDATE session_head SET head_revision = head_revision + 5")
    conn.close()
    held = file_rows(path)
    report = run(demo, dest)
    assert statuses(report)[sid] == "conflict" and not report.ok
    assert "left alone" in next(r.reason for r in report.sessions if r.session_id == sid)
    assert file_rows(path) == held


def test_upstream_v38_fixtures_are_refused_and_unchanged(tmp_path):
    before = snapshot_dir(FIXTURES_DIR)
    report = run(FIXTURES_DIR, tmp_path / "dest")
    assert [r.status for r in report.sessions] == ["refused"]
    assert "version 38" in report.sessions[0].reason
    assert snapshot_dir(FIXTURES_DIR) == before
    assert not (tmp_path / "dest").exists() or not list((tmp_path / "dest").glob("*.db"))


def test_upstream_v38_refused_into_postgres_too(pg_url):
    report = run(FIXTURES_DIR, pg_url)
    assert [r.status for r in report.sessions] == ["refused"]
    assert ops.migrate_stores(open_backend(pg_url), open_backend(pg_url)).sessions == []


def test_live_lease_is_refused_unless_forced(tmp_path, pg_url):
    root = tmp_path / "live"
    summary = build_demo(root, 2, clock=lambda: wall_clock_ms() // 1000 * 1000)
    live = summary.runtime.live_lease_session_id
    report = run(root, pg_url)
    assert statuses(report)[live] == "refused"
    assert "lease" in next(r.reason for r in report.sessions if r.session_id == live)
    assert sum(1 for s in statuses(report).values() if s == "copied") == 2
    forced = run(root, pg_url, force=True)
    assert statuses(forced)[live] == "copied"
    assert {s for k, s in statuses(forced).items() if k != live} == {"skipped"}


def test_dry_run_writes_nothing(demo, tmp_path):
    report = run(demo, tmp_path / "dry", dry_run=True)
    assert set(statuses(report).values()) == {"copied"} and report.dry_run
    assert report.totals()["rows"] > 0
    assert not list((tmp_path / "dry").glob("*.db")) if (tmp_path / "dry").exists() else True


def test_session_selection_by_prefix_and_unknown(demo, tmp_path):
    sid = min(session_files(demo))
    report = run(demo, tmp_path / "one", sessions=[sid[:6]])
    assert statuses(report) == {sid: "copied"}
    with pytest.raises(LookupFailed, match="no session match"):
        run(demo, tmp_path / "one", sessions=["zzzz-not-there"])


class CorruptingDest:
    """A destination that flips one byte of the first blob it imports (a copy gone wrong)."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.target = inner.target
        self.done = False

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def import_session(self, session_id, records):
        if not self.done and records.get("blobs"):
            self.done = True
            blob = records["blobs"][0]
            records = {**records, "blobs": [{**blob, "content": bytes([blob["content"][0] ^ 0xFF])
                                             + blob["content"][1:]}, *records["blobs"][1:]]}
        self.inner.import_session(session_id, records)


@pytest.mark.parametrize("to_postgres", [False, True])
def test_verification_failure_rolls_the_session_back(demo, tmp_path, request, to_postgres):
    target = request.getfixturevalue("pg_url") if to_postgres else str(tmp_path / "dest")
    src, dst = open_backend(str(demo)).transfer(readonly=True), open_backend(target).transfer()
    try:
        report = ops.migrate(src, CorruptingDest(dst))
        bad = report.sessions[0]
        assert bad.status == "failed" and "hash" in bad.reason and "rolled back" in bad.reason
        assert bad.rows == 0 and not report.ok
        assert dst.export(bad.session_id) is None  # nothing of it is left
        assert [r.status for r in report.sessions[1:]] == ["copied", "copied"]
        rerun = ops.migrate(src, dst)
        assert [r.status for r in rerun.sessions] == ["copied", "skipped", "skipped"]
    finally:
        src.close()
        dst.close()


def test_postgres_refuses_rows_of_another_session(demo, pg_url):
    src, dst = open_backend(str(demo)).transfer(readonly=True), open_backend(pg_url).transfer()
    try:
        sid = next(s for s, _w, _r in src.sessions())
        records = src.export(sid)
        records["runtime_turn_commits"] = [{"session_id": "someone-else", "turn_id": "t", "turn_commit_hash": "h",
                                            "result_json": "{}", "committed_at_ms": 1}]
        from lashdb.engine.base.errors import DatabaseError
        with pytest.raises(DatabaseError, match="someone-else"):
            dst.import_session(sid, records)
        assert dst.export(sid) is None
    finally:
        src.close()
        dst.close()


def test_interrupted_run_resumes_without_duplicates(demo, pg_url):
    ids = sorted(session_files(demo))
    run(demo, pg_url, sessions=[ids[0]])  # the run that stopped after one session
    report = run(demo, pg_url)
    assert statuses(report) == {ids[0]: "skipped", ids[1]: "copied", ids[2]: "copied"}
    back = open_backend(pg_url).transfer(readonly=True)
    try:
        assert [s for s, _w, _r in back.sessions()] == ids
    finally:
        back.close()


def test_progress_hears_every_session(demo, tmp_path):
    heard = []
    started = []
    src, dst = open_backend(str(demo)).transfer(readonly=True), open_backend(str(tmp_path / "p")).transfer()
    ops.migrate(src, dst, progress=lambda r, done, total: heard.append((r.status, done, total)),
                on_start=started.append)
    assert started == [3] and heard == [("copied", 1, 3), ("copied", 2, 3), ("copied", 3, 3)]
    doc = ops.migrate(src, dst).to_json()
    assert set(doc) == {"source", "dest", "dry_run", "force", "sessions", "total"}
    assert set(doc["sessions"][0]) == {"session_id", "source", "status", "rows", "bytes", "reason"}
    assert doc["total"]["skipped"] == 3


def test_foreign_postgres_source_is_refused_with_the_cutover_error(tmp_path, pg_url):
    import psycopg

    from lashdb.engine.base.errors import UnrecognisedSchema

    with psycopg.connect(pg_url) as conn:
        conn.execute("CREATE TABLE lash_schema_versions (component TEXT PRIMARY KEY, version INTEGER NOT NULL)")
        conn.execute("INSERT INTO lash_schema_versions VALUES ('lash-postgres-store', 3)")
    with pytest.raises(UnrecognisedSchema, match="lash-postgres-store"):
        run(pg_url, tmp_path / "dest")
    assert not (tmp_path / "dest").exists()


def test_a_session_under_another_file_name_at_the_destination_is_found(demo, tmp_path):
    dest = tmp_path / "dest"
    run(demo, dest)
    sid, path = next(iter(session_files(dest).items()))
    path.rename(dest / "renamed.db")
    report = run(demo, dest)
    assert statuses(report)[sid] == "skipped"
    assert session_files(dest)[sid].name == "renamed.db"  # no second copy under the factory's name
    assert not (dest / path.name).exists()
