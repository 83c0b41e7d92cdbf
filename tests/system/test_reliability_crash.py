"""Crash and race evidence (issue 5): SIGKILL at random moments, and GC racing committers.

Each kill scenario runs 50 times. A child process commits (or collects) in a loop and reports
every finished operation on a pipe *after* it returned; the parent kills it with SIGKILL right
after a random number of reports, so the kill lands at a random point of the next operation.
After each kill the database must pass ``PRAGMA integrity_check``, the head's checkpoint manifest
and its children must exist and decode, every reported commit must be present, and the store must
open and commit again (the next child does exactly that). Nothing waits on a sleep: the parent
blocks on the child's pipe, and lease expiry is simulated with a per-child clock offset.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import random
import signal
import sys

import apsw
import pytest

from lashdb.engine import GraphDelta, GraphNode, HydratedCheckpoint, RuntimeCommit, Store, StoreOptions, TokenLedgerEntry
from lashdb.engine.session.model import TokenUsage

if sys.platform == "win32":  # pragma: no cover - SIGKILL semantics are POSIX
    pytest.skip("POSIX only", allow_module_level=True)

CTX = mp.get_context("fork")
KILLS = 50
CONFIG = {"provider_id": "p", "model": {"id": "m", "limits": {"context_window_tokens": 1000}}}
HOUR_MS = 3_600_000


def _clock(offset_ms: int):
    import time

    return lambda: time.time_ns() // 1_000_000 + offset_ms


def _turn_commit(session: str, turn: int, fence) -> RuntimeCommit:
    node = GraphNode.message(f"n{turn}", "User", f"turn {turn} " + "x" * 200, timestamp="t",
                             parent_node_id=f"n{turn - 1}" if turn else None)
    checkpoint = HydratedCheckpoint(
        turn_state={"turn_index": turn}, tool_state={"turn": turn, "pad": "t" * 5000},
        plugin_snapshot={"turn": turn}, plugin_snapshot_revision=turn, execution_state=turn.to_bytes(4, "big") * 2000)
    commit = RuntimeCommit(session, CONFIG, graph=GraphDelta.append([node], node.node_id), checkpoint=checkpoint,
                           usage_deltas=(TokenLedgerEntry("turn", "m", TokenUsage(1, 1, 0, 0)),),
                           session_execution_lease=fence)
    return commit.stamped(f"turn-{turn}")


def _next_turn(store: Store) -> int:
    return store.read(lambda c: c.execute("SELECT count(*) FROM runtime_turn_commits").fetchall()[0][0])


def _committer(path: str, generation: int, report_fd: int) -> None:
    # Each generation runs an hour later than the last, so the dead child's lease has expired.
    store = Store.open_with_options(path, StoreOptions(clock=_clock(generation * HOUR_MS)))
    lease = store.try_claim_session_execution_lease("root", f"owner-{generation}", 60_000)
    assert lease is not None, "previous generation's lease did not expire"
    turn = _next_turn(store)
    while True:
        store.commit_runtime_state(_turn_commit("root", turn, lease.fence()))
        os.write(report_fd, f"{turn}\n".encode())
        turn += 1


def _collector(path: str, report_fd: int) -> None:
    store = Store.open(path)
    n = 0
    while True:
        # Forced past the committer's live lease: what is tested is GC's atomicity against commits.
        store.gc_unreachable(force=True)
        n += 1
        os.write(report_fd, f"{n}\n".encode())


def _run_until_reports(target, args, want: int) -> tuple[mp.Process, list[int]]:
    """Start ``target(*args, write_fd)``; return once it reported ``want`` times (or died)."""
    read_fd, write_fd = os.pipe()
    proc = CTX.Process(target=target, args=(*args, write_fd))
    proc.start()
    os.close(write_fd)
    reports: list[int] = []
    buf = b""
    with os.fdopen(read_fd, "rb", buffering=0) as pipe:
        while len(reports) < want:
            chunk = pipe.read(64)
            if not chunk:
                break
            buf += chunk
            *lines, buf = buf.split(b"\n")
            reports.extend(int(x) for x in lines)
        # Drain nothing more: the kill must land while the next operation runs.
        os.kill(proc.pid, signal.SIGKILL)
        proc.join()
        rest = pipe.read()
    buf += rest or b""
    reports.extend(int(x) for x in buf.split(b"\n") if x)
    return proc, reports


def _check_consistent(path: str, reported_turns: set[int]) -> None:
    conn = apsw.Connection(path)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    finally:
        conn.close()
    with Store.open(path) as store:
        read = store.load_session()
        assert read is not None
        checkpoint = read.checkpoint
        assert checkpoint is not None, "head checkpoint manifest missing"
        assert checkpoint.tool_state is not None and checkpoint.plugin_snapshot is not None
        assert checkpoint.execution_state is not None
        turn = checkpoint.turn_state["turn_index"]
        assert checkpoint.tool_state["turn"] == turn and checkpoint.plugin_snapshot["turn"] == turn
        stamped = {int(r[0].split("-")[1]) for r in store.read(
            lambda c: c.execute("SELECT turn_id FROM runtime_turn_commits").fetchall())}
        assert reported_turns <= stamped, f"reported but lost: {sorted(reported_turns - stamped)[:5]}"
        # Commits are contiguous: every stamp from 0 to the head's turn, and the head is the newest.
        assert stamped == set(range(len(stamped)))
        assert turn == max(stamped)
        assert read.head_revision == len(stamped)
        assert len(read.graph.nodes) == len(stamped)


@pytest.mark.parametrize("seed", [1])
def test_sigkill_during_commits_loses_nothing_reported(tmp_path, seed: int) -> None:
    rng = random.Random(seed)
    path = str(tmp_path / "crash.db")
    Store.open(path).close()
    reported: set[int] = set()
    for generation in range(KILLS):
        _proc, turns = _run_until_reports(_committer, (path, generation), rng.randint(0, 3))
        reported.update(turns)
        _check_consistent(path, reported)
    assert len(reported) >= KILLS // 2
    # And it still commits after the last kill.
    with Store.open_with_options(path, StoreOptions(clock=_clock(KILLS * HOUR_MS))) as store:
        lease = store.try_claim_session_execution_lease("root", "final", 60_000)
        turn = _next_turn(store)
        result = store.commit_runtime_state(_turn_commit("root", turn, lease.fence()))
        assert result.head_revision == turn + 1


def test_sigkill_during_gc_while_another_process_commits(tmp_path) -> None:
    rng = random.Random(2)
    path = str(tmp_path / "gc-crash.db")
    Store.open(path).close()
    reported: set[int] = set()
    for generation in range(KILLS):
        # A committer makes garbage (each turn's checkpoint supersedes the last) while GC collects it.
        read_fd, write_fd = os.pipe()
        committer = CTX.Process(target=_committer, args=(path, generation, write_fd))
        committer.start()
        os.close(write_fd)
        with os.fdopen(read_fd, "rb", buffering=0) as pipe:
            first = pipe.read(64)  # the committer is running: its lease is held, commits flow
            _gc, _collections = _run_until_reports(_collector, (path,), rng.randint(0, 3))
            os.kill(committer.pid, signal.SIGKILL)
            committer.join()
            rest = pipe.read()
        data = (first or b"") + (rest or b"")
        reported.update(int(x) for x in data.split(b"\n")[:-1] if x)
        _check_consistent(path, reported)


def _gc_loop(path: str, stop) -> None:
    with Store.open(path) as store:
        while not stop.is_set():
            store.gc_unreachable(force=True)  # past the committers' lease: the race itself is under test


def _commit_n(path: str, fence, worker: int, turns: int) -> None:
    with Store.open(path) as store:
        for i in range(turns):
            checkpoint = HydratedCheckpoint(turn_state={"turn_index": i}, tool_state={"w": worker, "i": i},
                                            plugin_snapshot={"plugin": worker, "i": i},
                                            execution_state=bytes([worker, i % 256]) * 100)
            store.commit_runtime_state(RuntimeCommit("root", CONFIG, graph=GraphDelta.unchanged(),
                                                     checkpoint=checkpoint, session_execution_lease=fence))


def test_gc_racing_two_committers_never_removes_a_current_blob(tmp_path) -> None:
    path = str(tmp_path / "race.db")
    with Store.open(path) as store:
        lease = store.try_claim_session_execution_lease("root", "shared", 3_600_000)
    ctx = mp.get_context("spawn")
    stop = ctx.Event()
    collector = ctx.Process(target=_gc_loop, args=(path, stop))
    committers = [ctx.Process(target=_commit_n, args=(path, lease.fence(), w, 80)) for w in (1, 2)]
    collector.start()
    for p in committers:
        p.start()
    checks = 0
    # A live reader, not an inspection open: immutable=1 would pin the view to the file as it was.
    with Store.open(path) as reader:
        # Every read snapshot sees one committed head; its checkpoint and children must all be there.
        while any(p.is_alive() for p in committers):
            read = reader.load_session()
            if read is not None:
                cp = read.checkpoint
                assert cp is not None, f"manifest of revision {read.head_revision} missing while current"
                assert cp.tool_state is not None and cp.plugin_snapshot is not None
                assert cp.execution_state is not None
                checks += 1
    for p in committers:
        p.join()
        assert p.exitcode == 0
    stop.set()
    collector.join()
    assert collector.exitcode == 0
    with Store.open(path) as store:
        assert store.load_session_head_meta().head_revision == 160
        report = store.gc_unreachable(force=True)  # the "shared" lease is still live for an hour
        assert report.retained_blob_count == 4 and report.missing_blob_count == 0
    assert checks > 0 or not committers
