"""`lashdb sessions list|show|delete` through the Typer app (CliRunner)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import typer.testing
from typer.testing import CliRunner

from conftest import FIXTURES_DIR
from lashdb.cli.main import app
from lashdb.engine.ops.demo import build_demo
from lashdb.engine import SessionRelation, SessionStoreCreateRequest, SessionStoreFactory, Store

V38 = FIXTURES_DIR
runner = CliRunner()

LIST_KEYS = {"path", "file", "kind", "status", "foreign", "schema_version", "session_id", "session_name", "model",
             "cwd", "relation", "parent_session_id", "created_at", "created_at_epoch_ms", "modified_at",
             "modified_at_epoch_ms", "head_revision", "live_nodes", "tombstoned_nodes", "user_messages", "blobs",
             "blob_bytes", "size_bytes", "first_user_message", "sidecars"}


def run(root, *args, **kwargs):
    return runner.invoke(app, ["--root", str(root), *args], **kwargs)


def one_error_line(result, code=3):
    assert result.exit_code == code, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lashdb: error: "), result.stderr
    assert "Traceback" not in result.output
    assert result.stdout == ""
    return lines[0]


@pytest.fixture
def demo(tmp_path):
    return build_demo(tmp_path / "root")


# --- list -------------------------------------------------------------------------------------------


def test_list_table(demo):
    result = run(demo.root, "sessions", "list")
    assert result.exit_code == 0 and result.stderr == ""
    lines = result.stdout.splitlines()
    assert lines[0].split()[:3] == ["session", "name", "model"]
    assert len(lines) == 6
    assert lines[1].startswith(demo.sessions[3].session_id[:8]) and "Plan the storage cut-over" in lines[1]
    child = [line for line in lines if "Sub-agent" in line][0]
    assert child.startswith(f"{demo.child_sessions[0].session_id[:8]} ← {demo.sessions[0].session_id[:8]}")
    assert "2026-05-28 09:03  2026-05-28 09:07" in child and child.split()[-1] == "ok"


def test_list_json_keys_and_values(demo):
    result = run(demo.root, "sessions", "list", "--json")
    assert result.exit_code == 0
    rows = json.loads(result.stdout)
    assert len(rows) == 5 and all(set(r) == LIST_KEYS for r in rows)
    first = [r for r in rows if r["session_id"] == demo.sessions[0].session_id][0]
    assert first["session_name"] == "Fix the flaky parser test"
    assert first["created_at"] == "2026-05-28T09:00:00Z" and first["created_at_epoch_ms"] == 1_779_958_800_000
    assert first["modified_at_epoch_ms"] == 1_779_959_540_000
    assert (first["head_revision"], first["live_nodes"], first["user_messages"], first["blobs"]) == (3, 8, 3, 12)
    assert first["size_bytes"] == demo.sessions[0].path.stat().st_size
    assert first["status"] == "ok" and first["relation"] == "root"
    child = [r for r in rows if r["relation"] == "child"][0]
    assert child["parent_session_id"] == demo.sessions[0].session_id


@pytest.mark.parametrize(("sort", "expected"), [
    ("modified", [3, 2, 1, 0, 4]), ("created", [3, 2, 1, 4, 0]), ("name", [0, 2, 3, 1, 4])])
def test_list_sort(demo, sort, expected):
    rows = json.loads(run(demo.root, "sessions", "list", "--sort", sort, "--json").stdout)
    assert [r["session_id"] for r in rows] == [demo.sessions[i].session_id for i in expected]


def test_list_sort_size_and_limit(demo):
    rows = json.loads(run(demo.root, "sessions", "list", "--sort", "size", "--json").stdout)
    assert [r["size_bytes"] for r in rows] == sorted((r["size_bytes"] for r in rows), reverse=True)
    rows = json.loads(run(demo.root, "sessions", "list", "--limit", "2", "--json").stdout)
    assert [r["session_id"] for r in rows] == [demo.sessions[3].session_id, demo.sessions[2].session_id]


def test_list_rejects_bad_options(demo):
    assert run(demo.root, "sessions", "list", "--sort", "colour").exit_code == 2
    assert run(demo.root, "sessions", "list", "--limit", "-1").exit_code == 2


def test_list_all_adds_other_kinds(demo):
    shutil.copy(V38 / "processes.db", demo.root / "registry.db")
    (demo.root / "junk.db").write_text("hello\n")
    rows = json.loads(run(demo.root, "sessions", "list", "--json").stdout)
    assert len(rows) == 5
    result = run(demo.root, "sessions", "list", "--all", "--json")
    rows = {r["file"]: r for r in json.loads(result.stdout)}
    assert len(rows) == 10  # five sessions, the demo's journal, registry and trigger store, the two files above
    assert rows["registry.db"]["kind"] == "process registry" and rows["registry.db"]["status"] == "foreign v24"
    assert rows["junk.db"]["kind"] == "unreadable"
    table = run(demo.root, "sessions", "list", "--all").stdout
    assert table.splitlines()[0].split()[:2] == ["session", "kind"]
    assert "process registry" in table


def test_empty_root_hints_at_demo(tmp_path):
    result = run(tmp_path, "sessions", "list")
    assert result.exit_code == 0 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and "lashdb demo" in result.stderr
    missing = run(tmp_path / "missing", "sessions", "list")  # issue 10: a missing root is exit 3, not empty
    assert missing.exit_code == 3 and missing.stderr.startswith(f"lashdb: error: {tmp_path / 'missing'}: sessions root")
    quiet = runner.invoke(app, ["--root", str(tmp_path), "--quiet", "sessions", "list"])
    assert quiet.exit_code == 0 and quiet.stderr == ""
    as_json = run(tmp_path, "sessions", "list", "--json")
    assert as_json.exit_code == 0 and json.loads(as_json.stdout) == []


def test_foreign_session_listed_with_one_warning(tmp_path):
    shutil.copy(V38 / "durable-core.db", tmp_path / "upstream.db")
    result = run(tmp_path, "sessions", "list", "--json")
    assert result.exit_code == 0
    assert result.stderr.splitlines() == [
        "lashdb: warning: 1 session file(s) have a foreign schema and are shown read-only: upstream.db"]
    (row,) = json.loads(result.stdout)
    assert row["status"] == "foreign v38" and row["session_id"] == "durable-read-fixture"
    assert row["head_revision"] == 3 and row["first_user_message"] == "durable read user message"


# --- show -------------------------------------------------------------------------------------------


def test_show_json_by_prefix(demo):
    first = demo.sessions[0]
    result = run(demo.root, "sessions", "show", first.session_id[:6], "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["path"] == str(first.path) and doc["status"] == "ok"
    assert doc["meta"]["session_name"] == "Fix the flaky parser test"
    assert doc["head"]["revision"] == 3 and doc["head"]["tombstoned_nodes"] == 2
    assert doc["blobs"]["unreachable_count"] == 7 and doc["blobs"]["compressed_share"] == 0.25
    assert doc["token_totals"]["total_tokens"] == 11859
    assert doc["files"]["size_bytes"] == first.path.stat().st_size
    assert set(doc["execution_lease"]) == {"state", "owner_id", "fencing_token", "claimed_at", "claimed_at_epoch_ms",
                                           "expires_at", "expires_at_epoch_ms", "expires_in_ms"}
    assert doc["execution_lease"]["state"] == "expired"  # its runtime died four days ago
    assert set(doc["queued_work"]) == {"batches", "pending", "claimed", "ready", "items"}


def test_show_accepts_every_session_form(demo):
    first = demo.sessions[0]
    for form in (str(first.path), first.path.name, first.path.stem, first.session_id, first.session_id[:4]):
        doc = json.loads(run(demo.root, "sessions", "show", form, "--json").stdout)
        assert doc["meta"]["session_id"] == first.session_id, form


def test_show_table(demo):
    child = demo.child_sessions[0]
    result = run(demo.root, "sessions", "show", child.session_id)
    assert result.exit_code == 0
    out = result.stdout
    assert out.splitlines()[0] == str(child.path)
    assert "parent_session_id  " + demo.sessions[0].session_id in out
    assert "unreachable_count  0" in out and "revision          1" in out


def test_show_upstream_fixture_in_place(tmp_path):
    before = (V38 / "durable-core.db").read_bytes()
    result = run(tmp_path, "sessions", "show", str(V38 / "durable-core.db"), "--json")
    assert result.exit_code == 0
    assert result.stderr.startswith("lashdb: warning: durable-core.db: foreign schema (session v38")
    assert result.stderr.count("\n") == 1
    doc = json.loads(result.stdout)
    assert doc["status"] == "foreign v38" and doc["head"]["revision"] == 3
    assert doc["meta"]["session_id"] == "durable-read-fixture"
    assert (V38 / "durable-core.db").read_bytes() == before
    assert not (V38 / "durable-core.db-wal").exists() and not (V38 / "durable-core.db-shm").exists()


def test_show_unknown_session(demo):
    line = one_error_line(run(demo.root, "sessions", "show", "no-such-session"))
    assert "no session `no-such-session`" in line


def test_show_ambiguous_prefix_lists_candidates(tmp_path):
    factory = SessionStoreFactory(tmp_path)
    for sid in ("abcd-one", "abcd-two"):
        factory.create_store(SessionStoreCreateRequest(sid, "m", SessionRelation.root())).close()
    line = one_error_line(run(tmp_path, "sessions", "show", "abcd"))
    assert "matches 2 sessions" in line and "(abcd-one)" in line and "(abcd-two)" in line


def test_a_session_id_stored_in_two_files_lists_both_paths_and_says_to_pass_a_path(demo):
    session = demo.root_sessions[0]
    copy = demo.root / "restored-by-hand.db"
    shutil.copy(session.path, copy)
    both = sorted([str(session.path), str(copy)])
    for name in (session.session_id[:8], session.session_id):
        for command in (["sessions", "show", name], ["gc", name], ["doctor", name]):
            line = one_error_line(run(demo.root, *command))
            assert (f"session id `{session.session_id}` is stored in 2 databases: {both[0]}, {both[1]} "
                    "(pass the path of the one you mean)") in line, command
    shown = run(demo.root, "sessions", "show", str(copy), "--json")  # a path names one of them
    assert shown.exit_code == 0 and json.loads(shown.stdout)["meta"]["session_id"] == session.session_id


@pytest.mark.parametrize("content", [b"", os.urandom(4096), b"just some text\n" * 20],
                         ids=["empty", "random", "text"])
def test_show_files_that_are_not_sessions(tmp_path, content):
    bad = tmp_path / "bad.db"
    bad.write_bytes(content)
    line = one_error_line(run(tmp_path, "sessions", "show", str(bad)))
    assert str(bad) in line and "not a lash" in line
    assert bad.read_bytes() == content and sorted(p.name for p in tmp_path.iterdir()) == ["bad.db"]


def test_show_a_directory(tmp_path):
    (tmp_path / "dir.db").mkdir()
    line = one_error_line(run(tmp_path, "sessions", "show", str(tmp_path / "dir.db")))
    assert "is a directory" in line


def test_show_an_unreadable_file(demo):
    path = demo.sessions[0].path
    path.chmod(0)
    try:
        result = run(demo.root, "sessions", "show", str(path), "--json")
    finally:
        path.chmod(0o644)
    if os.geteuid() == 0:  # root reads through mode 000: the command just works
        assert result.exit_code == 0 and json.loads(result.stdout)["status"] == "ok"
    else:
        assert "cannot read" in one_error_line(result)


# --- delete -----------------------------------------------------------------------------------------


def _live_copy(tmp_path):
    """A session with a real -wal and -shm beside it (copied while a writer held it open)."""
    src = tmp_path / "src.db"
    dest = tmp_path / "live"
    dest.mkdir()
    with Store.open(src) as store:
        store.put_blob(b"x" * 100)
        for suffix in ("", "-wal", "-shm"):
            shutil.copy(str(src) + suffix, str(dest / "live.db") + suffix)
    return dest / "live.db"


def test_delete_dry_run_changes_nothing(demo):
    path = demo.sessions[1].path
    result = run(demo.root, "sessions", "delete", demo.sessions[1].session_id, "--dry-run")
    assert result.exit_code == 0
    assert result.stdout == f"would delete {path}\n"
    assert path.exists()


def test_delete_with_yes_removes_db_wal_and_shm(tmp_path):
    db = _live_copy(tmp_path)
    result = run(db.parent, "sessions", "delete", str(db), "--yes", "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert set(doc) == {"path", "session_id", "dry_run", "files", "removed", "sidecars_kept", "children_kept",
                        "execution_lease"}
    assert doc["removed"] == [str(db), str(db) + "-wal", str(db) + "-shm"]
    assert [f["path"] for f in doc["files"]] == doc["removed"] and doc["dry_run"] is False
    assert all(f["bytes"] > 0 for f in doc["files"])
    assert list(db.parent.iterdir()) == []


def test_delete_refuses_without_yes_when_not_interactive(demo):
    path = demo.sessions[0].path
    line = one_error_line(run(demo.root, "sessions", "delete", demo.sessions[0].session_id), code=2)
    assert "without --yes" in line
    assert path.exists()


def test_delete_asks_on_a_terminal(demo, monkeypatch):
    monkeypatch.setattr(typer.testing._NamedTextIOWrapper, "isatty", lambda self: True, raising=False)
    keep = demo.sessions[0]
    result = run(demo.root, "sessions", "delete", keep.session_id, input="n\n")
    assert result.exit_code == 0 and keep.path.exists()
    assert "Aborted" not in result.output and "error" not in result.stderr
    assert result.stderr.rstrip().endswith("? [y/N]:lashdb: cancelled; nothing done") and "deleted" not in result.stdout
    gone = demo.sessions[1]
    result = run(demo.root, "sessions", "delete", gone.session_id, input="y\n")
    assert result.exit_code == 0, result.output
    assert not gone.path.exists() and f"deleted {gone.path}" in result.stdout


def test_delete_keeps_lash_sidecars_and_says_so(demo):
    first = demo.sessions[0]
    effects = Path(str(first.path) + ".effects.db")
    shutil.copy(V38 / "effects.db", effects)
    result = run(demo.root, "sessions", "delete", str(first.path), "--yes")
    assert result.exit_code == 0
    assert not first.path.exists() and effects.exists()
    assert f"kept sidecar {effects}" in result.stderr


def test_delete_refuses_what_is_not_a_session(tmp_path):
    shutil.copy(V38 / "effects.db", tmp_path / "journal.db")
    line = one_error_line(run(tmp_path, "sessions", "delete", str(tmp_path / "journal.db"), "--yes"))
    assert "not a lash session database" in line
    assert (tmp_path / "journal.db").exists()
    (tmp_path / "noise.db").write_bytes(os.urandom(2048))
    one_error_line(run(tmp_path, "sessions", "delete", str(tmp_path / "noise.db"), "--yes"))
    assert (tmp_path / "noise.db").exists()


def test_delete_a_foreign_session_is_allowed(tmp_path):
    shutil.copy(V38 / "durable-core.db", tmp_path / "old.db")
    result = run(tmp_path, "sessions", "delete", str(tmp_path / "old.db"), "--yes")
    assert result.exit_code == 0 and not (tmp_path / "old.db").exists()


def test_foreign_session_resolves_by_id_and_prefix(tmp_path):
    shutil.copy(V38 / "durable-core.db", tmp_path / "upstream.db")
    for form in ("durable-read-fixture", "durable-read"):
        result = run(tmp_path, "sessions", "show", form, "--json")
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["path"] == str(tmp_path / "upstream.db")
