"""The demo's runtime rows (commits, leases, queued work, attachments, effect journal), read back through
the public API and the CLI."""

from __future__ import annotations

import hashlib
import json
import re
import shlex
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lashdb.cli.main import app
from lashdb.engine.ops.demo import DEMO_NOW_MS, build_demo
from lashdb.engine import Store, list_effects, replay_plan, stale_in_progress
from lashdb.engine.ops import inspect
from lashdb.engine.base.timing import wall_clock_ms

NOW = DEMO_NOW_MS
MINUTE = 60_000
CRASH = 1_779_959_540_000  # the first session's last activity (2026-05-28T09:12:20Z): its runtime died here
runner = CliRunner()


def run(root, *args):
    return runner.invoke(app, ["--root", str(root), *args])


def snapshot(root: Path) -> dict[str, tuple[str, int]]:
    return {str(p.relative_to(root)): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    return build_demo(tmp_path_factory.mktemp("demo") / "root")


def test_runtime_summary(demo):
    runtime = demo.runtime
    first, newest = demo.sessions[0], demo.root_sessions[-1]
    assert runtime.committed_session_id == runtime.expired_lease_session_id == first.session_id
    assert runtime.live_lease_session_id == newest.session_id
    assert runtime.turn_ids == ("turn-1", "turn-2", "turn-3") and runtime.interrupted_turn_id == "turn-4"
    assert runtime.effects == first.sidecars["effects"] == Path(f"{first.path}.effects.db")
    assert runtime.effect_scopes == ("turn-1", "turn-2", "turn-4")
    assert runtime.stale_effect[0] == "turn-4" and runtime.stale_effect[1].endswith(":attempt:1")
    assert set(runtime.queued) == {"claimed", "pending"} and set(runtime.attachments) == {"committed", "uncommitted"}
    doc = demo.to_json()["runtime"]
    assert list(doc) == ["committed_session_id", "turn_ids", "interrupted_turn_id", "expired_lease_session_id",
                         "live_lease_session_id", "queued", "attachments", "effects", "effect_scopes", "stale_effect"]
    assert doc["effects"] == str(runtime.effects) and doc["turn_ids"] == ["turn-1", "turn-2", "turn-3"]
    assert doc["stale_effect"] == {"scope_id": "turn-4", "replay_key": runtime.stale_effect[1]}


def test_first_session_is_runtime_committed_and_its_runtime_died(demo):
    first = demo.sessions[0]
    with Store.open_readonly(first.path) as store:
        session = store.load_session()
        uncommitted = store.list_uncommitted(NOW)
        head = store.load_session_head_meta()
    assert session.head_revision == 3 and session.graph.leaf_node_id == first.leaf_node_id
    assert session.checkpoint_ref == first.checkpoint_ref and session.checkpoint.turn_state["turn_index"] == 3
    assert head.graph_node_count == 8 and head.token_ledger == ()  # commits keep usage in usage_deltas rows
    assert [(e.attachment_id, e.canonical_uri, e.intent_at_epoch_ms) for e in uncommitted] == [
        (demo.runtime.attachments["uncommitted"], "attachment://ci-failure-log.txt", CRASH)]
    doc = inspect.session_details(first.path, now_ms=NOW).to_json()
    assert doc["turn_commits"] == {"count": 3, "last_committed_at": "2026-05-28T09:09:20Z",
                                   "last_committed_at_epoch_ms": 1_779_959_360_000}
    lease = doc["execution_lease"]
    # Four turns claimed the lease (fencing 4); the fourth runtime died before its commit released it.
    assert (lease["state"], lease["owner_id"], lease["fencing_token"]) == ("expired", "lash@demo-laptop:pid4711", 4)
    assert (lease["claimed_at_epoch_ms"], lease["expires_at_epoch_ms"]) == (CRASH, CRASH + 5 * MINUTE)
    assert doc["attachments"]["committed"] == 1 and doc["attachments"]["uncommitted"] == 1
    assert doc["attachments"]["oldest_uncommitted_age_ms"] == NOW - CRASH > 3_600_000
    assert first.path.stat().st_mtime_ns // 1_000_000 == first.modified_at_ms == CRASH


def test_newest_session_holds_a_live_lease_with_queued_work(demo):
    newest = demo.root_sessions[-1]
    with Store.open_readonly(newest.path) as store:
        batches = store.list_queued_work(newest.session_id)
    assert [b.batch_id for b in batches] == [demo.runtime.queued["claimed"], demo.runtime.queued["pending"]]
    assert [b.texts for b in batches] == [["Also say that lashdb doctor reports expired leases."],
                                            ["And link the upgrade note from the README."]]
    doc = inspect.session_details(newest.path, now_ms=NOW).to_json()
    assert doc["execution_lease"] == {
        "state": "live", "owner_id": "lash@demo-laptop:pid5120", "fencing_token": 1,
        "claimed_at": "2026-06-01T08:58:00Z", "claimed_at_epoch_ms": NOW - 2 * MINUTE,
        "expires_at": "2026-06-01T09:28:00Z", "expires_at_epoch_ms": NOW + 28 * MINUTE,
        "expires_in_ms": 28 * MINUTE}
    assert doc["queued_work"] == {"batches": 2, "pending": 1, "claimed": 1, "ready": 1, "items": 2}
    assert doc["turn_commits"]["count"] == 0 and doc["attachments"]["committed"] == 0
    assert newest.modified_at_ms == NOW - MINUTE == newest.path.stat().st_mtime_ns // 1_000_000
    # After the claim's fifteen minutes it is pending again; the lease lapses at 09:28.
    later = inspect.session_details(newest.path, now_ms=NOW + 30 * MINUTE).to_json()
    assert later["queued_work"]["claimed"] == 0 and later["execution_lease"]["state"] == "expired"


def test_effect_journal(demo):
    path = demo.runtime.effects
    rows = list_effects(path)
    assert [(r.scope_id, r.status) for r in rows] == [
        ("turn-1", "completed"), ("turn-2", "failed"), ("turn-2", "completed"), ("turn-4", "in_progress")]
    assert rows[0].outcome == {"type": "tool_attempt", "result": {"Ok": "tests/test_parser.py: 212 lines"}}
    assert rows[1].error == {"code": "tool_timeout", "message": "run_tests exceeded its 120 s budget"}
    assert rows[1].replay_key.endswith(":attempt:1") and rows[2].replay_key.endswith(":attempt:2")
    assert all(r.lease_owner_id is None for r in rows[:3])
    stale = rows[3]
    assert (stale.replay_key, stale.lease_owner_id) == (demo.runtime.stale_effect[1], "lash@demo-laptop:pid4711")
    assert (stale.created_at_ms, stale.lease_expires_at_ms) == (CRASH, CRASH + 30_000)
    assert stale_in_progress(path, now_ms=NOW) == [stale]
    assert [(s.action, s.error_code) for s in replay_plan(path, "turn-2", now_ms=NOW)] == [
        ("replay_error", "tool_timeout"), ("replay_outcome", None)]
    assert [s.action for s in replay_plan(path, "turn-4", now_ms=NOW)] == ["stale_lease"]
    assert path.stat().st_mtime_ns // 1_000_000 == CRASH
    assert sorted(p.name for p in path.parent.glob(path.name + "*")) == [path.name]  # no -wal / -shm left


def test_one_root_session_the_live_lease_takes_the_dead_one_over(tmp_path):
    summary = build_demo(tmp_path / "one", 1)
    first = summary.sessions[0]
    assert summary.runtime.expired_lease_session_id is None
    assert summary.runtime.live_lease_session_id == summary.runtime.committed_session_id == first.session_id
    lease = inspect.session_details(first.path, now_ms=NOW).to_json()["execution_lease"]
    assert (lease["state"], lease["owner_id"], lease["fencing_token"]) == ("live", "lash@demo-laptop:pid5120", 5)
    assert stale_in_progress(summary.runtime.effects, now_ms=NOW)[0].scope_id == "turn-4"


def test_two_builds_write_the_same_bytes_and_summary(tmp_path):
    a, b = build_demo(tmp_path / "a", 2), build_demo(tmp_path / "b", 2)
    names = sorted(p.name for p in a.root.iterdir())
    assert names == sorted(p.name for p in b.root.iterdir()) and len(names) == 6
    assert all((a.root / n).read_bytes() == (b.root / n).read_bytes() for n in names)
    doc_a = json.dumps(a.runtime.to_json()).replace(str(a.root), "ROOT")
    assert doc_a == json.dumps(b.runtime.to_json()).replace(str(b.root), "ROOT")


# --- the CLI on a demo root ---------------------------------------------------------------------------


def test_effects_commands_on_the_demo(demo):
    first = demo.sessions[0].session_id
    rows = json.loads(run(demo.root, "effects", "list", first[:8], "--json").stdout)
    assert [(r["scope_id"], r["status"], r["lease_state"]) for r in rows] == [
        ("turn-1", "completed", None), ("turn-2", "failed", None), ("turn-2", "completed", None),
        ("turn-4", "in_progress", "expired")]
    assert rows[3]["lease_expires_at"] == "2026-05-28T09:12:50Z" and rows[3]["created_at"] == "2026-05-28T09:12:20Z"
    failed_key = rows[1]["replay_key"]
    key = run(demo.root, "effects", "replay", first[:8], "--scope", "turn-2", "--key", failed_key)
    assert key.exit_code == 0
    assert json.loads(key.stdout) == {"code": "tool_timeout", "message": "run_tests exceeded its 120 s budget"}
    clean = run(demo.root, "effects", "replay", first[:8], "--scope", "turn-2")
    assert clean.exit_code == 0 and "replays error tool_timeout" in clean.stdout and "replays outcome" in clean.stdout
    stale = run(demo.root, "effects", "replay", first[:8], "--scope", "turn-4", "--json")
    assert stale.exit_code == 1
    assert [s["action"] for s in json.loads(stale.stdout)["steps"]] == ["stale_lease"]
    # The only journal under the root is found without naming it.
    assert json.loads(run(demo.root, "effects", "list", "--json").stdout) == rows


def test_effects_commands_leave_a_copied_demo_root_byte_identical(demo, tmp_path):
    root = tmp_path / "copy"
    shutil.copytree(demo.root, root, copy_function=shutil.copy2)
    before = snapshot(root)
    first = demo.sessions[0].session_id[:8]
    journal = str(root / demo.runtime.effects.name)
    stale_key = demo.runtime.stale_effect[1]
    codes = []
    for args in (["list"], ["list", first], ["list", first, "--json"], ["list", "--db", journal, "--scope", "turn-2"],
                 ["list", first, "--status", "in_progress", "--json"], ["replay", first, "--scope", "turn-2"],
                 ["replay", "--db", journal, "--scope", "turn-4", "--json"],
                 ["replay", first, "--scope", "turn-4", "--key", stale_key],
                 ["replay", first, "--scope", "turn-4", "--key", stale_key, "--json"],
                 ["replay", first, "--scope", "turn-9"], ["list", "--db", str(root / demo.sessions[1].path.name)]):
        codes.append(run(root, "effects", *args).exit_code)
    assert codes == [0, 0, 0, 0, 0, 0, 1, 1, 1, 3, 3]
    assert snapshot(root) == before


def test_demo_command_prints_the_effects_commands_and_they_run(tmp_path):
    target = tmp_path / "wall"
    result = run(tmp_path, "demo", str(target), "--sessions", "2")
    assert result.exit_code == 0, result.output
    commands = [line.split(f"--root {shlex.quote(str(target))} ", 1)[1] for line in result.stdout.splitlines()
                if line.startswith("  lashdb ")]
    first = commands[1].split()[-1]
    assert [c for c in commands if c.startswith(("effects", "sessions show"))] == [
        f"sessions show {first}", f"sessions show {commands[2].split()[-1]}", f"effects list {first}",
        f"effects replay {first} --scope turn-2", f"effects replay {first} --scope turn-4"]
    # Written with the wall clock: the newest session's lease is live while the commands are tried.
    live = json.loads(run(target, "sessions", "show", commands[2].split()[-1], "--json").stdout)
    assert live["execution_lease"]["state"] == "live" and live["queued_work"]["claimed"] == 1
    copy = tmp_path / "copy"
    shutil.copytree(target, copy, copy_function=shutil.copy2)
    before = snapshot(copy)
    codes = {c: run(copy, *shlex.split(c)).exit_code for c in commands if c.startswith(("effects", "sessions show"))}
    assert codes[f"effects replay {first} --scope turn-4"] == 1  # the dead runtime's stale effect
    assert [code for c, code in codes.items() if "turn-4" not in c] == [0, 0, 0, 0]
    assert snapshot(copy) == before


def test_demo_json_has_the_runtime(tmp_path):
    result = run(tmp_path, "demo", str(tmp_path / "j"), "--sessions", "1", "--json")
    doc = json.loads(result.stdout)
    assert doc["runtime"]["expired_lease_session_id"] is None
    assert doc["runtime"]["live_lease_session_id"] == doc["sessions"][0]["session_id"]
    assert doc["sessions"][0]["sidecars"]["effects"] == doc["runtime"]["effects"]


def test_sessions_show_table_gives_lease_expiry_and_attachment_age_as_durations(tmp_path):
    summary = build_demo(tmp_path / "r", 2, clock=lambda: wall_clock_ms() // 1000 * 1000)
    newest = run(summary.root, "sessions", "show", summary.runtime.live_lease_session_id)
    assert newest.exit_code == 0
    assert re.search(r"^  expires +in 2[789]m$", newest.stdout, re.M), newest.stdout
    first = run(summary.root, "sessions", "show", summary.runtime.committed_session_id)
    # Two days ago its runtime died twelve minutes into the session, holding a five-minute lease.
    assert re.search(r"^  expires +expired 1d ago$", first.stdout, re.M), first.stdout
    assert re.search(r"^  oldest_uncommitted_age +1d$", first.stdout, re.M)
    as_json = json.loads(run(summary.root, "sessions", "show", summary.runtime.committed_session_id, "--json").stdout)
    assert "expires" not in as_json["execution_lease"] and "oldest_uncommitted_age" not in as_json["attachments"]
