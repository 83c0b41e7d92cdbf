"""The session store: one SQLite database holding one lash session (SPEC §5).

Contract:
- ``Store.open``/``open_with_options`` open (creating if needed) a session database, WAL mode,
  applying the cutover rule; ``open_readonly`` opens for inspection and never writes a byte;
  ``memory`` is a private in-memory store (blob profile ``LowLatency``).
- Every write runs in one ``BEGIN IMMEDIATE`` transaction and raises on failure after rolling back;
  nothing is logged and ignored (upstream swallowed these errors).
- Every read that touches more than one statement runs in one read transaction, so it sees one
  consistent state. Rows that cannot be decoded raise :class:`BackendError` or a blob error naming
  the row; they are never skipped silently.
- A ``Store`` may be shared between threads; its operations are serialised by a lock.
- GC (:meth:`Store.gc_unreachable`) runs in batches and skips a session whose execution lease is
  live and held by someone else than this store object (leases it claimed, or the fence passed in);
  ``force`` overrides. A head naming a missing checkpoint raises :class:`MissingCheckpoint` on read.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import apsw

from . import attachments, blobs, gc, leases, queued_work
from lashdb.engine.base import codec, timing, values
from . import commit as commit_ops
from . import graph as graph_rows
from lashdb.engine.base.codec import BlobProfile, Descriptor
from lashdb.engine.sqlite.connection import (
    open_memory,
    open_readonly,
    query_one,
    read_snapshot,
    sidecar,
    translate,
    write_transaction,
)
from lashdb.engine.base.errors import (
    BackendError,
    BlobDecodeError,
    CompactionFailed,
    LashdbError,
    SchemaVersionError,
)
from .model import (
    GcBusy,
    GcReport,
    GraphNode,
    HydratedCheckpoint,
    SessionCheckpoint,
    SessionGraph,
    SessionHead,
    SessionHeadMeta,
    SessionMeta,
    SessionPickerInfo,
    SessionRelation,
    StoredCheckpoint,
    TokenLedgerEntry,
    TokenUsage,
    VacuumReport,
    dumps,
    merge_ledger,
)
from lashdb.engine.sqlite.schema import (
    SESSION,
    Classification,
    classify_connection,
    ensure_schema,
    open_for_kind,
)
from lashdb.engine.base.timing import (  # noqa: F401  (re-exported: callers import the clock from here)
    DURABLE,
    wall_clock_ms,
)
from .checkpoints import load_checkpoint  # noqa: F401  (re-exported)
from lashdb.engine.sqlite.session_rows import (  # noqa: F401
    insert_usage,
    load_head_meta,
    load_meta,
    load_usage,
    save_head_row,
)



@dataclass(frozen=True)
class GcPolicy:
    """Run GC after every N-th successful commit (``None`` or 0: never), deleting at most
    ``batch_size`` rows per transaction."""

    auto_run_every_commits: int | None = None
    batch_size: int = gc.DEFAULT_BATCH_SIZE


@dataclass(frozen=True)
class StoreOptions:
    """How a store compresses blobs, when it collects garbage, and where it reads the time."""

    blob_profile: BlobProfile = BlobProfile.BALANCED
    gc_policy: GcPolicy = field(default_factory=GcPolicy)
    decompression_limit: int = codec.DEFAULT_DECOMPRESSION_LIMIT
    clock: Callable[[], int] | None = None
    # Enqueue nonces (default: random per open plus a counter). Inject only for reproducible batch
    # ids (the demo, tests): ids of batches enqueued in the same millisecond must still differ.
    enqueue_nonce: Callable[[], int] | None = None


class ReadOnlyStore(LashdbError):
    """A write was attempted on a store opened read-only."""

    def __init__(self, path: str | None):
        self.path = path
        super().__init__(f"{path}: opened read-only; this operation writes",
                         hint="open the store with Store.open to write")


class Store:
    """A lash session database. Use as a context manager or call :meth:`close`."""

    durability_tier = DURABLE

    def __init__(self, conn: apsw.Connection, path: str | None, options: StoreOptions, *,
                 readonly: bool = False, classification: Classification | None = None) -> None:
        self._conn = conn
        self.path = path
        self.options = options
        self.readonly = readonly
        self.classification = classification
        self._lock = threading.RLock()
        self._clock = options.clock or wall_clock_ms
        # Per-open count of successful commits, for the auto-GC cadence (runtime contract §2.4).
        self.commit_count = 0
        self.last_auto_gc_error: LashdbError | None = None
        # Enqueue nonces: random per open plus a counter, separate from commit_count (W8).
        self._enqueue_nonce = options.enqueue_nonce or queued_work.NonceSource()
        self._graph_count_hint = commit_ops.GraphCountHint()
        # Execution leases this store object claimed: GC through it runs under them (SPEC §6 amended).
        self._held_leases: set[leases.SessionExecutionLeaseFence] = set()

    # --- opening ----------------------------------------------------------------------------------

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> Store:
        """Open or create the session database at ``path`` with default options."""
        return cls.open_with_options(path, StoreOptions())

    @classmethod
    def open_with_options(cls, path: str | os.PathLike[str], options: StoreOptions) -> Store:
        """Open or create a session database; refuse a foreign schema without changing it."""
        path = os.fspath(path)
        # Classifies an existing file read-only first: a foreign file is refused byte-for-byte intact.
        conn = open_for_kind(path, SESSION)
        return cls(conn, path, options)

    @classmethod
    def open_readonly(cls, path: str | os.PathLike[str], options: StoreOptions | None = None) -> Store:
        """Open for inspection only: no write, no sidecar, no changed byte; foreign schemas allowed."""
        path = os.fspath(path)
        conn = open_readonly(path)
        try:
            found = classify_connection(conn, path)
        except apsw.Error as exc:
            conn.close()
            raise translate(exc, path) from exc
        if found.kind is not SESSION:
            conn.close()
            found.require(SESSION)
        return cls(conn, path, options or StoreOptions(), readonly=True, classification=found)

    @classmethod
    def memory(cls, options: StoreOptions | None = None) -> Store:
        """A private in-memory session store (default blob profile ``LowLatency``)."""
        conn = open_memory()
        ensure_schema(conn, SESSION)
        return cls(conn, None, options or StoreOptions(blob_profile=BlobProfile.LOW_LATENCY))

    def close(self) -> None:
        """Close the connection; the store cannot be used afterwards."""
        with self._lock:
            self._conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def foreign(self) -> bool:
        """True when opened read-only on a session database of another schema version."""
        return bool(self.classification and self.classification.foreign)

    def now_ms(self) -> int:
        """The store's clock (injectable through ``StoreOptions.clock``)."""
        return int(self._clock())

    # --- transaction plumbing ---------------------------------------------------------------------

    def _write(self, fn: Callable[[apsw.Connection], Any]) -> Any:
        if self.readonly:
            raise ReadOnlyStore(self.path)
        with self._lock, write_transaction(self._conn, self.path) as conn:
            return fn(conn)

    def _read(self, fn: Callable[[apsw.Connection], Any]) -> Any:
        with self._lock, read_snapshot(self._conn, self.path) as conn:
            return fn(conn)

    @property
    def _limit(self) -> int:
        return self.options.decompression_limit

    # --- session meta -----------------------------------------------------------------------------

    def save_session_meta(self, meta: SessionMeta) -> None:
        """Replace the session meta row."""
        values.check_session_meta(meta)
        relation = dumps(meta.relation.to_json())
        self._write(lambda c: c.execute(
            "INSERT OR REPLACE INTO session_meta "
            "(singleton, session_id, session_name, created_at, model, cwd, relation_json) "
            "VALUES (1, ?, ?, ?, ?, ?, ?)",
            (meta.session_id, meta.session_name, meta.created_at, meta.model, meta.cwd, relation)))

    def load_session_meta(self) -> SessionMeta | None:
        """The session meta, or ``None`` when never saved."""
        return self._read(load_meta)

    # --- head -------------------------------------------------------------------------------------

    def save_session_head_meta(self, meta: SessionHeadMeta) -> None:
        """Replace the head row; ``head_revision`` is written to both the column and the JSON."""
        values.check_head(meta, "head")
        self._write(lambda c: save_head_row(c, meta))

    def load_session_head_meta(self) -> SessionHeadMeta | None:
        """The head meta (revision from the column), or ``None`` when there is no head."""
        return self._read(load_head_meta)

    def load_session_head(self) -> SessionHead | None:
        """The head with its full graph (leaf set from the head) and merged token ledger."""
        def read(c: apsw.Connection) -> SessionHead | None:
            meta = load_head_meta(c)
            if meta is None:
                return None
            return SessionHead(
                meta.session_id, meta.head_revision, meta.config, meta.agent_frames,
                meta.current_agent_frame_id,
                SessionGraph(tuple(graph_rows.load_nodes(c)), meta.leaf_node_id),
                meta.checkpoint_ref, merge_ledger(load_usage(c)),
            )
        return self._read(read)

    # --- graph ------------------------------------------------------------------------------------

    def replace_session_graph(self, graph: SessionGraph | Iterable[GraphNode]) -> None:
        """Delete every graph row (tombstoned too) and insert the given nodes in order."""
        nodes = list(graph.nodes if isinstance(graph, SessionGraph) else graph)
        values.check_nodes(nodes, "nodes")
        self._write(lambda c: graph_rows.replace_nodes(c, nodes))

    def append_session_graph_nodes(self, nodes: Iterable[GraphNode]) -> None:
        """Append nodes in order; a duplicate node id rolls the whole append back."""
        nodes = list(nodes)
        values.check_nodes(nodes, "nodes")
        if nodes:
            self._write(lambda c: graph_rows.insert_nodes(c, nodes))

    def load_session_graph(self) -> SessionGraph:
        """Every live node in ``seq`` order (no leaf)."""
        return SessionGraph(tuple(self._read(graph_rows.load_nodes)), None)

    def load_active_path(self, leaf_node_id: str | None = None) -> SessionGraph:
        """The chain from the root to ``leaf_node_id`` (default: the head's leaf), root first."""
        def read(c: apsw.Connection) -> SessionGraph:
            leaf = leaf_node_id
            if leaf is None:
                meta = load_head_meta(c)
                leaf = meta.leaf_node_id if meta else None
            if leaf is None:
                return SessionGraph((), None)
            return SessionGraph(tuple(graph_rows.active_path(c, leaf)), leaf)
        return self._read(read)

    def load_node(self, node_id: str) -> GraphNode | None:
        """The live node ``node_id``, or ``None``."""
        return self._read(lambda c: graph_rows.load_node(c, node_id))

    def tombstone_nodes(self, node_ids: Iterable[str]) -> None:
        """Hide nodes from every read until :meth:`vacuum` removes them; unknown ids are ignored."""
        ids = list(node_ids)
        if ids:
            self._write(lambda c: graph_rows.tombstone(c, ids))

    # --- blobs ------------------------------------------------------------------------------------

    def put_blob(self, content: bytes) -> str:
        """Store bytes as a ``GenericBlob``; return the content hash."""
        return self.put_artifact_blob(Descriptor.generic(), content)

    def put_artifact_blob(self, descriptor: Descriptor, content: bytes) -> str:
        """Store bytes under ``descriptor`` (compressed per the blob profile); return the hash."""
        profile = self.options.blob_profile
        return self._write(lambda c: blobs.put_content(c, descriptor, content, profile))

    def get_blob(self, blob_ref: str) -> bytes | None:
        """The verified logical content of a blob, or ``None`` when absent."""
        decoded = self._read(lambda c: blobs.get_decoded(c, blob_ref, self._limit))
        return None if decoded is None else decoded.content

    def put_typed_blob(self, value: Any) -> str:
        """Store a value (CBOR) as a ``GenericBlob``; return its hash."""
        return self.put_typed_artifact_blob(Descriptor.generic(), value)

    def put_typed_artifact_blob(self, descriptor: Descriptor, value: Any) -> str:
        """Store a value (CBOR) under ``descriptor``; return its hash."""
        values.check(value, "value")
        profile = self.options.blob_profile
        return self._write(lambda c: blobs.put_value(c, descriptor, value, profile))

    def get_typed_blob(self, blob_ref: str) -> Any:
        """Decode a value blob written by lashdb (CBOR) or upstream (MessagePack); ``None`` if absent."""
        return self._read(lambda c: blobs.get_value(c, blob_ref, self._limit))

    def blob_exists(self, blob_ref: str) -> bool:
        """True when a row with that hash is stored."""
        return self._read(lambda c: query_one(c, "SELECT 1 FROM blobs WHERE hash = ?", (blob_ref,)) is not None)

    def get_blob_envelope(self, blob_ref: str) -> codec.Envelope | None:
        """The parsed envelope of a blob (without inflating it), or ``None`` when absent."""
        stored = self._read(lambda c: blobs.get_stored(c, blob_ref))
        return None if stored is None else codec.parse_envelope(stored, blob_ref)

    def iter_blob_rows(self, hashes: Iterable[str] | None = None) -> Iterator[tuple[str, bytes]]:
        """Yield ``(hash, stored bytes)`` rows, all (hash order) or the given ones."""
        with self._lock, read_snapshot(self._conn, self.path) as c:
            yield from blobs.iter_rows(c, hashes)

    def blob_hashes(self, prefix: str = "") -> list[str]:
        """Stored blob hashes starting with ``prefix``."""
        return self._read(lambda c: blobs.hashes_with_prefix(c, prefix))

    def blob_count_and_size(self) -> tuple[int, int]:
        """(number of blob rows, total stored bytes)."""
        return self._read(blobs.count_and_size)

    # --- checkpoints ------------------------------------------------------------------------------

    def put_checkpoint(self, checkpoint: HydratedCheckpoint) -> StoredCheckpoint:
        """Store given snapshots, then the manifest, in one transaction."""
        values.check_checkpoint(checkpoint, "checkpoint")
        profile = self.options.blob_profile
        return self._write(lambda c: put_checkpoint_rows(c, checkpoint, profile))

    def get_checkpoint(self, blob_ref: str) -> HydratedCheckpoint | None:
        """A hydrated checkpoint; ``None`` if the manifest is absent (a missing child reads as ``None``)."""
        return self._read(lambda c: load_checkpoint(c, blob_ref, self._limit))

    # --- usage ------------------------------------------------------------------------------------

    def append_usage_deltas(self, entries: Iterable[TokenLedgerEntry]) -> None:
        """Append one ``usage_deltas`` row per entry, in order."""
        entries = list(entries)
        values.check_ledger(entries, "entries")
        if entries:
            self._write(lambda c: insert_usage(c, entries))

    def load_usage_deltas(self) -> list[TokenLedgerEntry]:
        """Every usage row in ``seq`` order, unmerged."""
        return self._read(load_usage)

    def load_token_ledger(self) -> tuple[TokenLedgerEntry, ...]:
        """The merged ledger: zero-total rows dropped, equal (source, model) pairs summed."""
        return merge_ledger(self.load_usage_deltas())

    # --- artifacts --------------------------------------------------------------------------------

    def put_module_artifact(self, artifact_ref: str, content: bytes) -> str:
        """Store a compiled module as a ``LashlangModule`` blob and root it under ``artifact_ref``."""
        return self._put_artifact_ref(artifact_ref, Descriptor.lashlang_module(), content)

    def get_module_artifact(self, artifact_ref: str) -> bytes | None:
        """The module bytes rooted under ``artifact_ref``, or ``None``."""
        def read(c: apsw.Connection) -> bytes | None:
            row = query_one(c, "SELECT blob_ref FROM artifact_refs WHERE artifact_ref = ?", (artifact_ref,))
            decoded = None if row is None else blobs.get_decoded(c, row[0], self._limit)
            return None if decoded is None else decoded.content
        return self._read(read)

    def list_artifact_refs(self) -> list[tuple[str, str]]:
        """Every ``(artifact_ref, blob_ref)`` pair, ordered by artifact ref."""
        return self._read(lambda c: [tuple(r) for r in c.execute(
            "SELECT artifact_ref, blob_ref FROM artifact_refs ORDER BY artifact_ref")])

    # --- picker -----------------------------------------------------------------------------------

    def load_picker_info(self) -> SessionPickerInfo | None:
        """First user message, user message count, cwd and relation; ``None`` without meta."""
        def read(c: apsw.Connection) -> SessionPickerInfo | None:
            meta = load_meta(c)
            if meta is None:
                return None
            users = [n for n in graph_rows.load_nodes(c) if n.role == "User"]
            return SessionPickerInfo(meta.session_id, meta.cwd, meta.relation,
                                     users[0].text if users else "", len(users))
        return self._read(read)

    # --- maintenance ------------------------------------------------------------------------------

    def gc_unreachable(self, *, dry_run: bool = False, force: bool = False,
                       lease: leases.SessionExecutionLeaseFence | None = None,
                       progress: gc.Progress | None = None) -> GcReport:
        """Collect blobs unreachable from the head checkpoint and artifact refs, in batches (SPEC §6).

        A live execution lease that neither this store object claimed nor ``lease`` names makes it
        skip (or stop between batches): the report's ``busy`` names the holder. ``force`` ignores leases.
        """
        with self._lock:
            held = set(self._held_leases) | ({lease} if lease is not None else set())

        def busy(c: apsw.Connection) -> GcBusy | None:
            if force:
                return None
            found = leases.live_foreign_lease(c, self._op_now(), held)
            return None if found is None else GcBusy(found.session_id, found.owner_id, found.expires_at_epoch_ms)

        batch_size = self.options.gc_policy.batch_size
        if dry_run:
            if self.foreign:
                # GC reads the head by this schema's columns; on another version it would misjudge roots.
                raise SchemaVersionError(SESSION.name, SESSION.version, self.classification.user_version, self.path)
            return gc.collect(self._read, limit=self._limit, batch_size=batch_size, dry_run=True, busy=busy,
                              progress=progress)
        return gc.collect(self._write, limit=self._limit, batch_size=batch_size, busy=busy, progress=progress)

    def vacuum(self, *, compact: bool = False) -> VacuumReport:
        """Delete tombstoned nodes (committed first); with ``compact``, also return free pages to the file
        system, raising :class:`CompactionFailed` (carrying the report) when that cannot finish."""
        removed = self._write(graph_rows.remove_tombstoned)
        if not compact:
            return VacuumReport(removed)
        with self._lock:
            before = self.size_on_disk()
            failure = self._compact()
            report = VacuumReport(removed, failure is None, before, self.size_on_disk(),
                                  None if failure is None else failure[0])
        if failure is not None:
            raise CompactionFailed(self.path, report, hint=failure[1])
        return report

    def _compact(self) -> tuple[str, str] | None:
        """``VACUUM`` then ``wal_checkpoint(TRUNCATE)``; ``None`` when both finished, else (reason, hint)."""
        failure = None
        try:
            self._conn.execute("VACUUM")
        except apsw.Error as exc:
            failure = _vacuum_failure(exc, self.path)
        if self.path is None:
            return failure
        # Also after a failed VACUUM: the checkpoint gives back the -wal space the attempt took.
        try:
            busy = self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()[0][0]
            stuck = "another connection kept the -wal busy (a reader or a writer)" if busy else None
        except apsw.Error as exc:
            stuck = f"failed ({_reason(exc, self.path)})"
        if stuck is None:
            return failure
        if failure is not None:
            return f"{failure[0]}; the -wal could not be truncated afterwards either: {stuck}", failure[1]
        return (f"the final checkpoint could not finish: {stuck}; the compacted pages stay in the -wal "
                "until a later checkpoint", "run `lashdb vacuum --compact` again when no runtime is using "
                "the session; the nodes it removed stay removed")

    def size_on_disk(self) -> int:
        """Bytes of the database file plus its ``-wal`` (0 for an in-memory store)."""
        if self.path is None:
            return 0
        total = 0
        for name in (self.path, sidecar(self.path, "-wal")):
            try:
                total += os.path.getsize(name)
            except FileNotFoundError:
                pass
        return total

    # --- used by the runtime-contract layer and the CLI -------------------------------------------

    def read(self, fn: Callable[[apsw.Connection], Any]) -> Any:
        """Run ``fn(connection)`` inside one read snapshot (engine-internal use)."""
        return self._read(fn)

    def write(self, fn: Callable[[apsw.Connection], Any]) -> Any:
        """Run ``fn(connection)`` inside one ``BEGIN IMMEDIATE`` transaction (engine-internal use)."""
        return self._write(fn)

    # --- runtime contract: commits, leases, queued work, attachments (runtime-contract §2–§5) -----
    # Thin entry points: the rules live in commit.py, leases.py, queued_work.py, attachments.py.

    def _op_now(self) -> int:
        # One validated clock reading per operation, taken inside its transaction (W19).
        return timing.clock_now(self.now_ms())

    def commit_runtime_state(self, commit: commit_ops.RuntimeCommit) -> commit_ops.RuntimeCommitResult:
        """Apply one runtime commit atomically (all checks, then all writes); replays return the first result."""
        commit_ops.check(commit)
        prepared = commit_ops.prepare_checkpoint(commit.checkpoint, self.options.blob_profile)
        result = self.write(lambda c: commit_ops.apply(c, commit, prepared, self._op_now(), self._graph_count_hint))
        with self._lock:
            self.commit_count += 1
            number = self.commit_count
        if commit.release_session_execution_lease is not None:
            self._forget_lease(commit.release_session_execution_lease)
        commit_ops.auto_gc(self, number, commit.session_execution_lease)
        return result

    def load_session(self, scope: commit_ops.SessionReadScope | None = None) -> commit_ops.PersistedSessionRead | None:
        """The session (full graph, or an active path) with checkpoint and ledger; ``None`` without a head."""
        scope = scope or commit_ops.SessionReadScope.full_graph()
        return self.read(lambda c: commit_ops.load_session(c, scope, self._limit))

    def try_claim_session_execution_lease(self, session_id: str, owner_id: str,
                                          lease_ttl_ms: int) -> leases.SessionExecutionLease | None:
        """Take the session's execution lease unless a live one exists (then ``None``)."""
        ttl = timing.ttl("lease_ttl_ms", lease_ttl_ms)
        values.check_text(session_id, "session_id")
        values.check_text(owner_id, "owner_id")
        lease = self.write(lambda c: leases.try_claim(c, session_id, owner_id, ttl, self._op_now()))
        if lease is not None:
            with self._lock:
                self._held_leases.add(lease.fence())
        return lease

    def _forget_lease(self, completion: leases.SessionExecutionLeaseCompletion) -> None:
        fence = leases.SessionExecutionLeaseFence(completion.session_id, completion.owner_id,
                                                  completion.lease_token, completion.fencing_token)
        with self._lock:
            self._held_leases.discard(fence)

    def renew_session_execution_lease(self, fence: leases.SessionExecutionLeaseFence,
                                      lease_ttl_ms: int) -> leases.SessionExecutionLease:
        """Set the live holder's expiry to now + TTL; anyone else gets ``SessionExecutionLeaseExpired``."""
        ttl = timing.ttl("lease_ttl_ms", lease_ttl_ms)
        leases.check_fence(fence)
        return self.write(lambda c: leases.renew(c, fence, ttl, self._op_now()))

    def release_session_execution_lease(self, completion: leases.SessionExecutionLeaseCompletion) -> None:
        """Release the lease if ``completion`` names its exact holder; otherwise change nothing."""
        leases.check_fence(completion)
        self.write(lambda c: leases.release(c, completion))
        self._forget_lease(completion)

    def enqueue_queued_work(self, draft: queued_work.QueuedWorkBatchDraft) -> queued_work.QueuedWorkBatch:
        """Store a batch (or return the stored batch with the same session and source key)."""
        queued_work.check_draft(draft)
        return self.write(lambda c: queued_work.enqueue(c, draft, self._op_now(), self._enqueue_nonce()))

    def claim_ready_queued_work(self, session_id: str, session_execution_lease: leases.SessionExecutionLeaseFence,
                                owner_id: str, boundary: queued_work.QueuedWorkClaimBoundary | str,
                                lease_ttl_ms: int, max_batches: int) -> queued_work.QueuedWorkClaim | None:
        """Claim the next selectable prefix of ready batches under a live session lease fence."""
        boundary = queued_work.QueuedWorkClaimBoundary(boundary)
        ttl = timing.ttl("lease_ttl_ms", lease_ttl_ms)
        if timing.ttl("max_batches", max_batches) == 0:
            return None
        leases.check_fence(session_execution_lease)
        return self.write(lambda c: queued_work.claim_ready(
            c, session_id, session_execution_lease, owner_id, boundary, ttl, max_batches, self._op_now()))

    def claim_ready_queued_work_by_batch_ids(
            self, session_id: str, session_execution_lease: leases.SessionExecutionLeaseFence, owner_id: str,
            boundary: queued_work.QueuedWorkClaimBoundary | str, lease_ttl_ms: int,
            batch_ids: list[str] | tuple[str, ...]) -> queued_work.QueuedWorkClaim | None:
        """Claim exactly ``batch_ids`` if they are the next claimable prefix, else ``None``."""
        boundary = queued_work.QueuedWorkClaimBoundary(boundary)
        ttl = timing.ttl("lease_ttl_ms", lease_ttl_ms)
        batch_ids = tuple(batch_ids)
        if not batch_ids:
            return None
        leases.check_fence(session_execution_lease)
        return self.write(lambda c: queued_work.claim_by_batch_ids(
            c, session_id, session_execution_lease, owner_id, boundary, ttl, batch_ids, self._op_now()))

    def renew_queued_work_claim(self, claim: queued_work.QueuedWorkClaim,
                                lease_ttl_ms: int) -> queued_work.QueuedWorkClaim:
        """Extend every batch of the claim, or raise ``QueuedWorkClaimExpired`` and extend none."""
        ttl = timing.ttl("lease_ttl_ms", lease_ttl_ms)
        return self.write(lambda c: queued_work.renew_claim(c, claim, ttl, self._op_now()))

    def abandon_queued_work_claim(self, claim: queued_work.QueuedWorkClaim) -> None:
        """Free the claim's batches for the next claimant (fencing counters kept)."""
        self.write(lambda c: queued_work.abandon(c, claim))

    def cancel_queued_work_batch(self, session_id: str, batch_id: str) -> queued_work.QueuedWorkBatch | None:
        """Delete a free batch and return it; ``None`` if it is missing or held by a live claim."""
        return self.write(lambda c: queued_work.cancel(c, session_id, batch_id, self._op_now()))

    def list_queued_work(self, session_id: str) -> list[queued_work.QueuedWorkBatch]:
        """Every batch of the session, held or free, in enqueue order."""
        return self.read(lambda c: queued_work.list_all(c, session_id))

    def list_pending_queued_work(self, session_id: str) -> list[queued_work.QueuedWorkBatch]:
        """The session's unheld batches (future ones included), in enqueue order."""
        return self.read(lambda c: queued_work.list_pending(c, session_id, self._op_now()))

    def record_intent(self, intent: attachments.AttachmentIntent) -> None:
        """Write the attachment's manifest row before its bytes; an existing row is kept as it is."""
        timing.stored("intent_at_epoch_ms", intent.intent_at_epoch_ms)
        for name in ("attachment_id", "session_id", "canonical_uri"):
            values.check_text(getattr(intent, name), f"intent.{name}")
        self.write(lambda c: attachments.record_intent(c, intent))

    def commit_refs(self, session_id: str, attachment_ids: list[str] | tuple[str, ...]) -> None:
        """Stamp the session's not-yet-committed manifest rows among ``attachment_ids`` as committed now."""
        ids = tuple(attachment_ids)
        values.check_text(session_id, "session_id")
        for index, attachment_id in enumerate(ids):
            values.check_text(attachment_id, f"attachment_ids[{index}]")
        if ids:
            self.write(lambda c: attachments.stamp_committed(c, session_id, ids, self._op_now()))

    def list_uncommitted(self, older_than_epoch_ms: int) -> list[attachments.AttachmentManifestEntry]:
        """Never-committed manifest rows with intent at or before the cutoff, oldest first."""
        cutoff = timing.stored("older_than_epoch_ms", older_than_epoch_ms)
        return self.read(lambda c: attachments.list_uncommitted(c, cutoff))

    list_uncommitted_older_than = list_uncommitted

    def forget(self, attachment_id: str) -> None:
        """Delete the manifest row of ``attachment_id`` (absent: no-op)."""
        self.write(lambda c: attachments.forget(c, attachment_id))

    def put_process_execution_env(self, env_ref: str, content: bytes) -> str:
        """Store a process execution env (kind ``ProcessExecutionEnv``) rooted under ``env_ref``."""
        values.check_text(env_ref, "env_ref")
        return self._put_artifact_ref(env_ref, Descriptor.process_execution_env(), content)

    def _put_artifact_ref(self, artifact_ref: str, descriptor: Descriptor, content: bytes) -> str:
        # One transaction: the blob and the root that keeps GC from collecting it.
        profile = self.options.blob_profile

        def write(c: apsw.Connection) -> str:
            blob_ref = blobs.put_content(c, descriptor, content, profile)
            c.execute("INSERT OR REPLACE INTO artifact_refs (artifact_ref, blob_ref) VALUES (?, ?)",
                      (artifact_ref, blob_ref))
            return blob_ref
        return self.write(write)

    def get_process_execution_env(self, env_ref: str) -> bytes | None:
        """The env bytes rooted under ``env_ref``; ``None`` if unknown; a dangling ref is ``BackendError``."""
        def read(c: apsw.Connection) -> bytes | None:
            row = query_one(c, "SELECT blob_ref FROM artifact_refs WHERE artifact_ref = ?", (env_ref,))
            if row is None:
                return None
            decoded = blobs.get_decoded(c, row[0], self._limit)
            if decoded is None:
                raise BackendError(f"process execution env `{env_ref}` points at a missing blob")
            return decoded.content
        return self.read(read)


# --- row helpers shared with the commit path -------------------------------------------------------


def _reason(exc: apsw.Error, path: str | None) -> str:
    failed = translate(exc, path)
    text = getattr(failed, "message", None) or str(failed)
    # The compaction report already names the file; the reason is what went wrong with it.
    return text.removeprefix(f"{path}: ") if path else text


def _vacuum_failure(exc: apsw.Error, path: str | None) -> tuple[str, str]:
    """Why ``VACUUM`` failed and what to do (it rolled back; the removal before it stays committed)."""
    if isinstance(exc, apsw.FullError):
        return ("VACUUM ran out of disk space (it needs free space about the size of the database, for its "
                "temporary copy and the -wal)", "free disk space in the database's directory and the temporary "
                "directory, then run `lashdb vacuum --compact` again; the nodes it removed stay removed")
    if isinstance(exc, (apsw.BusyError, apsw.LockedError)):
        return ("VACUUM could not take the write lock: another connection is writing",
                "run `lashdb vacuum --compact` again when no runtime is writing the session")
    return f"VACUUM failed: {_reason(exc, path)}", "run `lashdb doctor` on the session, then `lashdb vacuum " \
        "--compact` again; the nodes it removed stay removed"


def put_checkpoint_rows(c: apsw.Connection, checkpoint: HydratedCheckpoint, profile: BlobProfile) -> StoredCheckpoint:
    """Write tool state, plugin snapshot, execution state (those given), then the manifest."""
    prepared = commit_ops.prepare_checkpoint(checkpoint, profile)
    c.executemany("INSERT OR IGNORE INTO blobs (hash, content) VALUES (?, ?)", prepared.rows)
    return StoredCheckpoint(prepared.checkpoint_ref, prepared.manifest)
