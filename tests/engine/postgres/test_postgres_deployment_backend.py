"""PgDeploymentBackend on a real server: one scope per backend (two root sessions in one database
never see each other's rows), the transaction primitives, and who closes the shared database."""

from __future__ import annotations

import pytest

from lashdb.engine.base import backends
from lashdb.engine.base.errors import BackendError, ProcessRegistryError
from lashdb.engine.deployment.process_model import (
    ProcessEventAppendRequest,
    ProcessEventType,
    ProcessHandleDescriptor,
    ProcessListFilter,
    ProcessRegistration,
    SessionScope,
)
from lashdb.engine.deployment.process_registry import ProcessRegistry
from lashdb.engine.deployment.triggers import TriggerOccurrenceRequest, TriggerStore, TriggerSubscriptionFilter
from lashdb.engine.postgres.connection import PgDatabase
from lashdb.engine.postgres.deployment_backend import PgDeploymentBackend
from lashdb.engine.postgres.registry import PgRegistryRows

from test_postgres_triggers import EMPTY_KEY, draft

T0 = 1_700_000_000_000


def clock() -> int:
    return T0


def test_two_roots_in_one_database_never_see_each_other(pg_url):
    with ProcessRegistry(backends.open_with("postgres.process_registry", pg_url, "root-a"), clock) as a, \
            ProcessRegistry(backends.open_with("postgres.process_registry", pg_url, "root-b"), clock) as b:
        note = ProcessEventType.plain("note")
        a.register_process(ProcessRegistration.external("p").with_extra_event_types(note))
        # The same id in another root is another process: no registration-hash conflict.
        b.register_process(ProcessRegistration.external("p"))
        b.register_process(ProcessRegistration.external("only-b"))
        assert [r.id for r in a.list_processes(ProcessListFilter())] == ["p"]
        assert [r.id for r in b.list_processes(ProcessListFilter())] == ["only-b", "p"]
        assert a.append_event("p", ProcessEventAppendRequest("note", {"n": 1}, "k")).event.sequence == 1
        assert b.events_after("p", 0) == [] and len(a.events_after("p", 0)) == 1
        a.grant_handle(SessionScope("s"), "p", ProcessHandleDescriptor("test", "a"))
        assert b.has_handle_grant(SessionScope("s"), "p") is False
        assert b.list_handle_grants(SessionScope("s")) == []
        a.claim_process_lease("p", "owner-a", 60_000)
        assert b.claim_process_lease("p", "owner-b", 60_000).fencing_token == 1  # not fenced by root-a

    with TriggerStore(backends.open_with("postgres.trigger_store", pg_url, "root-a"), clock) as ta, \
            TriggerStore(backends.open_with("postgres.trigger_store", pg_url, "root-b"), clock) as tb:
        # Each root numbers its subscriptions from 1.
        assert ta.register_subscription(draft("s", "x")).handle == "trigger:1"
        assert ta.register_subscription(draft("s", "y")).handle == "trigger:2"
        assert tb.register_subscription(draft("s", "z")).handle == "trigger:1"
        assert [r.name for r in tb.list_subscriptions(TriggerSubscriptionFilter())] == ["z"]
        request = TriggerOccurrenceRequest("ui.button.pressed", EMPTY_KEY, "same-key", payload={"button": "B"},
                                           source={})
        first = ta.record_occurrence(request)
        assert len(ta.reserve_matching_deliveries(first.occurrence_id)) == 2
        other = tb.record_occurrence(request)
        assert other.occurrence_id == first.occurrence_id  # derived from the key, stored twice
        assert [r.subscription.name for r in tb.reserve_matching_deliveries(other.occurrence_id)] == ["z"]
        assert tb.cancel_subscription("s", "trigger:2") is False  # root-a's handle is unknown in root-b

    ea = backends.open_with("postgres.effect_journal", pg_url, "session-a")
    eb = backends.open_with("postgres.effect_journal", pg_url, "session-b")
    try:
        ea.write(lambda rows: rows.insert("turn", "k", "h-a", "in_progress", "o", "t", T0 + 1, None, T0))
        assert eb.read(lambda rows: rows.get("turn", "k")) is None
        eb.write(lambda rows: rows.insert("turn", "k", "h-b", "in_progress", "o", "t", T0 + 1, None, T0))
        assert ea.read(lambda rows: rows.get("turn", "k"))[0] == "h-a"
    finally:
        ea.close()
        eb.close()


def test_backend_runs_transactions_and_closes_only_what_it_owns(pg_url):
    db = PgDatabase.open(pg_url)
    try:
        shared = PgDeploymentBackend(db, "root-a", PgRegistryRows)
        assert shared.path == db.display and shared.conn is None
        shared.write(lambda rows: rows.insert_process("p", "h", "host", T0, "running", "{}"))

        def fails(rows):
            rows.save_process("p", T0 + 1, "completed", "{}")
            raise RuntimeError("rolled back")

        with pytest.raises(RuntimeError):
            shared.write(fails)
        assert shared.read(lambda rows: rows.list_running()) == ["{}"]
        assert shared.autocommit(lambda rows: rows.add_wake_ack("p", 2**64 - 1)) is True
        assert shared.autocommit(lambda rows: rows.add_wake_ack("p", 2**64 - 1)) is False
        assert shared.read(lambda rows: rows.wake_acks("p")) == {2**64 - 1}
        with pytest.raises(BackendError):
            shared.read(lambda rows: rows.add_wake_ack("p", 1))  # a snapshot is read-only
        shared.close()  # shared: the database stays open
        assert shared.read(lambda rows: rows.load_process("p")) == "{}"
    finally:
        db.close()
    owned = backends.open_with("postgres.process_registry", pg_url, "r")
    owned.close()
    with pytest.raises(BackendError, match="closed"):
        owned.read(lambda rows: rows.list_processes())
    with pytest.raises(ValueError):
        backends.open_with("postgres.trigger_store", pg_url, " ")


def test_two_hosts_on_one_root_serialise_their_writes(pg_url):
    import threading

    hosts = [ProcessRegistry(backends.open_with("postgres.process_registry", pg_url, "root-a"), clock)
             for _ in range(2)]
    try:
        hosts[0].register_process(ProcessRegistration.external("p").with_extra_event_types(
            ProcessEventType.plain("note")))
        errors: list[BaseException] = []

        def append(host: ProcessRegistry, who: int) -> None:
            try:
                for n in range(15):
                    host.append_event("p", ProcessEventAppendRequest("note", {"who": who, "n": n}))
            except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
                errors.append(exc)

        threads = [threading.Thread(target=append, args=(host, i)) for i, host in enumerate(hosts)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert errors == []
        # The advisory lock orders the two pools' appends: one gap-free sequence, nothing lost.
        assert [e.sequence for e in hosts[1].events_after("p", 0)] == list(range(1, 31))
        leases = [hosts[0].claim_process_lease("p", "owner-a", 60_000)]
        with pytest.raises(ProcessRegistryError, match="already leased by `owner-a`"):
            hosts[1].claim_process_lease("p", "owner-b", 60_000)
        leases.append(hosts[1].claim_process_lease("p", "owner-a", 60_000))
        assert [lease.fencing_token for lease in leases] == [1, 2]
    finally:
        for host in hosts:
            host.close()
