"""`unlock`, `effects resolve`, `attachments`, `doctor --fix` through the CLI on both store kinds (issue 14):
the demo built at the wall clock (as `lashdb demo` does), so one lease is live and the dead runtime's are
expired; every remedy doctor prints is a command that runs as printed."""

from __future__ import annotations

import json
import shlex
import subprocess

import pytest
from typer.testing import CliRunner

from conftest import console_script
from lashdb.cli.main import app
from lashdb.engine.base.timing import wall_clock_ms
from lashdb.engine.ops.demo import build_demo

runner = CliRunner()
SAFE = {"execution_leases", "process_leases"}
PERSON = {"attachments", "stale_effects"}


@pytest.fixture(params=["directory", "postgres"])
def demo(request, tmp_path):
    target = tmp_path / "root" if request.param == "directory" else request.getfixturevalue("pg_url")
    summary = build_demo(target, clock=wall_clock_ms)
    return ["--root" if request.param == "directory" else "--store", str(target)], summary


def run(args, *more):
    return runner.invoke(app, [*args, *more])


def findings(doc):
    return [x for f in doc["files"] for x in f["findings"]]


def test_doctor_fix_leaves_only_what_needs_a_person(demo):
    args, _summary = demo
    before = json.loads(run(args, "doctor", "--json").stdout)
    checks = {x["check"]: x for x in findings(before)}
    assert set(checks) == SAFE | PERSON
    assert all(x["remedy"] and x["remedy"].startswith("lashdb ") for x in checks.values())
    assert " unlock " in checks["execution_leases"]["remedy"]
    assert f"--process {checks['process_leases']['subject']}" in checks["process_leases"]["remedy"]

    dry = run(args, "doctor", "--fix", "--dry-run", "--json")
    assert dry.exit_code == 1, dry.output
    fixes = {f["check"]: f["action"] for f in json.loads(dry.stdout)["fixes"]}
    assert fixes == {"execution_leases": "would apply", "process_leases": "would apply",
                     "attachments": "left", "stale_effects": "left"}
    assert findings(json.loads(run(args, "doctor", "--json").stdout)) == findings(before)

    fixed = run(args, "doctor", "--fix", "--json")
    assert fixed.exit_code == 1, fixed.output
    doc = json.loads(fixed.stdout)
    assert {f["check"]: f["action"] for f in doc["fixes"]} == {
        "execution_leases": "applied", "process_leases": "applied", "attachments": "left", "stale_effects": "left"}
    left = findings(doc)
    # A released worker lease leaves its running process without a worker: a person decides.
    assert {x["check"] for x in left} == PERSON | {"stuck_processes"}
    assert [x["remedy"] for x in left if x["check"] == "stuck_processes"] == [None]

    for finding in left:
        if finding["remedy"] is None:
            continue
        words = shlex.split(finding["remedy"])[1:]
        result = run([] if words[0] == "--store" else args, *words)
        assert result.exit_code == 0, (finding["remedy"], result.output)
    after = run(args, "doctor", "--json")
    assert after.exit_code == 1
    assert [x["check"] for x in findings(json.loads(after.stdout))] == ["stuck_processes"]


def test_unlock_names_live_leases_and_force_releases_them(demo):
    args, summary = demo
    newest = summary.root_sessions[-1].session_id
    result = run(args, "unlock", "--all", "--json")
    assert result.exit_code == 1, result.output
    doc = json.loads(result.stdout)
    refused = [x for x in doc["leases"] if x["action"] == "refused"]
    assert {(x["kind"], x["owner_id"], x["state"]) for x in refused} == {
        ("execution", "lash@demo-laptop:pid5120", "live"), ("process", "worker-2", "live")}
    assert all(x["expires_at"] in x["reason"] for x in refused)
    assert doc["refused"] == 2 and doc["released"] == len(doc["leases"]) - 2
    again = json.loads(run(args, "unlock", newest, "--json").stdout)
    assert [x["action"] for x in again["leases"]] == ["refused"]
    forced = run(args, "unlock", newest, "--force", "--json")
    assert forced.exit_code == 0, forced.output
    [lease] = json.loads(forced.stdout)["leases"]
    assert (lease["action"], lease["fencing_token"]) == ("released", again["leases"][0]["fencing_token"])
    assert json.loads(run(args, "unlock", newest, "--json").stdout)["leases"] == []


def test_unlock_execution_touches_only_the_execution_lease(demo):
    args, summary = demo
    doc = json.loads(run(args, "unlock", "--all", "--dry-run", "--json").stdout)
    with_both = next(x["session"] for x in doc["leases"] if x["kind"] == "execution" and x["state"] == "expired"
                     and any(y["session"] == x["session"] and y["kind"] == "process" for y in doc["leases"]))
    result = run(args, "unlock", with_both, "--execution", "--json")
    assert result.exit_code == 0, result.output
    [lease] = json.loads(result.stdout)["leases"]
    assert (lease["kind"], lease["action"]) == ("execution", "released")
    left = json.loads(run(args, "unlock", with_both, "--dry-run", "--json").stdout)["leases"]
    assert left and {x["kind"] for x in left} == {"process"}  # the registry's leases were not touched


def test_usage_errors(demo):
    args, summary = demo
    first = summary.root_sessions[0].session_id
    both = run(args, "unlock", first, "--execution", "--process", "proc_1")
    assert both.exit_code == 2 and "--execution" in both.stderr
    assert run(args, "attachments", "abandon", first).exit_code == 2
    assert run(args, "attachments", "abandon", first, "--older-than", "soon").exit_code == 2
    assert run(args, "effects", "resolve", first, "--scope", "s", "--key", "k", "--as", "completed").exit_code == 2
    assert run(args, "doctor", "--dry-run").exit_code == 2
    assert run(args, "unlock").exit_code == 2
    missing = run(args, "effects", "resolve", first, "--scope", "turn-4", "--key", "nope", "--as", "failed")
    assert missing.exit_code == 3 and "nope" in missing.output


def test_attachments_list_and_abandon(demo):
    args, summary = demo
    first = summary.root_sessions[0].session_id
    [intent] = json.loads(run(args, "attachments", "list", first, "--json").stdout)
    assert intent["uri"] == "attachment://ci-failure-log.txt"
    dry = json.loads(run(args, "attachments", "abandon", first, "--older-than", "1h", "--dry-run", "--json").stdout)
    assert [x["action"] for x in dry["abandoned"]] == ["would abandon"]
    assert len(json.loads(run(args, "attachments", "list", first, "--json").stdout)) == 1
    done = json.loads(run(args, "attachments", "abandon", first, intent["attachment_id"], "--json").stdout)
    assert [(x["attachment_id"], x["action"]) for x in done["abandoned"]] == [(intent["attachment_id"], "abandoned")]
    assert json.loads(run(args, "attachments", "list", first, "--json").stdout) == []


def test_unlock_dry_run_as_a_real_process(tmp_path):
    build_demo(tmp_path / "root", 2, clock=wall_clock_ms)
    done = subprocess.run([console_script(), "--root", str(tmp_path / "root"), "unlock", "--all", "--dry-run",
                           "--json"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1, done.stderr
    doc = json.loads(done.stdout)
    assert {x["action"] for x in doc["leases"]} == {"would release", "refused"}
