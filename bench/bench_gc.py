"""GC beside a committer, one body on SQLite (a file) and PostgreSQL: the pause a committer sees.

A session holds ``BLOBS`` blobs of ~1 KiB, every other one named by an artifact ref (so half are
garbage, interleaved with the live half as they would be in a real session) and a head checkpoint.
A second process commits turns in a loop (``commit_runtime_state``: one 1 KB node, ~16 KB of
state) and records each commit's wall time. Then the GC runs twice, each on a fresh copy of that
session: batched (the default ``GcPolicy``: adaptive batches aiming at 20 ms of lock each) and in
one transaction (``batch_size`` above every row, no target) — the collection as it was before
batches. Printed per backend and mode: total GC time, batches, the committer's p50 / p99 / max
commit latency during the GC and without it, and where each batch's lock time went (mark: head
and manifest reads; scan; the artifact-ref probe; delete; commit). Every figure is a ratio of
measurements taken in this one run; nothing here passes or fails.

PostgreSQL: ``$LASHDB_BENCH_PG_URL`` (default ``postgresql://postgres@127.0.0.1:5432/postgres``);
a throwaway ``lashdb_bench_gc_<pid>`` database, dropped at the end; without a server or psycopg
that half prints one line and is skipped. ``LASHDB_BENCH_QUICK=1`` shrinks sizes.
"""

from __future__ import annotations

import collections
import dataclasses
import multiprocessing as mp
import os
import statistics
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

from lashdb.engine import (Descriptor, GcPolicy, GraphDelta, GraphNode, HydratedCheckpoint, RuntimeCommit, Store,
                           StoreOptions)
from lashdb.engine.base import backends, codec
from lashdb.engine.codec import BlobProfile

QUICK = os.environ.get("LASHDB_BENCH_QUICK") == "1"
BLOBS = 20_000 if QUICK else 100_000
BLOB_BYTES = 1024
BASELINE_TURNS = 60 if QUICK else 150
LEASE_MS = 3_600_000
DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
CONFIG = {"provider_id": "bench", "model": {"id": "m", "limits": {"context_window_tokens": 1000}}}


def one_transaction_policy() -> GcPolicy:
    """Every row in one batch, no time target: the one-transaction GC."""
    fields = {f.name for f in dataclasses.fields(GcPolicy)}
    return GcPolicy(batch_size=10 ** 9, **({"batch_target_ms": None} if "batch_target_ms" in fields else {}))


@dataclasses.dataclass
class Backend:
    """Where the stores live: ``name``, and how to open session ``sid`` (also in a child process)."""

    name: str
    where: str  # a directory (SQLite) or a database URL (PostgreSQL)

    def open(self, sid: str, policy: GcPolicy | None = None) -> Store:
        options = StoreOptions(gc_policy=policy or GcPolicy())
        if self.name == "sqlite":
            return Store.open_with_options(Path(self.where) / f"{sid}.db", options)
        return Store(backends.open_with("postgres.session", self.where, sid), options)

    def durability(self) -> str:
        if self.name == "sqlite":
            return "WAL, synchronous=NORMAL (lashdb's default), wal_autocheckpoint=1000 pages"
        import psycopg

        with psycopg.connect(self.where) as conn:
            return ", ".join(f"{k}={conn.execute(f'SHOW {k}').fetchone()[0]}" for k in ("fsync", "synchronous_commit"))


def _turn(sid: str, fence, i: int) -> RuntimeCommit:
    node = GraphNode.message(f"c{i}", "User", "x" * 1000, timestamp="t", parent_node_id=f"c{i - 1}" if i else None)
    return RuntimeCommit(sid, CONFIG, graph=GraphDelta.append([node], node.node_id), session_execution_lease=fence,
                         checkpoint=HydratedCheckpoint(tool_state={"i": i, "pad": "t" * 8000},
                                                       plugin_snapshot={"i": i}, execution_state=i.to_bytes(8, "big") * 1000))


def fill(store: Store, sid: str) -> object:
    """``BLOBS`` blobs, the even ones named by artifact refs, a head; the fence of the lease claimed."""
    noise = os.urandom(1 << 16)
    kept = []
    for lo in range(0, BLOBS, 10_000):
        rows = []
        for i in range(lo, min(BLOBS, lo + 10_000)):
            start = (i * 37) % (len(noise) - BLOB_BYTES)
            content = i.to_bytes(8, "big") + noise[start:start + BLOB_BYTES - 8]
            rows.append((codec.sha256_hex(content), codec.encode_envelope(Descriptor.generic(), content,
                                                                           BlobProfile.BALANCED)))
        kept += [h for h, _ in rows[::2]]
        store.transaction(lambda tx, rows=rows: tx.blobs.put(rows))
    store.transaction(lambda tx: [tx.rows.put_artifact_ref(f"artifact-{i}", h) for i, h in enumerate(kept)])
    fence = store.try_claim_session_execution_lease(sid, "bench", LEASE_MS).fence()
    store.commit_runtime_state(_turn(sid, fence, 0))
    return fence


def _committer(backend: Backend, sid: str, fence, ready, stop, out) -> None:
    """Commit turns until ``stop``; ``ready`` after ``BASELINE_TURNS``; report every (start, end)."""
    try:
        spans = []
        with backend.open(sid) as store:
            i = 1
            while not stop.is_set():
                commit = _turn(sid, fence, i)
                t0 = time.monotonic()
                store.commit_runtime_state(commit)
                spans.append((t0, time.monotonic()))
                i += 1
                if i == BASELINE_TURNS:
                    ready.set()
        out.put(("ok", spans))
    except BaseException as exc:  # the parent must hear about it rather than wait forever
        ready.set()
        out.put(("error", repr(exc)))


class _Timed:
    """Forwards to ``inner``, adding each call's time to ``sink[step]``."""

    def __init__(self, inner, sink: dict, steps: dict[str, str]) -> None:
        self._inner, self._sink, self._steps = inner, sink, steps

    def __getattr__(self, name):
        attr = getattr(self._inner, name)
        step = self._steps.get(name)
        if step is None or not callable(attr):
            return attr

        def timed(*args, **kwargs):
            t0 = time.perf_counter()
            try:
                return attr(*args, **kwargs)
            finally:
                self._sink[step] += time.perf_counter() - t0
        return timed


BLOB_STEPS = {"get": "mark", "exists": "mark", "scan": "scan", "named_by_artifacts": "probe", "delete": "delete",
              "sweep": "sweep (old)", "artifact_refs": "mark"}


class _TimedTx:
    def __init__(self, tx, sink: dict) -> None:
        self._tx, self.blobs = tx, _Timed(tx.blobs, sink, BLOB_STEPS)
        self.rows = _Timed(tx.rows, sink, {"head": "mark", "artifact_refs": "mark"})

    def __getattr__(self, name):
        return getattr(self._tx, name)


def instrument(store: Store) -> list[dict]:
    """Time every write transaction of ``store`` (bench only): wait for the lock, each step, commit."""
    batches: list[dict] = []
    write = store._write

    def timed_write(fn):
        sink: dict = collections.defaultdict(float)
        marks = {}

        def body(tx):
            marks["in"] = time.perf_counter()
            try:
                return fn(_TimedTx(tx, sink))
            finally:
                marks["out"] = time.perf_counter()
        t0 = time.perf_counter()
        result = write(body)
        t1 = time.perf_counter()
        sink["wait"] = marks["in"] - t0
        sink["commit"] = t1 - marks["out"]
        sink["held"] = t1 - marks["in"]
        batches.append(dict(sink))
        return result
    store._write = timed_write
    return batches


def _pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))] * 1e3 if values else 0.0


def run_alone(backend: Backend, mode: str, policy: GcPolicy) -> float:
    """The same GC with no committer beside it: its total time."""
    sid = f"alone-{mode.replace(' ', '-')}"
    with backend.open(sid, policy) as store:
        fence = fill(store, sid)
        t0 = time.monotonic()
        store.gc_unreachable(lease=fence)
        return time.monotonic() - t0


def run_mode(backend: Backend, mode: str, policy: GcPolicy) -> dict:
    sid = f"gc-{mode.replace(' ', '-')}"
    with backend.open(sid, policy) as store:
        t0 = time.monotonic()
        fence = fill(store, sid)
        loaded = time.monotonic() - t0
        ctx = mp.get_context("spawn")
        ready, stop, out = ctx.Event(), ctx.Event(), ctx.Queue()
        proc = ctx.Process(target=_committer, args=(backend, sid, fence, ready, stop, out))
        proc.start()
        ready.wait(timeout=600)
        batches = instrument(store)
        g0 = time.monotonic()
        report = store.gc_unreachable(lease=fence)
        g1 = time.monotonic()
        time.sleep(0.3)  # a few commits after the GC, so the last one during it is not cut short
        stop.set()
        kind, spans = out.get(timeout=600)
        proc.join(timeout=60)
    if kind == "error":
        raise RuntimeError(spans)
    before = [b - a for a, b in spans if b <= g0][10:]
    during = [b - a for a, b in spans if b > g0 and a < g1]
    return {"mode": mode, "loaded_s": loaded, "gc_s": g1 - g0, "report": report, "batches": batches,
            "before": before, "during": during}


def print_mode(r: dict) -> None:
    rep, before, during, batches = r["report"], r["before"], r["during"], r["batches"]
    print(f"  {r['mode']}: GC {r['gc_s']:.3f} s, {rep.batch_count} batches, deleted {rep.deleted_blob_count:,} "
          f"({rep.freed_bytes / 1e6:.1f} MB), retained {rep.retained_blob_count:,}, roots {rep.root_count:,} "
          f"(loaded in {r['loaded_s']:.1f} s)")
    print(f"    committer without GC: p50 {_pct(before, .5):.2f} ms, p99 {_pct(before, .99):.2f} ms, "
          f"max {_pct(before, 1):.2f} ms ({len(before)} commits)")
    print(f"    committer during GC:  p50 {_pct(during, .5):.2f} ms, p99 {_pct(during, .99):.2f} ms, "
          f"max {_pct(during, 1):.2f} ms ({len(during)} commits) -> longest pause {_pct(during, 1):.1f} ms")
    held = [b["held"] for b in batches]
    if held:
        longest = max(batches, key=lambda b: b["held"])
        steps = ", ".join(f"{k} {v * 1e3:.1f}" for k, v in sorted(longest.items()) if k not in ("held", "wait"))
        print(f"    lock held per transaction: median {statistics.median(held) * 1e3:.1f} ms, "
              f"max {max(held) * 1e3:.1f} ms ({len(held)} write transactions); longest: {steps} ms")
        totals = collections.defaultdict(float)
        for b in batches:
            for k, v in b.items():
                totals[k] += v
        print("    summed over the GC: " + ", ".join(f"{k} {v * 1e3:.0f} ms" for k, v in sorted(totals.items())))


def run_backend(backend: Backend) -> None:
    print(f"-- {backend.name}: {BLOBS:,} blobs of {BLOB_BYTES} B, {BLOBS // 2:,} named by artifact refs; "
          f"{backend.durability()}")
    results = [run_mode(backend, "batched", GcPolicy()), run_mode(backend, "one transaction", one_transaction_policy())]
    for r in results:
        print_mode(r)
        sys.stdout.flush()
    batched, single = results
    alone = {mode: run_alone(backend, mode, policy)
             for mode, policy in (("batched", GcPolicy()), ("one transaction", one_transaction_policy()))}
    print(f"  GC alone (no committer): batched {alone['batched']:.3f} s, one transaction "
          f"{alone['one transaction']:.3f} s -> {alone['batched'] / alone['one transaction']:.2f}x")
    worst = _pct(batched["during"], 1)
    print(f"  => longest commit pause during batched GC {worst:.1f} ms (target <= 50 ms); one transaction "
          f"{_pct(single['during'], 1):.1f} ms; total GC batched / one transaction: beside the committer "
          f"{batched['gc_s'] / single['gc_s']:.2f}x, alone {alone['batched'] / alone['one transaction']:.2f}x "
          f"(target <= 1.5x)")


def _postgres(admin: str):
    """(Backend, drop) on a fresh database, or None with a line saying why."""
    try:
        import psycopg
    except ImportError:
        print("PostgreSQL half skipped: psycopg is not installed (pip install 'lashdb[postgres]')")
        return None
    name = f"lashdb_bench_gc_{os.getpid()}"
    try:
        with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
            version = conn.execute("SHOW server_version").fetchone()[0]
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.Error as exc:
        print(f"PostgreSQL half skipped: no usable server ({type(exc).__name__})")
        return None
    parts = urllib.parse.urlsplit(admin)
    url = urllib.parse.urlunsplit(parts._replace(path="/" + name))

    def drop() -> None:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    print(f"postgres {version}, psycopg {psycopg.__version__}")
    return Backend("postgres", url), drop


def main() -> None:
    which = sys.argv[1:] or ["sqlite", "postgres"]
    if "sqlite" in which:
        with tempfile.TemporaryDirectory() as d:
            run_backend(Backend("sqlite", d))
    if "postgres" in which:
        found = _postgres(os.environ.get("LASHDB_BENCH_PG_URL", DEFAULT_PG_URL))
        if found:
            backend, drop = found
            try:
                run_backend(backend)
            finally:
                drop()


if __name__ == "__main__":
    main()
