"""The demo's process registry and trigger store beside the first session (ops.demo.deployment), read back through the inspectors."""

from __future__ import annotations

from pathlib import Path

import pytest

from lashdb.engine.ops.demo import DEMO_NOW_MS, build_demo
from lashdb.engine import ProcessRegistryInspector, TriggerStoreInspector


@pytest.fixture
def demo(tmp_path):
    return build_demo(tmp_path / "root")


# --- deployment stores beside the first session ------------------------------------------------------

HOUR = 3_600_000


def test_process_registry_beside_the_first_session(demo):
    first, child = demo.sessions[0], demo.child_sessions[0]
    deployment = demo.deployment
    assert first.sidecars == {"effects": Path(f"{first.path}.effects.db"),
                              "processes": Path(f"{first.path}.processes.db"),
                              "triggers": Path(f"{first.path}.triggers.db")}
    assert (deployment.registry, deployment.trigger_store) == (first.sidecars["processes"], first.sidecars["triggers"])
    assert all(not s.sidecars for s in demo.sessions[1:])
    ids = deployment.processes
    with ProcessRegistryInspector.open(deployment.registry) as registry:
        assert registry.info.foreign is False and registry.info.unavailable == ()
        by_id = {p.process_id: p for p in registry.list_processes(now_ms=DEMO_NOW_MS)}
        assert set(by_id) == set(ids.values()) and len(by_id) == 8
        status = {name: by_id[pid].status for name, pid in ids.items()}
        assert status == {"test_stress_run": "completed", "bisect": "running", "ci_watch": "running",
                          "pr_review": "running", "ci_summary_101": "completed", "fuzz_1": "completed",
                          "fuzz_2": "failed", "ci_summary_102": "completed"}
        ci = by_id[ids["ci_watch"]]
        assert (ci.lease.state, ci.lease.owner_id, ci.lease.fencing_token) == ("live", "worker-2", 2)
        assert (ci.lease.claimed_at_ms, ci.lease.expires_at_ms) == (DEMO_NOW_MS - 120_000, DEMO_NOW_MS + 58 * 60_000)
        assert (ci.grant_count, ci.event_count) == (2, 2)
        assert ci.external_ref == "github-actions:demo/lashlang@fix/flaky-parser"
        assert ci.originator_scope_id == ci.wake_target_scope_id == f"session:{first.session_id}/frame:main"
        bisect = by_id[ids["bisect"]]
        assert (bisect.lease.state, bisect.lease.owner_id, bisect.originator_scope_id) == \
            ("expired", "worker-3", f"session:{child.session_id}/frame:main")
        assert by_id[ids["test_stress_run"]].lease.state == "released"
        review = by_id[ids["pr_review"]]
        assert (review.waiting, review.wait_signal, review.input_type, review.lease) == \
            (True, "approved", "external", None)
        detail = registry.show_process(ids["ci_watch"], now_ms=DEMO_NOW_MS)
        assert [(e.event_type, e.wake_input, e.acked) for e in detail.events] == [
            ("ci.run", "CI run 101 failed: test_nested_blocks", True), ("ci.run", "CI run 102 passed", False)]
        assert detail.unacked_wake_sequences == (2,)
        fuzz = registry.show_process(ids["fuzz_2"], now_ms=DEMO_NOW_MS)
        assert fuzz.await_output["code"] == "fuzz_crash" and fuzz.caused_by["type"] == "trigger_occurrence"
        # What doctor should report: the dead bisect worker, and nothing else.
        assert [lease.process_id for lease in registry.expired_leases(now_ms=DEMO_NOW_MS)] == [ids["bisect"]]
        assert [(s.process_id, s.reasons) for s in registry.stuck_processes(now_ms=DEMO_NOW_MS)] == \
            [(ids["bisect"], ("lease_expired",))]


@pytest.mark.parametrize("sessions", [1, 4])
def test_trigger_store_beside_the_first_session(tmp_path, sessions):
    demo = build_demo(tmp_path / "root", sessions)
    deployment = demo.deployment
    assert deployment.subscriptions == {"trigger:1": "Re-run bisect on push", "trigger:2": "Summarise finished CI runs",
                                        "trigger:3": "Fuzz the parser every 6 hours"}
    with TriggerStoreInspector.open(deployment.trigger_store) as store:
        subs = store.list_subscriptions()
        assert [(s.handle, s.enabled, s.delivery_count) for s in subs] == [
            ("trigger:1", False, 0), ("trigger:2", True, 2), ("trigger:3", True, 2)]
        assert subs[2].registrant_scope_id == "host"
        occurrences = store.list_occurrences()
        assert [o.occurrence_id for o in occurrences] == list(reversed(deployment.occurrences))
        assert [(o.idempotency_key, o.occurred_at_ms, o.delivery_count) for o in occurrences] == [
            ("git:push:7e1d2c9", DEMO_NOW_MS - 2 * HOUR, 0),
            ("github-actions:run:102", DEMO_NOW_MS - 3 * HOUR, 1),
            ("cron:2026-06-01T03", DEMO_NOW_MS - 6 * HOUR, 1),
            ("cron:2026-05-31T21", DEMO_NOW_MS - 12 * HOUR, 1),
            ("github-actions:run:101", DEMO_NOW_MS - 20 * HOUR, 1)]
        delivered = {d.process_id for d in store.deliveries()}
    # Every delivery's process was started in the registry.
    assert delivered == {pid for name, pid in deployment.processes.items() if pid.startswith("process:trigger:")}
    assert set(deployment.to_json()) == {"session_id", "registry", "trigger_store", "processes", "subscriptions",
                                         "occurrences"}
    assert demo.to_json()["deployment"]["registry"] == str(deployment.registry)
