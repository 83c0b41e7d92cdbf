"""`lashdb processes list|show` through the Typer app (CliRunner), on demo roots, on registries written
through the engine API, and on the upstream v24 fixture read in place."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import FIXTURES_DIR
from lashdb.cli.main import app
from lashdb.engine.ops.demo import build_demo
from lashdb.engine import (
    ProcessAwaitOutput,
    ProcessEventAppendRequest,
    ProcessEventType,
    ProcessHandleDescriptor,
    ProcessInput,
    ProcessRegistration,
    ProcessRegistry,
    Selector,
    SessionScope,
    WakeSpec,
)
from lashdb.engine.base.timing import wall_clock_ms

V38 = FIXTURES_DIR
T0 = 1_700_000_000_000
DAY, HOUR, MINUTE = 86_400_000, 3_600_000, 60_000
runner = CliRunner()

LIST_KEYS = ["process_id", "status", "record_status", "identity_kind", "identity_label", "input_type",
             "originator_scope_id", "wake_target_scope_id", "env_ref", "created_at", "created_at_epoch_ms",
             "updated_at", "updated_at_epoch_ms", "event_count", "last_event_type", "last_event_at",
             "last_event_at_epoch_ms", "waiting", "wait_signal", "wait_since", "wait_since_epoch_ms", "lease",
             "grant_count", "external_ref", "decode_error"]
LEASE_KEYS = ["process_id", "owner_id", "lease_token", "fencing_token", "claimed_at", "claimed_at_epoch_ms",
              "expires_at", "expires_at_epoch_ms", "state", "process_status"]
SHOW_KEYS = ["store", "process", "record", "caused_by", "await_output", "wait", "grants", "events",
             "unacked_wake_sequences"]
EVENT_KEYS = ["process_id", "sequence", "event_type", "occurred_at", "occurred_at_epoch_ms", "replay_key", "payload",
              "payload_hash", "terminal_state", "wake_input", "wake_dedupe_key", "acked", "decode_error"]


def iso(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, dt.timezone.utc).isoformat().replace("+00:00", "Z")


def run(root, *args):
    return runner.invoke(app, ["--root", str(root), *args])


def ok_json(result):
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def one_error_line(result, code=3):
    assert result.exit_code == code, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lashdb: error: "), result.stderr
    assert "Traceback" not in result.output and result.stdout == ""
    return lines[0]


def snapshot(root: Path) -> dict[str, tuple[bytes, int]]:
    return {str(p.relative_to(root)): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(root.rglob("*")) if p.is_file()}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def now():
    """The demo's "now": the wall clock in whole seconds, so the demo's live lease is live (58 min)."""
    return wall_clock_ms() // 1000 * 1000


@pytest.fixture
def demo(tmp_path, now):
    return build_demo(tmp_path / "root", 2, clock=lambda: now)


@pytest.fixture
def registry_file(tmp_path) -> Path:
    """A small registry written through the engine API at a fixed clock (all long past)."""
    path = tmp_path / "stores" / "registry.db"
    path.parent.mkdir()
    clock = [T0]
    wake = ProcessEventType("job.wake", {}, wake=WakeSpec(Selector.pointer("/text")))
    with ProcessRegistry.open(path, clock=lambda: clock[0]) as registry:
        registry.register_process(ProcessRegistration.external("ext-done", {"label": "import"}))
        registry.grant_handle(SessionScope("s1"), "ext-done", ProcessHandleDescriptor("external", "import"))
        clock[0] += 10
        registry.complete_process("ext-done", ProcessAwaitOutput.success({"rows": 3}))
        registry.register_process(ProcessRegistration(
            "worker", ProcessInput.engine("indexer", {"dir": "/src"}), env_ref="process-env:1",
            wake_target=SessionScope("s1", "f1")).with_extra_event_types(wake))
        registry.grant_handle(SessionScope("s1", "f1"), "worker", ProcessHandleDescriptor("indexer", "index"))
        registry.claim_process_lease("worker", "worker-a", 60_000)
        clock[0] += 5
        registry.append_event("worker", ProcessEventAppendRequest("job.wake", {"text": "first"}))
    return path


# --- list -------------------------------------------------------------------------------------------


def test_list_json_on_a_demo_root(demo, now):
    first, child = demo.sessions[0], demo.child_sessions[0]
    ids = demo.deployment.processes
    result = run(demo.root, "processes", "list", "--json")
    rows = ok_json(result)
    assert result.stderr == ""
    assert [r["process_id"] for r in rows] == sorted(ids.values())
    assert all(list(r) == LIST_KEYS for r in rows)
    by_id = {r["process_id"]: r for r in rows}
    ci = by_id[ids["ci_watch"]]
    created = first.created_at_ms + 700_000
    assert {k: ci[k] for k in LIST_KEYS if k != "lease"} == {
        "process_id": ids["ci_watch"], "status": "running", "record_status": "running", "identity_kind": "ci_watch",
        "identity_label": "CI watcher: fix/flaky-parser", "input_type": "engine",
        "originator_scope_id": f"session:{first.session_id}/frame:main",
        "wake_target_scope_id": f"session:{first.session_id}/frame:main", "env_ref": ci["env_ref"],
        "created_at": iso(created), "created_at_epoch_ms": created,
        "updated_at": iso(now - 3 * HOUR), "updated_at_epoch_ms": now - 3 * HOUR,
        "event_count": 2, "last_event_type": "ci.run",
        "last_event_at": iso(now - 3 * HOUR), "last_event_at_epoch_ms": now - 3 * HOUR,
        "waiting": False, "wait_signal": None, "wait_since": None, "wait_since_epoch_ms": None,
        "grant_count": 2, "external_ref": "github-actions:demo/lashlang@fix/flaky-parser", "decode_error": None}
    assert ci["env_ref"].startswith("process-env:v1:sha256:")
    lease = ci["lease"]
    assert list(lease) == LEASE_KEYS
    assert {k: lease[k] for k in LEASE_KEYS if k != "lease_token"} == {
        "process_id": ids["ci_watch"], "owner_id": "worker-2", "fencing_token": 2,
        "claimed_at": iso(now - 2 * MINUTE), "claimed_at_epoch_ms": now - 2 * MINUTE,
        "expires_at": iso(now + 58 * MINUTE), "expires_at_epoch_ms": now + 58 * MINUTE,
        "state": "live", "process_status": "running"}
    assert len(lease["lease_token"]) == 64
    bisect = by_id[ids["bisect"]]["lease"]
    assert (bisect["state"], bisect["owner_id"], bisect["fencing_token"]) == ("expired", "worker-3", 1)
    assert bisect["expires_at_epoch_ms"] == child.created_at_ms + 120_000 + 5 * MINUTE
    assert by_id[ids["bisect"]]["originator_scope_id"] == f"session:{child.session_id}/frame:main"
    released = by_id[ids["test_stress_run"]]["lease"]
    assert (released["state"], released["owner_id"], released["claimed_at"], released["claimed_at_epoch_ms"],
            released["expires_at"]) == ("released", None, None, 0, None)
    review = by_id[ids["pr_review"]]
    assert (review["waiting"], review["wait_signal"], review["lease"], review["external_ref"]) == \
        (True, "approved", None, "github:demo/lashlang#42")
    assert review["wait_since"] == iso(review["wait_since_epoch_ms"]) and review["wait_since_epoch_ms"] > 0
    assert by_id[ids["fuzz_2"]]["status"] == "failed"
    assert by_id[ids["fuzz_1"]]["originator_scope_id"] == "host"


def test_list_by_session_sidecar_or_db_path_reads_the_same_rows(demo):
    first = demo.sessions[0]
    auto = ok_json(run(demo.root, "processes", "list", "--json"))
    by_prefix = ok_json(run(demo.root, "processes", "list", first.session_id[:8], "--json"))
    by_path = ok_json(run(demo.root, "processes", "list", str(first.path), "--json"))
    by_db = ok_json(run(demo.root, "processes", "list", "--db", str(first.sidecars["processes"]), "--json"))
    # The sidecar named as SESSION is read directly, too.
    named = ok_json(run(demo.root, "processes", "list", str(first.sidecars["processes"]), "--json"))
    strip = [[{k: v for k, v in r.items() if k != "lease"} for r in rows]
             for rows in (auto, by_prefix, by_path, by_db, named)]
    assert all(rows == strip[0] for rows in strip) and len(strip[0]) == 8


def test_list_filters(demo):
    ids = demo.deployment.processes
    first, child = demo.sessions[0], demo.child_sessions[0]

    def listed(*args):
        return [r["process_id"] for r in ok_json(run(demo.root, "processes", "list", *args, "--json"))]

    assert listed("--status", "running") == sorted([ids["ci_watch"], ids["bisect"], ids["pr_review"]])
    assert listed("--status", "failed") == [ids["fuzz_2"]]
    assert listed("--status", "completed") == sorted(
        ids[n] for n in ("test_stress_run", "ci_summary_101", "ci_summary_102", "fuzz_1"))
    assert listed("--status", "any") == sorted(ids.values())
    assert listed("--status", "cancelled") == []
    assert listed("--granted-to", child.session_id) == sorted([ids["ci_watch"], ids["bisect"]])
    assert listed("--granted-to", first.session_id, "--status", "running") == sorted([ids["ci_watch"], ids["pr_review"]])
    assert listed("--granted-to", "nobody") == []
    assert listed("--limit", "2") == sorted(ids.values())[:2]
    assert run(demo.root, "processes", "list", "--limit", "-1").exit_code == 2


def test_list_table(demo):
    ids = demo.deployment.processes
    result = run(demo.root, "processes", "list")
    assert result.exit_code == 0 and result.stderr == ""
    lines = result.stdout.splitlines()
    assert lines[0] == str(demo.deployment.registry)
    assert lines[1].split() == ["process", "status", "identity", "originator", "wake", "target", "created", "updated",
                                "events", "wait", "lease", "grants", "external"]
    assert len(lines) == 2 + 8
    row = {line.split()[0]: line for line in lines[2:]}
    short = demo.sessions[0].session_id[:8]
    assert "live · worker-2 · 5" in row[ids["ci_watch"]] and "m left" in row[ids["ci_watch"]]
    assert f"session:{short}/frame:main" in row[ids["ci_watch"]]
    assert "2 · ci.run" in row[ids["ci_watch"]]
    assert "github-actions:demo/lashlang@fix/flaky-parser" in row[ids["ci_watch"]]
    assert "expired 1d ago · worker-3" in row[ids["bisect"]]  # two days ago, plus ten minutes
    assert "approved since " in row[ids["pr_review"]]
    assert "released" in row[ids["test_stress_run"]] and "3 · process.completed" in row[ids["test_stress_run"]]
    empty = run(demo.root, "processes", "list", "--status", "cancelled")
    assert empty.exit_code == 0 and empty.stdout == ""
    assert empty.stderr == f"no processes with status cancelled in {demo.deployment.registry}\n"


# --- show -------------------------------------------------------------------------------------------


def test_show_json(demo, now):
    first, child = demo.sessions[0], demo.child_sessions[0]
    ci = demo.deployment.processes["ci_watch"]
    doc = ok_json(run(demo.root, "processes", "show", ci, "--json"))
    assert list(doc) == SHOW_KEYS
    assert doc["store"] == {"path": str(demo.deployment.registry), "kind": "process registry", "schema_version": 7,
                            "supported_version": 7, "foreign": False, "unavailable": [], "damaged": []}
    listed = {r["process_id"]: r for r in ok_json(run(demo.root, "processes", "list", "--json"))}
    assert list(doc["process"]) == LIST_KEYS and doc["process"] == listed[ci]
    assert doc["record"]["input"] == {"type": "engine", "kind": "ci_watch",
                                      "payload": {"repo": "demo/lashlang", "branch": "fix/flaky-parser"}}
    assert doc["caused_by"] == {"type": "turn", "session_id": first.session_id, "turn_id": "turn-3"}
    assert doc["await_output"] is None and doc["wait"] is None
    assert doc["grants"] == [
        {"session_id": child.session_id, "scope_id": f"session:{child.session_id}/frame:main", "process_id": ci,
         "descriptor_kind": "ci", "descriptor_label": "CI watcher (shared)"},
        {"session_id": first.session_id, "scope_id": f"session:{first.session_id}/frame:main", "process_id": ci,
         "descriptor_kind": "ci", "descriptor_label": "CI watcher"}]
    assert [list(e) for e in doc["events"]] == [EVENT_KEYS, EVENT_KEYS]
    first_event, second = doc["events"]
    assert (first_event["sequence"], first_event["wake_input"], first_event["acked"]) == \
        (1, "CI run 101 failed: test_nested_blocks", True)
    assert (second["sequence"], second["occurred_at"], second["occurred_at_epoch_ms"], second["acked"]) == \
        (2, iso(now - 3 * HOUR), now - 3 * HOUR, False)
    assert second["payload"] == {"run": 102, "conclusion": "success", "failed_tests": [],
                                 "summary": "CI run 102 passed"}
    assert doc["unacked_wake_sequences"] == [2]


def test_show_terminal_waiting_and_trigger_started_processes(demo):
    ids = demo.deployment.processes
    done = ok_json(run(demo.root, "processes", "show", ids["test_stress_run"], "--json"))
    assert done["await_output"] == {"type": "success",
                                    "value": {"runs": 200, "passed": 200, "failed": 0, "duration_s": 85}}
    assert [(e["event_type"], e["terminal_state"]) for e in done["events"]] == [
        ("tests.progress", None), ("tests.progress", None), ("process.completed", "completed")]
    assert done["events"][2]["replay_key"] == f"process:{ids['test_stress_run']}:terminal:process.completed"
    assert done["process"]["lease"]["state"] == "released" and done["unacked_wake_sequences"] == []
    review = ok_json(run(demo.root, "processes", "show", ids["pr_review"], "--json"))
    assert review["wait"]["kind"]["name"] == "approved" and review["events"] == []
    fuzz = ok_json(run(demo.root, "processes", "show", ids["fuzz_2"], "--json"))
    assert (fuzz["await_output"]["class"], fuzz["await_output"]["code"]) == ("execution", "fuzz_crash")
    assert fuzz["caused_by"] == {"type": "trigger_occurrence", "occurrence_id": demo.deployment.occurrences[2]}
    assert fuzz["grants"] == [] and fuzz["process"]["wake_target_scope_id"] is None


def test_show_prefix_events_option_and_session_argument(demo):
    ci = demo.deployment.processes["ci_watch"]
    first = demo.sessions[0]
    by_prefix = ok_json(run(demo.root, "processes", "show", ci[:9], "--json"))
    assert by_prefix["process"]["process_id"] == ci
    last = ok_json(run(demo.root, "processes", "show", ci, first.session_id, "--events", "1", "--json"))
    assert [e["sequence"] for e in last["events"]] == [2] and last["process"]["event_count"] == 2
    none = ok_json(run(demo.root, "processes", "show", ci, "--db", str(first.sidecars["processes"]), "--events", "0",
                       "--json"))
    assert none["events"] == [] and none["unacked_wake_sequences"] == [2]
    line = one_error_line(run(demo.root, "processes", "show", "proc_"))
    assert "`proc_` matches 4 processes in" in line and ci in line and "(type more of the id)" in line
    line = one_error_line(run(demo.root, "processes", "show", "ghost"))
    assert line == (f"lashdb: error: {demo.deployment.registry}: no process `ghost` "
                    "(list processes with `lashdb processes list`)")
    assert run(demo.root, "processes", "show").exit_code == 2


def test_show_table(demo):
    ci = demo.deployment.processes["ci_watch"]
    result = run(demo.root, "processes", "show", ci)
    assert result.exit_code == 0 and result.stderr == ""
    lines = result.stdout.splitlines()
    assert lines[0] == str(demo.deployment.registry)
    assert lines[1].split() == ["process", ci] and lines[2].split() == ["status", "running"]
    lease = [line for line in lines if line.startswith("lease ")][0]
    assert lease.split()[1:4] == ["live", "·", "worker-2"] and "fencing 2" in lease
    assert "unacked wakes  [2]" in lines
    assert "events (last 2 of 2)" in lines
    assert lines[lines.index("events (last 2 of 2)") + 1].split()[:4] == ["seq", "time", "type", "replay"]
    assert any("wake: CI run 102 passed" in line and line.rstrip().endswith("no") for line in lines)


# --- registries written through the engine API, --db ------------------------------------------------


def test_db_path_on_an_engine_written_registry(registry_file, tmp_path):
    before = sha256(registry_file)
    rows = ok_json(run(tmp_path, "processes", "list", "--db", str(registry_file), "--json"))
    assert [(r["process_id"], r["status"], r["grant_count"], r["event_count"]) for r in rows] == [
        ("ext-done", "completed", 1, 1), ("worker", "running", 1, 1)]
    done, worker = rows
    assert (done["created_at"], done["created_at_epoch_ms"], done["updated_at"], done["updated_at_epoch_ms"]) == \
        ("2023-11-14T22:13:20Z", T0, "2023-11-14T22:13:20.010Z", T0 + 10)
    assert (done["originator_scope_id"], done["identity_label"], done["lease"]) == ("host", "import", None)
    assert (worker["wake_target_scope_id"], worker["env_ref"], worker["last_event_type"]) == \
        ("session:s1/frame:f1", "process-env:1", "job.wake")
    # Lease states are taken at the wall clock: a 60 s lease from 2023 has expired.
    assert (worker["lease"]["state"], worker["lease"]["expires_at_epoch_ms"], worker["lease"]["expires_at"]) == \
        ("expired", T0 + 10 + 60_000, "2023-11-14T22:14:20.010Z")
    doc = ok_json(run(tmp_path, "processes", "show", "worker", "--db", str(registry_file), "--json"))
    assert [(e["sequence"], e["wake_input"], e["acked"], e["occurred_at"]) for e in doc["events"]] == \
        [(1, "first", False, "2023-11-14T22:13:20.015Z")]
    assert doc["unacked_wake_sequences"] == [1]
    # With no SESSION and no --db, the only registry under the root is used.
    assert ok_json(run(registry_file.parent, "processes", "list", "--json")) == rows
    assert sha256(registry_file) == before and sorted(p.name for p in registry_file.parent.iterdir()) == ["registry.db"]


# --- the upstream v24 fixture, read in place ---------------------------------------------------------


def test_upstream_v24_registry_is_read_in_place():
    before = snapshot(V38)
    result = run(V38, "processes", "list", "--db", str(V38 / "processes.db"), "--json")
    rows = ok_json(result)
    warning = result.stderr.splitlines()
    assert len(warning) == 1 and warning[0].startswith(
        "lashdb: warning: processes.db: foreign schema (process registry v24, this lashdb supports v7)")
    assert "not in this schema: grants, wake_acks, registration_hash, payload_hash, owner_scope_id" in warning[0]
    assert [(r["process_id"], r["status"], r["input_type"], r["event_count"], r["grant_count"]) for r in rows] == [
        ("durable-read-waiting-process", "waiting", "engine", 2, None),
        ("durable-read-wake-process", "running", "external", 1, None)]
    waiting = rows[0]
    assert (waiting["created_at"], waiting["created_at_epoch_ms"], waiting["wait_signal"]) == \
        ("2023-11-14T22:13:20Z", T0, "fixture-ready")
    assert (waiting["lease"]["owner_id"], waiting["lease"]["state"], waiting["lease"]["expires_at_epoch_ms"]) == \
        ("durable-read-owner", "expired", T0 + 100)
    # The fixture directory holds one registry, so no SESSION/--db is needed; a status filter works too.
    auto = run(V38, "processes", "list", "--status", "running", "--json")
    assert [r["process_id"] for r in ok_json(auto)] == ["durable-read-wake-process"]
    assert auto.stderr.count("lashdb: warning:") == 1
    shown = run(V38, "processes", "show", "durable-read-wake-process")
    assert shown.exit_code == 0 and "grants         not in this schema" in shown.stdout
    assert shown.stderr.count("\n") == 1
    doc = ok_json(run(V38, "processes", "show", "durable-read-wake-process", "--json"))
    assert doc["store"]["foreign"] is True and doc["store"]["schema_version"] == 24
    assert doc["grants"] is None and doc["unacked_wake_sequences"] is None
    assert [(e["event_type"], e["wake_input"], e["payload_hash"]) for e in doc["events"]] == \
        [("fixture.wake", "durable read wake", None)]
    assert run(V38, "processes", "list").exit_code == 0
    assert snapshot(V38) == before


# --- errors ------------------------------------------------------------------------------------------


def test_error_paths_are_one_line_exit_3(demo, tmp_path):
    root = demo.root
    second = demo.sessions[1]
    line = one_error_line(run(root, "processes", "list", second.session_id))
    assert line == (f"lashdb: error: {second.path}: this session has no process registry (no {second.path.name}"
                    ".processes.db beside it) (name the process registry file with --db PATH)")
    one_error_line(run(root, "processes", "show", "anything", second.session_id))
    line = one_error_line(run(root, "processes", "list", "--db", str(tmp_path)))
    assert f"{tmp_path}: is a directory" in line
    noise = tmp_path / "noise.db"
    noise.write_bytes(os.urandom(4096))
    line = one_error_line(run(root, "processes", "list", "--db", str(noise)))
    assert line.startswith(f"lashdb: error: {noise}: not a lash process registry database (")
    line = one_error_line(run(root, "processes", "list", "--db", str(second.path)))
    assert line == (f"lashdb: error: {second.path}: not a lash process registry database (its tables identify "
                    "session) (pass a session as SESSION (without --db) to read its process registry sidecar)")
    line = one_error_line(run(root, "processes", "show", "x", "--db", str(demo.deployment.trigger_store)))
    assert "not a lash process registry database (its tables identify trigger store)" in line
    line = one_error_line(run(root, "processes", "list", "--db", str(tmp_path / "missing.db")))
    assert line.startswith(f"lashdb: error: {tmp_path / 'missing.db'}: no such database file")
    one_error_line(run(root, "processes", "list", "no-such-session"))
    one_error_line(run(root, "processes", "list", str(noise)))  # SESSION that is not a database
    assert "not both" in one_error_line(
        run(root, "processes", "list", second.session_id, "--db", str(demo.deployment.registry)), code=2)
    assert noise.stat().st_size == 4096 and sorted(p.name for p in tmp_path.iterdir()) == ["noise.db", "root"]


def test_no_registry_or_several_under_the_root(demo, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    line = one_error_line(run(empty, "processes", "list"))
    assert line.startswith(f"lashdb: error: no process registry under {empty} (name a SESSION or --db PATH")
    shutil.copy(demo.deployment.registry, demo.root / "copy.db")
    line = one_error_line(run(demo.root, "processes", "list"))
    assert line.startswith(f"lashdb: error: 2 process registry files under {demo.root}: ")
    assert "copy.db" in line and demo.deployment.registry.name in line
    # Naming one still works.
    assert len(ok_json(run(demo.root, "processes", "list", "--db", str(demo.root / "copy.db"), "--json"))) == 8


def test_every_command_leaves_a_copied_demo_root_byte_identical(demo, tmp_path):
    root = tmp_path / "copy"
    shutil.copytree(demo.root, root)
    shutil.copy(V38 / "processes.db", root / "upstream.db.processes.db")
    before = snapshot(root)
    registry = root / demo.deployment.registry.name
    ci = demo.deployment.processes["ci_watch"]
    first = demo.sessions[0].session_id
    commands = [
        ["processes", "list", first], ["processes", "list", first, "--json"],
        ["processes", "list", "--db", str(registry), "--status", "running"],
        ["processes", "list", first, "--granted-to", first, "--limit", "1", "--json"],
        ["processes", "show", ci, first], ["processes", "show", ci, "--db", str(registry), "--json"],
        ["processes", "show", ci[:9], first, "--events", "1"],
        ["processes", "list", "--db", str(root / "upstream.db.processes.db")],
        ["processes", "show", "durable-read-waiting-process", "--db", str(root / "upstream.db.processes.db"), "--json"],
    ]
    for command in commands:
        result = run(root, *command)
        assert result.exit_code == 0, (command, result.output)
    assert one_error_line(run(root, "processes", "list"))  # two registries now: refuses, writes nothing
    assert snapshot(root) == before
