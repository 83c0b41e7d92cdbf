"""Commit latency: lashdb's commit_runtime_state vs bare apsw floors (the peers: ``bench_peers.py``).

A turn is what a runtime persists after one model step: 4 graph nodes of ~1 KB, tool state,
plugin snapshot and execution state of ~8 KB each, one usage delta. Each writer persists 500 such
turns to its own file database; per-turn latency is the median of the 10 turns around turn 10 and
of the last 10, pooled over ``REPEATS`` fresh runs. Two scenarios: every state value changes every
turn (worst case), and only the execution state changes (tool state and plugin snapshot repeat,
as between most real turns).

Writers:
- lashdb: ``Store.commit_runtime_state`` (value checks, lease fence, compare-and-set, CBOR values
  in envelopes, graph append, usage row, head), default file options (WAL, synchronous=NORMAL,
  Balanced blob profile, ``deferred_compression_max`` 64 KiB: the ~8 KB snapshots are stored
  uncompressed and ``vacuum`` compresses them).
- floor+encode: a bare apsw loop issuing the statements lashdb issues, encoding inside the clock
  with every codec call the stored form needs (CBOR, SHA-256, envelope with zlib at the Balanced
  level, node and head JSON) -- the encoding the contract stores; lashdb over it is lashdb's own
  code (target <= 1.1x, issue 15), with the compression it moved to vacuum counted in the floor.
- floor: the same loop with every byte string pre-encoded before the clock starts -- what SQLite
  alone costs (shown, no target: the contract's encoding is not optional).
- at commit: lashdb with ``deferred_compression_max=0``, compressing at commit as it did before.
- unchecked (diagnostic): lashdb with its value check switched off, to split lashdb's margin over
  floor+encode into the check the contract requires (W17) and the rest.

Ratios compare measurements of this one run, the writers taking turns in one round robin with
Python's cyclic garbage collector paused inside each timed step (as timeit does) and running
between steps. Nothing here passes or fails.
"""

from __future__ import annotations

import gc
import os
import random
import statistics
import tempfile
import time
from pathlib import Path

from lashdb.engine import (
    GraphDelta,
    GraphNode,
    HydratedCheckpoint,
    RuntimeCommit,
    Store,
    StoreOptions,
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
REPEATS = 2 if QUICK else 5
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


def make_turns(count: int, *, all_state_changes: bool, seed: int = 0) -> list[dict]:
    """Deterministic turns; without ``all_state_changes`` tool state and plugin snapshot repeat.
    Another ``seed`` gives other contents (a store's envelope cache cannot serve a rerun)."""
    rng = random.Random(20260622 + seed)
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

    def __init__(self, path: Path, turns: list[dict], options: StoreOptions | None = None) -> None:
        self.store = Store.open_with_options(path, options or StoreOptions())
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


class UncheckedWriter(LashdbWriter):
    """Diagnostic only: lashdb with its value check (runtime contract W17) switched off, to show
    what the check costs of lashdb's margin over the floor. Never a way to run lashdb."""

    def step(self, t: int) -> float:
        from lashdb.engine.session import commit as commit_ops

        check_values = commit_ops.check_values
        commit_ops.check_values = lambda commit: None
        try:
            return super().step(t)
        finally:
            commit_ops.check_values = check_values


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


def _stored_blob_bytes(path: Path) -> int:
    import apsw

    conn = apsw.Connection(str(path), flags=apsw.SQLITE_OPEN_READONLY)
    try:
        return list(conn.execute("SELECT coalesce(sum(length(content)), 0) FROM blobs"))[0][0]
    finally:
        conn.close()


def scenario(tmp: Path, name: str, *, all_state_changes: bool) -> None:
    # REPEATS fresh round robins, every window's samples pooled: ten turns of one run on a shared
    # 2-core machine moved the ratio by ±0.3 between runs.
    runs: list[dict[str, list[float]]] = []
    for r in range(REPEATS):
        # Fresh contents per run: lashdb keeps recently written envelopes per process, and a rerun
        # of the same turns would find every snapshot already compressed.
        turns = make_turns(TURNS, all_state_changes=all_state_changes, seed=r)
        runs.append(_round_robin({
            "lashdb": LashdbWriter(tmp / f"{name}-{r}-lashdb.db", turns),
            "floor": FloorWriter(tmp / f"{name}-{r}-floor.db", turns, encode_in_loop=False),
            "floor+encode": FloorWriter(tmp / f"{name}-{r}-encode.db", turns, encode_in_loop=True),
            "at commit": LashdbWriter(tmp / f"{name}-{r}-atcommit.db", turns,
                                      options=StoreOptions(deferred_compression_max=0)),
            # Other contents of the same shape: on lashdb's, every envelope would come from its cache.
            "unchecked": UncheckedWriter(tmp / f"{name}-{r}-unchecked.db",
                                         make_turns(TURNS, all_state_changes=all_state_changes, seed=1000 + r))},
            TURNS))
    print(f"-- {name}")

    def at(key: str, window: range) -> float:
        return statistics.median(run[key][i] for run in runs for i in window) * 1e3

    for label, window in (("turn 10", EARLY), (f"turn {TURNS}", LATE)):
        lash, enc, floor, eager, free = (at(k, window) for k in ("lashdb", "floor+encode", "floor", "at commit",
                                                                  "unchecked"))
        print(f"  {label:>9}: lashdb {lash:.3f} ms | floor+encode {enc:.3f} ms -> {lash / enc:.2f}x (target <= 1.1x) "
              f"| pre-encoded floor {floor:.3f} ms -> {lash / floor:.2f}x (SQLite alone, no target) "
              f"| compressing at commit {eager:.3f} ms -> {eager / enc:.2f}x of floor+encode "
              f"| diagnostic, value check off {free:.3f} ms -> {free / enc:.2f}x of floor+encode")
    growth = {key: at(key, LATE) / at(key, EARLY) for key in runs[0]}
    print(f"  growth turn {TURNS}/turn 10: " + ", ".join(f"{key} {g:.2f}x" for key, g in growth.items()))
    deferred = _stored_blob_bytes(tmp / f"{name}-0-lashdb.db")
    eager = _stored_blob_bytes(tmp / f"{name}-0-atcommit.db")
    t0 = time.perf_counter()
    with Store.open(tmp / f"{name}-0-lashdb.db") as store:
        report = store.vacuum()
    vacuum_s = time.perf_counter() - t0
    vacuumed = _stored_blob_bytes(tmp / f"{name}-0-lashdb.db")
    print(f"  stored blob bytes after {TURNS} turns: lashdb {deferred / 1e6:.2f} MB ({deferred / eager:.2f}x "
          f"until vacuum) | after vacuum {vacuumed / 1e6:.2f} MB ({vacuumed / eager:.3f}x; vacuum compressed "
          f"{report.compressed_blobs:,} blobs in {vacuum_s:.2f} s) | compressing at commit {eager / 1e6:.2f} MB")


def main() -> None:
    print(f"commit latency over {TURNS} turns: 4 x ~1 KB nodes + 3 x ~8 KB state + 1 usage row; median of the "
          f"10 turns around turn 10 and of the last 10, pooled over {REPEATS} fresh runs")
    with tempfile.TemporaryDirectory() as tmp:
        scenario(Path(tmp), "every state value changes every turn", all_state_changes=True)
        scenario(Path(tmp), "only the execution state changes", all_state_changes=False)


if __name__ == "__main__":
    main()
