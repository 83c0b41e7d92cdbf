"""The session store: one session database (SQLite file today) holding one lash session (SPEC §5).

Contract:
- The store reaches storage only through a :class:`~.ports.SessionBackend`, opened by name
  (``"sqlite.session"``) from :mod:`lashdb.engine.base.backends`; the rules take its
  :class:`~.ports.SessionTx`. ``snapshot``/``transaction`` run ``fn(tx)``; ``read``/``write`` run
  ``fn(connection)`` (the SQLite escape hatch, kept for tests and SQLite-only tooling).
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

import os
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

from lashdb.engine.base import backends, codec, values
from lashdb.engine.base.locator import SessionLocation, is_location
from lashdb.engine.base.codec import BlobProfile, Descriptor
from lashdb.engine.base.errors import (  # noqa: F401  (BackendError, BlobDecodeError re-exported)
    BackendError,
    BlobDecodeError,
    CompactionFailed,
    LashdbError,
)
from lashdb.engine.base.timing import (  # noqa: F401  (re-exported: callers import the clock from here)
    DURABLE,
    wall_clock_ms,
)

from . import blobs, gc, leases, queued_work, records
from . import commit as commit_ops
from . import graph as graph_rows
from .checkpoints import load_checkpoint  # noqa: F401  (re-exported)
from .model import (  # noqa: F401  (re-exported)
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
from .ports import SessionBackend, SessionTx
from .store_runtime import RuntimeEntryPoints
from .records import (  # noqa: F401  (re-exported: the pre-seam names of the row helpers)
    insert_usage,
    load_head_meta,
    load_meta,
    load_usage,
    save_head_row,
)

T = TypeVar("T")

# The backend opener registered by the SQLite package (the composition root imports it).
BACKEND = "sqlite.session"


@dataclass(frozen=True)
class GcPolicy:
    """Run GC after every N-th successful commit (``None`` or 0: never), deleting at most
    ``batch_size`` rows per transaction; sized so each holds the write lock about
    ``batch_target_ms`` (``None``: every batch ``batch_size`` rows)."""

    auto_run_every_commits: int | None = None
    batch_size: int = gc.DEFAULT_BATCH_SIZE
    batch_target_ms: float | None = gc.DEFAULT_BATCH_TARGET_MS


@dataclass(frozen=True)
class StoreOptions:
    """How a store compresses blobs, when it collects garbage, and where it reads the time."""

    blob_profile: BlobProfile = BlobProfile.BALANCED
    deferred_compression_max: int = 64 * 1024
    """Checkpoint snapshots a commit writes with fewer logical bytes than this are stored
    uncompressed and compressed by :meth:`Store.vacuum` (0: compress at commit, as the profile says).
    Compression was a quarter of a commit's time on the commit benchmark's ~8 KB snapshots; the hash
    is of the logical bytes, so a reader cannot tell, and vacuum leaves the bytes compression at
    commit would have stored."""
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


def _settled(tx: SessionTx, result: T) -> T:
    # Blobs a write stored or GC swept reach the head's list summary in the same transaction (a
    # commit has already folded in its own, so this reads nothing more after one).
    graph_rows.save_blob_delta(tx)
    return result


class Store(RuntimeEntryPoints):
    """A lash session database. Use as a context manager or call :meth:`close`."""

    durability_tier = DURABLE

    def __init__(self, backend: SessionBackend, options: StoreOptions) -> None:
        self._backend = backend
        self.path = backend.path
        self.options = options
        self.readonly = backend.readonly
        self.classification = backend.classification
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
    def open_with_options(cls, path: str | os.PathLike[str] | SessionLocation, options: StoreOptions) -> Store:
        """Open or create a session database (or a session at a :class:`SessionLocation`); refuse a
        foreign schema without changing it."""
        if is_location(path):
            return cls(backends.open_with(f"{path.backend}.session", path.url, path.session_id), options)
        return cls(backends.open_with(BACKEND, os.fspath(path)), options)

    @classmethod
    def open_readonly(cls, path: str | os.PathLike[str] | SessionLocation, options: StoreOptions | None = None) -> Store:
        """Open for inspection only: no write, no sidecar, no changed byte; foreign schemas allowed."""
        if is_location(path):
            return cls(backends.open_with(f"{path.backend}.session_readonly", path.url, path.session_id),
                       options or StoreOptions())
        return cls(backends.open_with(BACKEND, os.fspath(path), readonly=True), options or StoreOptions())

    @classmethod
    def memory(cls, options: StoreOptions | None = None) -> Store:
        """A private in-memory session store (default blob profile ``LowLatency``)."""
        return cls(backends.open_with(BACKEND, None), options or StoreOptions(blob_profile=BlobProfile.LOW_LATENCY))

    @property
    def _conn(self) -> Any:
        """The SQLite backend's connection (tests and SQLite-only tooling)."""
        return self._backend.conn

    def close(self) -> None:
        """Close the connection; the store cannot be used afterwards."""
        with self._lock:
            self._backend.close()

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

    def _write(self, fn: Callable[[SessionTx], T]) -> T:
        if self.readonly:
            raise ReadOnlyStore(self.path)
        with self._lock:
            return self._backend.write(lambda tx: _settled(tx, fn(tx)))

    def _read(self, fn: Callable[[SessionTx], T]) -> T:
        with self._lock:
            return self._backend.read(fn)

    @property
    def _limit(self) -> int:
        return self.options.decompression_limit

    # --- session meta -----------------------------------------------------------------------------

    def save_session_meta(self, meta: SessionMeta) -> None:
        """Replace the session meta row."""
        values.check_session_meta(meta)
        self._write(lambda tx: records.save_meta(tx, meta))

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
        def read(c: SessionTx) -> SessionHead | None:
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
        self._write(lambda c: graph_rows.replace_keeping_summary(c, nodes))

    def append_session_graph_nodes(self, nodes: Iterable[GraphNode]) -> None:
        """Append nodes in order; a duplicate node id rolls the whole append back."""
        nodes = list(nodes)
        values.check_nodes(nodes, "nodes")
        if nodes:
            self._write(lambda c: graph_rows.insert_keeping_summary(c, nodes))

    def load_session_graph(self) -> SessionGraph:
        """Every live node in ``seq`` order (no leaf)."""
        return SessionGraph(tuple(self._read(graph_rows.load_nodes)), None)

    def load_active_path(self, leaf_node_id: str | None = None) -> SessionGraph:
        """The chain from the root to ``leaf_node_id`` (default: the head's leaf), root first."""
        def read(c: SessionTx) -> SessionGraph:
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
            self._write(lambda c: graph_rows.tombstone_keeping_summary(c, ids))

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
        return self._read(lambda tx: tx.blobs.exists(blob_ref))

    def get_blob_envelope(self, blob_ref: str) -> codec.Envelope | None:
        """The parsed envelope of a blob (without inflating it), or ``None`` when absent."""
        stored = self._read(lambda c: blobs.get_stored(c, blob_ref))
        return None if stored is None else codec.parse_envelope(stored, blob_ref)

    def iter_blob_rows(self, hashes: Iterable[str] | None = None) -> Iterator[tuple[str, bytes]]:
        """Yield ``(hash, stored bytes)`` rows, all (hash order) or the given ones."""
        with self._lock:
            yield from self._backend.read_iter(lambda tx: blobs.iter_rows(tx, hashes))

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
        def read(c: SessionTx) -> bytes | None:
            blob_ref = c.rows.artifact_blob_ref(artifact_ref)
            decoded = None if blob_ref is None else blobs.get_decoded(c, blob_ref, self._limit)
            return None if decoded is None else decoded.content
        return self._read(read)

    def list_artifact_refs(self) -> list[tuple[str, str]]:
        """Every ``(artifact_ref, blob_ref)`` pair, ordered by artifact ref."""
        return self._read(lambda tx: tx.rows.artifact_refs())

    # --- picker -----------------------------------------------------------------------------------

    def load_picker_info(self) -> SessionPickerInfo | None:
        """First user message, user message count, cwd and relation; ``None`` without meta."""
        def read(c: SessionTx) -> SessionPickerInfo | None:
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

        def busy(c: SessionTx) -> GcBusy | None:
            if force:
                return None
            found = leases.live_foreign_lease(c, self._op_now(), held)
            return None if found is None else GcBusy(found.session_id, found.owner_id, found.expires_at_epoch_ms)

        policy = self.options.gc_policy
        if dry_run:
            if self.foreign:
                # GC reads the head by this schema's columns; on another version it would misjudge roots.
                raise self._backend.wrong_version()
            return gc.collect(self._read, limit=self._limit, batch_size=policy.batch_size, dry_run=True, busy=busy,
                              progress=progress)
        if self.readonly:
            raise ReadOnlyStore(self.path)
        target = None if policy.batch_target_ms is None else policy.batch_target_ms / 1000
        with self._backend.gc_batches():
            return gc.collect(self._write, limit=self._limit, batch_size=policy.batch_size, target_s=target,
                              busy=busy, progress=progress, snapshot=self._read,
                              between=self._backend.after_gc_batch)

    def vacuum(self, *, compact: bool = False) -> VacuumReport:
        """Delete tombstoned nodes and compress the snapshots commits stored uncompressed
        (``StoreOptions.deferred_compression_max``), each committed first; with ``compact``, also return
        free pages to the file system, raising :class:`CompactionFailed` (carrying the report) when that
        cannot finish."""
        removed = self._write(graph_rows.remove_tombstoned_keeping_summary)
        compressed = self._compress_deferred()
        if not compact:
            return VacuumReport(removed, compressed_blobs=compressed[0], compressed_bytes_saved=compressed[1])
        with self._lock:
            before = self.size_on_disk()
            failure = self._compact()
            report = VacuumReport(removed, failure is None, before, self.size_on_disk(),
                                  None if failure is None else failure[0], compressed[0], compressed[1])
        if failure is not None:
            raise CompactionFailed(self.path, report, hint=failure[1])
        return report

    def _compress_deferred(self, batch: int = 256) -> tuple[int, int]:
        """(rows, bytes saved) of compressing, in write transactions of ``batch`` rows (each holding the
        lock a few milliseconds), every row a commit stored uncompressed that the profile compresses."""
        profile = self.options.blob_profile
        hashes = self._read(lambda tx: blobs.uncompressed_hashes(tx, profile))
        rows = saved = 0
        for start in range(0, len(hashes), batch):
            chunk = hashes[start:start + batch]
            done = self._write(lambda tx: blobs.compress_rows(tx, chunk, profile))
            rows, saved = rows + done[0], saved + done[1]
        return rows, saved

    def _compact(self) -> tuple[str, str] | None:
        """Return free pages to the file system; ``None`` when that finished, else (reason, hint)."""
        return self._backend.compact()

    def size_on_disk(self) -> int:
        """Bytes of the database file plus its ``-wal`` (0 for an in-memory store)."""
        return self._backend.size_on_disk()

    # --- used by the runtime-contract layer and the CLI -------------------------------------------

    def read(self, fn: Callable[[Any], T]) -> T:
        """Run ``fn(connection)`` inside one read snapshot (the SQLite escape hatch; engine-internal use)."""
        with self._lock:
            return self._backend.raw_read(fn)

    def write(self, fn: Callable[[Any], T]) -> T:
        """Run ``fn(connection)`` inside one ``BEGIN IMMEDIATE`` transaction (the SQLite escape hatch)."""
        if self.readonly:
            raise ReadOnlyStore(self.path)
        with self._lock:
            return self._backend.raw_write(fn)

    def snapshot(self, fn: Callable[[SessionTx], T]) -> T:
        """Run ``fn(tx)`` inside one read snapshot (:class:`~.ports.SessionTx`)."""
        return self._read(fn)

    def transaction(self, fn: Callable[[SessionTx], T]) -> T:
        """Run ``fn(tx)`` inside one exclusive write transaction (:class:`~.ports.SessionTx`)."""
        return self._write(fn)

# --- row helpers shared with the commit path -------------------------------------------------------


def put_checkpoint_rows(c: SessionTx, checkpoint: HydratedCheckpoint, profile: BlobProfile) -> StoredCheckpoint:
    """Write tool state, plugin snapshot, execution state (those given), then the manifest."""
    prepared = commit_ops.prepare_checkpoint(checkpoint, profile)
    c.blobs.put(prepared.rows)
    return StoredCheckpoint(prepared.checkpoint_ref, prepared.manifest)
