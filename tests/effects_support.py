"""Builders shared by the effect tests (tests/engine/deployment/test_effects_*.py)."""

from __future__ import annotations

import threading

import apsw

from lashdb.engine import EffectCommand, EffectControllerError, EffectEnvelope, RuntimeScope

from conftest import FIXTURES_DIR

FIXTURES = FIXTURES_DIR
JOIN_S = 10  # generous upper bound for a thread that should already be finishing


def exec_envelope(replay_key: str, code: str, *, session="effect-session", turn="effect-turn",
                  turn_index=1, effect_id: str | None = None) -> EffectEnvelope:
    return EffectEnvelope.effect(RuntimeScope.for_turn(session, turn, turn_index, 0), effect_id or replay_key,
                                 replay_key, EffectCommand.exec_code("code", code))


def exec_outcome(marker: str) -> dict:
    return {"type": "exec_code", "result": {"Ok": {
        "observations": [], "observation_truncation": [], "tool_calls": [], "images": [],
        "printed_images": [], "error": None, "duration_ms": 0, "terminal_finish": marker}}}


def marker_of(outcome: dict) -> str:
    assert outcome["type"] == "exec_code"
    return outcome["result"]["Ok"]["terminal_finish"]


def returning(marker: str):
    return lambda envelope, cancelled: exec_outcome(marker)


class FailingExecutor:
    """Records every call and fails it: replay must never reach it."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def __call__(self, envelope, cancelled):
        self.calls.append(envelope.invocation.effect_id)
        raise EffectControllerError("test_local_executor_called", "replay must not invoke the local executor")


def blocking(marker: str, entered: threading.Event, release: threading.Event, seen: dict | None = None):
    """An executor that signals entry, waits for ``release`` (or cancellation), then returns ``marker``."""

    def run(envelope, cancelled):
        if seen is not None:
            seen["cancelled"] = cancelled
        entered.set()
        while not release.wait(0.005):
            if cancelled.is_set():
                raise EffectControllerError("test_cancelled", "executor saw cancellation")
        return exec_outcome(marker)

    return run


def in_thread(fn):
    """Start ``fn()`` on a thread; the returned dict gets ``result`` or ``error`` and ``done`` is set."""
    box: dict = {"done": threading.Event()}

    def run():
        try:
            box["result"] = fn()
        except BaseException as exc:  # handed to the test
            box["error"] = exc
        finally:
            box["done"].set()

    threading.Thread(target=run, daemon=True).start()
    return box


def raw_row(path, replay_key: str) -> dict:
    conn = apsw.Connection(str(path), flags=apsw.SQLITE_OPEN_READONLY)
    try:
        cur = conn.execute("SELECT * FROM runtime_effect_replay WHERE replay_key = ?", (replay_key,))
        names = [d[0] for d in cur.getdescription()]
        row = cur.fetchone()
        return dict(zip(names, row)) if row else {}
    finally:
        conn.close()


def sql(path, statement: str, params=()) -> int:
    conn = apsw.Connection(str(path))
    conn.set_busy_timeout(5_000)
    try:
        conn.execute(statement, params)
        return conn.changes()
    finally:
        conn.close()

