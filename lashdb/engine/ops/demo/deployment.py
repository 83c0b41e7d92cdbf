"""The process registry and trigger store the first demo session shares with its child.

Contract: written only through ``ProcessRegistry``/``TriggerStore`` on the demo's clock, in time
order, so the stores hold exactly what a deployment would (deployment-stores §0.1); each file's
mtime is set to its last write.
"""

from __future__ import annotations

import hashlib

from lashdb.engine.deployment.process_model import (
    CausalRef,
    ProcessAwaitOutput,
    ProcessEventAppendRequest,
    ProcessEventType,
    ProcessExternalRef,
    ProcessHandleDescriptor,
    ProcessIdentity,
    ProcessInput,
    ProcessOriginator,
    ProcessProvenance,
    ProcessRegistration,
    Selector,
    SessionScope,
    WaitState,
    WakeSpec,
)
from lashdb.engine.deployment.triggers import (
    InputBinding,
    TriggerOccurrenceRequest,
    TriggerSubscriptionDraft,
    default_source_key,
)

from .script import _iso, _Timeline, _uid
from .site import DemoSite
from .summary import DemoDeployment, DemoSession


# --- deployment stores (process registry and trigger store beside the first session) ---------------

_MINUTE_MS = 60_000
_HOUR_MS = 3_600_000
_CI_SOURCE = {"repo": "demo/lashlang", "branch": "fix/flaky-parser"}


def _process_id(name: str) -> str:
    return "proc_" + _uid("process", name).replace("-", "")[:16]


def _env_ref(cwd: str) -> str:
    return "process-env:v1:sha256:" + hashlib.sha256(cwd.encode()).hexdigest()


def _build_deployment_stores(site: DemoSite, parent: DemoSession, child: DemoSession, now_ms: int) -> DemoDeployment:
    """Write the registry and trigger store the first session and its child share (deployment-stores §0.1).

    Everything goes through ``ProcessRegistry``/``TriggerStore`` with the demo's clock, in time
    order: in the session's first minutes (a day or more ago) it started background work and the
    child's bisect worker died holding its lease; in the last 20 hours CI and cron fired triggers;
    two minutes before "now" a restarted worker re-claimed the CI watcher's lease for an hour.
    Every time is an offset from the session's start or from "now", so any session count works.
    """
    registry_path = site.sidecar(parent.session_id, "processes")
    trigger_path = site.sidecar(parent.session_id, "triggers")
    clock = _Timeline(parent.created_at_ms)
    session, sub = parent.session_id, child.session_id
    main, sub_main = SessionScope(session, "main"), SessionScope(sub, "main")
    env = _env_ref("/home/demo/src/lashlang")
    ids = {name: _process_id(name) for name in ("test_stress_run", "bisect", "ci_watch", "pr_review")}
    processes = dict(ids)
    occurrences: list[str] = []
    with site.process_registry(session, lambda: clock.now_ms) as registry, \
            site.trigger_store(session, lambda: clock.now_ms) as triggers:

        def at(ms: int) -> None:
            clock.now_ms = ms

        def deliver(occurrence: TriggerOccurrenceRequest, name: str, outcome: ProcessAwaitOutput | None) -> None:
            # Record the occurrence, reserve its deliveries, and start (and finish) each process.
            record = triggers.record_occurrence(occurrence)
            occurrences.append(record.occurrence_id)
            for number, reservation in enumerate(triggers.reserve_matching_deliveries(record.occurrence_id), 1):
                subscription = reservation.subscription
                registry.register_process(ProcessRegistration(
                    reservation.process_id, ProcessInput.engine(subscription.target.doc["kind"], {
                        "config": subscription.target.doc["payload"], "event": occurrence.payload}),
                    identity=subscription.target_identity,
                    provenance=ProcessProvenance(subscription.registrant,
                                                 CausalRef.trigger_occurrence(record.occurrence_id)),
                    env_ref=subscription.env_ref, wake_target=subscription.wake_target))
                processes[name if number == 1 else f"{name}_{number}"] = reservation.process_id
                if subscription.registrant.session_id is not None:
                    registry.grant_handle(SessionScope(subscription.registrant.session_id, "main"),
                                          reservation.process_id,
                                          ProcessHandleDescriptor("trigger", subscription.name))
                if outcome is not None:
                    at(clock.now_ms + 40_000)
                    registry.complete_process(reservation.process_id, outcome)

        # Turn 2: the assistant starts a 200-run stress test of the parser tests in the background.
        start = parent.created_at_ms + 330_000
        at(start)
        progress = ProcessEventType("tests.progress", {"type": "object", "required": ["passed", "failed"]})
        call_id = "call_" + _uid(session, 2, "run_tests")[:8]
        registry.register_process(ProcessRegistration(
            ids["test_stress_run"], ProcessInput.tool_call(call_id, "tool:run_tests", "run_tests", {
                "cmd": "pytest tests/test_parser.py::test_nested_blocks --count 200"}),
            provenance=ProcessProvenance(ProcessOriginator.session(main), CausalRef.tool_call(session, call_id)),
            env_ref=env, wake_target=main).with_extra_event_types(progress))
        registry.grant_handle(main, ids["test_stress_run"],
                              ProcessHandleDescriptor("tests", "200× test_nested_blocks"))
        lease = registry.claim_process_lease(ids["test_stress_run"], "worker-1", 2 * _MINUTE_MS)
        for passed in (100, 200):
            at(clock.now_ms + 40_000)
            registry.append_event(ids["test_stress_run"], ProcessEventAppendRequest(
                "tests.progress", {"passed": passed, "failed": 0}))
            lease = registry.renew_process_lease(lease, 2 * _MINUTE_MS)
        at(clock.now_ms + 5_000)
        registry.complete_process(ids["test_stress_run"], ProcessAwaitOutput.success(
            {"runs": 200, "passed": 200, "failed": 0, "duration_s": 85}))
        registry.complete_process_lease(lease)

        # The child sub-agent starts a bisect whose worker dies holding its five-minute lease.
        at(child.created_at_ms + 120_000)
        bisect_call = "call_" + _uid(sub, "git_bisect")[:8]
        step = ProcessEventType("bisect.step", {"type": "object", "required": ["commit", "verdict"]})
        registry.register_process(ProcessRegistration(
            ids["bisect"], ProcessInput.tool_call(bisect_call, "tool:git_bisect", "git_bisect", {
                "good": "v0.3.0", "bad": "HEAD", "run": "pytest tests/test_parser.py -x"}),
            provenance=ProcessProvenance(ProcessOriginator.session(sub_main), CausalRef.tool_call(sub, bisect_call)),
            env_ref=env, wake_target=sub_main).with_extra_event_types(step))
        registry.grant_handle(sub_main, ids["bisect"], ProcessHandleDescriptor("bisect", "bisect the ordering bug"))
        registry.claim_process_lease(ids["bisect"], "worker-3", 5 * _MINUTE_MS)
        at(clock.now_ms + 60_000)
        registry.append_event(ids["bisect"], ProcessEventAppendRequest(
            "bisect.step", {"commit": "4f1c2ab", "verdict": "bad", "remaining": 6}))

        # The child also asked to re-run the bisect on every push; it cancels that later.
        at(child.created_at_ms + 150_000)
        push_source = dict(_CI_SOURCE)
        push = triggers.register_subscription(TriggerSubscriptionDraft(
            ProcessOriginator.session(sub_main), env, "git.push", default_source_key("git.push", push_source),
            ProcessInput.engine("bisect_rerun", {"run": "pytest tests/test_parser.py -x"}),
            ProcessIdentity("bisect", "re-run the bisect"), wake_target=sub_main, name="Re-run bisect on push",
            source=push_source))

        # Turn 3: a CI watcher with wake events for the session, and two subscriptions.
        at(parent.created_at_ms + 700_000)
        ci_run = ProcessEventType("ci.run", {"type": "object", "required": ["run", "conclusion", "summary"]},
                                  wake=WakeSpec(Selector.pointer("/summary")))
        registry.register_process(ProcessRegistration(
            ids["ci_watch"], ProcessInput.engine("ci_watch", dict(_CI_SOURCE)),
            identity=ProcessIdentity("ci_watch", "CI watcher: fix/flaky-parser"),
            provenance=ProcessProvenance(ProcessOriginator.session(main), CausalRef.turn(session, "turn-3")),
            env_ref=env, wake_target=main).with_extra_event_types(ci_run))
        registry.set_external_ref(ids["ci_watch"],
                                  ProcessExternalRef("github-actions", "demo/lashlang@fix/flaky-parser"))
        registry.grant_handle(main, ids["ci_watch"], ProcessHandleDescriptor("ci", "CI watcher"))
        registry.grant_handle(sub_main, ids["ci_watch"], ProcessHandleDescriptor("ci", "CI watcher (shared)"))
        registry.claim_process_lease(ids["ci_watch"], "worker-1", _HOUR_MS)
        at(clock.now_ms + 5_000)
        ci_key = default_source_key("ci.run.finished", _CI_SOURCE)
        triggers.register_subscription(TriggerSubscriptionDraft(
            ProcessOriginator.session(main), env, "ci.run.finished", ci_key,
            ProcessInput.engine("summarise_ci", {"style": "one paragraph"}),
            ProcessIdentity("summarise_ci", "CI run summary"), wake_target=main,
            name="Summarise finished CI runs", source=dict(_CI_SOURCE), input_template={"run": InputBinding.event()}))
        at(clock.now_ms + 5_000)
        cron = {"schedule": "0 */6 * * *", "timezone": "UTC"}
        cron_key = default_source_key("cron", cron)
        triggers.register_subscription(TriggerSubscriptionDraft(
            ProcessOriginator.host(), env, "cron", cron_key,
            ProcessInput.engine("fuzz", {"target": "lashlang.parser", "minutes": 30}),
            ProcessIdentity("fuzz", "parser fuzzing"), name="Fuzz the parser every 6 hours", source=cron))

        # After turn 3: the pull request waits for a reviewer's approval.
        at(parent.created_at_ms + 760_000)
        registry.register_process(ProcessRegistration.external(
            ids["pr_review"], {"label": "Review of PR #42", "url": "https://github.com/demo/lashlang/pull/42"},
            provenance=ProcessProvenance(ProcessOriginator.session(main)), wake_target=main))
        registry.set_external_ref(ids["pr_review"], ProcessExternalRef("github", "demo/lashlang#42"))
        registry.grant_handle(main, ids["pr_review"], ProcessHandleDescriptor("review", "PR #42 approval"))
        at(clock.now_ms + 1_000)
        registry.set_process_wait(ids["pr_review"], WaitState.signal(ids["pr_review"], "approved", 1, clock.now_ms))

        at(child.created_at_ms + 600_000)
        triggers.cancel_subscription(sub, push.handle)

        # CI run 101 fails 20 hours ago: a wake for the session (read and acked) and a summary.
        at(now_ms - 20 * _HOUR_MS)
        failed = {"run": 101, "conclusion": "failure", "failed_tests": ["tests/test_parser.py::test_nested_blocks"]}
        result = registry.append_event(ids["ci_watch"], ProcessEventAppendRequest(
            "ci.run", dict(failed, summary="CI run 101 failed: test_nested_blocks")))
        registry.ack_wake(ids["ci_watch"], result.event.sequence)
        deliver(TriggerOccurrenceRequest("ci.run.finished", ci_key, "github-actions:run:101", failed, dict(_CI_SOURCE)),
                "ci_summary_101", ProcessAwaitOutput.success({"summary": "1 failing test: test_nested_blocks"}))

        # Two fuzz runs: the first is clean, the second finds a crash.
        at(now_ms - 12 * _HOUR_MS)
        deliver(TriggerOccurrenceRequest("cron", cron_key, "cron:" + _iso(clock.now_ms)[:13],
                                         {"scheduled_for": _iso(clock.now_ms)}, cron),
                "fuzz_1", ProcessAwaitOutput.success({"executions": 1_840_000, "crashes": 0}))
        at(now_ms - 6 * _HOUR_MS)
        deliver(TriggerOccurrenceRequest("cron", cron_key, "cron:" + _iso(clock.now_ms)[:13],
                                         {"scheduled_for": _iso(clock.now_ms)}, cron),
                "fuzz_2", ProcessAwaitOutput.failure(
                    "execution", "fuzz_crash", "parser crashed on a 3-level nested block",
                    {"input": "{{{ }", "signal": "SIGABRT"}))

        # CI run 102 passes three hours ago: a wake the session has not read yet, and a summary.
        at(now_ms - 3 * _HOUR_MS)
        passed = {"run": 102, "conclusion": "success", "failed_tests": []}
        registry.append_event(ids["ci_watch"], ProcessEventAppendRequest(
            "ci.run", dict(passed, summary="CI run 102 passed")))
        deliver(TriggerOccurrenceRequest("ci.run.finished", ci_key, "github-actions:run:102", passed, dict(_CI_SOURCE)),
                "ci_summary_102", ProcessAwaitOutput.success({"summary": "all 412 tests pass"}))

        # A push after the child cancelled its subscription: recorded, delivered to nobody.
        at(now_ms - 2 * _HOUR_MS)
        deliver(TriggerOccurrenceRequest("git.push", default_source_key("git.push", push_source), "git:push:7e1d2c9",
                                         {"after": "7e1d2c9", "commits": 2}, push_source), "bisect_rerun", None)

        # Two minutes ago a restarted worker re-claimed the CI watcher for an hour (fencing token 2).
        at(now_ms - 2 * _MINUTE_MS)
        registry.claim_process_lease(ids["ci_watch"], "worker-2", _HOUR_MS)
        subscriptions = {s.handle: s.name or "" for s in sorted(
            triggers.list_subscriptions(), key=lambda s: int(s.handle.partition(":")[2]))}
    site.touch(registry_path, now_ms - 2 * _MINUTE_MS)
    site.touch(trigger_path, now_ms - 2 * _HOUR_MS)
    return DemoDeployment(session, registry_path, trigger_path, processes, subscriptions, tuple(occurrences))
