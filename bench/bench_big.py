"""Flat costs as a session grows: a 1,000,000-node, 200,000-blob session against small ones.

The big session is built through the engine's public API: ``commit_runtime_state`` appends the
graph in commits of 10,000 nodes (chains of 100: user message, then assistant/tool nodes), and one
``Store.transaction`` stores the blobs (half named by artifact refs, half unreachable, so GC has work).
Measured, each as a ratio of two measurements of this one run (nothing here passes or fails):

- commit: a 4-node turn committed at the end of the big session vs the same turn at turn 10 of a
  fresh session (medians of repeated commits on each open store, taken in turns), and the first
  commit after the store is reopened (no count hint carried over) on each;
- active path: the read of a leaf at depth 100 in the big session vs in a 1,000-node session;
- ``sessions list``: the row of the big session vs the row of the 1,000-node session (the engine's
  ``list_sessions`` over a directory holding just that session, medians of repeats taken in turns);
- memory: peak RSS of ``lashdb gc`` on the big session, in a child process (``ru_maxrss`` of the
  waited-for child, read by a wrapper so no other child counts), beside ``lashdb --version``'s.

``LASHDB_BENCH_QUICK=1`` builds 20,000 nodes and 4,000 blobs instead.
"""

from __future__ import annotations

from _timing import median_time
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from lashdb.engine import Descriptor, GraphDelta, GraphNode, HydratedCheckpoint, RuntimeCommit, Store
from lashdb.engine.codec import BlobProfile
from lashdb.engine.ops.sessions import list_sessions

QUICK = os.environ.get("LASHDB_BENCH_QUICK") == "1"
NODES = 20_000 if QUICK else 1_000_000
BLOBS = 4_000 if QUICK else 200_000
SMALL_NODES = 1_000
CHAIN = 100  # every chain is a user turn 100 nodes deep: its last node is a depth-100 leaf
BATCH = 10_000
CONFIG = {"provider_id": "bench", "model": {"id": "m", "limits": {"context_window_tokens": 200_000}}}
SESSION = "bench-big"


def _paired(small, big, repeat: int) -> tuple[float, float]:
    """Medians of ``small()`` and ``big()`` timed in turns, so load from other jobs falls on both."""
    pairs = [(median_time(small, 1), median_time(big, 1)) for _ in range(repeat)]
    return statistics.median(p[0] for p in pairs), statistics.median(p[1] for p in pairs)


def _chain_nodes(first: int, count: int) -> list[GraphNode]:
    """Nodes ``first`` … ``first + count - 1``; node k starts a chain when k % CHAIN == 0."""
    out = []
    for k in range(first, first + count):
        depth = k % CHAIN
        role = "User" if depth == 0 else ("Assistant" if depth % 2 else "Tool")
        out.append(GraphNode.message(f"n{k}", role, f"message {k} " + "x" * 120, timestamp="2026-01-01T00:00:00Z",
                                     parent_node_id=f"n{k - 1}" if depth else None))
    return out


class Session:
    """One session file written through ``commit_runtime_state`` under a lease."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.store = Store.open(path)
        self.lease = self.store.try_claim_session_execution_lease(SESSION, "bench", 3_600_000)
        self.fence = self.lease.fence()
        self.turn = 0

    def commit(self, nodes: list[GraphNode]) -> None:
        self.turn += 1
        self.store.commit_runtime_state(RuntimeCommit(
            SESSION, CONFIG, graph=GraphDelta.append(nodes, nodes[-1].node_id if nodes else None),
            session_execution_lease=self.fence,
            checkpoint=HydratedCheckpoint(tool_state={"turn": self.turn}, plugin_snapshot={"p": 1},
                                          execution_state=self.turn.to_bytes(8, "big"))))

    def reopen(self) -> None:
        self.store.close()
        self.store = Store.open(self.path)

    def close(self) -> None:
        self.store.release_session_execution_lease(self.lease.completion())
        self.store.close()


def _turn_nodes(session: Session, tag: str) -> list[GraphNode]:
    """A 4-node turn (user, tool call, tool result, answer) hung below nothing: its own chain."""
    t = session.turn
    roles = ("User", "Assistant", "Tool", "Assistant")
    return [GraphNode.message(f"{tag}{t}-{i}", role, "y" * 200, timestamp="2026-01-01T00:00:00Z",
                              parent_node_id=f"{tag}{t}-{i - 1}" if i else None) for i, role in enumerate(roles)]


def build(path: Path, nodes: int, blobs: int) -> Session:
    """A session of ``nodes`` graph nodes in chains of 100 and ``blobs`` extra blobs, via the engine."""
    session = Session(path)
    for first in range(0, nodes, BATCH):
        session.commit(_chain_nodes(first, min(BATCH, nodes - first)))
    if blobs:
        def fill(tx) -> list[str]:
            from lashdb.engine.session import blobs as blob_ops

            return [blob_ops.put_content(tx, Descriptor.generic(), i.to_bytes(8, "big") * 32, BlobProfile.BALANCED)
                    for i in range(blobs)]
        hashes = session.store.transaction(fill)
        keep = hashes[: blobs // 2]
        session.store.write(lambda c: c.executemany(
            "INSERT INTO artifact_refs (artifact_ref, blob_ref) VALUES (?, ?)",
            [(f"a{i}", h) for i, h in enumerate(keep)]))
    return session


def commit_costs(small: Session, big: Session, repeat: int) -> tuple[float, float, float, float]:
    """Medians of ``repeat`` turn commits on each open store (in turns), then the first commit of each
    after a reopen: (small, big, small reopened, big reopened)."""
    steady = _paired(lambda: small.commit(_turn_nodes(small, "w")), lambda: big.commit(_turn_nodes(big, "w")), repeat)
    cold = []
    for session in (small, big):
        session.reopen()
        t0 = time.perf_counter()
        session.commit(_turn_nodes(session, "w"))
        cold.append(time.perf_counter() - t0)
    return (*steady, *cold)


def list_rows(small: Path, big: Path, repeat: int) -> tuple[float, float]:
    """Medians of ``list_sessions`` over each directory holding one session (the row's cost), in turns."""
    assert len(list_sessions(small)) == len(list_sessions(big)) == 1
    return _paired(lambda: list_sessions(small), lambda: list_sessions(big), repeat)


_WRAP = ("import resource, subprocess, sys\n"
         "subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL)\n"
         "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")


def peak_rss_mb(*args: str) -> float:
    """Peak RSS (MB) of ``lashdb ARGS`` run as the only child of a fresh wrapper process."""
    lashdb = shutil.which("lashdb", path=str(Path(sys.executable).parent)) or "lashdb"
    out = subprocess.run([sys.executable, "-c", _WRAP, lashdb, *args], check=True, capture_output=True, text=True)
    return int(out.stdout.strip()) / 1024  # ru_maxrss is in KiB on Linux


def main() -> None:
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        (tmp / "big").mkdir()
        (tmp / "small").mkdir()
        t0 = time.perf_counter()
        big = build(tmp / "big" / "big.db", NODES, BLOBS)
        built = time.perf_counter() - t0
        small = build(tmp / "small" / "small.db", SMALL_NODES, 0)
        print(f"built {NODES:,} nodes and {BLOBS:,} blobs through the engine in {built:.1f} s")

        # Commit: turn 10 of a fresh session vs the end of the big one (same 4-node turn).
        fresh = Session(tmp / "fresh.db")
        for _ in range(10):
            fresh.commit(_turn_nodes(fresh, "f"))
        early, late, early_cold, late_cold = commit_costs(fresh, big, 30)
        fresh.close()
        print(f"commit of a 4-node turn at the end of {NODES:,} nodes vs at turn 10 (target <= 1.2x):")
        print(f"  turn10_ms: {1000 * early:.3f}  end_ms: {1000 * late:.3f}  ratio: {late / early:.2f}")
        print(f"  first commit after reopen: turn10_ms: {1000 * early_cold:.3f}  end_ms: {1000 * late_cold:.3f}  "
              f"ratio: {late_cold / early_cold:.2f}")

        # Active path at depth 100: the leaf of the last full chain in each session.
        leaf_big, leaf_small = f"n{NODES - 1}", f"n{SMALL_NODES - 1}"
        assert len(big.store.load_active_path(leaf_big).nodes) == CHAIN
        assert len(small.store.load_active_path(leaf_small).nodes) == CHAIN
        small_path, big_path = _paired(lambda: small.store.load_active_path(leaf_small),
                                       lambda: big.store.load_active_path(leaf_big), 50)
        print(f"active path at depth 100: {NODES:,}-node vs {SMALL_NODES:,}-node session (target <= 1.2x):")
        print(f"  small_ms: {1000 * small_path:.3f}  big_ms: {1000 * big_path:.3f}  "
              f"ratio: {big_path / small_path:.2f}")
        big.close()
        small.close()

        small_row, big_row = list_rows(tmp / "small", tmp / "big", 40)
        print(f"sessions list row: {NODES:,}-node/{BLOBS:,}-blob vs {SMALL_NODES:,}-node session (target <= 1.2x):")
        print(f"  small_ms: {1000 * small_row:.3f}  big_ms: {1000 * big_row:.3f}  ratio: {big_row / small_row:.2f}")

        base_rss = peak_rss_mb("--version")
        gc_rss = peak_rss_mb("gc", str(tmp / "big" / "big.db"))
        print(f"peak RSS of `lashdb gc` on the {NODES:,}-node session (target < 150 MB):")
        print(f"  gc_mb: {gc_rss:.1f}  (`lashdb --version`: {base_rss:.1f})")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
