"""Read-only inspection of effects databases: list_effects, replay_plan, stale_in_progress, effects_info."""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

import apsw
import pytest

from lashdb.engine import (
    EffectCancelled,
    EffectCommand,
    EffectController,
    EffectControllerError,
    EffectEnvelope,
    EffectHost,
    ExecutionScope,
    RuntimeScope,
    effects_info,
    list_effects,
    replay_plan,
    replay_step_for,
    stale_in_progress,
)
from lashdb.engine.errors import DatabaseNotFound, NotALashDatabase

from runtime_support import FakeClock
from conftest import FIXTURES_DIR

FIXTURES = FIXTURES_DIR
T = 1_700_000_000_000

ROW_KEYS = ["scope_id", "replay_key", "status", "envelope_hash", "lease_owner_id", "lease_token",
            "lease_expires_at_ms", "due_at_ms", "created_at_ms", "updated_at_ms", "outcome", "error",
            "outcome_json", "error_json", "decode_error", "foreign"]
STEP_KEYS = ["scope_id", "replay_key", "status", "action", "detail", "error_code", "busy_until_ms",
             "due_at_ms", "created_at_ms", "envelope_hash", "foreign"]


def envelope(key: str) -> EffectEnvelope:
    return EffectEnvelope.effect(RuntimeScope.for_turn("s", "turn-a", 1, 0), key, key,
                                 EffectCommand.exec_code("code", key))


def fail(envelope, cancelled):
    raise EffectControllerError("boom", "it broke")


def _insert(path, key: str, status: str, *, scope="turn-a", outcome=None, error=None, owner=None,
            expires=0, created=T) -> None:
    conn = apsw.Connection(str(path))
    try:
        conn.execute(
            "INSERT INTO runtime_effect_replay (scope_id, replay_key, envelope_hash, status, outcome_json, "
            "error_json, lease_owner_id, lease_token, lease_expires_at_ms, due_at_ms, created_at_ms, updated_at_ms) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, ?, ?)",
            (scope, key, envelope(key).stable_hash(), status, outcome, error, owner,
             None if owner is None else f"{owner}:9", expires, created, created))
    finally:
        conn.close()


@pytest.fixture
def effects_db(tmp_path) -> Path:
    """turn-a: k1 completed, k2 failed, k3 live lease, k4 stale lease, k5-k7 corrupt; turn-b: k1 completed."""
    path = tmp_path / "root.db.effects.db"
    clock = FakeClock(T)
    with EffectHost.open(path, clock=clock) as host:
        turn_a = host.scoped(ExecutionScope.turn("s", "turn-a"))
        turn_a.execute_effect(envelope("k1"), lambda e, c: {"type": "exec_code", "result": {"Ok": "one"}})
        clock.advance(1)
        with pytest.raises(EffectControllerError):
            turn_a.execute_effect(envelope("k2"), fail)
    _insert(path, "k3", "in_progress", owner="pid1-1-1", expires=T + 100_000, created=T + 2)
    _insert(path, "k4", "in_progress", owner="pid2-1-1", expires=T + 3, created=T + 3)
    _insert(path, "k5", "completed", outcome="{truncated", created=T + 4)
    _insert(path, "k6", "paused", created=T + 5)
    _insert(path, "k7", "failed", created=T + 6)
    _insert(path, "k1", "completed", scope="turn-b", outcome='{"type":"exec_code","result":{"Ok":"b"}}',
            created=T + 7)
    return path


def _snapshot(directory: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(directory.iterdir())}


def test_list_effects_reads_every_row_in_creation_order(effects_db):
    before = _snapshot(effects_db.parent)
    rows = list_effects(effects_db)
    assert [(r.scope_id, r.replay_key, r.status) for r in rows] == [
        ("turn-a", "k1", "completed"), ("turn-a", "k2", "failed"), ("turn-a", "k3", "in_progress"),
        ("turn-a", "k4", "in_progress"), ("turn-a", "k5", "completed"), ("turn-a", "k6", "paused"),
        ("turn-a", "k7", "failed"), ("turn-b", "k1", "completed")]
    first = rows[0]
    assert first.to_json() == {
        "scope_id": "turn-a", "replay_key": "k1", "status": "completed",
        "envelope_hash": envelope("k1").stable_hash(), "lease_owner_id": None, "lease_token": None,
        "lease_expires_at_ms": 0, "due_at_ms": None, "created_at_ms": T, "updated_at_ms": T,
        "outcome": {"type": "exec_code", "result": {"Ok": "one"}},
        "error": None, "outcome_json": '{"type":"exec_code","result":{"Ok":"one"}}', "error_json": None,
        "decode_error": None, "foreign": False}
    assert list(first.to_json()) == ROW_KEYS
    assert rows[1].error == {"code": "boom", "message": "it broke"}
    assert (rows[1].created_at_ms, rows[1].updated_at_ms) == (T + 1, T + 1)
    assert (rows[2].lease_owner_id, rows[2].lease_expires_at_ms) == ("pid1-1-1", T + 100_000)
    assert rows[4].outcome is None and rows[4].decode_error.startswith("outcome_json: ")
    assert _snapshot(effects_db.parent) == before


def test_list_effects_filters_by_scope_and_status(effects_db):
    assert [(r.scope_id, r.replay_key) for r in list_effects(effects_db, scope="turn-b")] == [("turn-b", "k1")]
    assert [r.replay_key for r in list_effects(effects_db, status="in_progress")] == ["k3", "k4"]
    assert [r.replay_key for r in list_effects(effects_db, scope="turn-a", status="failed")] == ["k2", "k7"]
    assert list_effects(effects_db, scope="no-such-scope") == []
    assert all(r.structured_scope_id is None for r in list_effects(effects_db))
    assert list_effects(effects_db, scope="turn-a' OR '1'='1") == []


def test_replay_plan_reads_like_a_strict_replay(effects_db):
    before = _snapshot(effects_db.parent)
    plan = replay_plan(effects_db, "turn-a", now_ms=T + 50)
    assert [(s.replay_key, s.action, s.detail, s.error_code) for s in plan] == [
        ("k1", "replay_outcome", "replays outcome", None),
        ("k2", "replay_error", "replays error boom", "boom"),
        ("k3", "busy", f"busy until {T + 100_000}", None),
        ("k4", "stale_lease", "stale lease: would re-execute", None),
        ("k5", "corrupt", plan[4].detail, "sqlite_effect_replay_decode"),
        ("k6", "corrupt", "corrupt row: unknown runtime effect replay status `paused`",
         "sqlite_effect_replay_corrupt_row"),
        ("k7", "corrupt", "corrupt row: failed runtime effect row is missing error_json",
         "sqlite_effect_replay_corrupt_row"),
    ]
    assert plan[4].detail.startswith("corrupt row: outcome_json does not parse (")
    assert plan[2].busy_until_ms == T + 100_000
    assert list(plan[0].to_json()) == STEP_KEYS
    assert plan[0].to_json() == {"scope_id": "turn-a", "replay_key": "k1", "status": "completed",
                                 "action": "replay_outcome", "detail": "replays outcome", "error_code": None,
                                 "busy_until_ms": None, "due_at_ms": None, "created_at_ms": T,
                                 "envelope_hash": envelope("k1").stable_hash(), "foreign": False}
    # Once the live lease has run out, the same key reads as stale.
    assert replay_plan(effects_db, "turn-a", now_ms=T + 100_000)[2].action == "stale_lease"
    assert _snapshot(effects_db.parent) == before


def test_replay_plan_agrees_with_what_strict_replay_does(effects_db, tmp_path):
    plan = {s.replay_key: s for s in replay_plan(effects_db, "turn-a", now_ms=T + 50)}
    controller = EffectController.open(effects_db, ExecutionScope.turn("s", "turn-a"), clock=FakeClock(T + 50))
    controller.start_replay()
    ran = []

    def executor(env, cancelled):
        ran.append(env.replay_key)
        return {"type": "exec_code", "result": {"Ok": "re-executed"}}

    cancel = threading.Event()
    cancel.set()  # a busy key must not make the test wait for the lease
    for key, step in plan.items():
        if step.action == "replay_outcome":
            assert controller.execute_effect(envelope(key), executor) == {"type": "exec_code", "result": {"Ok": "one"}}
        elif step.action == "busy":
            with pytest.raises(EffectCancelled):
                controller.execute_effect(envelope(key), executor, cancel=cancel)
        elif step.action == "stale_lease":
            assert controller.execute_effect(envelope(key), executor)["result"] == {"Ok": "re-executed"}
        else:
            with pytest.raises(EffectControllerError) as err:
                controller.execute_effect(envelope(key), executor)
            assert err.value.code == step.error_code
    assert ran == ["k4"]
    controller.close()


def test_stale_in_progress_lists_expired_leases_only(effects_db):
    assert [r.replay_key for r in stale_in_progress(effects_db, T + 50)] == ["k4"]
    assert [r.replay_key for r in stale_in_progress(effects_db, T + 100_000)] == ["k3", "k4"]
    assert stale_in_progress(effects_db, T) == []


def test_replay_step_for_classifies_rows_of_every_scope(effects_db):
    steps = [replay_step_for(row, T + 50) for row in list_effects(effects_db)]
    assert [(s.scope_id, s.replay_key, s.action) for s in steps] == [
        ("turn-a", "k1", "replay_outcome"), ("turn-a", "k2", "replay_error"), ("turn-a", "k3", "busy"),
        ("turn-a", "k4", "stale_lease"), ("turn-a", "k5", "corrupt"), ("turn-a", "k6", "corrupt"),
        ("turn-a", "k7", "corrupt"), ("turn-b", "k1", "replay_outcome")]


def test_effects_info_of_a_current_file(effects_db):
    info = effects_info(effects_db)
    assert (info.kind, info.schema_version, info.supported_version, info.foreign, info.unavailable) == (
        "effect replay", 1, 1, False, ())


def test_upstream_v11_fixture_is_read_in_place_without_a_byte_changed():
    path = FIXTURES / "effects.db"
    before = _snapshot(FIXTURES)
    info = effects_info(path)
    assert (info.schema_version, info.supported_version, info.foreign, info.unavailable) == (11, 1, True, ())
    rows = list_effects(path)
    assert len(rows) == 1
    row = rows[0]
    assert row.scope_id == ('{"version":2,"kind":"turn","session_id":"durable-read-fixture",'
                            '"execution_id":"durable-read-effect-turn"}')
    assert (row.replay_key, row.status, row.foreign) == ("durable-read-exec-replay", "completed", True)
    assert row.envelope_hash == "0f8912550d39a8652f1db702550808102f5deb1b604ed1d408322f624db454f1"
    assert (row.created_at_ms, row.updated_at_ms, row.lease_expires_at_ms, row.lease_owner_id) == (
        1_700_000_000_000, 1_700_000_000_000, 0, None)
    assert row.outcome["result"]["Ok"]["terminal_finish"] == {"fixture": 887}
    assert row.error is None and row.decode_error is None
    assert row.structured_scope_id == "durable-read-effect-turn"
    plan = replay_plan(path, row.scope_id)
    assert [(s.replay_key, s.action, s.foreign) for s in plan] == [("durable-read-exec-replay", "replay_outcome",
                                                                    True)]
    # Newer upstream stores a structured scope; its bare execution id selects the same rows.
    assert replay_plan(path, "durable-read-effect-turn") == plan
    assert [r.replay_key for r in list_effects(path, scope="durable-read-effect-turn")] == [row.replay_key]
    assert list_effects(path, scope="durable-read-fixture") == []
    assert stale_in_progress(path) == []
    assert list_effects(path, status="failed") == []
    assert _snapshot(FIXTURES) == before


def test_inspection_refuses_other_kinds_and_missing_files(tmp_path):
    with pytest.raises(NotALashDatabase) as err:
        list_effects(FIXTURES / "processes.db")
    assert "effect replay" in str(err.value)
    with pytest.raises(DatabaseNotFound):
        replay_plan(tmp_path / "absent.db", "turn")
    empty = tmp_path / "empty.db"
    apsw.Connection(str(empty)).execute("CREATE TABLE unrelated (x)")
    with pytest.raises(NotALashDatabase):
        stale_in_progress(empty, 0)


def test_inspection_of_a_file_missing_optional_columns(tmp_path):
    # A cut-down foreign table: only the key columns and status. Missing columns read as None.
    path = tmp_path / "thin.db"
    conn = apsw.Connection(str(path))
    conn.execute("CREATE TABLE runtime_effect_replay (scope_id TEXT, replay_key TEXT, status TEXT);"
                 "INSERT INTO runtime_effect_replay VALUES ('turn', 'k', 'in_progress');"
                 "PRAGMA user_version = 3;")
    conn.close()
    info = effects_info(path)
    assert info.foreign and "runtime_effect_replay.outcome_json" in info.unavailable
    [row] = list_effects(path)
    assert (row.replay_key, row.lease_expires_at_ms, row.envelope_hash, row.foreign) == ("k", None, None, True)
    assert [s.action for s in replay_plan(path, "turn", now_ms=5)] == ["stale_lease"]
