"""Commit latency: lashdb's commit_runtime_state vs a bare apsw floor vs LangGraph's SqliteSaver.put.

A turn is what a runtime persists after one model step: 4 graph nodes of ~1 KB, tool state,
plugin snapshot and execution state of ~8 KB each, one usage delta. Each writer persists 500 such
turns to its own file database; per-turn latency is the median of a 10-turn window around turn 10
and at turn 500. Two scenarios: every state value changes every turn (worst case), and only the
execution state changes (tool state and plugin snapshot repeat, as between most real turns).

Writers:
- lashdb: ``Store.commit_runtime_state`` (lease fence, compare-and-set, CBOR values in zlib'd
  envelopes, graph append, usage row, head), default file options (WAL, synchronous=NORMAL,
  Balanced blob profile).
- floor: a bare apsw loop issuing the same statements lashdb issues, with every byte string
  pre-encoded before the clock starts, one ``BEGIN IMMEDIATE`` per turn — what SQLite alone costs.
- floor+encode: the same loop, but encoding inside the clock with the codec calls lashdb makes
  (CBOR, SHA-256, envelope/zlib, node and head JSON) — what lashdb's own logic adds on top of
  the work the contract requires.
- LangGraph: ``SqliteSaver.put`` of an equivalent checkpoint (the conversation so far as its
  ``messages`` channel plus the three state values and the usage), WAL with synchronous=NORMAL
  like lashdb. Bench-only dependency (``pip install langgraph-checkpoint-sqlite``); skipped without it.

Ratios compare measurements of this one run: lashdb and the two floors take turns in one round
robin, lashdb and LangGraph in a second one, with Python's cyclic garbage collector paused inside
each timed step (as timeit does) and running between steps. Nothing here passes or fails.
"""

from __future__ import annotations

import gc
import os
import random
import sqlite3
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from lashdb.engine import (
    GraphDelta,
    GraphNode,
    HydratedCheckpoint,
    RuntimeCommit,
    Store,
    TokenLedgerEntry,
    TokenUsage,
)
from lashdb.engine import codec
from lashdb.engine.codec import BlobProfile, Descriptor
from lashdb.engine.sqlite.connection import open_write
from lashdb.engine.session.model import SessionCheckpoint, SessionHeadMeta, dumps
from lashdb.engine.sqlite.schema import SESSION, ensure_schema

QUICK = os.environ.get("LASHDB_BENCH_QUICK") == "1"
TURNS = 120 if QUICK else 500
EARLY = range(5, 15)  # turns 6..15, "turn 10"
LATE = range(TURNS - 10, TURNS)  # the last ten turns
CONFIG = {"provider_id": "bench", "model": {"id": "bench-model", "limits": {"context_window_tokens": 200_000}}}
WORDS = ("alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi rho sigma tau "
         "upsilon phi chi psi omega").split()


def _text(rng: random.Random, size: int) -> str:
    out, length = [], 0
    while length < size:
        word = rng.choice(WORDS)
        out.append(word)
        length += len(word) + 1
    return " ".join(out)[:size]


def make_turns(count: int, *, all_state_changes: bool) -> list[dict]:
    """Deterministic turns; without ``all_state_changes`` tool state and plugin snapshot repeat."""
    rng = random.Random(20260622)
    turns: list[dict] = []
    for t in range(count):
        nodes = []
        for i in range(4):
            parent = f"t{t}-n{i - 1}" if i else (f"t{t - 1}-n3" if t else None)
            nodes.append(GraphNode.message(f"t{t}-n{i}", "User" if i == 0 else "Assistant", _text(rng, 1000),
                                           timestamp=f"2026-06-22T00:00:{t:04d}", parent_node_id=parent))
        if all_state_changes or not turns:
            tools = [{"name": f"tool_{k}", "schema": _text(rng, 300)} for k in range(26)]
            tool_state = {"generation": t, "tools": tools}
            plugin_snapshot = {"plugins": {f"plugin_{k}": {"revision": t, "state": _text(rng, 380)} for k in range(20)}}
        else:
            tool_state, plugin_snapshot = turns[0]["tool_state"], turns[0]["plugin_snapshot"]
        usage = TokenLedgerEntry("turn", "bench-model", TokenUsage(1000 + t, 200, 50, 10))
        turns.append({"nodes": nodes, "tool_state": tool_state, "plugin_snapshot": plugin_snapshot,
                      "execution_state": rng.randbytes(4096) + _text(rng, 4096).encode(), "usage": usage,
                      "turn_state": {"turn_index": t, "token_usage": usage.usage.to_json(),
                                     "protocol_turn_options": {"payload": {}}}})
    return turns


# --- writers: each persists one turn per call and returns the seconds it took ----------------------


class LashdbWriter:
    """``Store.commit_runtime_state`` under one long lease, compare-and-set on every turn."""

    def __init__(self, path: Path, turns: list[dict]) -> None:
        self.store = Store.open(path)
        fence = self.store.try_claim_session_execution_lease("root", "bench", 3_600_000).fence()
        self.commits = [RuntimeCommit(
            "root", CONFIG, graph=GraphDelta.append(turn["nodes"], turn["nodes"][-1].node_id),
            checkpoint=HydratedCheckpoint(turn_state=turn["turn_state"], tool_state=turn["tool_state"],
                                          plugin_snapshot=turn["plugin_snapshot"], plugin_snapshot_revision=t,
                                          execution_state=turn["execution_state"]),
            usage_deltas=(turn["usage"],), expected_head_revision=t, session_execution_lease=fence)
            for t, turn in enumerate(turns)]

    def step(self, t: int) -> float:
        commit = self.commits[t]
        t0 = time.perf_counter()
        self.store.commit_runtime_state(commit)
        return time.perf_counter() - t0

    def close(self) -> None:
        self.store.close()


def _encode_turn(t: int, turn: dict) -> dict:
    """The rows of one turn, encoded with the same codec calls lashdb makes."""
    profile = BlobProfile.BALANCED
    rows, refs = [], []
    for descriptor, value in ((Descriptor.tool_state(), turn["tool_state"]),
                              (Descriptor.plugin_session_snapshot(), turn["plugin_snapshot"]),
                              (Descriptor.execution_state_snapshot(), turn["execution_state"])):
        content = codec.encode_value(value)
        refs.append(codec.sha256_hex(content))
        rows.append((refs[-1], codec.encode_envelope(descriptor, content, profile)))
    manifest = codec.encode_value(SessionCheckpoint(turn["turn_state"], refs[0], refs[1], t, refs[2]).to_json())
    manifest_ref = codec.sha256_hex(manifest)
    rows.append((manifest_ref, codec.encode_envelope(Descriptor.checkpoint_manifest(), manifest, profile)))
    head = SessionHeadMeta("root", t + 1, CONFIG, (), "", manifest_ref, turn["nodes"][-1].node_id, 4 * (t + 1))
    u = turn["usage"]
    return {"blobs": rows, "nodes": [(n.node_id, dumps(n.to_json())) for n in turn["nodes"]],
            "usage": (u.source, u.model, u.usage.input_tokens, u.usage.output_tokens, u.usage.cached_input_tokens,
                      u.usage.reasoning_tokens),
            "head": dumps(head.to_json()), "revision": t + 1}


class FloorWriter:
    """The bare statements of a commit; bytes pre-encoded, or encoded inside the clock."""

    def __init__(self, path: Path, turns: list[dict], *, encode_in_loop: bool) -> None:
        self.turns = turns
        self.pre_encoded = None if encode_in_loop else [_encode_turn(t, turn) for t, turn in enumerate(turns)]
        self.conn = open_write(path)
        ensure_schema(self.conn, SESSION, str(path))
        self.conn.execute("INSERT INTO session_execution_leases VALUES ('root', 'bench', 'tok', 1, 0, 9000000000000)")

    def step(self, t: int) -> float:
        conn = self.conn
        t0 = time.perf_counter()
        turn = _encode_turn(t, self.turns[t]) if self.pre_encoded is None else self.pre_encoded[t]
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("SELECT head_json, head_revision FROM session_head WHERE singleton = 1").fetchall()
        conn.execute("SELECT lease_owner_id, lease_token, lease_fencing_token, lease_claimed_at_ms, "
                     "lease_expires_at_ms FROM session_execution_leases WHERE session_id = ?", ("root",)).fetchall()
        # lashdb knows the live node count from its own last head (see commit.GraphCountHint), so
        # like lashdb the floor checks data_version instead of counting every graph row.
        conn.execute("PRAGMA data_version").fetchall()
        conn.executemany("INSERT OR IGNORE INTO blobs (hash, content) VALUES (?, ?)", turn["blobs"])
        conn.execute("INSERT INTO usage_deltas (source, model, input_tokens, output_tokens, cached_input_tokens, "
                     "reasoning_tokens) VALUES (?, ?, ?, ?, ?, ?)", turn["usage"])
        conn.executemany("INSERT INTO graph_nodes (node_id, node_json) VALUES (?, ?)", turn["nodes"])
        conn.execute("INSERT OR REPLACE INTO session_head (singleton, session_id, head_json, head_revision) "
                     "VALUES (1, 'root', ?, ?)", (turn["head"], turn["revision"]))
        conn.execute("COMMIT")
        return time.perf_counter() - t0

    def close(self) -> None:
        self.conn.close()


class LangGraphWriter:
    """``SqliteSaver.put`` of the whole checkpoint (conversation so far + state) every turn."""

    def __init__(self, path: Path, turns: list[dict]) -> None:
        from langgraph.checkpoint.sqlite import SqliteSaver

        self.turns = turns
        self.conn = sqlite3.connect(str(path), check_same_thread=False)
        self.saver = SqliteSaver(self.conn)
        self.saver.setup()
        self.conn.execute("PRAGMA synchronous = NORMAL")
        self.config = {"configurable": {"thread_id": "root", "checkpoint_ns": ""}}
        self.messages: list[dict] = []

    def step(self, t: int) -> float:
        from langgraph.checkpoint.base import empty_checkpoint

        turn = self.turns[t]
        self.messages.extend({"id": n.node_id, "role": n.role, "content": n.text} for n in turn["nodes"])
        checkpoint = empty_checkpoint()
        checkpoint["id"] = str(uuid.UUID(int=t + 1))
        checkpoint["channel_values"] = {
            "messages": list(self.messages), "tool_state": turn["tool_state"],
            "plugin_snapshot": turn["plugin_snapshot"], "execution_state": turn["execution_state"],
            "usage": [turn["usage"].to_json()]}
        checkpoint["channel_versions"] = {k: t + 1 for k in checkpoint["channel_values"]}
        t0 = time.perf_counter()
        self.config = self.saver.put(self.config, checkpoint, {"source": "loop", "step": t},
                                     dict(checkpoint["channel_versions"]))
        return time.perf_counter() - t0

    def close(self) -> None:
        self.conn.close()


def have_langgraph() -> bool:
    try:
        import langgraph.checkpoint.sqlite  # noqa: F401
    except ImportError:
        return False
    return True


# --- report -------------------------------------------------------------------------------------------


def _ms(samples: list[float], window: range) -> float:
    return statistics.median(samples[i] for i in window) * 1e3


def _round_robin(writers: dict, turns: int) -> dict[str, list[float]]:
    """Each writer's per-turn seconds, the writers taking turns so machine noise hits them alike."""
    samples: dict[str, list[float]] = {key: [] for key in writers}
    # Python's cyclic GC is off inside each timed step, as timeit and pyperf do: otherwise a
    # collection triggered by garbage every writer made lands in whichever step happens to be
    # running (at turn 10 it doubled lashdb's median and barely touched the floor's).
    for t in range(turns):
        for key, writer in writers.items():
            gc.disable()
            try:
                samples[key].append(writer.step(t))
            finally:
                gc.enable()
    for writer in writers.values():
        writer.close()
    return samples


def scenario(tmp: Path, name: str, *, all_state_changes: bool) -> None:
    turns = make_turns(TURNS, all_state_changes=all_state_changes)
    # Two round robins: lashdb with its floors, then lashdb with LangGraph. LangGraph's put grows to
    # tens of milliseconds of allocation by turn 500, and interleaved with the floors it evicted
    # their caches unevenly (lashdb's longer code path lost ~0.2 ms a turn to it).
    floors = _round_robin({"lashdb": LashdbWriter(tmp / f"{name}-lashdb.db", turns),
                           "floor": FloorWriter(tmp / f"{name}-floor.db", turns, encode_in_loop=False),
                           "floor+encode": FloorWriter(tmp / f"{name}-encode.db", turns, encode_in_loop=True)},
                          TURNS)
    versus = None
    if have_langgraph():
        versus = _round_robin({"lashdb": LashdbWriter(tmp / f"{name}-lashdb-2.db", turns),
                               "LangGraph": LangGraphWriter(tmp / f"{name}-langgraph.db", turns)}, TURNS)
    print(f"-- {name}")
    for label, window in (("turn 10", EARLY), (f"turn {TURNS}", LATE)):
        at = {key: _ms(values, window) for key, values in floors.items()}
        lash = at["lashdb"]
        line = (f"  {label:>9}: lashdb {lash:.3f} ms | floor {at['floor']:.3f} ms -> {lash / at['floor']:.2f}x "
                f"(target <= 1.5x) | floor+encode {at['floor+encode']:.3f} ms -> {lash / at['floor+encode']:.2f}x")
        if versus is not None:
            lash2, lang = _ms(versus["lashdb"], window), _ms(versus["LangGraph"], window)
            line += (f" || lashdb {lash2:.3f} ms vs LangGraph put {lang:.3f} ms -> LangGraph/lashdb {lang / lash2:.2f}x "
                     "(target >= 2x)")
        print(line)
    growth = {key: _ms(values, LATE) / _ms(values, EARLY) for key, values in floors.items()}
    if versus is not None:
        growth["LangGraph"] = _ms(versus["LangGraph"], LATE) / _ms(versus["LangGraph"], EARLY)
    print(f"  growth turn {TURNS}/turn 10: " + ", ".join(f"{key} {g:.2f}x" for key, g in growth.items()))


def main() -> None:
    print(f"commit latency over {TURNS} turns: 4 x ~1 KB nodes + 3 x ~8 KB state + 1 usage row; "
          "median of 10 turns")
    with tempfile.TemporaryDirectory() as tmp:
        scenario(Path(tmp), "every state value changes every turn", all_state_changes=True)
        scenario(Path(tmp), "only the execution state changes", all_state_changes=False)
    if not have_langgraph():
        print("LangGraph comparison skipped: pip install langgraph-checkpoint-sqlite (bench only)")


if __name__ == "__main__":
    main()
