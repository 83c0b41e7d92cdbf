"""Shared builders for the runtime-contract tests (commits, leases, queued work, attachments)."""

from __future__ import annotations

import threading
from collections.abc import Callable

from lashdb.engine import (
    DeliveryPolicy,
    GraphDelta,
    MergeKey,
    QueuedWorkBatchDraft,
    QueuedWorkPayload,
    RuntimeCommit,
    SlotPolicy,
    Store,
    StoreOptions,
)

TABLES = ("blobs", "session_head", "graph_nodes", "usage_deltas", "session_meta", "runtime_turn_commits",
          "session_execution_leases", "queued_work_batches", "queued_work_items", "attachment_manifest",
          "artifact_refs")

CONFIG = {"provider_id": "test-provider",
          "model": {"id": "test-model", "limits": {"context_window_tokens": 128_000}}}

LEASE_TTL = 60_000


class FakeClock:
    """An injectable clock (ms) that only moves when told to."""

    def __init__(self, now: int = 1_000_000) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now

    def advance(self, ms: int) -> None:
        self.now += ms


def commit_for(session_id: str = "root", **fields) -> RuntimeCommit:
    """A commit built like the runtime's default state: no expected revision, empty full replace."""
    fields.setdefault("graph", GraphDelta.replace_full())
    fields.setdefault("config", CONFIG)
    return RuntimeCommit(session_id, **fields)


def text_draft(session_id: str, text: str, *, slot: str = "exclusive", delivery: str = "earliest_safe_boundary",
               merge_key: MergeKey | None = None, source_key: str | None = None,
               available_at_ms: int = 0) -> QueuedWorkBatchDraft:
    """A one-item turn-input batch holding ``text``."""
    return QueuedWorkBatchDraft(session_id, DeliveryPolicy(delivery), SlotPolicy(slot),
                                (QueuedWorkPayload.text(text),), source_key=source_key,
                                merge_key=merge_key or MergeKey.never(), available_at_ms=available_at_ms)


def open_file(path, clock: FakeClock | None = None, **options) -> Store:
    """A file store, optionally on an injected clock."""
    return Store.open_with_options(path, StoreOptions(clock=clock, **options))


def table_counts(store: Store) -> dict[str, int]:
    """Row count of every session table, plus SQLite's total_changes of this connection."""
    def read(c):
        counts = {t: c.execute(f"SELECT count(*) FROM {t}").fetchall()[0][0] for t in TABLES}
        counts["total_changes"] = c.total_changes()
        return counts
    return store.read(read)


def race(fn: Callable[[int], object], count: int) -> list:
    """Run ``fn(i)`` on ``count`` threads released together; each result, or the exception it raised."""
    gate = threading.Barrier(count)
    outcomes: list = [None] * count

    def run(i: int) -> None:
        gate.wait()
        try:
            outcomes[i] = fn(i)
        except Exception as exc:  # handed back for the test to classify
            outcomes[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return outcomes
