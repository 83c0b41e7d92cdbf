"""The runtime-contract entry points of a session store: commits, leases, queued work, attachments.

Contract (runtime contract §2–§5): each entry point validates its arguments before touching the
database, then runs its rule (``commit.py``, ``leases.py``, ``queued_work.py``, ``attachments.py``)
in one transaction of the store's backend, with one clock reading taken inside it (W19).
:class:`RuntimeEntryPoints` is a mixin of :class:`~.store.Store`; it relies on the store's
``_write``/``_read`` (``fn(tx)``), ``now_ms``, ``options`` and lease bookkeeping.
"""

from __future__ import annotations

from typing import Any

from lashdb.engine.base import timing, values
from lashdb.engine.base.codec import Descriptor
from lashdb.engine.base.errors import BackendError

from . import attachments, blobs, leases, queued_work
from . import commit as commit_ops
from .ports import SessionTx


class RuntimeEntryPoints:
    """Thin entry points over the rules; mixed into :class:`~.store.Store`."""

    # Provided by Store.
    options: Any
    _lock: Any
    _held_leases: set
    _enqueue_nonce: Any
    _graph_count_hint: Any
    commit_count: int

    def _op_now(self) -> int:
        # One validated clock reading per operation, taken inside its transaction (W19).
        return timing.clock_now(self.now_ms())

    def commit_runtime_state(self, commit: commit_ops.RuntimeCommit) -> commit_ops.RuntimeCommitResult:
        """Apply one runtime commit atomically (all checks, then all writes); replays return the first result."""
        commit_ops.check(commit)
        prepared = commit_ops.prepare_checkpoint(commit.checkpoint, self.options.blob_profile,
                                                 self.options.deferred_compression_max)
        result = self._write(lambda c: commit_ops.apply(c, commit, prepared, self._op_now(), self._graph_count_hint))
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
        return self._read(lambda c: commit_ops.load_session(c, scope, self._limit))

    def try_claim_session_execution_lease(self, session_id: str, owner_id: str,
                                          lease_ttl_ms: int) -> leases.SessionExecutionLease | None:
        """Take the session's execution lease unless a live one exists (then ``None``)."""
        ttl = timing.ttl("lease_ttl_ms", lease_ttl_ms)
        values.check_text(session_id, "session_id")
        values.check_text(owner_id, "owner_id")
        lease = self._write(lambda c: leases.try_claim(c, session_id, owner_id, ttl, self._op_now()))
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
        return self._write(lambda c: leases.renew(c, fence, ttl, self._op_now()))

    def release_session_execution_lease(self, completion: leases.SessionExecutionLeaseCompletion) -> None:
        """Release the lease if ``completion`` names its exact holder; otherwise change nothing."""
        leases.check_fence(completion)
        self._write(lambda c: leases.release(c, completion))
        self._forget_lease(completion)

    def enqueue_queued_work(self, draft: queued_work.QueuedWorkBatchDraft) -> queued_work.QueuedWorkBatch:
        """Store a batch (or return the stored batch with the same session and source key)."""
        queued_work.check_draft(draft)
        return self._write(lambda c: queued_work.enqueue(c, draft, self._op_now(), self._enqueue_nonce()))

    def claim_ready_queued_work(self, session_id: str, session_execution_lease: leases.SessionExecutionLeaseFence,
                                owner_id: str, boundary: queued_work.QueuedWorkClaimBoundary | str,
                                lease_ttl_ms: int, max_batches: int) -> queued_work.QueuedWorkClaim | None:
        """Claim the next selectable prefix of ready batches under a live session lease fence."""
        boundary = queued_work.QueuedWorkClaimBoundary(boundary)
        ttl = timing.ttl("lease_ttl_ms", lease_ttl_ms)
        if timing.ttl("max_batches", max_batches) == 0:
            return None
        leases.check_fence(session_execution_lease)
        return self._write(lambda c: queued_work.claim_ready(
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
        return self._write(lambda c: queued_work.claim_by_batch_ids(
            c, session_id, session_execution_lease, owner_id, boundary, ttl, batch_ids, self._op_now()))

    def renew_queued_work_claim(self, claim: queued_work.QueuedWorkClaim,
                                lease_ttl_ms: int) -> queued_work.QueuedWorkClaim:
        """Extend every batch of the claim, or raise ``QueuedWorkClaimExpired`` and extend none."""
        ttl = timing.ttl("lease_ttl_ms", lease_ttl_ms)
        return self._write(lambda c: queued_work.renew_claim(c, claim, ttl, self._op_now()))

    def abandon_queued_work_claim(self, claim: queued_work.QueuedWorkClaim) -> None:
        """Free the claim's batches for the next claimant (fencing counters kept)."""
        self._write(lambda c: queued_work.abandon(c, claim))

    def cancel_queued_work_batch(self, session_id: str, batch_id: str) -> queued_work.QueuedWorkBatch | None:
        """Delete a free batch and return it; ``None`` if it is missing or held by a live claim."""
        return self._write(lambda c: queued_work.cancel(c, session_id, batch_id, self._op_now()))

    def list_queued_work(self, session_id: str) -> list[queued_work.QueuedWorkBatch]:
        """Every batch of the session, held or free, in enqueue order."""
        return self._read(lambda c: queued_work.list_all(c, session_id))

    def list_pending_queued_work(self, session_id: str) -> list[queued_work.QueuedWorkBatch]:
        """The session's unheld batches (future ones included), in enqueue order."""
        return self._read(lambda c: queued_work.list_pending(c, session_id, self._op_now()))

    def record_intent(self, intent: attachments.AttachmentIntent) -> None:
        """Write the attachment's manifest row before its bytes; an existing row is kept as it is."""
        timing.stored("intent_at_epoch_ms", intent.intent_at_epoch_ms)
        for name in ("attachment_id", "session_id", "canonical_uri"):
            values.check_text(getattr(intent, name), f"intent.{name}")
        self._write(lambda c: attachments.record_intent(c, intent))

    def commit_refs(self, session_id: str, attachment_ids: list[str] | tuple[str, ...]) -> None:
        """Stamp the session's not-yet-committed manifest rows among ``attachment_ids`` as committed now."""
        ids = tuple(attachment_ids)
        values.check_text(session_id, "session_id")
        for index, attachment_id in enumerate(ids):
            values.check_text(attachment_id, f"attachment_ids[{index}]")
        if ids:
            self._write(lambda c: attachments.stamp_committed(c, session_id, ids, self._op_now()))

    def list_uncommitted(self, older_than_epoch_ms: int) -> list[attachments.AttachmentManifestEntry]:
        """Never-committed manifest rows with intent at or before the cutoff, oldest first."""
        cutoff = timing.stored("older_than_epoch_ms", older_than_epoch_ms)
        return self._read(lambda c: attachments.list_uncommitted(c, cutoff))

    list_uncommitted_older_than = list_uncommitted

    def forget(self, attachment_id: str) -> None:
        """Delete the manifest row of ``attachment_id`` (absent: no-op)."""
        self._write(lambda c: attachments.forget(c, attachment_id))

    def put_process_execution_env(self, env_ref: str, content: bytes) -> str:
        """Store a process execution env (kind ``ProcessExecutionEnv``) rooted under ``env_ref``."""
        values.check_text(env_ref, "env_ref")
        return self._put_artifact_ref(env_ref, Descriptor.process_execution_env(), content)

    def _put_artifact_ref(self, artifact_ref: str, descriptor: Descriptor, content: bytes) -> str:
        # One transaction: the blob and the root that keeps GC from collecting it.
        profile = self.options.blob_profile

        def write(c: SessionTx) -> str:
            blob_ref = blobs.put_content(c, descriptor, content, profile)
            c.rows.put_artifact_ref(artifact_ref, blob_ref)
            return blob_ref
        return self._write(write)

    def get_process_execution_env(self, env_ref: str) -> bytes | None:
        """The env bytes rooted under ``env_ref``; ``None`` if unknown; a dangling ref is ``BackendError``."""
        def read(c: SessionTx) -> bytes | None:
            blob_ref = c.rows.artifact_blob_ref(env_ref)
            if blob_ref is None:
                return None
            decoded = blobs.get_decoded(c, blob_ref, self._limit)
            if decoded is None:
                raise BackendError(f"process execution env `{env_ref}` points at a missing blob")
            return decoded.content
        return self._read(read)
