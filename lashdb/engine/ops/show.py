"""``sessions show``: everything about one session database (CLI.md).

Contract:
- Read-only: the database is opened through :meth:`Store.open_readonly` and never written.
- Foreign schemas are read where the columns allow (the backend's :class:`~.ports.SessionReader`
  degrades per column; an absent table gives an empty section, ``None`` in the JSON).
- What GC would collect is computed only for the supported schema (a foreign one roots blobs
  differently); a GC that aborts leaves a note instead of failing the view.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lashdb.engine.session.ports import session_tx
from lashdb.engine.session import blobs, gc
from . import discovery
from lashdb.engine.base import kinds
from lashdb.engine.base.canonical import jsonable
from lashdb.engine.base.errors import GcAborted, one_line
from lashdb.engine.base.locator import as_target
from lashdb.engine.session.meta_view import MetaView
from lashdb.engine.session.model import SessionRelation, TokenLedgerEntry, TokenUsage, merge_ledger
from lashdb.engine.session.store import Store
from lashdb.engine.base.timing import wall_clock_ms
from .ports import read_meta, session_reader
from .views import (FileSizes, HeadView, _node_counts, _time_pair, _usage, _user_messages, file_sizes, read_head,
                    status_of)


# --- sessions show ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class BlobStats:
    """Blob rows of a session: sizes, kinds, compression, and what GC would collect."""

    count: int = 0
    stored_bytes: int = 0
    logical_bytes: int = 0
    compressed_count: int = 0
    undecodable_count: int = 0
    by_kind: dict[str, dict[str, int]] = field(default_factory=dict)
    by_format: dict[str, int] = field(default_factory=dict)
    unreachable_count: int | None = None
    unreachable_bytes: int | None = None
    reachability_note: str | None = None
    artifact_refs: int = 0

    def to_json(self) -> dict[str, Any]:
        """The documented JSON object."""
        return {
            "count": self.count, "stored_bytes": self.stored_bytes, "logical_bytes": self.logical_bytes,
            "compressed_count": self.compressed_count,
            "compressed_share": round(self.compressed_count / self.count, 4) if self.count else 0.0,
            "undecodable_count": self.undecodable_count, "by_kind": self.by_kind, "by_format": self.by_format,
            "unreachable_count": self.unreachable_count, "unreachable_bytes": self.unreachable_bytes,
            "reachability_note": self.reachability_note, "artifact_refs": self.artifact_refs,
        }


def _blob_stats(c: Any, foreign: bool, limit: int) -> BlobStats:
    reader = session_reader(c)
    rows = reader.blob_contents()
    if rows is None:
        return BlobStats()
    count = stored = logical = compressed = undecodable = 0
    by_kind: dict[str, dict[str, int]] = {}
    by_format: dict[str, int] = {}
    sizes: dict[str, int] = {}
    for blob_hash, content in rows:
        info = blobs.describe(blob_hash, content, limit)
        count += 1
        stored += info.stored_bytes
        sizes[blob_hash] = info.stored_bytes
        logical += info.logical_bytes or 0
        compressed += info.compression == "Zlib"
        undecodable += info.error is not None
        by_format[info.format] = by_format.get(info.format, 0) + 1
        entry = by_kind.setdefault(info.kind, {"count": 0, "stored_bytes": 0, "logical_bytes": 0})
        entry["count"] += 1
        entry["stored_bytes"] += info.stored_bytes
        entry["logical_bytes"] += info.logical_bytes or 0
    artifacts = reader.artifact_count()
    unreachable = unreachable_bytes = None
    note = None
    if foreign:
        note = "not computed: a foreign schema roots blobs differently"
    else:
        try:
            reachable = gc.find_reachable_objects(session_tx(c), limit).reachable
            unreachable = sum(1 for h in sizes if h not in reachable)
            unreachable_bytes = sum(n for h, n in sizes.items() if h not in reachable)
        except GcAborted as exc:
            note = f"not computed: {one_line(exc)}"
    return BlobStats(count, stored, logical, compressed, undecodable, dict(sorted(by_kind.items())),
                     dict(sorted(by_format.items())), unreachable, unreachable_bytes, note, artifacts)


@dataclass(frozen=True)
class LeaseView:
    """The session execution lease row (runtime-contract §3): live, expired or released."""

    owner_id: str | None
    fencing_token: int
    claimed_ms: int
    expires_ms: int
    state: str
    now_ms: int

    def to_json(self) -> dict[str, Any]:
        """The documented JSON object."""
        held = self.state != "released"
        return {"state": self.state, "owner_id": self.owner_id, "fencing_token": self.fencing_token,
                **_time_pair("claimed_at", self.claimed_ms if held else None),
                **_time_pair("expires_at", self.expires_ms if held else None),
                "expires_in_ms": self.expires_ms - self.now_ms if held else None}


def read_lease(c: Any, session_id: str | None, now_ms: int) -> LeaseView | None:
    """The execution lease (``session_id``'s row, else the first) as seen at ``now_ms``; ``None`` when
    there is none or the schema lacks the lease columns."""
    row = session_reader(c).lease_row(session_id)
    if row is None:
        return None
    _sid, owner, token, fencing, claimed, expires = row
    expires = int(expires or 0)
    state = "released" if token is None else ("live" if expires > now_ms else "expired")
    return LeaseView(owner, int(fencing or 0), int(claimed or 0), expires, state, now_ms)


def _queued_work(c: Any, now_ms: int) -> dict[str, Any] | None:
    counts = session_reader(c).queued_work_counts(now_ms)
    if counts is None:
        return None
    batches, claimed, ready, items = counts
    return {"batches": batches, "pending": batches - claimed, "claimed": claimed, "ready": ready, "items": items}


def _attachments(c: Any, now_ms: int) -> dict[str, Any] | None:
    counts = session_reader(c).attachment_counts()
    if counts is None:
        return None
    committed, uncommitted, oldest = counts
    return {"committed": committed, "uncommitted": uncommitted,
            **_time_pair("oldest_uncommitted_at", oldest),
            "oldest_uncommitted_age_ms": None if oldest is None else now_ms - oldest}


def _turn_commits(c: Any) -> dict[str, Any] | None:
    stats = session_reader(c).turn_commit_stats()
    if stats is None:
        return None
    count, last = stats
    return {"count": count, **_time_pair("last_committed_at", last)}


def _ledger_json(ledger: tuple[TokenLedgerEntry, ...]) -> list[dict[str, Any]]:
    return [{"source": e.source, "model": e.model, **e.usage.to_json(), "total_tokens": e.usage.total}
            for e in ledger]


@dataclass(frozen=True)
class SessionDetails:
    """Everything ``sessions show`` prints about one session database."""

    path: Path
    status: str
    foreign: bool
    schema_version: int
    meta: MetaView | None
    head: HeadView | None
    live_nodes: int
    tombstoned_nodes: int
    user_messages: int
    token_ledger: tuple[TokenLedgerEntry, ...]
    blobs: BlobStats
    execution_lease: LeaseView | None
    queued_work: dict[str, Any] | None
    attachments: dict[str, Any] | None
    turn_commits: dict[str, Any] | None
    sidecars: dict[str, Path]
    files: FileSizes

    def to_json(self) -> dict[str, Any]:
        """The documented JSON object."""
        relation = self.meta.relation if self.meta else SessionRelation.root()
        totals = TokenUsage()
        for entry in self.token_ledger:
            totals = totals + entry.usage
        head = None
        if self.head is not None:
            head = {"revision": self.head.revision, "leaf_node_id": self.head.leaf_node_id,
                    "checkpoint_ref": self.head.checkpoint_ref, "live_nodes": self.live_nodes,
                    "tombstoned_nodes": self.tombstoned_nodes, "graph_node_count": self.head.graph_node_count}
        return {
            "path": str(self.path), "status": self.status, "foreign": self.foreign,
            "schema_version": self.schema_version, "supported_schema_version": kinds.SESSION_VERSION,
            "meta": self.meta.to_json() if self.meta else None,
            "relation": jsonable(relation.to_json()),
            "head": head,
            "user_messages": self.user_messages,
            "token_ledger": _ledger_json(self.token_ledger),
            "token_totals": {**totals.to_json(), "total_tokens": totals.total},
            "blobs": self.blobs.to_json(),
            "execution_lease": self.execution_lease.to_json() if self.execution_lease else None,
            "queued_work": self.queued_work,
            "attachments": self.attachments,
            "turn_commits": self.turn_commits,
            "sidecars": {role: str(p) for role, p in self.sidecars.items()},
            "files": self.files.to_json(),
        }


def session_details(path: str | os.PathLike[str], *, now_ms: int | None = None) -> SessionDetails:
    """Read one session database (foreign schemas too) for ``sessions show``."""
    now = wall_clock_ms() if now_ms is None else int(now_ms)
    target = as_target(path)
    with Store.open_readonly(path) as store:
        foreign = store.foreign
        limit = store.options.decompression_limit

        def read(c: Any) -> SessionDetails:
            meta = read_meta(c)
            head = read_head(c)
            live, dead = _node_counts(c)
            users, _first = _user_messages(c)
            session_id = (meta.session_id if meta else None) or (head.session_id if head else None)
            return SessionDetails(
                target, status_of(store), foreign, store.classification.user_version, meta, head,
                live, dead, users, merge_ledger(_usage(c)), _blob_stats(c, foreign, limit),
                read_lease(c, session_id, now), _queued_work(c, now), _attachments(c, now), _turn_commits(c),
                discovery.sidecars_of(target), file_sizes(target))
        return store.read(read)



__all__ = ["BlobStats", "LeaseView", "SessionDetails", "read_lease", "session_details"]
