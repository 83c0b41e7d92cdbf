"""The PostgreSQL deployment reader (postgres/inspect_deployment.py) against the SQLite file reader: the
same registry and trigger content, written through ProcessRegistry/TriggerStore with one injected
clock on a SQLite file and on a root's scope in PostgreSQL, reads back as the same values."""

from __future__ import annotations

import psycopg
import pytest

from lashdb.engine.base import backends
from lashdb.engine.base.errors import BackendError, NotALashDatabase, SchemaVersionError
from lashdb.engine.base.locator import SessionLocation
from lashdb.engine.deployment.process_model import (
    ProcessEventAppendRequest,
    ProcessEventType,
    ProcessHandleDescriptor,
    ProcessIdentity,
    ProcessInput,
    ProcessOriginator,
    ProcessRegistration,
    Selector,
    SessionScope,
    WakeSpec,
)
from lashdb.engine.deployment.process_registry import ProcessRegistry
from lashdb.engine.deployment.triggers import (
    InputBinding,
    TriggerOccurrenceRequest,
    TriggerStore,
    TriggerSubscriptionDraft,
)
from lashdb.engine.postgres.inspect_deployment import PgDeploymentReader

T0 = 1_700_000_000_000
EMPTY_KEY = "source:ui.button.pressed:sha256:93e835cc58c043e45895883a41ffa460ab70a2372d57b8b6c23920025601c479"


class Clock:
    def __init__(self, now: int = T0) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


def draft(session_id: str, name: str) -> TriggerSubscriptionDraft:
    return TriggerSubscriptionDraft(
        registrant=ProcessOriginator.session(session_id), env_ref=f"process-env:{session_id}",
        wake_target=SessionScope(session_id), name=name, source_type="ui.button.pressed",
        source_key=EMPTY_KEY, source={}, payload_schema={"type": "object"},
        target=ProcessInput.engine("test", {"process": name}),
        target_identity=ProcessIdentity("test", name, {"process_name": name}),
        input_template={"event": InputBinding.event()}, target_label=name)


def button(idempotency_key: str) -> TriggerOccurrenceRequest:
    return TriggerOccurrenceRequest("ui.button.pressed", EMPTY_KEY, idempotency_key, payload={"button": "Blue"},
                                    source={})

ROOT = "root-a"
WAKE = ProcessEventType("process.wake", {}, wake=WakeSpec(Selector.pointer("/wake_input"),
                                                         when=Selector.present("/wake_input")))
DONE = {"await_output": {"type": "success", "value": {"ok": True}}}


def build_registry(reg: ProcessRegistry, clock: Clock) -> None:
    """Three processes (one completed), events with a wake acknowledged, grants, a live and a released lease."""
    for pid in ("proc-b", "Zed", "proc-a"):
        reg.register_process(ProcessRegistration.external(pid).with_extra_event_types(
            WAKE, ProcessEventType.plain("note")))
        clock.now += 1
    reg.append_event("proc-a", ProcessEventAppendRequest("process.wake", {"wake_input": "deploy failed"},
                                                         "wake:1", SessionScope("s1")))
    clock.now += 5
    reg.append_event("proc-a", ProcessEventAppendRequest("note", {"n": 1}))
    reg.ack_wake("proc-a", 1)
    clock.now += 5
    reg.append_event("proc-b", ProcessEventAppendRequest("process.completed", DONE, "done:1"))
    reg.grant_handle(SessionScope("grant-owner"), "proc-a", ProcessHandleDescriptor("test", "label a"))
    reg.grant_handle(SessionScope("grant-owner"), "proc-b", ProcessHandleDescriptor("test", "label b"))
    reg.grant_handle(SessionScope("another"), "proc-a", ProcessHandleDescriptor("test", "other a"))
    reg.claim_process_lease("proc-a", "owner-a", 60_000)
    reg.complete_process_lease(reg.claim_process_lease("Zed", "owner-z", 60_000))


def build_triggers(store: TriggerStore, clock: Clock) -> None:
    """Three subscriptions (one cancelled), three occurrences (two at one time), their deliveries."""
    subs = [store.register_subscription(draft(sid, name)) for sid, name in
            (("session-a", "first"), ("session-b", "second"), ("session-a", "third"))]
    clock.now += 3
    for key in ("button-blue-1", "button-blue-2"):
        store.reserve_matching_deliveries(store.record_occurrence(button(key)).occurrence_id)
    store.cancel_subscription("session-b", subs[1].handle)
    clock.now += 4
    store.reserve_matching_deliveries(store.record_occurrence(button("button-blue-3")).occurrence_id)


def typed(value):
    """``value`` with the type of every part spelled out (sets and dicts in sorted order)."""
    if isinstance(value, dict):
        return "dict", sorted((k, typed(v)) for k, v in value.items())
    if isinstance(value, (set, frozenset)):
        return type(value).__name__, sorted(typed(v) for v in value)
    if isinstance(value, (list, tuple)):
        return type(value).__name__, [typed(v) for v in value]
    return type(value).__name__, value


def registry_views(r) -> dict:
    statuses = r.statuses()
    return {
        "info": (r.kind_name, r.schema_version, r.supported_version, r.foreign, r.damaged),
        "columns": r.columns,
        "has": (r.has("processes", "status", "record_json"), r.has("process_events", "nope"), r.has("nope")),
        "lease_rows": sorted(r.lease_rows(), key=lambda d: d["process_id"]),
        "event_stats": r.event_stats(), "grant_counts": r.grant_counts(), "statuses": statuses,
        "process_rows": (r.process_rows(), r.process_rows(process_id="proc-a"), r.process_rows(status="completed"),
                         r.process_rows(grant_session="grant-owner"), r.process_rows(limit=1),
                         r.process_rows(process_id="ghost")),
        "acked": (r.acked_sequences("proc-a"), r.acked_sequences("proc-b")),
        "event_rows": (r.event_rows("proc-a"), r.event_rows("proc-a", limit=1), r.event_rows("ghost")),
        "grant_rows": (r.grant_rows(), r.grant_rows(process_id="proc-a"), r.grant_rows(session_id="another"),
                       r.grant_rows(process_id="proc-b", session_id="another")),
    }


def trigger_views(r) -> dict:
    by_id = lambda rows: sorted(rows, key=lambda d: d["subscription_id"])  # noqa: E731 - SQLite gives no order
    blue_1 = r.occurrence_rows()[-1]["occurrence_id"]
    return {
        "info": (r.kind_name, r.schema_version, r.supported_version, r.foreign, r.damaged),
        "columns": {t: c for t, c in r.columns.items() if t != "trigger_subscription_seq"},
        "delivery_counts": (r.delivery_counts("occurrence_id"), r.delivery_counts("subscription_id"),
                            r.delivery_counts("process_id")),
        "registrant_column": r.registrant_column(),
        "subscription_rows": (by_id(r.subscription_rows()), by_id(r.subscription_rows(enabled=False)),
                              by_id(r.subscription_rows(enabled=True, source_type="ui.button.pressed")),
                              r.subscription_rows(source_type="none")),
        "occurrence_rows": (r.occurrence_rows(), r.occurrence_rows(occurrence_id=blue_1),
                            r.occurrence_rows(since_ms=T0 + 7), r.occurrence_rows(limit=2),
                            r.occurrence_rows(source_type="ui.button.pressed", source_key="nope")),
        "has_deliveries": r.has_deliveries(),
        "delivery_rows": (sorted(r.delivery_rows()), sorted(r.delivery_rows(occurrence_id=blue_1))),
    }


def open_both(tmp_path, pg_url, concern: str):
    """``{backend: (deployment backend, reader opener)}`` for one root of ``concern``."""
    path = tmp_path / f"{ROOT}.{concern}.db"
    location = SessionLocation("postgres", pg_url, ROOT)
    return {"sqlite": (backends.open_with(f"sqlite.{concern}", str(path)),
                       lambda: backends.open_with("sqlite.inspect_deployment", path, concern)),
            "postgres": (backends.open_with(f"postgres.{concern}", pg_url, ROOT),
                         lambda: backends.open_with("postgres.inspect_deployment", location, concern))}


@pytest.mark.parametrize("concern, store_type, build, views", [
    ("process_registry", ProcessRegistry, build_registry, registry_views),
    ("trigger_store", TriggerStore, build_triggers, trigger_views),
])
def test_every_reader_method_returns_the_same_values_on_both_backends(tmp_path, pg_url, concern, store_type,
                                                                     build, views):
    # Another root in the same database: its rows must never show in ROOT's reader.
    with store_type(backends.open_with(f"postgres.{concern}", pg_url, "root-b"), Clock(T0 - 50)) as other:
        build(other, Clock(T0 - 50))
    seen = {}
    for name, (backend, open_reader) in open_both(tmp_path, pg_url, concern).items():
        clock = Clock()
        with store_type(backend, clock) as store:
            build(store, clock)
        reader = open_reader()
        try:
            seen[name] = (reader.path, views(reader))
        finally:
            reader.close()
    assert seen["postgres"][0] == f"{SessionLocation('postgres', pg_url, ROOT)}"
    pg, lite = seen["postgres"][1], seen["sqlite"][1]
    for key in lite:
        assert pg[key] == lite[key], key
        assert typed(pg[key]) == typed(lite[key]), key  # same types too (enabled 0/1, not a bool)
    if concern == "process_registry":
        assert set(lite["statuses"]) == {"Zed", "proc-a", "proc-b"} and lite["statuses"]["proc-b"] == "completed"
        assert lite["event_stats"]["proc-a"] == (2, "note", T0 + 8) and lite["acked"] == ({1}, set())
        assert lite["grant_counts"] == {"proc-a": 2, "proc-b": 1}
        assert [r["process_id"] for r in lite["process_rows"][0]] == ["Zed", "proc-a", "proc-b"]
        assert [r["lease_owner_id"] for r in lite["lease_rows"]] == [None, "owner-a"]
    else:
        assert len(lite["subscription_rows"][0]) == 3 and len(lite["subscription_rows"][1]) == 1
        assert [r["occurred_at_ms"] for r in lite["occurrence_rows"][0]] == [T0 + 7, T0 + 3, T0 + 3]
        assert len(lite["delivery_rows"][0]) == 3 * 2 + 2 and lite["registrant_column"] == "registrant_scope_id"


def test_a_reader_of_an_unwritten_root_is_empty_and_each_read_is_read_only(pg_url):
    with ProcessRegistry(backends.open_with("postgres.process_registry", pg_url, ROOT), Clock()) as reg:
        build_registry(reg, Clock())
    reader = backends.open_with("postgres.inspect_deployment", SessionLocation("postgres", pg_url, "nobody"),
                                "process_registry")
    try:
        assert isinstance(reader, PgDeploymentReader)
        assert (reader.process_rows(), reader.lease_rows(), reader.event_stats(), reader.grant_counts(),
                reader.grant_rows()) == ([], [], {}, {}, [])
        with pytest.raises(BackendError, match="read-only"):
            reader.db.read(lambda conn: conn.execute("DELETE FROM lash_processes"))
    finally:
        reader.close()
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT count(*) FROM lash_processes").fetchone()[0] == 3


def test_a_store_of_another_schema_version_or_none_is_refused_and_left_unchanged(pg_url):
    with pytest.raises(NotALashDatabase, match="not a lash process registry database .*has no table lash_process_events"):
        backends.open_with("postgres.inspect_deployment", SessionLocation("postgres", pg_url, ROOT), "process_registry")
    backends.open_with("postgres.process_registry", pg_url, ROOT).close()
    with psycopg.connect(pg_url) as conn:
        conn.execute("UPDATE lash_schema_versions SET version = 99 WHERE component = 'lashdb'")
    with pytest.raises(SchemaVersionError):
        backends.open_with("postgres.inspect_deployment", SessionLocation("postgres", pg_url, ROOT), "trigger_store")
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT version FROM lash_schema_versions").fetchall() == [(99,)]
