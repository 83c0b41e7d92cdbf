"""PostgreSQL: commit latency vs a bare psycopg floor, throughput across processes.

Target server: ``$LASHDB_BENCH_PG_URL`` (default ``postgresql://postgres@127.0.0.1:5432/postgres``).
The bench creates a throwaway database ``lashdb_bench_<pid>`` there and drops it at the end. With no
server or no psycopg it prints one line saying why and exits 0. ``LASHDB_BENCH_QUICK=1`` shrinks
sizes; ``LASHDB_BENCH_PROFILE=1`` prints the commit profile even when the ratio is on target.

1. Commit latency per turn (the realistic turn of ``bench_commit.py``: 4 x ~1 KB nodes, 3 x ~8 KB
   state values, one usage row, stamped as a turn so its turn-commit row is written):
   - lashdb: ``Store.commit_runtime_state`` over ``postgres.session`` (advisory lock, head CAS,
     lease fence, CBOR/zlib envelopes, graph append, usage, turn-commit row);
   - floor: one psycopg connection issuing the statements lashdb issues (``postgres/session_*.py``,
     in the same order, one transaction per turn) with every byte string pre-encoded;
   - floor+encode: the same loop encoding inside the clock with the codec calls lashdb makes.
   The writers take turns in one round robin on sessions of one database, Python's cyclic GC paused
   inside each timed step (as ``bench_commit.py`` does).
2. Throughput: 1, 2, 4, 8 worker processes each committing to its own session; then 4 workers
   contending on ONE session with compare-and-set retry (conflicts counted, none lost).
(GC beside a committer, on PostgreSQL and SQLite from one body: ``bench_gc.py``.)

Everything is a ratio of measurements taken in this one run; nothing here passes or fails.
"""

from __future__ import annotations

import cProfile
import dataclasses
import hashlib
import multiprocessing as mp
import os
import platform
import pstats
import statistics
import sys
import time
import urllib.parse

from bench_commit import CONFIG, EARLY, LATE, QUICK, TURNS, _encode_turn, _round_robin, make_turns

from lashdb.engine import GraphDelta, GraphNode, HeadRevisionConflict, HydratedCheckpoint, RuntimeCommit, Store
from lashdb.engine.base import backends
from lashdb.engine.session.model import SessionCheckpoint, dumps
from lashdb.engine.session.store import StoreOptions

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
WORKERS = (1, 2, 4, 8)
TURNS_PER_WORKER = 40 if QUICK else 200
CONTENDED_TURNS = 25 if QUICK else 100  # per worker, 4 workers on one session
LEASE_MS = 3_600_000


def _url_for(admin_url: str, database: str) -> str:
    parts = urllib.parse.urlsplit(admin_url)
    return urllib.parse.urlunsplit(parts._replace(path="/" + database))


def _open_store(url: str, sid: str) -> Store:
    return Store(backends.open_with("postgres.session", url, sid), StoreOptions())


def _commit(sid: str, t: int, turn: dict, fence, expected: int | None, *, stamp: str | None = "") -> RuntimeCommit:
    """The turn as lashdb's runtime commits it, stamped as turn ``stamp`` (default ``<sid>-turn-<t>``; None: no stamp)."""
    commit = RuntimeCommit(
        sid, CONFIG, graph=GraphDelta.append(turn["nodes"], turn["nodes"][-1].node_id),
        checkpoint=HydratedCheckpoint(turn_state=turn["turn_state"], tool_state=turn["tool_state"],
                                      plugin_snapshot=turn["plugin_snapshot"], plugin_snapshot_revision=t,
                                      execution_state=turn["execution_state"]),
        usage_deltas=(turn["usage"],), expected_head_revision=expected, session_execution_lease=fence)
    # The stamp's hash is the caller's work (canonical JSON of the whole commit): built before any clock.
    return commit if stamp is None else commit.stamped(stamp or f"{sid}-turn-{t}")


# --- 1. commit latency ----------------------------------------------------------------------------------


class LashdbWriter:
    """``Store.commit_runtime_state`` over ``postgres.session`` under one long lease."""

    def __init__(self, url: str, sid: str, turns: list[dict]) -> None:
        self.store = _open_store(url, sid)
        fence = self.store.try_claim_session_execution_lease(sid, "bench", LEASE_MS).fence()
        self.commits = [_commit(sid, t, turn, fence, t) for t, turn in enumerate(turns)]

    def step(self, t: int) -> float:
        commit = self.commits[t]
        t0 = time.perf_counter()
        self.store.commit_runtime_state(commit)
        return time.perf_counter() - t0

    def close(self) -> None:
        self.store.close()


def _encode_pg(sid: str, t: int, turn: dict) -> dict:
    """The rows of one turn (``bench_commit``'s encoding) plus the turn-commit row's result JSON."""
    rows = _encode_turn(t, turn)
    refs = [h for h, _ in rows["blobs"]]
    manifest = SessionCheckpoint(turn["turn_state"], refs[0], refs[1], t, refs[2])
    rows["result"] = dumps({"head_revision": t + 1, "checkpoint_ref": refs[3], "manifest": manifest.to_json()})
    rows["turn_id"] = f"{sid}-turn-{t}"
    rows["turn_hash"] = hashlib.sha256(rows["turn_id"].encode()).hexdigest()
    return rows


NOW_MS = "(extract(epoch FROM clock_timestamp()) * 1000)::bigint"
# SPEC §5's user-message rule over lash_graph_nodes n (the same text as postgres/schema.py's).
USER_NODE = ("(strpos(n.node_json, '\"User\"') > 0 AND n.node_json::jsonb ->> 'kind' = 'event' "
             "AND n.node_json::jsonb #>> '{event,Conversation,role}' = 'User')")


class FloorWriter:
    """The statements of one lashdb commit on one bare psycopg connection; bytes pre-encoded or not."""

    def __init__(self, url: str, sid: str, turns: list[dict], *, encode_in_loop: bool) -> None:
        import psycopg

        from lashdb.engine.postgres.connection import advisory_key

        self.sid, self.turns, self.key = sid, turns, advisory_key(sid)
        self.pre_encoded = None if encode_in_loop else [_encode_pg(sid, t, turn) for t, turn in enumerate(turns)]
        self.conn = psycopg.connect(url)
        self.conn.execute("SET lock_timeout = 10000")
        self.conn.execute("SET statement_timeout = 30000")
        self.conn.execute(f"INSERT INTO lash_sessions (session_id, created_at_ms, updated_at_ms) "
                          f"VALUES (%s, {NOW_MS}, {NOW_MS})", (sid,))
        self.conn.execute("INSERT INTO lash_session_execution_leases VALUES (%s, 'bench', 'tok', 1, 0, 9000000000000)",
                          (sid,))
        self.conn.commit()

    def step(self, t: int) -> float:
        conn, sid = self.conn, self.sid
        t0 = time.perf_counter()
        turn = _encode_pg(sid, t, self.turns[t]) if self.pre_encoded is None else self.pre_encoded[t]
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (self.key,))
            head = conn.execute("SELECT head_session_id, head_json, head_revision, live_nodes, dead_nodes, "
                                "user_nodes, first_user_seq, node_bytes FROM lash_sessions WHERE session_id = %s",
                                (sid,)).fetchone()
            conn.execute("SELECT turn_commit_hash, result_json FROM lash_runtime_turn_commits "
                         "WHERE session_id = %s AND turn_id = %s", (sid, turn["turn_id"])).fetchone()
            conn.execute("SELECT lease_owner_id, lease_token, lease_fencing_token, lease_claimed_at_ms, "
                         "lease_expires_at_ms FROM lash_session_execution_leases WHERE session_id = %s",
                         (sid,)).fetchone()
            if head[2] != t:
                raise RuntimeError(f"floor head revision {head[2]} != {t}")
            conn.cursor().executemany(
                "INSERT INTO lash_blobs (session_id, hash, content) VALUES (%s, %s, %s) "
                "ON CONFLICT (session_id, hash) DO NOTHING", [(sid, h, c) for h, c in turn["blobs"]])
            conn.execute(
                "INSERT INTO lash_usage_deltas (session_id, seq, source, model, input_tokens, output_tokens, "
                "cached_input_tokens, reasoning_tokens) SELECT %s, coalesce((SELECT seq FROM lash_usage_deltas "
                "WHERE session_id = %s ORDER BY seq DESC LIMIT 1), 0) + 1, %s, %s, %s, %s, %s, %s",
                (sid, sid, *turn["usage"]))
            added, users, first, size = conn.execute(
                "WITH ins AS (INSERT INTO lash_graph_nodes (session_id, seq, node_id, node_json) "
                "SELECT %(s)s, coalesce((SELECT seq FROM lash_graph_nodes WHERE session_id = %(s)s "
                "ORDER BY seq DESC LIMIT 1), 0) + t.o, t.i, t.j FROM unnest(%(ids)s::text[], %(jsons)s::text[]) "
                f"WITH ORDINALITY AS t(i, j, o) RETURNING seq, node_json) SELECT count(*), count(*) FILTER (WHERE "
                f"{USER_NODE}), min(n.seq) FILTER (WHERE {USER_NODE}), coalesce(sum(octet_length(n.node_json)), 0) "
                "FROM ins n", {"s": sid, "ids": [i for i, _ in turn["nodes"]],
                               "jsons": [j for _, j in turn["nodes"]]}).fetchone()
            # The transaction's one update of the session row: head and listing columns together.
            conn.execute(f"UPDATE lash_sessions SET head_session_id = %s, head_json = %s, head_revision = %s, "
                         f"live_nodes = %s, user_nodes = %s, first_user_seq = %s, node_bytes = %s, "
                         f"updated_at_ms = {NOW_MS} WHERE session_id = %s",
                         (sid, turn["head"], turn["revision"], head[3] + added, head[5] + users,
                          head[6] if head[6] is not None else first, head[7] + size, sid))
            conn.execute("INSERT INTO lash_runtime_turn_commits (session_id, turn_id, turn_commit_hash, "
                         "result_json, committed_at_ms) VALUES (%s, %s, %s, %s, %s)",
                         (sid, turn["turn_id"], turn["turn_hash"], turn["result"], int(time.time() * 1000)))
        return time.perf_counter() - t0

    def close(self) -> None:
        self.conn.close()


def _p95(values: list[float]) -> float:
    return sorted(values)[max(0, int(len(values) * 0.95) - 1)] * 1e3


def _window(values: list[float], window: range) -> float:
    return statistics.median(values[i] for i in window) * 1e3


def latency(url: str, name: str, key: str, *, all_state_changes: bool) -> float:
    """Print one scenario; return lashdb's median over floor+encode's."""
    turns = make_turns(TURNS, all_state_changes=all_state_changes)
    samples = _round_robin({
        "lashdb": LashdbWriter(url, f"lat-{key}-lashdb", turns),
        "floor": FloorWriter(url, f"lat-{key}-floor", turns, encode_in_loop=False),
        "floor+encode": FloorWriter(url, f"lat-{key}-encode", turns, encode_in_loop=True)}, TURNS)
    print(f"-- {name}")
    for label, values in samples.items():
        print(f"  {label:>12}: median {statistics.median(values) * 1e3:.3f} ms, p95 {_p95(values):.3f} ms | "
              f"turn 10 {_window(values, EARLY):.3f} ms, turn {TURNS} {_window(values, LATE):.3f} ms")
    med = {label: statistics.median(values) for label, values in samples.items()}
    p95 = {label: _p95(values) for label, values in samples.items()}
    ratio = med["lashdb"] / med["floor+encode"]
    print(f"  lashdb/floor: median {med['lashdb'] / med['floor']:.2f}x, p95 {p95['lashdb'] / p95['floor']:.2f}x | "
          f"lashdb/floor+encode: median {ratio:.2f}x, p95 {p95['lashdb'] / p95['floor+encode']:.2f}x "
          f"(target <= 1.5x) | encode alone ~{(med['floor+encode'] - med['floor']) * 1e3:.3f} ms")
    return ratio


def profile(url: str) -> None:
    """Where a lashdb commit's time goes: cProfile of 100 turns, top functions by own time."""
    turns = make_turns(100, all_state_changes=True)
    writer = LashdbWriter(url, "profile", turns)
    prof = cProfile.Profile()
    prof.enable()
    for t in range(len(turns)):
        writer.step(t)
    prof.disable()
    writer.close()
    print("  cProfile of 100 lashdb commits (top 12 by own time):")
    stats = pstats.Stats(prof)
    total = stats.total_tt
    rows = sorted(stats.stats.items(), key=lambda kv: kv[1][2], reverse=True)[:12]
    for (path, line, func), (_cc, calls, tottime, cumtime, _callers) in rows:
        where = f"{os.path.basename(path)}:{line}({func})" if line else func
        print(f"    {tottime / total * 100:5.1f}% own {tottime * 10:.3f} ms/turn  cum {cumtime * 10:.3f} ms/turn  "
              f"{calls // 100:>4} calls/turn  {where}")


# --- 2. throughput ----------------------------------------------------------------------------------


def _distinct_worker(url: str, sid: str, count: int, gate, out) -> None:
    """Commit ``count`` turns to session ``sid``; report (start, end) monotonic seconds."""
    try:
        turns = make_turns(count, all_state_changes=True)
        with _open_store(url, sid) as store:
            fence = store.try_claim_session_execution_lease(sid, "bench", LEASE_MS).fence()
            commits = [_commit(sid, t, turn, fence, t) for t, turn in enumerate(turns)]
            store.commit_runtime_state(commits[0])  # opens the pool and the session row outside the clock
            gate.wait()
            t0 = time.monotonic()
            for commit in commits[1:]:
                store.commit_runtime_state(commit)
            out.put(("ok", (t0, time.monotonic(), len(commits) - 1)))
    except BaseException as exc:  # the parent must hear about it rather than wait forever
        out.put(("error", f"{sid}: {exc!r}"))


def _contended_worker(url: str, sid: str, worker: int, count: int, fence, gate, out) -> None:
    """Commit ``count`` turns to the shared session, re-reading the head and retrying on conflicts."""
    try:
        turns = make_turns(count, all_state_changes=True)
        # The stamp's hash leaves out the expected revision: computed once per turn, before the clock.
        stamped = [_commit(sid, t, dict(turn, nodes=[GraphNode.message(
            f"w{worker}-t{t}", "Assistant", turn["nodes"][0].text, timestamp="2026-12-05T00:00:00Z")]),
            fence, None, stamp=f"w{worker}-t{t}") for t, turn in enumerate(turns)]
        conflicts = 0
        with _open_store(url, sid) as store:
            store.load_session_head_meta()
            gate.wait()
            t0 = time.monotonic()
            for t in range(count):
                while True:
                    head = store.load_session_head_meta()
                    commit = dataclasses.replace(stamped[t], expected_head_revision=head.head_revision if head else 0)
                    try:
                        store.commit_runtime_state(commit)
                        break
                    except HeadRevisionConflict:
                        conflicts += 1
            out.put(("ok", (t0, time.monotonic(), count, conflicts)))
    except BaseException as exc:
        out.put(("error", f"worker {worker}: {exc!r}"))


def _gather(ctx, procs: list, out, n: int) -> list:
    for p in procs:
        p.start()
    results = [out.get(timeout=600) for _ in range(n)]
    for p in procs:
        p.join(timeout=60)
    errors = [text for kind, text in results if kind == "error"]
    if errors:
        raise RuntimeError(errors[0])
    return [value for _, value in results]


def throughput(url: str) -> None:
    ctx = mp.get_context("spawn")
    print(f"-- {TURNS_PER_WORKER} turns per worker, each worker its own session")
    base = None
    for n in WORKERS:
        gate, out = ctx.Barrier(n), ctx.Queue()
        procs = [ctx.Process(target=_distinct_worker, args=(url, f"tp{n}-{w}", TURNS_PER_WORKER, gate, out))
                 for w in range(n)]
        res = _gather(ctx, procs, out, n)
        wall = max(r[1] for r in res) - min(r[0] for r in res)
        rate = sum(r[2] for r in res) / wall
        base = base or rate
        print(f"  {n} worker(s): {rate:7.1f} turns/s ({rate / n:6.1f} per worker) -> {rate / base:.2f}x of 1 worker")
    sid = "contended"
    with _open_store(url, sid) as store:
        fence = store.try_claim_session_execution_lease(sid, "bench", LEASE_MS).fence()
        gate, out = ctx.Barrier(4), ctx.Queue()
        procs = [ctx.Process(target=_contended_worker, args=(url, sid, w, CONTENDED_TURNS, fence, gate, out))
                 for w in range(4)]
        res = _gather(ctx, procs, out, 4)
        head = store.load_session_head_meta()
    wall = max(r[1] for r in res) - min(r[0] for r in res)
    total = sum(r[2] for r in res)
    conflicts = sum(r[3] for r in res)
    revision = head.head_revision if head else 0
    print(f"-- 4 workers x {CONTENDED_TURNS} turns on ONE session, compare-and-set with retry")
    print(f"  {total / wall:.1f} commits/s, {conflicts} conflicts retried "
          f"({conflicts / total:.2f} per commit); final head revision {revision} of {total} turns, "
          f"graph nodes {head.graph_node_count if head else 0}: {'none lost' if revision == total else 'LOST TURNS'}")


# --- main ----------------------------------------------------------------------------------------------


def main() -> None:
    admin = os.environ.get("LASHDB_BENCH_PG_URL", DEFAULT_URL)
    from lashdb.engine.base.urls import redact

    from lashdb.engine.base.errors import MissingExtra
    from lashdb.engine.postgres.connection import load_driver

    try:
        psycopg, _ = load_driver()
    except MissingExtra:
        print("PostgreSQL bench skipped: psycopg is not installed (pip install 'lashdb[postgres]')")
        return
    try:
        with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
            version = conn.execute("SHOW server_version").fetchone()[0]
            settings = {name: conn.execute(f"SHOW {name}").fetchone()[0]
                        for name in ("fsync", "synchronous_commit", "shared_buffers")}
            name = f"lashdb_bench_{os.getpid()}"
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.Error as exc:
        print(f"PostgreSQL bench skipped: no usable server at {redact(admin)} "
              f"({str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__})")
        return
    url = _url_for(admin, name)
    try:
        print(f"postgres: {version} at {redact(admin)} ({', '.join(f'{k}={v}' for k, v in settings.items())}); "
              f"psycopg {psycopg.__version__}; python {platform.python_version()}; {os.cpu_count()} cores")
        print(f"database: {name} (dropped at the end){' -- QUICK sizes' if QUICK else ''}")
        _open_store(url, "schema").close()  # creates the schema once, outside every clock
        print(f"commit latency over {TURNS} turns per writer (4 x ~1 KB nodes + 3 x ~8 KB state + usage + "
              "turn-commit row), writers in one round robin")
        ratios = [latency(url, "every state value changes every turn", "all", all_state_changes=True),
                  latency(url, "only the execution state changes", "exec", all_state_changes=False)]
        if max(ratios) > 1.5 or os.environ.get("LASHDB_BENCH_PROFILE") == "1":
            profile(url)
        throughput(url)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    sys.exit(main())
