"""doctor's stale in-progress effects check, and the demo root's runtime findings (expired execution
lease, attachment intent uncommitted for over an hour, stale effect)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import FIXTURES_DIR
from lashdb.cli.main import app
from lashdb.engine.ops.demo import DEMO_NOW_MS, build_demo
from lashdb.engine import (
    EffectCommand,
    EffectEnvelope,
    EffectHost,
    EffectReplayOptions,
    ExecutionScope,
    RuntimeScope,
    Store,
)
from lashdb.engine.ops import doctor

V11 = FIXTURES_DIR / "effects.db"
T = 1_790_000_000_000
TTL = 30_000
OWNER = "runner-7"
runner = CliRunner()


class Clock:
    def __init__(self, now: int) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


class Died(Exception):
    """Stands for the runner dying inside an effect."""


def envelope(key: str) -> EffectEnvelope:
    return EffectEnvelope.effect(RuntimeScope.for_turn("s", "turn-a", 1, 0), key, key, EffectCommand.exec_code("py", key))


def with_session(sidecar: Path) -> Path:
    """The session database a ``<file>.db.effects.db`` belongs to (doctor reports a sidecar without one)."""
    Store.open(str(sidecar)[: -len(".effects.db")]).close()
    return sidecar


def journal(path: Path) -> Path:
    """turn-a: k1 completed; k2 died holding its lease (stale at T + TTL); k3 released after an unrecorded
    failure (stale at once); k4 held under a lease that is live until T + 10 TTL."""
    with_session(path)
    clock = Clock(T)
    with EffectHost.open(path, EffectReplayOptions(lease_ttl_ms=TTL, owner_id=OWNER), clock=clock) as host:
        scope = host.scoped(ExecutionScope.turn("s", "turn-a"))
        scope.execute_effect(envelope("k1"), lambda e, c: {"ok": True})

        def die_holding(_e, _c):
            clock.now += TTL + 1  # the guarded release then finds the lease expired and changes nothing
            raise Died

        clock.now = T + 1
        with pytest.raises(Died):
            scope.execute_effect(envelope("k2"), die_holding)

        def fail_unrecorded(_e, _c):
            raise Died  # not a controller error: the host releases the claim (lease 0, no owner)

        clock.now = T + 2
        with pytest.raises(Died):
            scope.execute_effect(envelope("k3"), fail_unrecorded)
        clock.now = T + 9 * TTL
        with pytest.raises(Died):
            scope.execute_effect(envelope("k4"), die_holding)
    return path


def test_stale_effects_are_findings_with_owner_expiry_and_the_command(tmp_path):
    path = journal(tmp_path / "root.db.effects.db")
    report = doctor.run([path], now_ms=T + 2 * TTL, jobs=1)
    (file,) = report.files
    assert file.kind == "effect replay" and file.checks["stale_effects"] == "problems" and not report.ok
    found = [f for f in file.findings if f.check == "stale_effects"]
    assert [(f.severity, f.subject) for f in found] == [("warning", "turn-a k2"), ("warning", "turn-a k3")]
    expires = T + 1 + TTL
    assert found[0].message == (
        f"effect `k2` of scope `turn-a` is still in progress and its lease held by `{OWNER}` expired at "
        f"{doctor.iso_ms(expires)} ({doctor.ago(T + 2 * TTL - expires)} ago); a replay would execute it again "
        f"(`lashdb effects replay --db {path} --scope turn-a`)")
    assert "is still in progress and no lease holds it;" in found[1].message
    assert [f.check for f in file.findings] == ["stale_effects", "stale_effects"]  # every other check passes


def test_a_live_lease_is_not_stale_until_it_expires(tmp_path):
    path = journal(tmp_path / "root.db.effects.db")
    # Before k2's lease ran out only the released k3 is stale; k4 (live until T + 10 TTL) never is before then.
    early = [f.subject for f in doctor.run([path], now_ms=T + 100, jobs=1).files[0].findings]
    assert early == ["turn-a k3"]
    late = [f.subject for f in doctor.run([path], now_ms=T + 10 * TTL + 1, jobs=1).files[0].findings]
    assert late == ["turn-a k2", "turn-a k3", "turn-a k4"]


def test_healthy_journal_and_the_upstream_v11_journal_pass(tmp_path):
    path = tmp_path / "ok.db.effects.db"
    with EffectHost.open(path, clock=Clock(T)) as host:
        host.scoped(ExecutionScope.turn("s", "turn-a")).execute_effect(envelope("k1"), lambda e, c: 1)
    assert doctor.run([path], now_ms=T + 10 * TTL, jobs=1).files[0].checks["stale_effects"] == "ok"
    before = hashlib.sha256(V11.read_bytes()).hexdigest()
    (file,) = doctor.run([V11], now_ms=T, jobs=1).files
    assert file.checks["stale_effects"] == "ok" and [f.check for f in file.findings] == ["schema"]
    assert hashlib.sha256(V11.read_bytes()).hexdigest() == before


def test_demo_root_reports_its_dead_runtime(tmp_path):
    demo = build_demo(tmp_path / "root")
    report = doctor.run([demo.root], now_ms=DEMO_NOW_MS, jobs=1)
    files = {f.path.name: f for f in report.files}
    first, newest = demo.sessions[0], demo.root_sessions[-1]
    runtime = demo.runtime

    def findings(path: Path, check: str) -> list[doctor.Finding]:
        return [f for f in files[path.name].findings if f.check == check]

    (lease,) = findings(first.path, "execution_leases")
    assert lease.subject == first.session_id and "`lash@demo-laptop:pid4711`" in lease.message
    assert "expired at 2026-05-28T09:17:20Z" in lease.message
    (attachment,) = findings(first.path, "attachments")
    assert attachment.subject == runtime.attachments["uncommitted"]
    assert "(attachment://ci-failure-log.txt) recorded at 2026-05-28T09:12:20Z" in attachment.message
    (effect,) = findings(runtime.effects, "stale_effects")
    assert effect.subject == f"turn-4 {runtime.stale_effect[1]}"
    assert "expired at 2026-05-28T09:12:50Z" in effect.message
    # The newest session's lease is live at the demo's "now", so it is not reported.
    assert findings(newest.path, "execution_leases") == [] and files[newest.path.name].checks["execution_leases"] == "ok"
    # An hour after "now" it has expired too.
    later = {f.path.name: f for f in doctor.run([newest.path], now_ms=DEMO_NOW_MS + 3_600_000, jobs=1).files}
    assert [f.check for f in later[newest.path.name].findings] == ["execution_leases"]


def test_cli_doctor_names_the_stale_effect_and_exits_1(tmp_path):
    path = journal(tmp_path / "root.db.effects.db")
    result = runner.invoke(app, ["--root", str(tmp_path), "doctor", str(path), "--json"])
    assert result.exit_code == 1
    doc = json.loads(result.stdout)
    (file,) = doc["files"]
    assert file["checks"]["stale_effects"] == "problems"
    # Wall-clock "now": every in-progress row of the journal is long past its lease.
    assert [f["subject"] for f in file["findings"] if f["check"] == "stale_effects"] == [
        "turn-a k2", "turn-a k3", "turn-a k4"]


def test_the_suggested_command_is_shell_quoted(tmp_path):
    path = tmp_path / "odd dir" / "root.db.effects.db"
    path.parent.mkdir()
    with_session(path)
    scope_id = '{"kind":"turn","id":"t 1"}'
    clock = Clock(T)
    with EffectHost.open(path, EffectReplayOptions(lease_ttl_ms=TTL, owner_id=OWNER), clock=clock) as host:
        with pytest.raises(Died):
            host.scoped(ExecutionScope.turn("s", scope_id)).execute_effect(envelope("k1"), _died)
    (finding,) = doctor.run([path], now_ms=T + 2 * TTL, jobs=1).files[0].findings
    assert finding.message.endswith(f"(`lashdb effects replay --db '{path}' --scope '{scope_id}'`)")


def _died(_e, _c):
    raise Died  # released at once: in progress, no lease
