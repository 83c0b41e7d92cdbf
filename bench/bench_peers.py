"""Commit cost against the peers a user would pick instead, each in its own idiomatic loop (issue 15).

1. LangGraph on SQLite: a ``StateGraph`` agent loop (agent -> tool -> agent, a deterministic fake
   model, no network; the graph of ``bench_store.py``) compiled with ``SqliteSaver``, one user turn
   per ``invoke`` on one thread. Its persistence cost per turn is the invoke with the checkpointer
   minus the same invoke compiled with none (given the whole state as input, as a checkpointer
   would have loaded it). lashdb persists the same turn (user message, tool call, tool result,
   answer; tool state, plugin snapshot, execution state and usage, as LangGraph's state carries
   them) with one ``Store.commit_runtime_state``. Bench-only: ``pip install langgraph
   langgraph-checkpoint-sqlite``.
2. OpenAI Agents SDK ``SQLiteSession`` (``pip install openai-agents``, bench-only): the
   conversation-only turn, four ~1 KB items appended with ``await session.add_items(...)``, vs
   lashdb committing the same four graph nodes with the checkpoint unchanged.

Durability: each writer's ``journal_mode`` and ``synchronous`` are read back from its live
connection and printed. The defaults differ (lashdb: WAL + NORMAL, which SPEC §2 fixes; both peers:
WAL + FULL, SQLite's default, which fsyncs the WAL on every commit). lashdb has no option to change
its pragmas, so "equal durability" sets the peer to lashdb's: ``PRAGMA synchronous=NORMAL`` on the
``sqlite3`` connection handed to ``SqliteSaver``, and on each connection ``SQLiteSession`` opens
(through a subclass hooking its ``_configure_connection``). That is the harder comparison for
lashdb: the peer stops paying its fsync.

Writers take turns in round robins, Python's cyclic GC paused inside each timed step (as
``bench_commit.py`` does). LangGraph's writers share one round robin with their no-checkpointer
baseline; lashdb's commit shares another with that same agent loop run without a checkpointer
(beside the checkpointing invokes it lost ~0.2 ms a turn to their fsyncs and allocations). Figures
are medians of the 10 turns around turn 10 and of the last 10, pooled over ``REPEATS`` fresh runs
on fresh contents (LangGraph's turn 500: the first run only, its turns take ~0.3 s there).
Everything is a ratio of measurements of this one run; nothing here passes or fails. A part whose
packages are missing prints one line and is skipped.
"""

from __future__ import annotations

from _timing import timed
import asyncio
import importlib.util
import json
import sqlite3
import statistics
import tempfile
from importlib.metadata import version as pkg_version
from pathlib import Path

from bench_commit import CONFIG, EARLY, LATE, QUICK, REPEATS, TURNS, make_turns
from bench_store import AgentLoopTurns

from lashdb.engine import GraphDelta, HydratedCheckpoint, RuntimeCommit, Store

LEASE_MS = 3_600_000
WINDOWS = (("turn 10", EARLY), (f"turn {TURNS}", LATE))


def _ms(values: list[float], window: range) -> float:
    return statistics.median(values[i] for i in window) * 1e3


def _have(*modules: str) -> bool:
    try:
        return all(importlib.util.find_spec(name) is not None for name in modules)
    except ImportError:  # the parent package is absent
        return False


def durability(conn) -> str:
    """``journal_mode`` and ``synchronous`` as the live connection reports them."""
    mode = list(conn.execute("PRAGMA journal_mode"))[0][0]
    sync = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}[list(conn.execute("PRAGMA synchronous"))[0][0]]
    return f"journal_mode={mode.upper()} synchronous={sync}"


class LashdbTurns:
    """One ``commit_runtime_state`` per turn under one long lease; ``conversation_only`` keeps the
    checkpoint (commits refs to the snapshots of the first turn) and writes no usage."""

    def __init__(self, path: Path, turns: list[dict], *, conversation_only: bool = False) -> None:
        self.store = Store.open(path)
        fence = self.store.try_claim_session_execution_lease("root", "bench", LEASE_MS).fence()
        self.commits = []
        first = None
        for t, turn in enumerate(turns):
            checkpoint = HydratedCheckpoint(turn_state=turn["turn_state"], tool_state=turn["tool_state"],
                                            plugin_snapshot=turn["plugin_snapshot"], plugin_snapshot_revision=t,
                                            execution_state=turn["execution_state"])
            if conversation_only and first is not None:
                checkpoint = first
            commit = RuntimeCommit("root", CONFIG, graph=GraphDelta.append(turn["nodes"], turn["nodes"][-1].node_id),
                                   checkpoint=checkpoint, usage_deltas=() if conversation_only else (turn["usage"],),
                                   expected_head_revision=t, session_execution_lease=fence)
            if conversation_only and first is None:
                # Turn 0 stores the snapshots; every later turn names them by ref, unchanged.
                manifest = self.store.commit_runtime_state(commit).manifest
                first = HydratedCheckpoint(turn_state=manifest.turn_state, tool_state_ref=manifest.tool_state_ref,
                                           plugin_snapshot_ref=manifest.plugin_snapshot_ref,
                                           plugin_snapshot_revision=manifest.plugin_snapshot_revision,
                                           execution_state_ref=manifest.execution_state_ref)
                commit = None
            self.commits.append(commit)

    def durability(self) -> str:
        return durability(self.store._conn)

    def step(self, t: int) -> float:
        commit = self.commits[t]
        if commit is None:  # written while setting up
            return 0.0
        return timed(lambda: self.store.commit_runtime_state(commit))

    def close(self) -> None:
        self.store.close()


def _round_robin(writers: dict, turns: int) -> dict[str, list[float]]:
    samples: dict[str, list[float]] = {key: [] for key in writers}
    for t in range(turns):
        for key, writer in writers.items():
            samples[key].append(writer.step(t))
    return samples


# --- 1. LangGraph StateGraph loop with SqliteSaver ---------------------------------------------------------


class LangGraphTurns(AgentLoopTurns):
    """The agent loop with ``SqliteSaver`` (``path``) or without a checkpointer."""

    def __init__(self, path: Path | None, turns: list[dict], *, synchronous: str | None = None,
                 mode: str | None = None) -> None:
        conn = saver = None
        if path is not None:
            from langgraph.checkpoint.sqlite import SqliteSaver

            # As SqliteSaver's docstring and from_conn_string open it.
            conn = sqlite3.connect(str(path), check_same_thread=False)
            saver = SqliteSaver(conn)
            saver.setup()
            if synchronous is not None:
                conn.execute(f"PRAGMA synchronous = {synchronous}")
        super().__init__(turns, "root", saver, conn, mode)

    def durability(self) -> str:
        return durability(self.conn)


def _pooled(runs: list[dict[str, list[float]]], key: str, window: range) -> float:
    """Median in ms of ``key``'s samples in ``window`` over every run that reached it."""
    return statistics.median(run[key][i] for run in runs if len(run[key]) >= window.stop for i in window) * 1e3


def langgraph_part(tmp: Path) -> None:
    if not _have("langgraph.graph", "langgraph.checkpoint.sqlite"):
        print("-- LangGraph comparison skipped: pip install langgraph langgraph-checkpoint-sqlite (bench only)")
        return
    runs: list[dict[str, list[float]]] = []
    settings: dict[str, str] = {}
    # One full run, then REPEATS - 1 more of the first turns only (turn 500 of LangGraph takes
    # ~0.3 s a writer): turn 10 pools REPEATS runs, each on fresh contents and files.
    for r in range(REPEATS):
        turns = make_turns(TURNS, all_state_changes=True, seed=100 + r)
        count = TURNS if r == 0 else EARLY.stop
        # Two round robins, as bench_commit.py did for SqliteSaver.put: interleaved with the
        # checkpointing invokes (an fsync per step at FULL, megabytes of state by turn 500) lashdb's
        # commit took ~0.2 ms longer than beside the same agent loop without a checkpointer.
        ours = {"lashdb": LashdbTurns(tmp / f"lg-{r}-lashdb.db", turns), "none": LangGraphTurns(None, turns)}
        theirs = {"default": LangGraphTurns(tmp / f"lg-{r}-default.db", turns),
                  "NORMAL": LangGraphTurns(tmp / f"lg-{r}-normal.db", turns, synchronous="NORMAL"),
                  "NORMAL exit": LangGraphTurns(tmp / f"lg-{r}-exit.db", turns, synchronous="NORMAL", mode="exit"),
                  "none": LangGraphTurns(None, turns)}
        settings = settings or {key: w.durability() for key, w in (*ours.items(), *theirs.items()) if key != "none"}
        lash = _round_robin(ours, count)["lashdb"]
        samples = _round_robin(theirs, count)
        for writer in (*ours.values(), *theirs.values()):
            writer.close()
        base = samples["none"]
        cost = {key: [a - b for a, b in zip(values, base)] for key, values in samples.items() if key != "none"}
        runs.append({"lashdb": lash, "none": base, **cost})
    print(f"-- LangGraph {pkg_version('langgraph')} StateGraph loop + SqliteSaver (langgraph-checkpoint-sqlite "
          f"{pkg_version('langgraph-checkpoint-sqlite')}, sqlite3 {sqlite3.sqlite_version}) vs lashdb "
          f"commit_runtime_state; 4 x ~1 KB messages + 3 x ~8 KB state + usage a turn; turn 10 pooled over "
          f"{REPEATS} runs, turn {TURNS} from the first")
    print(f"   durability: lashdb {settings['lashdb']} (its default, SPEC §2) | LangGraph default "
          f"{settings['default']} | LangGraph at lashdb's: {settings['NORMAL']} (PRAGMA set on the peer's connection)")
    print("   LangGraph's cost = invoke with SqliteSaver - invoke without a checkpointer, per turn")
    for label, window in WINDOWS:
        at = {key: _pooled(runs, key, window) for key in runs[0]}
        lash = at["lashdb"]
        target = "target >= 10x" if window is EARLY else "target >= 100x"
        print(f"  {label:>9}: lashdb {lash:.3f} ms | LangGraph default durability {at['default']:.3f} ms -> "
              f"{at['default'] / lash:.1f}x cheaper ({target}) | equal durability (both NORMAL) "
              f"{at['NORMAL']:.3f} ms -> {at['NORMAL'] / lash:.1f}x | NORMAL + durability='exit' (one checkpoint "
              f"per invoke) {at['NORMAL exit']:.3f} ms -> {at['NORMAL exit'] / lash:.1f}x | invoke without "
              f"checkpointer {at['none']:.3f} ms")
    growth = {key: _pooled(runs[:1], key, LATE) / _pooled(runs[:1], key, EARLY) for key in runs[0] if key != "none"}
    print(f"  growth turn {TURNS}/turn 10 (first run): " + ", ".join(f"{k} {g:.2f}x" for k, g in growth.items()))


# --- 2. OpenAI Agents SDK SQLiteSession ---------------------------------------------------------------------


def _items(turn: dict, t: int) -> list[dict]:
    """The turn's four nodes as Responses-API input items (user, tool call, tool result, answer)."""
    user, call, result, answer = (n.text for n in turn["nodes"])
    return [{"role": "user", "content": user},
            {"type": "function_call", "call_id": f"call-{t}", "name": "tool_0", "arguments": json.dumps({"q": call})},
            {"type": "function_call_output", "call_id": f"call-{t}", "output": result},
            {"type": "message", "role": "assistant", "id": f"msg-{t}", "status": "completed",
             "content": [{"type": "output_text", "text": answer, "annotations": []}]}]


class AgentsTurns:
    """``await session.add_items(four items)`` per turn, on one event loop, as a Runner does."""

    def __init__(self, path: Path, turns: list[dict], loop: asyncio.AbstractEventLoop, *,
                 synchronous: str | None = None) -> None:
        from agents import SQLiteSession

        cls = SQLiteSession
        if synchronous is not None:
            class Session(SQLiteSession):  # each thread-local connection it opens gets the pragma
                @staticmethod
                def _configure_connection(conn: sqlite3.Connection) -> None:
                    SQLiteSession._configure_connection(conn)
                    conn.execute(f"PRAGMA synchronous = {synchronous}")
            cls = Session
        self.session = cls("root", path)
        self.loop = loop
        self.items = [_items(turn, t) for t, turn in enumerate(turns)]
        self.sizes = [len(json.dumps(item)) for item in self.items[0]]

    def durability(self) -> str:
        self.loop.run_until_complete(self.session.get_items(limit=1))  # opens the worker's connection
        return ", ".join(sorted({durability(conn) for conn in self.session._connections}))

    def step(self, t: int) -> float:
        items = self.items[t]
        return timed(lambda: self.loop.run_until_complete(self.session.add_items(items)))

    def close(self) -> None:
        self.session.close()


def agents_part(tmp: Path) -> None:
    if not _have("agents"):
        print("-- OpenAI Agents SDK comparison skipped: pip install openai-agents (bench only)")
        return
    loop = asyncio.new_event_loop()
    runs: list[dict[str, list[float]]] = []
    settings: dict[str, str] = {}
    for r in range(REPEATS):
        turns = make_turns(TURNS, all_state_changes=False, seed=200 + r)
        writers = {"lashdb": LashdbTurns(tmp / f"ag-{r}-lashdb.db", turns, conversation_only=True),
                   "default": AgentsTurns(tmp / f"ag-{r}-default.db", turns, loop),
                   "NORMAL": AgentsTurns(tmp / f"ag-{r}-normal.db", turns, loop, synchronous="NORMAL")}
        settings = settings or {key: w.durability() for key, w in writers.items()}
        sizes = writers["default"].sizes
        runs.append(_round_robin(writers, TURNS))
        for writer in writers.values():
            writer.close()
    loop.close()
    print(f"-- OpenAI Agents SDK {pkg_version('openai-agents')} SQLiteSession.add_items (sqlite3 "
          f"{sqlite3.sqlite_version}) vs lashdb commit_runtime_state, conversation only: 4 items of "
          f"{'/'.join(str(s) for s in sizes)} bytes as JSON, checkpoint unchanged; {TURNS} turns, pooled over "
          f"{REPEATS} runs")
    print(f"   durability: lashdb {settings['lashdb']} (its default) | SQLiteSession default {settings['default']} | "
          f"SQLiteSession at lashdb's: {settings['NORMAL']} (PRAGMA set on each connection it opens)")
    for label, window in WINDOWS:
        at = {key: _pooled(runs, key, window) for key in runs[0]}
        lash = at["lashdb"]
        print(f"  {label:>9}: lashdb {lash:.3f} ms | add_items at its default {at['default']:.3f} ms -> lashdb/peer "
              f"{lash / at['default']:.2f}x (target <= 0.5x) | at equal durability (both NORMAL) "
              f"{at['NORMAL']:.3f} ms -> {lash / at['NORMAL']:.2f}x (target <= 1.0x)")


def main() -> None:
    print(f"commit cost against the peers, in their own loops; medians of 10 turns around turn 10 and at "
          f"turn {TURNS}{' -- QUICK sizes' if QUICK else ''}")
    with tempfile.TemporaryDirectory() as tmp:
        langgraph_part(Path(tmp))
        agents_part(Path(tmp))


if __name__ == "__main__":
    main()
