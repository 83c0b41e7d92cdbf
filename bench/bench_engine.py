"""Engine benchmarks: active-path cost vs depth, commit latency WAL vs not (GC: ``bench_gc.py``).

Each comparison is a ratio of two measurements taken in this same run, on this machine; nothing
here is a pass/fail test. Run through ``bench/run`` (or directly: ``python bench/bench_engine.py``).
"""

from __future__ import annotations

from _timing import median_time
import os
import sys
import tempfile
import time
from pathlib import Path


from lashdb.engine import GraphDelta, GraphNode, HydratedCheckpoint, RuntimeCommit, Store

QUICK = os.environ.get("LASHDB_BENCH_QUICK") == "1"


def bench_active_path(tmp: Path) -> dict:
    """Active path on a 100,000-node graph: leaf at depth 10 vs depth 1,000."""
    total = 20_000 if QUICK else 100_000
    path = tmp / "graph.db"
    nodes = []
    # One deep chain of 1,000 plus many shallow chains of 10: the graph's size is the same for both reads.
    deep = [f"d{i}" for i in range(1000)]
    for i, node_id in enumerate(deep):
        nodes.append(GraphNode.message(node_id, "User", "x" * 100, timestamp="t",
                                       parent_node_id=deep[i - 1] if i else None))
    chain = 0
    while len(nodes) < total:
        ids = [f"s{chain}-{i}" for i in range(10)]
        for i, node_id in enumerate(ids):
            nodes.append(GraphNode.message(node_id, "User", "x" * 100, timestamp="t",
                                           parent_node_id=ids[i - 1] if i else None))
        chain += 1
    with Store.open(path) as store:
        store.replace_session_graph(nodes)
        shallow = median_time(lambda: store.load_active_path("s5-9"), 50)
        deep_t = median_time(lambda: store.load_active_path("d999"), 20)
        assert len(store.load_active_path("d999").nodes) == 1000
    return {"name": f"active path on {total:,} nodes: depth 1,000 vs depth 10",
            "baseline_s": shallow, "measured_s": deep_t, "ratio": deep_t / shallow,
            "note": "cost follows depth: ~100x the nodes walked"}


CONFIG = {"provider_id": "bench", "model": {"id": "m", "limits": {"context_window_tokens": 1000}}}


def _turn(store: Store, fence, i: int) -> RuntimeCommit:
    node = GraphNode.message(f"c{i}", "User", "x" * 1000, timestamp="t", parent_node_id=f"c{i - 1}" if i else None)
    return RuntimeCommit("bench", CONFIG, graph=GraphDelta.append([node], node.node_id), session_execution_lease=fence,
                         checkpoint=HydratedCheckpoint(tool_state={"i": i, "pad": "t" * 8000},
                                                       plugin_snapshot={"i": i}, execution_state=bytes(8000)))


def bench_wal(tmp: Path) -> dict:
    """Commit latency p50/p99 with WAL vs the rollback journal (same commits, same machine)."""
    n = 200 if QUICK else 1000
    results = {}
    for mode in ("wal", "delete"):
        path = tmp / f"lat-{mode}.db"
        with Store.open(path) as store:
            if mode == "delete":
                store.write(lambda c: None)
                store._conn.execute("PRAGMA journal_mode = DELETE")
            fence = store.try_claim_session_execution_lease("bench", "wal", 3_600_000).fence()
            commits = [_turn(store, fence, i) for i in range(n)]
            samples = []
            for commit in commits:
                t0 = time.perf_counter()
                store.commit_runtime_state(commit)
                samples.append(time.perf_counter() - t0)
        samples.sort()
        results[mode] = (samples[len(samples) // 2], samples[int(len(samples) * 0.99)])
    return {"name": "commit latency, WAL vs rollback journal (p50 / p99)",
            "wal_p50_ms": 1000 * results["wal"][0], "wal_p99_ms": 1000 * results["wal"][1],
            "delete_p50_ms": 1000 * results["delete"][0], "delete_p99_ms": 1000 * results["delete"][1],
            "ratio_p50": results["delete"][0] / results["wal"][0]}


def main() -> None:
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        for bench in (bench_active_path, bench_wal):
            result = bench(tmp)
            name = result.pop("name")
            print(f"{name}:")
            for key, value in result.items():
                print(f"  {key}: {value:.4g}" if isinstance(value, float) else f"  {key}: {value}")
            sys.stdout.flush()


if __name__ == "__main__":
    main()
