"""What the session rules need from storage (the seam; ``sqlite/`` and later ``postgres/`` implement it).

Contract:
- A :class:`SessionBackend` is one session database: a SQLite file, or one session's scope in a
  PostgreSQL store. ``write(fn)`` runs ``fn(tx)`` in one exclusive write transaction (``BEGIN
  IMMEDIATE``; on PostgreSQL the session's lock) that commits on return and rolls back on any
  exception; ``read(fn)`` runs ``fn(tx)`` in one consistent read snapshot.
- ``tx`` is a :class:`SessionTx`: one rows object per concern (:class:`SessionRows`,
  :class:`GraphRows`, :class:`BlobRows`, :class:`LeaseRows`, :class:`QueueRows`,
  :class:`AttachmentRows`), all bound to the same transaction and scope. Their methods run
  statements and return plain values (tuples of str/int/bytes/None, bools, counts); decoding
  (codec, JSON) and every rule (checks in order, CAS, idempotency, fencing, dedupe, GC roots) stay
  in ``session/``, written once.
- Driver failures come out as :class:`~lashdb.engine.base.errors.LashdbError` subclasses naming the
  file; the rules never see a driver exception.
- ``raw_read``/``raw_write`` hand ``fn`` the driver connection itself: the SQLite escape hatch
  behind ``Store.read``/``Store.write`` (tests and SQLite-only tooling), not part of the contract a
  second backend must honour.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from typing import Any, Protocol, TypeVar

T = TypeVar("T")

BatchRow = tuple
"""A queued-work batch row: (enqueue_seq, batch_id, session_id, source_key, delivery_policy,
slot_policy, merge_key_json, available_at_ms, enqueued_at_ms, claim_fencing_token)."""

LeaseRow = tuple
"""A lease row: (owner_id|None, lease_token|None, fencing_token, claimed_at_ms, expires_at_ms)."""


class SessionRows(Protocol):
    """The singleton rows (meta, head), usage deltas, turn-commit records and artifact refs."""

    def meta(self) -> tuple | None:
        """(session_id, session_name, created_at, model, cwd, relation_json) or ``None``."""
        ...

    def save_meta(self, session_id: str, session_name: str, created_at: str, model: str, cwd: str | None,
                  relation_json: str) -> None:
        """Replace the meta row."""
        ...

    def head(self) -> tuple[str, int] | None:
        """(head_json, head_revision) or ``None``."""
        ...

    def save_head(self, session_id: str, head_json: str, head_revision: int) -> None:
        """Replace the head row."""
        ...

    def usage(self) -> list[tuple]:
        """(seq, source, model, input, output, cached_input, reasoning) rows in ``seq`` order."""
        ...

    def insert_usage(self, rows: Sequence[tuple[str, str, int, int, int, int]]) -> None:
        """Append (source, model, input, output, cached_input, reasoning) rows in order."""
        ...

    def turn_commit(self, session_id: str, turn_id: str) -> tuple[str, str] | None:
        """(turn_commit_hash, result_json) of a recorded turn, or ``None``."""
        ...

    def record_turn_commit(self, session_id: str, turn_id: str, turn_commit_hash: str, result_json: str,
                           now: int) -> None:
        """Record a turn's result (a second record for the same turn is a constraint error)."""
        ...

    def artifact_blob_ref(self, artifact_ref: str) -> str | None:
        """The blob rooted under ``artifact_ref``, or ``None``."""
        ...

    def put_artifact_ref(self, artifact_ref: str, blob_ref: str) -> None:
        """Root ``blob_ref`` under ``artifact_ref`` (replacing an earlier root)."""
        ...

    def artifact_refs(self) -> list[tuple[str, str]]:
        """Every (artifact_ref, blob_ref), ordered by artifact ref."""
        ...


class GraphRows(Protocol):
    """``graph_nodes``: (node_id, node_json) rows in append order, with tombstones."""

    def insert(self, rows: Sequence[tuple[str, str]]) -> None:
        """Append rows in order; an existing node id (even tombstoned) is a constraint error."""
        ...

    def replace(self, rows: Sequence[tuple[str, str]]) -> None:
        """Delete every row (tombstoned too), then append ``rows``."""
        ...

    def live(self) -> list[tuple[str, str]]:
        """Every live (node_id, node_json) in append order."""
        ...

    def live_one(self, node_id: str) -> str | None:
        """The node_json of a live node, or ``None``."""
        ...

    def path_rows(self, leaf_node_id: str) -> list[tuple[str, str, Any]]:
        """(node_id, node_json, parent_node_id) of the live ancestors of the leaf (itself included),
        any order; terminates on a parent cycle."""
        ...

    def live_count(self) -> int:
        """Number of live rows."""
        ...

    def tombstoned_count(self) -> int:
        """Number of tombstoned rows still stored."""
        ...

    def summary_scan(self, with_users: bool) -> tuple[int, int, int | None, str | None] | None:
        """(live, tombstoned, live user messages, first user node id) from one scan of the rows
        (``with_users`` false: the last two ``None``); ``None`` when the backend keeps no graph
        summary in its head (PostgreSQL: its list reads ``lash_sessions``)."""
        ...

    def tombstone(self, node_ids: Iterable[str]) -> None:
        """Mark nodes tombstoned; unknown ids are ignored."""
        ...

    def remove_tombstoned(self) -> int:
        """Delete tombstoned rows; return how many went."""
        ...


class BlobRows(Protocol):
    """Content-addressed ``blobs``: (hash, stored envelope bytes); the first row for a hash wins."""

    def put(self, rows: Iterable[tuple[str, bytes]]) -> None:
        """Store each (hash, stored) unless the hash is already stored."""
        ...

    def get(self, blob_hash: str) -> bytes | None:
        """The stored bytes of ``blob_hash``, or ``None``."""
        ...

    def exists(self, blob_hash: str) -> bool:
        """True when a row with that hash is stored."""
        ...

    def iter_all(self) -> Iterator[tuple[str, bytes]]:
        """Every (hash, stored) in hash order."""
        ...

    def rewrite(self, blob_hash: str, old: bytes, new: bytes) -> bool:
        """Store ``new`` (another envelope of the same content) for ``blob_hash`` if its row still
        holds ``old``; True when it did."""
        ...

    def count_and_size(self) -> tuple[int, int]:
        """(rows, sum of stored lengths)."""
        ...

    def take_delta(self) -> tuple[int, int] | None:
        """(rows, stored bytes) this transaction's puts and sweeps added net since the last call (then
        reset); ``None`` when the backend keeps no list summary in its head (PostgreSQL)."""
        ...

    def hashes_with_prefix(self, prefix: str) -> list[str]:
        """Stored hashes starting with ``prefix``, in order."""
        ...

    def count(self) -> int:
        """Rows stored."""
        ...

    def scan(self, after: Any, limit: int) -> list[tuple[Any, str, int]]:
        """GC sweep: up to ``limit`` rows past position ``after`` (``None``: from the start) in the
        backend's fixed scan order, as (position, hash, stored length). Positions are opaque."""
        ...

    def delete(self, rows: Sequence[tuple[Any, str]]) -> list[int]:
        """GC sweep: delete, in one statement, each row at (position, hash) that still has that hash;
        the stored length of each row deleted."""
        ...

    def named_by_artifacts(self, hashes: Sequence[str]) -> set[str]:
        """GC roots: those of ``hashes`` that some ``artifact_refs.blob_ref`` names (one set-based probe)."""
        ...

    def artifact_count(self) -> int:
        """GC report: ``artifact_refs`` rows."""
        ...

    def artifact_refs_missing(self) -> list[str]:
        """GC report: the distinct ``artifact_refs.blob_ref`` values no stored row has."""
        ...


class LeaseRows(Protocol):
    """``session_execution_leases``: one row per session id, never deleted."""

    def get(self, session_id: str) -> LeaseRow | None:
        """(owner_id, lease_token, fencing_token, claimed_at_ms, expires_at_ms), or ``None``."""
        ...

    def put(self, session_id: str, owner_id: str, lease_token: str, fencing_token: int, claimed_at_ms: int,
            expires_at_ms: int) -> None:
        """Create or overwrite the session's lease row."""
        ...

    def set_expiry(self, session_id: str, expires_at_ms: int) -> None:
        """Set the row's expiry."""
        ...

    def clear(self, session_id: str, owner_id: str, lease_token: str, fencing_token: int) -> None:
        """Clear the holder (fencing token kept) if all four fields match; else change nothing."""
        ...

    def live(self, now: int) -> list[tuple]:
        """(session_id, owner_id, lease_token, fencing_token, claimed_at_ms, expires_at_ms) of every
        lease with a token and an expiry after ``now``, by session id."""
        ...


class QueueRows(Protocol):
    """``queued_work_batches`` and their items. A batch is *free* at ``now`` when it has no claim
    token or its claim expired (expiry <= now)."""

    def batch_id_for_source(self, session_id: str, source_key: str) -> str | None:
        """The batch enqueued with (session, source key), or ``None``."""
        ...

    def batch(self, batch_id: str) -> BatchRow | None:
        """One batch row, or ``None``."""
        ...

    def insert(self, row: tuple, items: Sequence[tuple[int, str, str]]) -> None:
        """Insert (batch_id, session_id, source_key, delivery, slot, merge_key_json, available_at_ms,
        enqueued_at_ms) and its (item_index, item_id, payload_json) items."""
        ...

    def items(self, batch_ids: Sequence[str]) -> list[tuple[str, str, str]]:
        """(batch_id, item_id, payload_json) of the batches, by batch then item index."""
        ...

    def ready(self, session_id: str, now: int, limit: int) -> list[BatchRow]:
        """At most ``limit`` free batches available at ``now``, in enqueue order."""
        ...

    def stamp_claim(self, session_id: str, batch_ids: Sequence[str], claim: tuple[str, str, str, int, int],
                    now: int) -> bool:
        """All or nothing: stamp (claim_id, owner_id, lease_token, claimed_at_ms, expires_at_ms) on
        every listed batch that is free at ``now``, bumping its fencing token; if any is not
        free, stamp none and return False."""
        ...

    def renew(self, session_id: str, claim_id: str, lease_token: str, expires_at_ms: int) -> int:
        """Set the expiry of the claim's batches; return how many it set."""
        ...

    def release(self, session_id: str, claim_id: str, lease_token: str) -> None:
        """Free the claim's batches (fencing tokens kept)."""
        ...

    def free_batch(self, session_id: str, batch_id: str, now: int) -> BatchRow | None:
        """The batch if free at ``now``, else ``None``."""
        ...

    def delete_free(self, session_id: str, batch_id: str, now: int) -> None:
        """Delete the batch (and items) if free at ``now``."""
        ...

    def all(self, session_id: str) -> list[BatchRow]:
        """Every batch of the session in enqueue order."""
        ...

    def free(self, session_id: str, now: int) -> list[BatchRow]:
        """Every batch free at ``now`` in enqueue order."""
        ...

    def owned(self, session_id: str, claim_id: str, lease_token: str) -> set[str]:
        """Ids of the batches held by (claim id, lease token)."""
        ...

    def delete_claimed(self, claims: Sequence[tuple[str, str, str, Sequence[str]]]) -> None:
        """For each (session_id, claim_id, lease_token, batch_ids): delete those still held by it."""
        ...


class AttachmentRows(Protocol):
    """``attachment_manifest``: one row per attachment id."""

    def insert_if_absent(self, attachment_id: str, session_id: str, canonical_uri: str, intent_at_ms: int) -> bool:
        """Insert an uncommitted row unless the id has one; True when inserted."""
        ...

    def location(self, attachment_id: str) -> tuple[str, str] | None:
        """(session_id, canonical_uri) of the row, or ``None``."""
        ...

    def unknown_ids(self, session_id: str, attachment_ids: Sequence[str]) -> list[str]:
        """The distinct ids among ``attachment_ids`` with no row of ``session_id``."""
        ...

    def stamp(self, session_id: str, attachment_ids: Sequence[str], now: int) -> None:
        """Set committed_at = now on the session's unstamped rows among the ids."""
        ...

    def uncommitted(self, older_than_ms: int) -> list[tuple]:
        """(attachment_id, session_id, canonical_uri, intent_at_ms) of unstamped rows with intent at
        or before the cutoff, by intent then id."""
        ...

    def delete(self, attachment_id: str) -> None:
        """Delete the row if present."""
        ...


class SessionTx(Protocol):
    """One transaction (or snapshot) of a session database, one rows object per concern."""

    rows: SessionRows
    graph: GraphRows
    blobs: BlobRows
    leases: LeaseRows
    queue: QueueRows
    attachments: AttachmentRows

    def change_marker(self) -> Hashable | None:
        """A value equal to an earlier one exactly when nobody (this connection included) changed the
        database in between; ``None`` when the backend cannot tell."""
        ...


class SessionBackend(Protocol):
    """One session database, as :class:`~lashdb.engine.session.store.Store` sees it."""

    path: str | None
    readonly: bool
    classification: Any  # what an opened file turned out to be (read-only opens); else None

    def write(self, fn: Callable[[SessionTx], T]) -> T:
        """Run ``fn(tx)`` in one exclusive write transaction; roll back on any exception."""
        ...

    def read(self, fn: Callable[[SessionTx], T]) -> T:
        """Run ``fn(tx)`` in one consistent read snapshot."""
        ...

    def read_iter(self, fn: Callable[[SessionTx], Iterable[T]]) -> Iterator[T]:
        """Yield what ``fn(tx)`` yields, all inside one read snapshot."""
        ...

    def raw_read(self, fn: Callable[[Any], T]) -> T:
        """SQLite escape hatch: ``fn(connection)`` in one read snapshot."""
        ...

    def raw_write(self, fn: Callable[[Any], T]) -> T:
        """SQLite escape hatch: ``fn(connection)`` in one ``BEGIN IMMEDIATE`` transaction."""
        ...

    def close(self) -> None:
        """Release the connection(s); the backend cannot be used afterwards."""
        ...

    def size_on_disk(self) -> int:
        """Bytes the database takes on disk (0 in memory)."""
        ...

    def compact(self) -> tuple[str, str] | None:
        """Give free pages back to the file system; ``None`` when done, else (reason, hint)."""
        ...

    def gc_batches(self) -> contextlib.AbstractContextManager[None]:
        """Around a batched GC: the connection settings its many short transactions want."""
        ...

    def after_gc_batch(self) -> None:
        """Between two GC batches, outside any transaction: the housekeeping a batch leaves behind."""
        ...

    def wrong_version(self) -> Exception:
        """The error that says this (read-only, foreign) file is at a version the rules cannot judge."""
        ...


def session_tx(conn: Any) -> SessionTx:
    """A :class:`SessionTx` over a driver connection the caller already holds in a transaction.

    The escape hatch for SQLite-only tooling (inspection code that opened a file itself); the
    registered backend builds it, so this module never imports one.
    """
    from lashdb.engine.base import backends
    if getattr(conn, "backend_name", None) is not None:
        return conn  # already a backend's transaction (what a non-SQLite ``Store.read`` hands out)
    return backends.open_with("sqlite.session_tx", conn)
