"""`lashdb triggers list|occurrences` through the Typer app (CliRunner), on demo roots, on trigger stores
written through the engine API, and on the upstream v6 fixture read in place."""

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
    ProcessIdentity,
    ProcessInput,
    ProcessOriginator,
    SessionScope,
    TriggerOccurrenceRequest,
    TriggerStore,
    TriggerSubscriptionDraft,
)
from lashdb.engine.base.timing import wall_clock_ms
from lashdb.engine.deployment.triggers import default_source_key, delivery_process_id

V38 = FIXTURES_DIR
T0 = 1_700_000_000_000
HOUR = 3_600_000
runner = CliRunner()

SUBSCRIPTION_KEYS = ["subscription_id", "handle", "registrant_scope_id", "name", "source_type", "source_key",
                     "enabled", "target_kind", "target_label", "wake_target_scope_id", "created_at",
                     "created_at_epoch_ms", "updated_at", "updated_at_epoch_ms", "delivery_count", "decode_error"]
OCCURRENCE_KEYS = ["occurrence_id", "occurred_at", "occurred_at_epoch_ms", "source_type", "source_key",
                   "idempotency_key", "payload", "request_hash", "delivery_count", "decode_error", "deliveries"]
DELIVERY_KEYS = ["occurrence_id", "subscription_id", "handle", "process_id", "created_at", "created_at_epoch_ms"]


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


@pytest.fixture
def now():
    return wall_clock_ms() // 1000 * 1000


@pytest.fixture
def demo(tmp_path, now):
    return build_demo(tmp_path / "root", 1, clock=lambda: now)


@pytest.fixture
def store_file(tmp_path) -> Path:
    """A trigger store written through the engine API at a fixed clock."""
    path = tmp_path / "stores" / "triggers.db"
    path.parent.mkdir()
    clock = [T0]
    key = default_source_key("ui.button.pressed", {})
    with TriggerStore.open(path, clock=lambda: clock[0]) as store:
        for index in range(3):
            store.register_subscription(TriggerSubscriptionDraft(
                ProcessOriginator.host() if index == 2 else ProcessOriginator.session("s1"), "process-env:x",
                "ui.button.pressed", key, ProcessInput.engine("notify"), ProcessIdentity("notify", f"label-{index}"),
                wake_target=SessionScope("s1", "f1"), name=f"sub-{index}"))
        store.cancel_subscription("s1", "trigger:2")
        clock[0] += 100
        occurrence = store.record_occurrence(TriggerOccurrenceRequest("ui.button.pressed", key, "press-1",
                                                                      {"button": "Blue"}))
        store.reserve_matching_deliveries(occurrence.occurrence_id)
        clock[0] += 100
        store.record_occurrence(TriggerOccurrenceRequest("cron.tick", "source:cron", "tick-1", 1))
    return path


# --- list -------------------------------------------------------------------------------------------


def test_list_json_on_a_demo_root(demo):
    first, child = demo.sessions[0], demo.child_sessions[0]
    result = run(demo.root, "triggers", "list", "--json")
    rows = ok_json(result)
    assert result.stderr == ""
    assert all(list(r) == SUBSCRIPTION_KEYS for r in rows)
    assert [(r["handle"], r["name"], r["enabled"], r["delivery_count"]) for r in rows] == [
        ("trigger:1", "Re-run bisect on push", False, 0), ("trigger:2", "Summarise finished CI runs", True, 2),
        ("trigger:3", "Fuzz the parser every 6 hours", True, 2)]
    push, ci, cron = rows
    assert (push["registrant_scope_id"], push["wake_target_scope_id"]) == \
        (f"session:{child.session_id}/frame:main",) * 2
    assert push["created_at_epoch_ms"] == child.created_at_ms + 150_000
    assert push["updated_at_epoch_ms"] == child.created_at_ms + 600_000  # cancelled then
    assert push["updated_at"] == iso(push["updated_at_epoch_ms"])
    created = first.created_at_ms + 705_000
    assert ci == {
        "subscription_id": "subscription:2", "handle": "trigger:2",
        "registrant_scope_id": f"session:{first.session_id}/frame:main", "name": "Summarise finished CI runs",
        "source_type": "ci.run.finished",
        "source_key": default_source_key("ci.run.finished", {"repo": "demo/lashlang", "branch": "fix/flaky-parser"}),
        "enabled": True, "target_kind": "summarise_ci", "target_label": "CI run summary",
        "wake_target_scope_id": f"session:{first.session_id}/frame:main",
        "created_at": iso(created), "created_at_epoch_ms": created, "updated_at": iso(created),
        "updated_at_epoch_ms": created, "delivery_count": 2, "decode_error": None}
    assert (cron["registrant_scope_id"], cron["wake_target_scope_id"], cron["source_type"]) == ("host", None, "cron")
    # SESSION (the parent or its sidecar) and --db read the same store.
    for args in ([first.session_id[:8]], [str(first.sidecars["triggers"])], ["--db", str(first.sidecars["triggers"])]):
        assert ok_json(run(demo.root, "triggers", "list", *args, "--json")) == rows


def test_list_table(demo):
    result = run(demo.root, "triggers", "list")
    assert result.exit_code == 0 and result.stderr == ""
    lines = result.stdout.splitlines()
    assert lines[0] == str(demo.deployment.trigger_store)
    assert lines[1].split()[:3] == ["handle", "name", "registrant"]
    assert [line.split()[0] for line in lines[2:]] == ["trigger:1", "trigger:2", "trigger:3"]
    short = demo.sessions[0].session_id[:8]
    assert f"session:{short}/frame:main" in lines[3] and "summarise_ci: CI run summary" in lines[3]
    assert "source:ci.run.finished:sha256:" in lines[3] and "…" in lines[3]
    assert " no " in lines[2] and " yes " not in lines[2] and " yes " in lines[3]  # trigger:1 was cancelled
    assert " host " in lines[4]


# --- occurrences -------------------------------------------------------------------------------------


def test_occurrences_json_on_a_demo_root(demo, now):
    deployment = demo.deployment
    rows = ok_json(run(demo.root, "triggers", "occurrences", "--json"))
    assert all(list(r) == OCCURRENCE_KEYS for r in rows)
    assert [r["occurrence_id"] for r in rows] == list(reversed(deployment.occurrences))
    assert [(r["idempotency_key"], r["occurred_at_epoch_ms"], r["delivery_count"], len(r["deliveries"]))
            for r in rows] == [
        ("git:push:7e1d2c9", now - 2 * HOUR, 0, 0), ("github-actions:run:102", now - 3 * HOUR, 1, 1),
        (f"cron:{iso(now - 6 * HOUR)[:13]}", now - 6 * HOUR, 1, 1),
        (f"cron:{iso(now - 12 * HOUR)[:13]}", now - 12 * HOUR, 1, 1),
        ("github-actions:run:101", now - 20 * HOUR, 1, 1)]
    ci = rows[1]
    assert ci["occurred_at"] == iso(now - 3 * HOUR) and len(ci["request_hash"]) == 64
    assert ci["payload"] == {"run": 102, "conclusion": "success", "failed_tests": []}
    [delivery] = ci["deliveries"]
    assert list(delivery) == DELIVERY_KEYS
    assert delivery == {
        "occurrence_id": ci["occurrence_id"], "subscription_id": "subscription:2", "handle": "trigger:2",
        "process_id": deployment.processes["ci_summary_102"], "created_at": iso(now - 3 * HOUR),
        "created_at_epoch_ms": now - 3 * HOUR}
    assert delivery["process_id"] == delivery_process_id(ci["occurrence_id"], "subscription:2")
    # Every delivered process is in the registry.
    registry = {r["process_id"] for r in ok_json(run(demo.root, "processes", "list", "--json"))}
    assert {d["process_id"] for r in rows for d in r["deliveries"]} <= registry


def test_occurrences_filters(demo):
    def keys(*args):
        return [r["idempotency_key"] for r in ok_json(run(demo.root, "triggers", "occurrences", *args, "--json"))]

    assert keys("--source-type", "ci.run.finished") == ["github-actions:run:102", "github-actions:run:101"]
    assert keys("--source", "ci.run.finished") == keys("--source-type", "ci.run.finished")
    assert len(keys("--source-type", "cron")) == 2
    push_key = default_source_key("git.push", {"repo": "demo/lashlang", "branch": "fix/flaky-parser"})
    assert keys("--source-key", push_key) == ["git:push:7e1d2c9"]
    assert keys("--source-type", "cron", "--source-key", push_key) == []
    assert keys("--limit", "2") == ["git:push:7e1d2c9", "github-actions:run:102"]
    assert keys("--source-type", "nothing") == []
    assert run(demo.root, "triggers", "occurrences", "--limit", "-3").exit_code == 2


def test_occurrences_table(demo):
    result = run(demo.root, "triggers", "occurrences", "--source-type", "ci.run.finished")
    assert result.exit_code == 0 and result.stderr == ""
    lines = result.stdout.splitlines()
    assert lines[0] == str(demo.deployment.trigger_store)
    assert lines[1].split()[:3] == ["occurrence", "time", "source"]
    assert len(lines) == 4
    assert lines[2].startswith(demo.deployment.occurrences[3][:19] + "…")
    assert "github-actions:run:102" in lines[2] and lines[2].rstrip().endswith("1 (trigger:2)")
    assert '{"conclusion":"success","failed_tests":' in lines[2]
    empty = run(demo.root, "triggers", "occurrences", "--source-type", "nothing")
    assert empty.exit_code == 0 and empty.stdout == ""
    assert empty.stderr == f"no trigger occurrences with source type nothing in {demo.deployment.trigger_store}\n"


# --- stores written through the engine API, --db -----------------------------------------------------


def test_db_path_on_an_engine_written_store(store_file, tmp_path):
    before = store_file.read_bytes()
    subs = ok_json(run(tmp_path, "triggers", "list", "--db", str(store_file), "--json"))
    assert [(s["handle"], s["registrant_scope_id"], s["enabled"], s["delivery_count"], s["created_at"])
            for s in subs] == [("trigger:1", "session:s1", True, 1, "2023-11-14T22:13:20Z"),
                               ("trigger:2", "session:s1", False, 0, "2023-11-14T22:13:20Z"),
                               ("trigger:3", "host", True, 1, "2023-11-14T22:13:20Z")]
    assert subs[0]["wake_target_scope_id"] == "session:s1/frame:f1"
    rows = ok_json(run(tmp_path, "triggers", "occurrences", "--db", str(store_file), "--json"))
    assert [(r["idempotency_key"], r["occurred_at"], r["occurred_at_epoch_ms"], r["payload"], r["delivery_count"])
            for r in rows] == [("tick-1", "2023-11-14T22:13:20.200Z", T0 + 200, 1, 0),
                               ("press-1", "2023-11-14T22:13:20.100Z", T0 + 100, {"button": "Blue"}, 2)]
    assert [(d["handle"], d["created_at_epoch_ms"]) for d in rows[1]["deliveries"]] == \
        [("trigger:1", T0 + 100), ("trigger:3", T0 + 100)]
    # The only trigger store under the root is found without SESSION or --db.
    assert ok_json(run(store_file.parent, "triggers", "occurrences", "--json")) == rows
    assert store_file.read_bytes() == before and sorted(p.name for p in store_file.parent.iterdir()) == ["triggers.db"]


# --- the upstream v6 fixture, read in place ----------------------------------------------------------


def test_upstream_v6_store_is_read_in_place():
    before = snapshot(V38)
    digest = hashlib.sha256((V38 / "triggers.db").read_bytes()).hexdigest()
    result = run(V38, "triggers", "list", "--db", str(V38 / "triggers.db"), "--json")
    [sub] = ok_json(result)
    assert result.stderr.splitlines() == [
        "lashdb: warning: triggers.db: foreign schema (trigger store v6, this lashdb supports v1); read-only, shown "
        "where its columns allow; not in this schema: handle, registrant_scope_id, request_hash"]
    assert (sub["handle"], sub["registrant_scope_id"], sub["name"], sub["source_type"], sub["enabled"],
            sub["delivery_count"], sub["created_at"]) == \
        (None, "session:durable-read-fixture", "Durable read trigger", "fixture.event", True, 1,
         "2023-11-14T22:13:20Z")
    result = run(V38, "triggers", "occurrences", "--json")  # the only trigger store under the root
    [occurrence] = ok_json(result)
    assert result.stderr.count("lashdb: warning:") == 1
    assert (occurrence["occurrence_id"], occurrence["payload"], occurrence["request_hash"],
            occurrence["occurred_at_epoch_ms"]) == ("trigger:durable-read-occurrence", {"value": 42}, None, T0)
    assert [d["process_id"] for d in occurrence["deliveries"]] == [
        "process:trigger-delivery:v1:sha256:638fb1f0b529fe3b5844b37ef58e30bde98a63025e47315c4313401e7dad60a0"]
    for command in (["triggers", "list"], ["triggers", "occurrences", "--source", "fixture.event"]):
        shown = run(V38, *command)
        assert shown.exit_code == 0 and "fixture.event" in shown.stdout and shown.stderr.count("\n") == 1
    assert hashlib.sha256((V38 / "triggers.db").read_bytes()).hexdigest() == digest
    assert snapshot(V38) == before


# --- errors ------------------------------------------------------------------------------------------


def test_error_paths_are_one_line_exit_3(demo, tmp_path):
    root, child = demo.root, demo.child_sessions[0]
    line = one_error_line(run(root, "triggers", "list", child.session_id))
    assert line == (f"lashdb: error: {child.path}: this session has no trigger store (no {child.path.name}"
                    ".triggers.db beside it) (name the trigger store file with --db PATH)")
    one_error_line(run(root, "triggers", "occurrences", child.session_id))
    assert f"{tmp_path}: is a directory" in one_error_line(run(root, "triggers", "list", "--db", str(tmp_path)))
    noise = tmp_path / "noise.db"
    noise.write_bytes(os.urandom(4096))
    assert one_error_line(run(root, "triggers", "occurrences", "--db", str(noise))).startswith(
        f"lashdb: error: {noise}: not a lash trigger store database (")
    line = one_error_line(run(root, "triggers", "list", "--db", str(child.path)))
    assert "not a lash trigger store database (its tables identify session)" in line
    line = one_error_line(run(root, "triggers", "occurrences", "--db", str(demo.deployment.registry)))
    assert "not a lash trigger store database (its tables identify process registry)" in line
    assert "no such database file" in one_error_line(run(root, "triggers", "list", "--db", str(tmp_path / "no.db")))
    assert "not both" in one_error_line(
        run(root, "triggers", "list", child.session_id, "--db", str(demo.deployment.trigger_store)), code=2)
    empty = tmp_path / "empty"
    empty.mkdir()
    assert one_error_line(run(empty, "triggers", "list")).startswith(f"lashdb: error: no trigger store under {empty}")
    shutil.copy(demo.deployment.trigger_store, root / "other.db")
    line = one_error_line(run(root, "triggers", "occurrences"))
    assert line.startswith(f"lashdb: error: 2 trigger store files under {root}: ") and "other.db" in line
    assert noise.stat().st_size == 4096


def test_every_command_leaves_a_copied_demo_root_byte_identical(demo, tmp_path):
    root = tmp_path / "copy"
    shutil.copytree(demo.root, root)
    shutil.copy(V38 / "triggers.db", root / "upstream.db.triggers.db")
    before = snapshot(root)
    store = root / demo.deployment.trigger_store.name
    first = demo.sessions[0].session_id
    for command in (["triggers", "list", first], ["triggers", "list", first, "--json"],
                    ["triggers", "list", "--db", str(store)],
                    ["triggers", "occurrences", first], ["triggers", "occurrences", "--db", str(store), "--json"],
                    ["triggers", "occurrences", first, "--source-type", "cron", "--limit", "1"],
                    ["triggers", "list", "--db", str(root / "upstream.db.triggers.db"), "--json"],
                    ["triggers", "occurrences", "--db", str(root / "upstream.db.triggers.db")]):
        result = run(root, *command)
        assert result.exit_code == 0, (command, result.output)
    one_error_line(run(root, "triggers", "list"))  # two stores under the root now
    assert snapshot(root) == before
