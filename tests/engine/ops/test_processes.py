"""Read-only process registry views (ops.processes): processes, events, grants, leases, stuck ones."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from lashdb.engine.ops.processes import (
    ProcessRegistryInspector,
    expired_process_leases,
    list_processes,
    show_process,
    stuck_processes,
)
from lashdb.engine.errors import LookupFailed, SchemaVersionError
from lashdb.engine.deployment.process_model import (
    ProcessAwaitOutput,
    ProcessEventAppendRequest,
    ProcessEventType,
    ProcessExternalRef,
    ProcessHandleDescriptor,
    ProcessInput,
    ProcessOriginator,
    ProcessProvenance,
    ProcessRegistration,
    Selector,
    SessionScope,
    TerminalSpec,
    WaitState,
    WakeSpec,
)
from lashdb.engine.deployment.process_registry import ProcessRegistry
from conftest import FIXTURES_DIR

FIXTURES = FIXTURES_DIR
T0 = 1_700_000_000_000

SUMMARY_KEYS = ["process_id", "status", "record_status", "identity_kind", "identity_label", "input_type",
                "originator_scope_id", "wake_target_scope_id", "env_ref", "created_at_ms", "updated_at_ms",
                "event_count", "last_event_type", "last_event_at_ms", "waiting", "wait_signal", "wait_since_ms",
                "lease", "grant_count", "external_ref", "decode_error"]
LEASE_KEYS = ["process_id", "owner_id", "lease_token", "fencing_token", "claimed_at_ms", "expires_at_ms", "state",
              "process_status"]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def sidecars(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(("-wal", "-shm", "-journal")))


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> int:
        return self.now


# --- lashdb-written registry -------------------------------------------------------------------------


@pytest.fixture
def registry_file(tmp_path) -> Path:
    """A registry with running, waiting, completed, worker and wake processes, grants and leases."""
    path = tmp_path / "processes.db"
    clock = Clock()
    wake = ProcessEventType("job.wake", {}, wake=WakeSpec(Selector.pointer("/text")))
    with ProcessRegistry.open(path, clock=clock) as registry:
        registry.register_process(ProcessRegistration.external(
            "ext-done", {"label": "import"}, provenance=ProcessProvenance(ProcessOriginator.session("s1"))))
        registry.grant_handle(SessionScope("s1"), "ext-done", ProcessHandleDescriptor("external", "import"))
        registry.set_external_ref("ext-done", ProcessExternalRef("queue", "job-9"))
        clock.now += 10
        registry.complete_process("ext-done", ProcessAwaitOutput.success({"rows": 3}))
        registry.register_process(ProcessRegistration(
            "worker-live", ProcessInput.engine("indexer", {"dir": "/src"}), env_ref="process-env:1",
            wake_target=SessionScope("s1", "f1")).with_extra_event_types(wake))
        registry.grant_handle(SessionScope("s1", "f1"), "worker-live", ProcessHandleDescriptor("indexer", "index"))
        registry.grant_handle(SessionScope("s2"), "worker-live")
        registry.claim_process_lease("worker-live", "worker-a", 60_000)
        registry.append_event("worker-live", ProcessEventAppendRequest("job.wake", {"text": "first"}))
        registry.append_event("worker-live", ProcessEventAppendRequest("job.wake", {"text": "second"}))
        registry.ack_wake("worker-live", 1)
        registry.register_process(ProcessRegistration(
            "worker-orphan", ProcessInput.tool_call("c1", "tool:sh", "sh", {"cmd": "ls"}), env_ref="process-env:1"))
        registry.register_process(ProcessRegistration(
            "worker-crashed", ProcessInput.engine("indexer"), env_ref="process-env:1"))
        registry.claim_process_lease("worker-crashed", "worker-b", 5)
        registry.register_process(ProcessRegistration.external("waiting-ext"))
        registry.set_process_wait("waiting-ext", WaitState.signal("waiting-ext", "approve", 1, T0 + 10))
        registry.register_process(ProcessRegistration.external("unprojected").with_extra_event_types(
            ProcessEventType("x.end", {}, TerminalSpec("completed"))))
        registry.append_event("unprojected", ProcessEventAppendRequest("x.end", {"ok": 1}, "end"))
        # A terminal event whose status projection was lost (what doctor must notice).
        registry._conn.execute(
            "UPDATE processes SET status = 'running', record_json = json_set(record_json, '$.status', "
            "json('{\"state\":\"running\"}')) WHERE process_id = 'unprojected'")
    assert sidecars(tmp_path) == []
    return path


def test_list_processes_shows_every_column_the_cli_needs(registry_file):
    now = T0 + 1000
    listed = list_processes(registry_file, now_ms=now)
    assert [(p.process_id, p.status) for p in listed] == [
        ("ext-done", "completed"), ("unprojected", "running"), ("waiting-ext", "running"),
        ("worker-crashed", "running"), ("worker-live", "running"), ("worker-orphan", "running")]
    by_id = {p.process_id: p for p in listed}
    done = by_id["ext-done"]
    assert list(done.to_json()) == SUMMARY_KEYS
    assert done.to_json() == {
        "process_id": "ext-done", "status": "completed", "record_status": "completed", "identity_kind": "external",
        "identity_label": "import", "input_type": "external", "originator_scope_id": "session:s1",
        "wake_target_scope_id": None, "env_ref": None, "created_at_ms": T0, "updated_at_ms": T0 + 10,
        "event_count": 1, "last_event_type": "process.completed", "last_event_at_ms": T0 + 10, "waiting": False,
        "wait_signal": None, "wait_since_ms": None, "lease": None, "grant_count": 1, "external_ref": "queue:job-9",
        "decode_error": None}
    live = by_id["worker-live"]
    assert (live.wake_target_scope_id, live.grant_count, live.event_count, live.env_ref) == \
        ("session:s1/frame:f1", 2, 2, "process-env:1")
    assert list(live.lease.to_json()) == LEASE_KEYS
    assert (live.lease.owner_id, live.lease.state, live.lease.expires_at_ms, live.lease.process_status) == \
        ("worker-a", "live", T0 + 10 + 60_000, "running")
    assert (by_id["waiting-ext"].waiting, by_id["waiting-ext"].wait_signal) == (True, "approve")
    assert by_id["worker-crashed"].lease.state == "expired"

    with ProcessRegistryInspector.open(registry_file) as inspector:
        assert inspector.info.foreign is False and inspector.info.unavailable == ()
        assert [p.process_id for p in inspector.list_processes(status="completed")] == ["ext-done"]
        assert [p.process_id for p in inspector.list_processes(session_id="s1")] == ["ext-done", "worker-live"]
        assert [p.process_id for p in inspector.list_processes(session_id="s2")] == ["worker-live"]
        assert [p.process_id for p in inspector.list_processes(limit=2)] == ["ext-done", "unprojected"]


def test_show_process_gathers_record_grants_lease_events_and_unacked_wakes(registry_file):
    detail = show_process(registry_file, "worker-live", now_ms=T0 + 1000)
    assert detail.summary.process_id == "worker-live"
    assert detail.record["input"] == {"type": "engine", "kind": "indexer", "payload": {"dir": "/src"}}
    assert [g.to_json() for g in detail.grants] == [
        {"session_id": "s1", "scope_id": "session:s1/frame:f1", "process_id": "worker-live",
         "descriptor_kind": "indexer", "descriptor_label": "index"},
        {"session_id": "s2", "scope_id": "session:s2", "process_id": "worker-live",
         "descriptor_kind": None, "descriptor_label": None}]
    assert [(e.sequence, e.wake_input, e.acked) for e in detail.events] == [(1, "first", True), (2, "second", False)]
    assert detail.unacked_wake_sequences == (2,)
    assert detail.events[0].payload_hash is not None and detail.events[0].replay_key is None
    done = show_process(registry_file, "ext-done", event_limit=1)
    assert done.await_output == {"type": "success", "value": {"rows": 3}}
    [event] = done.events
    assert (event.event_type, event.terminal_state, event.replay_key) == \
        ("process.completed", "completed", "process:ext-done:terminal:process.completed")
    assert done.to_json()["summary"]["status"] == "completed"
    with pytest.raises(LookupFailed):
        show_process(registry_file, "ghost")


def test_doctor_checks_expired_leases_and_stuck_processes(registry_file):
    now = T0 + 1000
    expired = expired_process_leases(registry_file, now_ms=now)
    assert [(lease.process_id, lease.owner_id, lease.state) for lease in expired] == \
        [("worker-crashed", "worker-b", "expired")]
    stuck = {s.process_id: s for s in stuck_processes(registry_file, now_ms=now)}
    assert {pid: s.reasons for pid, s in stuck.items()} == {
        "unprojected": ("terminal_event_not_projected",),
        "worker-crashed": ("lease_expired",),
        "worker-orphan": ("no_live_lease",),
    }
    assert "event 1 `x.end` is terminal (completed) but the status is running" in stuck["unprojected"].detail
    idle = stuck_processes(registry_file, now_ms=now, idle_after_ms=500)
    assert {s.process_id for s in idle} == {"unprojected", "waiting-ext", "worker-crashed", "worker-live", "worker-orphan"}
    assert [s.to_json()["reasons"] for s in idle if s.process_id == "waiting-ext"] == [["idle"]]


def test_inspection_never_writes(registry_file):
    directory = registry_file.parent
    before = sha256(registry_file)
    with ProcessRegistryInspector.open(registry_file) as inspector:
        inspector.list_processes()
        inspector.show_process("worker-live")
        inspector.stuck_processes()
    assert sha256(registry_file) == before and sidecars(directory) == []


def test_undecodable_rows_are_listed_with_their_error(registry_file):
    with ProcessRegistry.open(registry_file) as registry:
        registry._conn.execute("UPDATE processes SET record_json = 'oops' WHERE process_id = 'waiting-ext'")
    by_id = {p.process_id: p for p in list_processes(registry_file)}
    broken = by_id["waiting-ext"]
    assert broken.status == "running" and broken.identity_kind is None and broken.decode_error is not None


def test_a_sparse_foreign_registry_lists_what_its_columns_allow(tmp_path):
    import apsw

    path = tmp_path / "sparse.db"
    conn = apsw.Connection(str(path))
    conn.execute("CREATE TABLE processes (process_id TEXT PRIMARY KEY, record_json TEXT);"
                 "PRAGMA user_version = 99;")
    conn.execute("INSERT INTO processes VALUES (?, ?)", ("p1", '{"status":{"state":"failed"},"identity":{"kind":"k"}}'))
    conn.execute("INSERT INTO processes VALUES (?, ?)", ("p2", '{"status":"running"}'))
    conn.close()
    before = sha256(path)
    with ProcessRegistryInspector.open(path) as inspector:
        assert inspector.info.foreign and inspector.info.schema_version == 99
        assert set(inspector.info.unavailable) >= {"grants", "leases", "wake_acks"}
        assert [(p.process_id, p.status, p.identity_kind, p.event_count, p.lease, p.created_at_ms)
                for p in inspector.list_processes()] == [("p1", "failed", "k", 0, None, None),
                                                         ("p2", "running", None, 0, None, None)]
        assert [p.process_id for p in inspector.list_processes(status="running", limit=5)] == ["p2"]
        assert inspector.show_process("p1").events == ()
        assert inspector.expired_leases() == [] and inspector.stuck_processes() == []
    with pytest.raises(SchemaVersionError):
        ProcessRegistry.open(path)
    assert sha256(path) == before and sidecars(tmp_path) == []
