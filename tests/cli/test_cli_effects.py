"""`lashdb effects list|replay` through the Typer app (CliRunner), on journals written through EffectHost."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import apsw
import pytest
from typer.testing import CliRunner

from conftest import FIXTURES_DIR
from lashdb.cli import output
from lashdb.cli.main import app
from lashdb.engine import (
    EffectCommand,
    EffectControllerError,
    EffectEnvelope,
    EffectHost,
    EffectReplayOptions,
    ExecutionScope,
    RuntimeScope,
    SessionRelation,
    SessionStoreCreateRequest,
    SessionStoreFactory,
)
from lashdb.engine.base.timing import wall_clock_ms

V11 = FIXTURES_DIR / "effects.db"
V11_SCOPE = ('{"version":2,"kind":"turn","session_id":"durable-read-fixture",'
             '"execution_id":"durable-read-effect-turn"}')
runner = CliRunner()

ROW_KEYS = ["scope_id", "replay_key", "status", "envelope_hash", "lease_owner_id", "lease_token",
            "lease_expires_at", "lease_expires_at_epoch_ms", "lease_state", "due_at", "due_at_epoch_ms",
            "created_at", "created_at_epoch_ms", "updated_at", "updated_at_epoch_ms", "outcome", "error",
            "outcome_json", "error_json", "decode_error", "foreign"]
STEP_KEYS = ["scope_id", "replay_key", "status", "action", "detail", "error_code", "busy_until",
             "busy_until_epoch_ms", "due_at", "due_at_epoch_ms", "created_at", "created_at_epoch_ms",
             "envelope_hash", "foreign"]
REPLAY_KEYS = ["path", "scope_id", "foreign", "now", "now_epoch_ms", "steps", "counts", "problems"]
KEY_KEYS = ["path", "now", "now_epoch_ms", "step", "outcome", "error", "outcome_json", "error_json", "decode_error"]
OWNER = "runtime-test-owner"
TTL = 3_600_000
SESSION_ID = "effects-cli-session"


def run(root, *args):
    return runner.invoke(app, ["--root", str(root), *args])


def one_error_line(result, code=3):
    assert result.exit_code == code, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lashdb: error: "), result.stderr
    assert "Traceback" not in result.output and result.stdout == ""
    return lines[0]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def snapshot(root: Path) -> dict[str, tuple[str, int]]:
    """Every file under root: SHA-256 and mtime."""
    return {str(p.relative_to(root)): (sha256(p), p.stat().st_mtime_ns) for p in sorted(root.rglob("*")) if p.is_file()}


class Clock:
    """Injected clock (epoch ms)."""

    def __init__(self, now: int) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


class RuntimeDied(Exception):
    """Stands for the runtime process dying inside an effect."""


def envelope(scope: str, key: str) -> EffectEnvelope:
    return EffectEnvelope.effect(RuntimeScope.for_turn(SESSION_ID, scope, 1, 0), f"eff-{key}", key,
                                 EffectCommand.exec_code("python", f"print({key!r})"))


def leave_in_progress(host: EffectHost, clock: Clock, scope: str, key: str) -> None:
    """Claim ``key`` and die: the clock passes the lease before the host's (guarded) release, so the row keeps it."""
    claimed_at = clock.now

    def die(_envelope, _cancelled):
        clock.now = claimed_at + TTL + 1
        raise RuntimeDied(key)

    with pytest.raises(RuntimeDied):
        host.scoped(ExecutionScope.turn(SESSION_ID, scope)).execute_effect(envelope(scope, key), die)
    clock.now = claimed_at


def fail(_envelope, _cancelled):
    raise EffectControllerError("tool_timeout", "run_tests exceeded its 120 s budget")


@pytest.fixture
def journal(tmp_path):
    """A root with one session and its effects sidecar, times relative to the wall clock.

    turn-a: k1 completed, k2 failed, k3 in progress under a live lease (busy), k4 in progress whose
    lease expired two hours ago (stale); turn-b: k1 completed.
    """
    root = tmp_path / "root"
    factory = SessionStoreFactory(root)
    with factory.create_store(SessionStoreCreateRequest(SESSION_ID, "m", SessionRelation.root())) as store:
        session_path = Path(store.path)
    sidecar = Path(f"{session_path}.effects.db")
    now = wall_clock_ms()
    clock = Clock(now - 3 * TTL)
    with EffectHost.open(sidecar, EffectReplayOptions(lease_ttl_ms=TTL, owner_id=OWNER), clock=clock) as host:
        turn_a = host.scoped(ExecutionScope.turn(SESSION_ID, "turn-a"))
        turn_a.execute_effect(envelope("turn-a", "k1"), lambda e, c: {"type": "exec_code", "result": {"Ok": "one"}})
        clock.now += 1_000
        with pytest.raises(EffectControllerError):
            turn_a.execute_effect(envelope("turn-a", "k2"), fail)
        clock.now = now - 60_000
        leave_in_progress(host, clock, "turn-a", "k3")
        clock.now = now - 3 * TTL + 2_000
        leave_in_progress(host, clock, "turn-a", "k4")
        clock.now = now - 3 * TTL + 3_000
        host.scoped(ExecutionScope.turn(SESSION_ID, "turn-b")).execute_effect(
            envelope("turn-b", "k1"), lambda e, c: {"type": "exec_code", "result": {"Ok": "b"}})
    return {"root": root, "session": session_path, "sidecar": sidecar, "now": now}


# --- effects list -----------------------------------------------------------------------------------


def test_list_json_rows_keys_and_values(journal):
    result = run(journal["root"], "effects", "list", SESSION_ID, "--json")
    assert result.exit_code == 0 and result.stderr == ""
    rows = json.loads(result.stdout)
    assert [list(r) for r in rows] == [ROW_KEYS] * 5
    now = journal["now"]
    # Creation order: k1, k2, k4 (three hours ago), turn-b/k1, then k3 (a minute ago).
    assert [(r["scope_id"], r["replay_key"], r["status"], r["lease_state"]) for r in rows] == [
        ("turn-a", "k1", "completed", None), ("turn-a", "k2", "failed", None),
        ("turn-a", "k4", "in_progress", "expired"), ("turn-b", "k1", "completed", None),
        ("turn-a", "k3", "in_progress", "live")]
    k1, k2, k4, b1, k3 = rows
    assert k1["outcome"] == {"type": "exec_code", "result": {"Ok": "one"}}
    assert k1["outcome_json"] == '{"type":"exec_code","result":{"Ok":"one"}}' and k1["error"] is None
    assert k1["envelope_hash"] == envelope("turn-a", "k1").stable_hash()
    assert (k1["lease_owner_id"], k1["lease_expires_at"], k1["lease_expires_at_epoch_ms"]) == (None, None, 0)
    assert k1["created_at_epoch_ms"] == now - 3 * TTL and k1["created_at"] == output.iso_ms(now - 3 * TTL)
    assert k2["error"] == {"code": "tool_timeout", "message": "run_tests exceeded its 120 s budget"}
    assert k2["updated_at_epoch_ms"] == now - 3 * TTL + 1_000
    assert (k3["lease_owner_id"], k3["lease_token"], k4["lease_token"]) == (OWNER, f"{OWNER}:3", f"{OWNER}:4")
    assert k3["lease_expires_at_epoch_ms"] == now - 60_000 + TTL
    assert k3["lease_expires_at"] == output.iso_ms(now - 60_000 + TTL)
    assert k4["lease_expires_at_epoch_ms"] == now - 2 * TTL + 2_000 and k4["lease_owner_id"] == OWNER
    assert all(r["due_at"] is None and r["due_at_epoch_ms"] is None and r["foreign"] is False for r in rows)
    assert all(r["decode_error"] is None for r in rows) and b1["outcome"]["result"] == {"Ok": "b"}


def test_list_table_short_hash_and_lease_column(journal):
    result = run(journal["root"], "effects", "list", SESSION_ID)
    assert result.exit_code == 0 and result.stderr == ""
    lines = result.stdout.splitlines()
    assert lines[0] == str(journal["sidecar"])
    assert lines[1].split() == ["scope", "replay", "key", "status", "envelope", "lease", "due", "created", "updated"]
    body = lines[2:]
    assert len(body) == 5
    digest = envelope("turn-a", "k1").stable_hash()
    assert f" {digest[:12]} " in body[0] and digest[:13] not in body[0]
    assert "expired 1h ago · runtime-test-owner" in body[2]  # 1 h 59 min 58 s, floored
    assert "live · runtime-test-owner · 59m left" in body[4] or "live · runtime-test-owner · 58m left" in body[4]


def test_list_filters(journal):
    def keys(*args):
        result = run(journal["root"], "effects", "list", SESSION_ID, "--json", *args)
        assert result.exit_code == 0, result.output
        return [(r["scope_id"], r["replay_key"]) for r in json.loads(result.stdout)]

    assert keys("--scope", "turn-b") == [("turn-b", "k1")]
    assert keys("--status", "in_progress") == [("turn-a", "k4"), ("turn-a", "k3")]
    assert keys("--scope", "turn-a", "--status", "completed") == [("turn-a", "k1")]
    assert keys("--scope", "nope") == []
    assert run(journal["root"], "effects", "list", SESSION_ID, "--status", "paused").exit_code == 2


def test_list_empty_result_says_so_on_stderr(journal):
    result = run(journal["root"], "effects", "list", SESSION_ID, "--scope", "nope")
    assert result.exit_code == 0 and result.stdout == ""
    assert result.stderr == f"no effects in scope nope in {journal['sidecar']}\n"


def test_every_way_to_name_the_journal(journal):
    expected = run(journal["root"], "effects", "list", SESSION_ID, "--json").stdout
    session = journal["session"]
    for args in ([SESSION_ID[:6]], [session.name], [str(session)], [str(journal["sidecar"])],
                 ["--db", str(journal["sidecar"])], []):
        result = run(journal["root"], "effects", "list", "--json", *args)
        assert result.exit_code == 0, (args, result.output)
        assert json.loads(result.stdout) == json.loads(expected), args
    both = run(journal["root"], "effects", "list", SESSION_ID, "--db", str(journal["sidecar"]))
    assert one_error_line(both, 2) == "lashdb: error: give SESSION or --db PATH, not both"


# --- effects replay ---------------------------------------------------------------------------------


def test_replay_table_readings_and_exit_1_for_a_stale_row(journal):
    result = run(journal["root"], "effects", "replay", SESSION_ID, "--scope", "turn-a")
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[0] == f"{journal['sidecar']} · scope turn-a"
    assert lines[1].split() == ["replay", "key", "status", "replay", "created"]
    readings = {line.split()[0]: line for line in lines[2:]}
    assert list(readings) == ["k1", "k2", "k4", "k3"]
    assert "replays outcome" in readings["k1"]
    assert "replays error tool_timeout" in readings["k2"]
    assert "stale lease: would re-execute" in readings["k4"]
    assert f"busy until {output.iso_ms(journal['now'] - 60_000 + TTL)}" in readings["k3"]
    assert result.stderr == "1 of 4 key(s) would not replay from the journal (1 stale, 0 corrupt)\n"


def test_replay_json_document(journal):
    result = run(journal["root"], "effects", "replay", "--db", str(journal["sidecar"]), "--scope", "turn-a", "--json")
    assert result.exit_code == 1 and result.stderr == ""
    doc = json.loads(result.stdout)
    assert list(doc) == REPLAY_KEYS
    assert (doc["path"], doc["scope_id"], doc["foreign"]) == (str(journal["sidecar"]), "turn-a", False)
    assert doc["now_epoch_ms"] >= journal["now"] and doc["now"] == output.iso_ms(doc["now_epoch_ms"])
    assert [list(s) for s in doc["steps"]] == [STEP_KEYS] * 4
    assert [(s["replay_key"], s["action"], s["error_code"]) for s in doc["steps"]] == [
        ("k1", "replay_outcome", None), ("k2", "replay_error", "tool_timeout"), ("k4", "stale_lease", None),
        ("k3", "busy", None)]
    busy = doc["steps"][3]
    expires = journal["now"] - 60_000 + TTL
    assert busy["busy_until_epoch_ms"] == expires and busy["busy_until"] == output.iso_ms(expires)
    assert busy["detail"] == f"busy until {output.iso_ms(expires)}"
    assert doc["steps"][2]["detail"] == "stale lease: would re-execute"
    assert doc["steps"][0]["envelope_hash"] == envelope("turn-a", "k1").stable_hash()
    assert doc["counts"] == {"replay_outcome": 1, "replay_error": 1, "busy": 1, "stale_lease": 1, "corrupt": 0}
    assert doc["problems"] == 1


def test_replay_of_a_clean_scope_exits_0(journal):
    result = run(journal["root"], "effects", "replay", SESSION_ID, "--scope", "turn-b", "--json")
    assert result.exit_code == 0
    doc = json.loads(result.stdout)
    assert [s["action"] for s in doc["steps"]] == ["replay_outcome"] and doc["problems"] == 0


def test_replay_key_prints_the_recorded_outcome_or_error(journal):
    root = journal["root"]
    ok = run(root, "effects", "replay", SESSION_ID, "--scope", "turn-a", "--key", "k1")
    assert ok.exit_code == 0 and ok.stderr == ""
    assert json.loads(ok.stdout) == {"type": "exec_code", "result": {"Ok": "one"}}
    failed = run(root, "effects", "replay", SESSION_ID, "--scope", "turn-a", "--key", "k2")
    assert failed.exit_code == 0
    assert json.loads(failed.stdout) == {"code": "tool_timeout", "message": "run_tests exceeded its 120 s budget"}
    stale = run(root, "effects", "replay", SESSION_ID, "--scope", "turn-a", "--key", "k4")
    assert stale.exit_code == 1 and stale.stdout == ""
    assert stale.stderr == ("turn-a / k4: stale lease: would re-execute (no recorded outcome or error to print)\n")
    busy = run(root, "effects", "replay", SESSION_ID, "--scope", "turn-a", "--key", "k3")
    assert busy.exit_code == 0 and busy.stdout == ""
    assert busy.stderr.startswith("turn-a / k3: busy until ")


def test_replay_key_json(journal):
    result = run(journal["root"], "effects", "replay", SESSION_ID, "--scope", "turn-a", "--key", "k2", "--json")
    assert result.exit_code == 0
    doc = json.loads(result.stdout)
    assert list(doc) == KEY_KEYS and list(doc["step"]) == STEP_KEYS
    assert doc["step"]["action"] == "replay_error" and doc["step"]["error_code"] == "tool_timeout"
    assert doc["error"] == {"code": "tool_timeout", "message": "run_tests exceeded its 120 s budget"}
    assert doc["outcome"] is None and doc["outcome_json"] is None and doc["decode_error"] is None
    stale = run(journal["root"], "effects", "replay", SESSION_ID, "--scope", "turn-a", "--key", "k4", "--json")
    assert stale.exit_code == 1 and json.loads(stale.stdout)["step"]["action"] == "stale_lease"


def test_unknown_scope_and_key_exit_3(journal):
    line = one_error_line(run(journal["root"], "effects", "replay", SESSION_ID, "--scope", "turn-z"))
    assert f"{journal['sidecar']}: no effects recorded for scope `turn-z` (scopes: turn-a, turn-b)" in line
    line = one_error_line(run(journal["root"], "effects", "replay", SESSION_ID, "--scope", "turn-b", "--key", "k9"))
    assert "scope `turn-b` has no replay key `k9` (keys: k1)" in line
    assert run(journal["root"], "effects", "replay", SESSION_ID).exit_code == 2  # --scope is required


def test_corrupt_rows_exit_1(journal):
    conn = apsw.Connection(str(journal["sidecar"]))
    try:
        for key, status, outcome, error in (("c1", "completed", "{truncated", None), ("c2", "failed", None, None),
                                            ("c3", "paused", None, None)):
            conn.execute(
                "INSERT INTO runtime_effect_replay (scope_id, replay_key, envelope_hash, status, outcome_json, "
                "error_json, lease_owner_id, lease_token, lease_expires_at_ms, due_at_ms, created_at_ms, "
                "updated_at_ms) VALUES ('turn-c', ?, 'h', ?, ?, ?, NULL, NULL, 0, NULL, ?, ?)",
                (key, status, outcome, error, journal["now"], journal["now"]))
    finally:
        conn.close()
    result = run(journal["root"], "effects", "replay", SESSION_ID, "--scope", "turn-c", "--json")
    assert result.exit_code == 1
    doc = json.loads(result.stdout)
    assert [(s["action"], s["error_code"]) for s in doc["steps"]] == [
        ("corrupt", "sqlite_effect_replay_decode"), ("corrupt", "sqlite_effect_replay_corrupt_row"),
        ("corrupt", "sqlite_effect_replay_corrupt_row")]
    assert doc["steps"][2]["detail"] == "corrupt row: unknown runtime effect replay status `paused`"
    assert doc["counts"]["corrupt"] == 3 and doc["problems"] == 3
    table = run(journal["root"], "effects", "replay", SESSION_ID, "--scope", "turn-c")
    assert table.exit_code == 1 and "corrupt row: outcome_json does not parse" in table.stdout
    assert table.stderr == "3 of 3 key(s) would not replay from the journal (0 stale, 3 corrupt)\n"
    # --key on a corrupt row shows the stored text as it is, and exits 1.
    key = run(journal["root"], "effects", "replay", SESSION_ID, "--scope", "turn-c", "--key", "c1")
    assert key.exit_code == 1 and key.stdout == "{truncated\n"
    assert key.stderr.startswith("turn-c / c1: corrupt row: outcome_json does not parse")
    listed = json.loads(run(journal["root"], "effects", "list", SESSION_ID, "--scope", "turn-c", "--json").stdout)
    assert listed[0]["decode_error"].startswith("outcome_json: ") and listed[2]["status"] == "paused"


# --- the upstream v11 journal, read in place ----------------------------------------------------------


def test_upstream_v11_journal_in_place(tmp_path):
    before, names = sha256(V11), sorted(p.name for p in V11.parent.iterdir())
    warning = ("lashdb: warning: effects.db: foreign schema (effect replay v11, this lashdb supports v1); "
               "read-only, shown where its columns allow\n")
    listed = run(tmp_path, "effects", "list", "--db", str(V11), "--json")
    assert listed.exit_code == 0 and listed.stderr == warning
    (row,) = json.loads(listed.stdout)
    assert (row["scope_id"], row["replay_key"], row["status"], row["foreign"]) == (
        V11_SCOPE, "durable-read-exec-replay", "completed", True)
    assert row["envelope_hash"] == "0f8912550d39a8652f1db702550808102f5deb1b604ed1d408322f624db454f1"
    assert row["created_at"] == "2023-11-14T22:13:20Z" and row["created_at_epoch_ms"] == 1_700_000_000_000
    assert row["outcome"]["result"]["Ok"]["observations"] == ["durable read effect"]
    table = run(tmp_path, "effects", "list", "--db", str(V11))
    assert table.exit_code == 0 and table.stderr == warning and "0f8912550d39 " in table.stdout
    plan = run(tmp_path, "effects", "replay", "--db", str(V11), "--scope", V11_SCOPE, "--json")
    assert plan.exit_code == 0 and plan.stderr == warning
    doc = json.loads(plan.stdout)
    assert doc["foreign"] is True and [s["action"] for s in doc["steps"]] == ["replay_outcome"]
    # A bare id selects upstream's structured scope too.
    bare = run(tmp_path, "effects", "replay", "--db", str(V11), "--scope", "durable-read-effect-turn", "--json")
    assert bare.exit_code == 0 and json.loads(bare.stdout)["steps"] == doc["steps"]
    key = run(tmp_path, "effects", "replay", "--db", str(V11), "--scope", V11_SCOPE, "--key", "durable-read-exec-replay")
    assert key.exit_code == 0 and key.stderr == warning
    assert json.loads(key.stdout)["result"]["Ok"]["duration_ms"] == 887
    assert sha256(V11) == before and sorted(p.name for p in V11.parent.iterdir()) == names


def test_upstream_v11_journal_as_a_session_sidecar(tmp_path, journal):
    # The fixture copied beside a session is found through SESSION like a native sidecar.
    shutil.copy(V11, journal["sidecar"])
    result = run(journal["root"], "effects", "replay", SESSION_ID, "--scope", V11_SCOPE)
    assert result.exit_code == 0 and "replays outcome" in result.stdout
    assert result.stderr.count("lashdb: warning:") == 1


# --- errors -----------------------------------------------------------------------------------------


def test_unusable_targets_exit_3_in_one_line(journal, tmp_path):
    root, session = journal["root"], journal["session"]
    noise = tmp_path / "noise.db"
    noise.write_bytes(os.urandom(4096))
    bare = SessionStoreFactory(root).create_store(SessionStoreCreateRequest("no-journal", "m", SessionRelation.root()))
    bare_path = Path(bare.path)
    bare.close()
    for command in ("list", "replay"):
        extra = ["--scope", "turn-a"] if command == "replay" else []
        line = one_error_line(run(root, "effects", command, "no-journal", *extra))
        assert f"this session has no effect replay (no {bare_path.name}.effects.db beside it)" in line
        assert "no session `nosuch`" in one_error_line(run(root, "effects", command, "nosuch", *extra))
        assert "is a directory" in one_error_line(run(root, "effects", command, "--db", str(tmp_path), *extra))
        assert "not a lash effect replay database" in one_error_line(
            run(root, "effects", command, "--db", str(noise), *extra))
        line = one_error_line(run(root, "effects", command, "--db", str(session), *extra))
        assert "its tables identify session" in line and "pass a session as SESSION" in line
        assert "no such database file" in one_error_line(
            run(root, "effects", command, "--db", str(tmp_path / "gone.db"), *extra))
    assert not (tmp_path / "gone.db").exists()


def test_no_journal_or_several_under_the_root(tmp_path, journal):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert "no effect replay under" in one_error_line(run(empty, "effects", "list"))
    shutil.copy(journal["sidecar"], journal["root"] / "other.db.effects.db")
    line = one_error_line(run(journal["root"], "effects", "list"))
    assert "2 effect replay files under" in line and "other.db.effects.db" in line


def test_commands_leave_the_journal_byte_identical(journal):
    root = journal["root"]
    before = snapshot(root)
    for args in (["list"], ["list", "--json"], ["list", "--scope", "turn-a", "--status", "failed"],
                 ["replay", "--scope", "turn-a"], ["replay", "--scope", "turn-a", "--json"],
                 ["replay", "--scope", "turn-a", "--key", "k1"], ["replay", "--scope", "turn-a", "--key", "k4", "--json"]):
        assert run(root, "effects", *args[:1], SESSION_ID, *args[1:]).exit_code in (0, 1)
        assert run(root, "effects", *args[:1], "--db", str(journal["sidecar"]), *args[1:]).exit_code in (0, 1)
    assert snapshot(root) == before
