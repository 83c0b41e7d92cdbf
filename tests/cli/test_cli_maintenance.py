"""`lashdb gc` and `lashdb vacuum` through the Typer app (CliRunner).

The expected numbers (blobs to delete, bytes freed, nodes removed) are computed from the raw rows
with plain apsw and cbor2/zlib before the command runs, not from the code under test.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import zlib
from pathlib import Path

import apsw
import cbor2
import pytest
from typer.testing import CliRunner

from lashdb.cli.main import app
from lashdb.engine.ops.demo import build_demo
from lashdb.engine import Store
from conftest import FIXTURES_DIR

FIXTURES = FIXTURES_DIR
V38 = FIXTURES / "durable-core.db"
runner = CliRunner()

GC_KEYS = {"dry_run", "force", "sessions", "total", "unreadable"}
GC_SESSION_KEYS = {"path", "session_id", "outcome", "root_count", "retained_blob_count", "deleted_blob_count",
                   "freed_bytes", "missing_blob_count", "batch_count", "busy", "error"}
GC_TOTAL_KEYS = {"sessions", "collected", "busy", "refused", "aborted", "failed", "root_count", "retained_blob_count",
                 "deleted_blob_count", "freed_bytes", "unreadable"}
VACUUM_SESSION_KEYS = {"path", "session_id", "outcome", "removed_node_count", "compressed_blobs",
                       "compressed_bytes_saved", "compacted", "compact_error",
                       "size_before", "size_after", "error"}
VACUUM_TOTAL_KEYS = {"sessions", "vacuumed", "not_compacted", "refused", "failed", "removed_node_count",
                     "compressed_blobs", "compressed_bytes_saved",
                     "size_before", "size_after", "unreadable"}


def run(root, *args):
    return runner.invoke(app, ["--root", str(root), *args])


def no_crash(result):
    assert "Traceback" not in result.output, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    return result


def error_lines(result) -> list[str]:
    no_crash(result)
    return [line for line in result.stderr.splitlines() if line.startswith("lashdb: error: ")]


def ro(path: Path) -> apsw.Connection:
    uri = f"file:{path}?" + ("mode=ro" if os.path.exists(f"{path}-wal") else "immutable=1")
    return apsw.Connection(uri, flags=apsw.SQLITE_OPEN_READONLY | apsw.SQLITE_OPEN_URI)


def raw_rows(path: Path) -> dict[str, bytes]:
    conn = ro(path)
    try:
        return {h: bytes(c) for h, c in conn.execute("SELECT hash, content FROM blobs")}
    finally:
        conn.close()


def node_counts(path: Path) -> tuple[int, int]:
    conn = ro(path)
    try:
        (live, dead), = conn.execute("SELECT sum(tombstoned = 0), sum(tombstoned != 0) FROM graph_nodes").fetchall()
        return live or 0, dead or 0
    finally:
        conn.close()


def logical(stored: bytes) -> bytes:
    env = cbor2.loads(stored)
    return zlib.decompress(env["content"]) if env["compression"] == "Zlib" else env["content"]


def expected_gc(path: Path) -> dict[str, int]:
    """Roots, retained, deleted and freed bytes of a GC of ``path``, worked out here from the rows."""
    rows = raw_rows(path)
    conn = ro(path)
    try:
        head = json.loads(conn.execute("SELECT head_json FROM session_head").fetchall()[0][0])
        artifacts = [r[0] for r in conn.execute("SELECT blob_ref FROM artifact_refs")]
    finally:
        conn.close()
    keep = set(artifacts)
    roots = len(artifacts)
    if head.get("checkpoint_ref"):
        roots += 1
        keep.add(head["checkpoint_ref"])
        manifest = cbor2.loads(logical(rows[head["checkpoint_ref"]]))
        keep |= {manifest[k] for k in ("tool_state_ref", "plugin_snapshot_ref", "execution_state_ref")
                 if k in manifest}
    doomed = set(rows) - keep
    return {"root_count": roots, "retained_blob_count": len(set(rows) & keep), "deleted_blob_count": len(doomed),
            "freed_bytes": sum(len(rows[h]) for h in doomed), "missing_blob_count": len(keep - set(rows)),
            "keep": keep & set(rows)}


def snapshot(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return build_demo(tmp_path_factory.mktemp("demo") / "root")


class Demo:
    def __init__(self, root: Path, built) -> None:
        self.root = root
        self.ids = [s.session_id for s in built.sessions]
        self.paths = [root / s.path.name for s in built.sessions]
        self.tombstoned = [s.tombstoned_nodes for s in built.sessions]


@pytest.fixture
def demo(built, tmp_path):
    dest = tmp_path / "root"
    shutil.copytree(built.root, dest)
    return Demo(dest, built)


# --- gc ---------------------------------------------------------------------------------------------


def test_gc_all_deletes_exactly_the_unreachable_blobs(demo):
    expected = {str(p): expected_gc(p) for p in demo.paths}
    assert sum(e["deleted_blob_count"] for e in expected.values()) > 0  # the demo leaves garbage
    result = run(demo.root, "gc", "--all", "--json")
    assert result.exit_code == 0 and result.stderr == ""
    doc = json.loads(result.stdout)
    assert set(doc) == GC_KEYS and doc["dry_run"] is False
    assert {s["path"] for s in doc["sessions"]} == set(expected)
    for entry in doc["sessions"]:
        want = expected[entry["path"]]
        assert set(entry) == GC_SESSION_KEYS and entry["outcome"] == "collected" and entry["error"] is None
        for key in ("root_count", "retained_blob_count", "deleted_blob_count", "freed_bytes", "missing_blob_count"):
            assert entry[key] == want[key], (entry["path"], key)
        assert set(raw_rows(Path(entry["path"]))) == want["keep"]
    total = doc["total"]
    assert set(total) == GC_TOTAL_KEYS
    assert total["deleted_blob_count"] == sum(e["deleted_blob_count"] for e in expected.values())
    assert total["freed_bytes"] == sum(e["freed_bytes"] for e in expected.values())
    assert total["retained_blob_count"] == sum(e["retained_blob_count"] for e in expected.values())
    assert total["root_count"] == sum(e["root_count"] for e in expected.values())
    assert (total["sessions"], total["collected"], total["refused"], total["aborted"], total["failed"]) == \
        (len(demo.paths), len(demo.paths), 0, 0, 0)
    again = json.loads(run(demo.root, "gc", "--all", "--json").stdout)
    assert again["total"]["deleted_blob_count"] == 0 and again["total"]["freed_bytes"] == 0
    assert again["total"]["retained_blob_count"] == total["retained_blob_count"]


def test_gc_says_the_files_keep_their_size_until_vacuum_compact_and_names_that_command(demo):
    import shlex

    path, sid = demo.paths[0], demo.ids[0]
    expected = expected_gc(path)
    assert expected["deleted_blob_count"] > 0
    size = path.stat().st_size
    result = no_crash(run(demo.root, "gc", sid[:8]))
    assert result.exit_code == 0, result.output
    assert result.stdout.rstrip().endswith(" inside the files")
    [hint] = result.stderr.splitlines()
    assert hint == (f"the files keep their size until `lashdb vacuum --compact {sid}` returns the free pages "
                    "to the file system")
    assert path.stat().st_size == size  # what gc freed stays inside the file, as it says
    command = shlex.split(hint.split("`")[1])[1:]
    compacted = no_crash(run(demo.root, *command))
    assert compacted.exit_code == 0, compacted.output
    assert path.stat().st_size < size
    again = no_crash(run(demo.root, "gc", sid, "--json"))  # nothing freed, and JSON: no hint
    assert again.exit_code == 0 and again.stderr == ""
    assert no_crash(run(demo.root, "-q", "gc", demo.ids[1])).stderr == ""


def test_gc_dry_run_reports_the_same_and_writes_nothing(demo):
    expected = {str(p): expected_gc(p) for p in demo.paths}
    before = snapshot(demo.root)
    result = run(demo.root, "gc", "--all", "--dry-run", "--json")
    assert result.exit_code == 0
    doc = json.loads(result.stdout)
    assert doc["dry_run"] is True and all(s["outcome"] == "dry-run" for s in doc["sessions"])
    for entry in doc["sessions"]:
        assert entry["deleted_blob_count"] == expected[entry["path"]]["deleted_blob_count"]
        assert entry["freed_bytes"] == expected[entry["path"]]["freed_bytes"]
    table = run(demo.root, "gc", "--all", "--dry-run")
    assert table.stdout.splitlines()[0].split() == ["session", "file", "outcome", "roots", "retained", "deleted",
                                                    "freed"]
    assert f"total: {len(demo.paths)} session(s), {doc['total']['deleted_blob_count']} blob(s) to delete, " \
           "would free" in table.stdout
    assert snapshot(demo.root) == before


def test_gc_session_forms(demo):
    want = expected_gc(demo.paths[2])
    for args in (["--session", demo.ids[2]], [demo.ids[2][:6]], ["-s", str(demo.paths[2]), demo.paths[2].name]):
        doc = json.loads(run(demo.root, "gc", "--dry-run", *args, "--json").stdout)
        assert [s["session_id"] for s in doc["sessions"]] == [demo.ids[2]], args
        assert doc["sessions"][0]["deleted_blob_count"] == want["deleted_blob_count"]
    doc = json.loads(run(demo.root, "gc", "-s", demo.ids[2], "-s", demo.ids[3], "--json").stdout)
    assert [s["session_id"] for s in doc["sessions"]] == demo.ids[2:4]
    assert doc["sessions"][0]["freed_bytes"] == want["freed_bytes"]
    table = run(demo.root, "gc", demo.ids[1])
    assert table.exit_code == 0 and "deleted, freed" in table.stdout and demo.ids[1] in table.stdout


def test_gc_refuses_a_foreign_schema_and_goes_on(demo, tmp_path):
    copy = tmp_path / "v38" / "durable-core.db"
    copy.parent.mkdir()
    shutil.copy(V38, copy)
    digest = hashlib.sha256(copy.read_bytes()).hexdigest()
    want = expected_gc(demo.paths[0])
    for dry in ([], ["--dry-run"]):
        result = run(demo.root, "gc", str(copy), demo.ids[0], *dry, "--json")
        assert result.exit_code == 3
        lines = error_lines(result)
        assert len(lines) == 1 and "Unsupported lash session schema" in lines[0] and str(copy) in lines[0]
        doc = json.loads(result.stdout)
        refused, collected = doc["sessions"]
        assert refused["outcome"] == "refused" and refused["session_id"] == "durable-read-fixture"
        assert refused["deleted_blob_count"] is None and "version 38" in refused["error"]
        assert collected["outcome"] in ("collected", "dry-run")
        assert doc["total"]["refused"] == 1 and doc["total"]["collected"] == 1
    assert collected["deleted_blob_count"] == 0  # collected by the first run
    assert set(raw_rows(demo.paths[0])) == want["keep"]
    assert hashlib.sha256(copy.read_bytes()).hexdigest() == digest
    assert sorted(os.listdir(copy.parent)) == ["durable-core.db"]
    vac = run(demo.root, "vacuum", str(copy), "--compact")
    assert vac.exit_code == 3 and len(error_lines(vac)) == 1 and "refused" in vac.stdout
    assert hashlib.sha256(copy.read_bytes()).hexdigest() == digest
    assert sorted(os.listdir(copy.parent)) == ["durable-core.db"]


def test_gc_aborts_on_an_undecodable_live_manifest(demo):
    path = demo.paths[0]
    conn = apsw.Connection(str(path))
    ref = json.loads(conn.execute("SELECT head_json FROM session_head").fetchall()[0][0])["checkpoint_ref"]
    conn.execute("UPDATE blobs SET content = ? WHERE hash = ?", (b"\xa3garbage", ref))
    conn.close()
    rows = set(raw_rows(path))
    result = run(demo.root, "gc", demo.ids[0], demo.ids[1], "--json")
    assert result.exit_code == 1
    lines = error_lines(result)
    assert len(lines) == 1 and ref in lines[0] and "could not be decoded" in lines[0]
    doc = json.loads(result.stdout)
    assert [s["outcome"] for s in doc["sessions"]] == ["aborted", "collected"]
    assert doc["total"]["aborted"] == 1 and set(raw_rows(path)) == rows  # nothing deleted


def test_gc_and_vacuum_error_paths(demo, tmp_path):
    odd = tmp_path / "odd"
    odd.mkdir()
    (odd / "empty.db").write_bytes(b"")
    (odd / "text.db").write_text("plain text\n")
    (odd / "noise.db").write_bytes(os.urandom(4096))
    registry = next(demo.root.glob("*.processes.db"))
    for command in (["gc"], ["gc", "--dry-run"], ["vacuum"], ["vacuum", "--compact"]):
        no_args = run(demo.root, *command)
        assert no_args.exit_code == 2 and error_lines(no_args) == \
            ["lashdb: error: name a SESSION (or --session ID), or pass --all"]
        for target in ("nosuch", str(odd), "x" * 10_000, "-"):
            result = run(demo.root, *command, target)
            assert result.exit_code == 3 and len(error_lines(result)) == 1 and result.stdout == "", (command, target)
        for target in (odd / "empty.db", odd / "text.db", odd / "noise.db", registry):
            digest = hashlib.sha256(target.read_bytes()).hexdigest()
            result = run(demo.root, *command, str(target), "--json")
            assert result.exit_code == 3 and len(error_lines(result)) == 1, (command, target)
            assert json.loads(result.stdout)["sessions"][0]["outcome"] in ("refused", "failed")
            assert hashlib.sha256(target.read_bytes()).hexdigest() == digest
    assert sorted(os.listdir(odd)) == ["empty.db", "noise.db", "text.db"]


def test_gc_all_reports_a_damaged_file_it_cannot_collect(demo):
    damaged = demo.root / "damaged.db"
    shutil.copy(demo.paths[1], damaged)
    os.truncate(damaged, damaged.stat().st_size // 2)
    digest = hashlib.sha256(damaged.read_bytes()).hexdigest()
    result = run(demo.root, "gc", "--all", "--json")
    assert result.exit_code == 3
    lines = error_lines(result)
    assert len(lines) == 1 and "damaged.db" in lines[0] and "malformed" in lines[0]
    doc = json.loads(result.stdout)
    assert doc["total"]["failed"] == 1 and doc["total"]["collected"] == len(demo.paths)
    assert hashlib.sha256(damaged.read_bytes()).hexdigest() == digest


def test_gc_sees_a_live_writers_commits(demo):
    path = demo.paths[3]
    with Store.open(path) as writer:
        loose = writer.put_blob(b"unreachable, still in the writer's -wal" * 30)
        doc = json.loads(run(demo.root, "gc", demo.ids[3], "--json").stdout)
        assert doc["sessions"][0]["outcome"] == "collected"
        assert loose not in raw_rows(path)
        assert not writer.blob_exists(loose)


# --- vacuum -----------------------------------------------------------------------------------------


def test_vacuum_removes_tombstoned_nodes(demo):
    counts = {str(p): node_counts(p) for p in demo.paths}
    assert counts[str(demo.paths[0])][1] == demo.tombstoned[0] > 0
    result = run(demo.root, "vacuum", "--all", "--json")
    assert result.exit_code == 0 and result.stderr == ""
    doc = json.loads(result.stdout)
    assert set(doc) == {"compact", "sessions", "total", "unreadable"} and doc["compact"] is False
    for entry in doc["sessions"]:
        assert set(entry) == VACUUM_SESSION_KEYS and entry["outcome"] == "vacuumed"
        live, dead = counts[entry["path"]]
        assert entry["removed_node_count"] == dead and node_counts(Path(entry["path"])) == (live, 0)
        assert entry["compacted"] is False and entry["size_before"] is None and entry["size_after"] is None
    total = doc["total"]
    assert set(total) == VACUUM_TOTAL_KEYS
    assert total["removed_node_count"] == sum(d for _l, d in counts.values()) == sum(demo.tombstoned)
    assert (total["sessions"], total["vacuumed"], total["refused"], total["failed"]) == (len(demo.paths),) + \
        (len(demo.paths), 0, 0)
    assert total["size_before"] is None
    again = json.loads(run(demo.root, "vacuum", "--all", "--json").stdout)
    assert again["total"]["removed_node_count"] == 0


def test_vacuum_compact_reports_sizes(demo):
    path = demo.paths[0]
    with Store.open(path) as store:  # make free pages for VACUUM to return
        store.gc_unreachable()
    before = path.stat().st_size + (os.path.getsize(f"{path}-wal") if os.path.exists(f"{path}-wal") else 0)
    result = run(demo.root, "vacuum", "--session", demo.ids[0], "--compact", "--json")
    assert result.exit_code == 0
    entry = json.loads(result.stdout)["sessions"][0]
    after = path.stat().st_size + (os.path.getsize(f"{path}-wal") if os.path.exists(f"{path}-wal") else 0)
    assert entry["compacted"] is True and entry["removed_node_count"] == demo.tombstoned[0]
    assert entry["size_before"] == before and entry["size_after"] == after < before
    assert json.loads(result.stdout)["total"]["size_after"] == after
    table = run(demo.root, "vacuum", demo.ids[1], "--compact")
    assert table.exit_code == 0
    assert table.stdout.splitlines()[0].split() == ["session", "file", "outcome", "nodes", "removed", "blobs",
                                                    "compressed", "size", "before", "size", "after"]
    assert "tombstoned node(s) removed" in table.stdout and "on disk" in table.stdout


def test_vacuum_compresses_what_commits_stored_uncompressed(tmp_path):
    # A runtime's commit stores small snapshots uncompressed (StoreOptions.deferred_compression_max);
    # `lashdb vacuum` compresses them and says how many and how much it saved.
    from lashdb.engine import HydratedCheckpoint, RuntimeCommit, codec
    from runtime_support import LEASE_TTL

    root = tmp_path / "root"
    root.mkdir()
    with Store.open(root / "s.db") as store:
        fence = store.try_claim_session_execution_lease("sess", "runtime", LEASE_TTL).fence()
        tool = {"lines": ["alpha beta gamma delta " * 4] * 100}
        ref = store.commit_runtime_state(RuntimeCommit("sess", {}, checkpoint=HydratedCheckpoint(
            turn_state={}, tool_state=tool), session_execution_lease=fence)).manifest.tool_state_ref
        stored = dict(store.iter_blob_rows())[ref]
        store.release_session_execution_lease(fence)
    assert codec.parse_envelope(stored).compression == "None"
    result = no_crash(run(root, "vacuum", "s.db", "--json"))
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    [entry] = doc["sessions"]
    with Store.open_readonly(root / "s.db") as store:
        now = dict(store.iter_blob_rows())[ref]
    assert codec.parse_envelope(now).compression == "Zlib"
    assert entry["compressed_blobs"] == doc["total"]["compressed_blobs"] == 1
    assert entry["compressed_bytes_saved"] == doc["total"]["compressed_bytes_saved"] == len(stored) - len(now) > 0
    table = no_crash(run(root, "vacuum", "s.db"))
    assert "0 blob(s) compressed" not in table.stdout and "tombstoned node(s) removed" in table.stdout
