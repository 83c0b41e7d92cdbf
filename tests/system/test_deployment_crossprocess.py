"""Deployment stores shared by several OS processes: idempotent appends, fenced leases, awaited
completions and occurrence reservations stay exactly-once when processes race on one store — a
SQLite file or a root's scope in a PostgreSQL database, from one test body (postgres.md §6).

Racers start together behind a multiprocessing Barrier; nothing sleeps, and results are compared
by value, never by timing.
"""

from __future__ import annotations

import multiprocessing

import pytest

from lashdb.engine.errors import ProcessRegistryError, TriggerStoreError
from lashdb.engine.deployment.process_model import (
    ProcessAwaitOutput,
    ProcessEventAppendRequest,
    ProcessEventType,
    ProcessRegistration,
    ProcessInput,
    ProcessIdentity,
    ProcessOriginator,
    Selector,
    SessionScope,
    WakeSpec,
)
from lashdb.engine.deployment.triggers import (
    TriggerOccurrenceRequest,
    TriggerSubscriptionDraft,
    default_source_key,
)
from crossprocess_support import BACKENDS, Target, target_for

RACERS = 4
CTX = multiprocessing.get_context("spawn")
# A generous bound so a broken child fails the test instead of hanging it; never an assertion.
RESULT_WAIT_S = 120

WAKE_REQUEST = ProcessEventAppendRequest("producer.wake", {"wake_input": "raced wake", "n": 1},
                                         "race:key", SessionScope("root"))


def _append_racer(target: Target, barrier, results) -> None:
    with target.process_registry() as registry:
        barrier.wait()
        outcome = registry.append_event("raced", WAKE_REQUEST)
        results.put((outcome.event.sequence, outcome.wake_delivery.wake_id, outcome.event.occurred_at_ms))


def _conflicting_appender(target: Target, results) -> None:
    with target.process_registry() as registry:
        try:
            registry.append_event("raced", ProcessEventAppendRequest(
                "producer.wake", {"wake_input": "another payload"}, "race:key"))
            results.put(("appended", None))
        except ProcessRegistryError as exc:
            results.put(("rejected", str(exc)))


def _lease_racer(target: Target, owner: str, barrier, results) -> None:
    with target.process_registry() as registry:
        barrier.wait()
        try:
            lease = registry.claim_process_lease("leased", owner, 600_000)
            results.put(("won", owner, lease.fencing_token))
        except ProcessRegistryError as exc:
            results.put(("fenced", owner, str(exc)))


def _awaiter(target: Target, ready, results) -> None:
    with target.process_registry() as registry:
        ready.set()
        results.put(registry.await_process("awaited", timeout=RESULT_WAIT_S).to_json())


def _occurrence_racer(target: Target, barrier, results) -> None:
    with target.trigger_store() as store:
        barrier.wait()
        try:
            occurrence = store.record_occurrence(_press())
            reserved = store.reserve_matching_deliveries(occurrence.occurrence_id)
            results.put((occurrence.occurrence_id, [r.process_id for r in reserved]))
        except TriggerStoreError as exc:
            results.put(("error", str(exc)))


def _press() -> TriggerOccurrenceRequest:
    return TriggerOccurrenceRequest("ui.button.pressed", default_source_key("ui.button.pressed", {}),
                                    "press-1", {"button": "Blue"}, {})


def _run(target, args_per_child) -> list:
    results = CTX.Queue()
    children = [CTX.Process(target=target, args=(*args, results)) for args in args_per_child]
    for child in children:
        child.start()
    try:
        collected = [results.get(timeout=RESULT_WAIT_S) for _ in children]
    finally:
        for child in children:
            child.join(RESULT_WAIT_S)
    assert [child.exitcode for child in children] == [0] * len(children)
    return collected


@pytest.fixture(params=BACKENDS)
def backend(request, tmp_path):
    """``(name) -> Target``: a SQLite file ``<name>.db``, or the test's fresh PostgreSQL database."""
    return lambda name: target_for(request, tmp_path, name)


@pytest.fixture
def registry(backend) -> Target:
    target = backend("processes")
    with target.process_registry() as registry:
        registry.register_process(ProcessRegistration.external("raced").with_extra_event_types(
            ProcessEventType("producer.wake", {}, wake=WakeSpec(Selector.pointer("/wake_input")))))
        registry.register_process(ProcessRegistration("leased", ProcessInput.engine("worker"),
                                                      env_ref="process-env:test"))
        registry.register_process(ProcessRegistration.external("awaited"))
    return target


def test_idempotent_append_raced_by_four_processes(registry):
    barrier = CTX.Barrier(RACERS)
    outcomes = _run(_append_racer, [(registry, barrier)] * RACERS)
    assert {sequence for sequence, _, _ in outcomes} == {1}
    assert len({wake_id for _, wake_id, _ in outcomes}) == 1
    assert len({occurred for _, _, occurred in outcomes}) == 1  # every racer got the one stored event
    assert registry.rows("process_events", "sequence, idempotency_key", "process_id = ?", ("raced",)) == \
        [(1, "race:key")]
    [(rejected, message)] = _run(_conflicting_appender, [(registry,)])
    assert rejected == "rejected"
    assert message == "process `raced` event replay key `race:key` conflicts with an existing event"
    with registry.process_registry() as reader:
        assert [e.sequence for e in reader.events_after("raced", 0)] == [1]


def test_lease_claim_raced_by_four_processes_has_one_winner(registry):
    barrier = CTX.Barrier(RACERS)
    outcomes = _run(_lease_racer, [(registry, f"owner-{i}", barrier) for i in range(RACERS)])
    winners = [o for o in outcomes if o[0] == "won"]
    assert len(winners) == 1 and winners[0][2] == 1
    winner = winners[0][1]
    losers = [o for o in outcomes if o[0] == "fenced"]
    assert len(losers) == RACERS - 1
    for _, _, message in losers:
        assert message.startswith(f"process `leased` is already leased by `{winner}` until ")
    assert registry.rows("process_leases", "lease_owner_id, lease_fencing_token") == [(winner, 1)]


def test_completion_in_one_process_wakes_an_await_in_another(registry):
    ready = CTX.Event()
    results = CTX.Queue()
    child = CTX.Process(target=_awaiter, args=(registry, ready, results))
    child.start()
    try:
        ready.wait(RESULT_WAIT_S)
        with registry.process_registry() as writer:
            writer.complete_process("awaited", ProcessAwaitOutput.failure("timeout", "slow", "took too long"))
        output = results.get(timeout=RESULT_WAIT_S)
    finally:
        child.join(RESULT_WAIT_S)
    assert child.exitcode == 0
    assert output == {"type": "failure", "class": "timeout", "code": "slow", "message": "took too long"}


def test_occurrence_raced_by_four_processes_is_reserved_once(backend):
    triggers = backend("triggers")
    with triggers.trigger_store() as store:
        subscription = store.register_subscription(TriggerSubscriptionDraft(
            ProcessOriginator.session("s"), "process-env:s", "ui.button.pressed",
            default_source_key("ui.button.pressed", {}), ProcessInput.engine("test"), ProcessIdentity("test")))
    barrier = CTX.Barrier(RACERS)
    outcomes = _run(_occurrence_racer, [(triggers, barrier)] * RACERS)
    assert len({occurrence for occurrence, _ in outcomes}) == 1
    reserved = [pid for _, pids in outcomes for pid in pids]
    assert len(reserved) == 1 and reserved[0].startswith("process:trigger:")
    assert triggers.rows("trigger_deliveries", "subscription_id, process_id") == \
        [(subscription.subscription_id, reserved[0])]
    assert triggers.rows("trigger_occurrences", "occurrence_id") == [(outcomes[0][0],)]
