"""DeploymentFileReader: read-only, column-tolerant reads of registry and trigger files (native and upstream v38)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from lashdb.engine.base.errors import LashdbError, NotALashDatabase
from lashdb.engine.base.ints import U64_MAX
from lashdb.engine.sqlite.deployment_backend import open_process_registry, open_trigger_store
from lashdb.engine.sqlite.inspect_deployment import open_reader

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "upstream-v38"


def _copy(tmp_path, name):
    return shutil.copy(FIXTURES / name, tmp_path / name)


def test_upstream_registry_missing_columns_and_tables_read_as_none(tmp_path):
    path = _copy(tmp_path, "processes.db")
    before = Path(path).read_bytes()
    r = open_reader(path, "process_registry")
    try:
        assert (r.kind_name, r.schema_version, r.foreign) == ("process registry", 24, True)
        assert r.grant_counts() is None and r.grant_rows() is None  # v38 has no process_handle_grants
        assert r.acked_sequences("durable-read-wake-process") is None
        assert r.statuses() == {"durable-read-waiting-process": "waiting", "durable-read-wake-process": "running"}
        assert r.event_stats() == {"durable-read-waiting-process": (2, "process.waiting", 1700000000000),
                                   "durable-read-wake-process": (1, "fixture.wake", 1700000000000)}
        rows = r.process_rows()
        assert [p["process_id"] for p in rows] == ["durable-read-waiting-process", "durable-read-wake-process"]
        assert "owner_scope_id" not in rows[0]  # absent column left out, never guessed
        assert [p["process_id"] for p in r.process_rows(status="running")] == ["durable-read-wake-process"]
        assert r.process_rows(limit=0) == []
        events = r.event_rows("durable-read-waiting-process")
        assert [e["sequence"] for e in events] == sorted((e["sequence"] for e in events), reverse=True)
        assert "payload_hash" not in events[0]
        assert len(r.event_rows("durable-read-waiting-process", limit=1)) == 1
        assert [x["process_id"] for x in r.lease_rows()] == ["durable-read-waiting-process"]
    finally:
        r.close()
    assert Path(path).read_bytes() == before


def test_upstream_trigger_store_uses_its_registrant_column(tmp_path):
    r = open_reader(_copy(tmp_path, "triggers.db"), "trigger_store")
    try:
        assert r.registrant_column() == "owner_scope"
        subs = r.subscription_rows()
        assert len(subs) == 1 and "owner_scope" in subs[0] and "handle" not in subs[0]
        assert subs[0]["enabled"] == 1 and r.subscription_rows(enabled=False) == []
        assert len(r.subscription_rows(enabled=True, source_type=subs[0]["source_type"])) == 1
        assert r.has_deliveries() is True
        (oid, sid, pid, at), = r.delivery_rows()
        assert (oid, at) == ("trigger:durable-read-occurrence", 1700000000000)
        assert r.delivery_rows(occurrence_id="nope") == []
        assert r.delivery_counts("occurrence_id") == {"trigger:durable-read-occurrence": 1}
        assert r.delivery_counts("process_id") == {}  # only the two fixed columns are allowed
        assert [o["occurrence_id"] for o in r.occurrence_rows()] == ["trigger:durable-read-occurrence"]
        assert "request_hash" not in r.occurrence_rows(occurrence_id="trigger:durable-read-occurrence")[0]
    finally:
        r.close()


def test_native_registry_values_and_u64(tmp_path):
    path = str(tmp_path / "processes.db")
    b = open_process_registry(path)

    def fill(rows):
        for pid, status in (("p2", "running"), ("p1", "exited")):
            rows.insert_process(pid, "h", "scope", 10, status, "{}")
        rows.put_grant("s1", "scope", "p1", "d1")
        rows.put_grant("s0", "scope2", "p1", "d0")
        rows.insert_event("p1", 1, "started", "ph", None, U64_MAX, "{}")
        rows.add_wake_ack("p1", 1)
    b.write(fill)
    b.close()
    r = open_reader(path, "process_registry")
    try:
        assert r.foreign is False and r.damaged == ()
        assert r.grant_counts() == {"p1": 2}
        assert r.grant_rows() == [("s0", "scope2", "p1", "d0"), ("s1", "scope", "p1", "d1")]
        assert r.grant_rows(session_id="s1") == [("s1", "scope", "p1", "d1")]
        assert [p["process_id"] for p in r.process_rows(grant_session="s0")] == ["p1"]
        assert r.process_rows(process_id="p2")[0]["owner_scope_id"] == "scope"
        assert r.event_stats() == {"p1": (1, "started", U64_MAX)}
        assert r.acked_sequences("p1") == {1}
    finally:
        r.close()


def test_refuses_other_kind_and_types_corrupt(tmp_path):
    path = str(tmp_path / "t.db")
    open_trigger_store(path).close()
    with pytest.raises(NotALashDatabase) as info:
        open_reader(path, "process_registry")
    assert path in str(info.value)
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"garbage" * 1000)
    with pytest.raises(LashdbError) as info:
        open_reader(junk, "trigger_store")
    assert str(junk) in str(info.value)
