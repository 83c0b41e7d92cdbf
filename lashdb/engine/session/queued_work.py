"""Queued work: batches waiting for a session, claimed under a lease and completed by a commit.

Contract (runtime contract §4):
- Row mapping §4.1: a batch is *held* while its claim token is set and its claim expiry is after
  now, otherwise *free*; *ready* = free and ``available_at_ms <= now``. Reading a batch decodes its
  policies, merge key and every payload; a row that does not decode fails the whole operation
  with :class:`BackendError` carrying upstream's message plus the offending ``batch_id`` (W14).
- Batch ids are ``qwb:`` + SHA-256 of ``"{session}:{source key, Rust debug form}:{now}[:{nonce}]"``;
  the store passes a nonce that is random per open plus a per-store counter, so ids stay distinct
  across processes.
- :func:`enqueue` deduplicates on (session, source key) for the lifetime of the row: a replay
  returns the stored batch unchanged and writes nothing (a differing replay is logged at debug
  level, W12).
- :func:`claim_ready` checks the session lease fence, selects a prefix of the ready batches by the
  rules of §4.5 (head-of-line delivery gate, exclusive alone, join groups of equal delivery policy
  and merge key — ``never`` equals ``never``, W13), and stamps them with one claim whose lease is
  derived from the head batch (§4.6). If any selected row is no longer free it rolls back its own
  stamps and returns ``None``.
- :func:`renew_claim` extends every row of a claim in the caller's transaction and raises
  :class:`QueuedWorkClaimExpired` — rolling the extension back — unless every batch was renewed (W6).
- :func:`ensure_completion` (used by commits) requires the rows owned by (claim id, lease token)
  to be exactly the completion's batch ids, without duplicates (W7); claim expiry is not checked,
  so a lapsed but not reclaimed claim still completes. Every claim-guarded statement matches the
  lease token as well as the claim id, because claim ids can repeat (W11).
- Functions take the transaction's :class:`~.ports.SessionTx` inside the caller's exclusive write
  transaction (statements behind :class:`~.ports.QueueRows`) and the operation's one clock reading.
  The types and the pure claim rules live in :mod:`.queued_work_model` (re-exported here).
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Iterable, Sequence
from typing import Any

from lashdb.engine.base import timing, values
from lashdb.engine.base.errors import BackendError, QueuedWorkClaimExpired

from . import leases
from .leases import SessionExecutionLeaseFence
from .model import dumps
from .ports import SessionTx
from .queued_work_model import (
    _PAYLOAD_FIELDS,
    _SCAN_SURPLUS,
    DEFAULT_CLAIM_TTL_MS,
    ClaimCandidate,
    ClaimLease,
    DeliveryPolicy,
    MergeKey,
    NonceSource,
    QueuedWorkBatch,
    QueuedWorkBatchDraft,
    QueuedWorkClaim,
    QueuedWorkClaimBoundary,
    QueuedWorkCompletion,
    QueuedWorkItem,
    QueuedWorkPayload,
    SlotPolicy,
    claim_scan_limit,
    derive_batch_id,
    process_wake_source_key,
    select_claim_prefix,
    session_command_source_key,
)

__all__ = [
    "DEFAULT_CLAIM_TTL_MS", "ClaimCandidate", "ClaimLease", "DeliveryPolicy", "MergeKey", "NonceSource",
    "QueuedWorkBatch", "QueuedWorkBatchDraft", "QueuedWorkClaim", "QueuedWorkClaimBoundary", "QueuedWorkCompletion",
    "QueuedWorkItem", "QueuedWorkPayload", "SlotPolicy", "_SCAN_SURPLUS", "abandon", "cancel", "check_draft",
    "claim_by_batch_ids", "claim_ready", "claim_scan_limit", "delete_completed", "derive_batch_id", "enqueue",
    "ensure_completion", "list_all", "list_pending", "load_batch", "log", "process_wake_source_key", "renew_claim",
    "select_claim_prefix", "session_command_source_key",
]

# The logger keeps its pre-issue-11 name: operators and tests configure it by that name.
log = logging.getLogger("lashdb.engine.queued_work")

# --- decoding rows ----------------------------------------------------------------------------------


def _decode_error(message: str, batch_id: str) -> BackendError:
    return BackendError(f"{message} (batch `{batch_id}`)")


def _delivery(value: Any, batch_id: str) -> DeliveryPolicy:
    try:
        return DeliveryPolicy(value)
    except ValueError:
        raise _decode_error(f"unknown queued-work delivery policy `{value}`", batch_id) from None


def _slot(value: Any, batch_id: str) -> SlotPolicy:
    try:
        return SlotPolicy(value)
    except ValueError:
        raise _decode_error(f"unknown queued-work slot policy `{value}`", batch_id) from None


def _merge_key(text: Any, batch_id: str) -> MergeKey:
    try:
        return MergeKey.from_json(json.loads(text))
    except (ValueError, TypeError) as exc:
        raise _decode_error(f"failed to decode queued-work merge key: {exc}", batch_id) from exc


def _payload(text: Any, batch_id: str) -> QueuedWorkPayload:
    try:
        return QueuedWorkPayload.from_json(json.loads(text))
    except (ValueError, TypeError) as exc:
        raise _decode_error(f"failed to decode queued-work payload: {exc}", batch_id) from exc


def _candidate(row: tuple) -> ClaimCandidate:
    seq, batch_id, _session, _source, delivery, slot, merge_key, _avail, _enq, fencing = row
    return ClaimCandidate(seq, fencing, _delivery(delivery, batch_id), _slot(slot, batch_id),
                          _merge_key(merge_key, batch_id))


def _batches(tx: SessionTx, rows: Sequence[tuple]) -> list[QueuedWorkBatch]:
    """Decode batch rows and fetch all their items with one query."""
    if not rows:
        return []
    items: dict[str, list[QueuedWorkItem]] = {row[1]: [] for row in rows}
    for batch_id, item_id, payload_json in tx.queue.items(list(items)):
        items[batch_id].append(QueuedWorkItem(item_id, _payload(payload_json, batch_id)))
    out = []
    for seq, batch_id, session_id, source_key, delivery, slot, merge_key, avail, enqueued, _fencing in rows:
        out.append(QueuedWorkBatch(batch_id, session_id, seq, source_key, _delivery(delivery, batch_id),
                                   _slot(slot, batch_id), _merge_key(merge_key, batch_id), avail, enqueued,
                                   tuple(items[batch_id])))
    return out


def load_batch(tx: SessionTx, batch_id: str) -> QueuedWorkBatch | None:
    """The batch ``batch_id`` with its items, or ``None``."""
    row = tx.queue.batch(batch_id)
    return None if row is None else _batches(tx, [row])[0]


# --- operations ---------------------------------------------------------------------------------------


def check_draft(draft: QueuedWorkBatchDraft) -> None:
    """Reject a draft the database cannot store, before any SQL runs."""
    timing.stored("available_at_ms", draft.available_at_ms)
    for payload in draft.payloads:
        if not isinstance(payload, QueuedWorkPayload) or payload.type not in _PAYLOAD_FIELDS:
            raise TypeError(f"queued work payloads must be QueuedWorkPayload, not {type(payload).__name__}")
    values.check_text(draft.session_id, "draft.session_id")
    values.check_opt_text(draft.source_key, "draft.source_key")
    values.check(draft.merge_key.to_json(), "draft.merge_key")
    for index, payload in enumerate(draft.payloads):
        values.check(payload.to_json(), f"draft.payloads[{index}]")


def _differs(draft: QueuedWorkBatchDraft, stored: QueuedWorkBatch) -> bool:
    return (draft.delivery_policy is not stored.delivery_policy or draft.slot_policy is not stored.slot_policy
            or draft.merge_key != stored.merge_key or draft.available_at_ms != stored.available_at_ms
            or list(draft.payloads) != [item.payload for item in stored.items])


def enqueue(tx: SessionTx, draft: QueuedWorkBatchDraft, now: int, nonce: int) -> QueuedWorkBatch:
    """Insert a batch and its items, or return the stored batch with the same (session, source key)."""
    if draft.source_key is not None:
        existing_id = tx.queue.batch_id_for_source(draft.session_id, draft.source_key)
        if existing_id is not None:
            existing = load_batch(tx, existing_id)
            if existing is None:
                raise BackendError("queued work source row disappeared")
            if _differs(draft, existing) and log.isEnabledFor(logging.DEBUG):
                log.debug("queued work source key %r of session %r replayed with a different draft; "
                          "returning the stored batch %s unchanged", draft.source_key, draft.session_id,
                          existing.batch_id)
            return existing
    batch_id = derive_batch_id(draft.session_id, draft.source_key, now, nonce)
    tx.queue.insert(
        (batch_id, draft.session_id, draft.source_key, draft.delivery_policy.value, draft.slot_policy.value,
         dumps(draft.merge_key.to_json()), draft.available_at_ms, now),
        [(index, f"{batch_id}:item:{index}", dumps(payload.to_json())) for index, payload in enumerate(draft.payloads)])
    batch = load_batch(tx, batch_id)
    if batch is None:
        raise BackendError("queued work insert disappeared")
    return batch


def claim_ready(tx: SessionTx, session_id: str, fence: SessionExecutionLeaseFence, owner_id: str,
                boundary: QueuedWorkClaimBoundary, ttl_ms: int, max_batches: int,
                now: int) -> QueuedWorkClaim | None:
    """Claim the selectable prefix of the session's ready batches under the fence (§4.4)."""
    leases.ensure_fence(tx, session_id, fence, now)
    rows = tx.queue.ready(session_id, now, claim_scan_limit(max_batches))
    candidates = [_candidate(row) for row in rows]
    selected = select_claim_prefix(candidates, boundary, max_batches)
    if selected == 0:
        return None
    lease = ClaimLease.derive(candidates[0], session_id, owner_id, now, ttl_ms)
    rows = rows[:selected]
    # All or nothing: a lost race undoes this claim's own stamps, and the caller's transaction
    # still commits normally and reports "no claim".
    if not tx.queue.stamp_claim(session_id, [row[1] for row in rows],
                                (lease.claim_id, owner_id, lease.lease_token, now, lease.expires_at_epoch_ms), now):
        return None
    return QueuedWorkClaim(session_id, lease.claim_id, owner_id, lease.lease_token, lease.fencing_token,
                           lease.claimed_at_epoch_ms, lease.expires_at_epoch_ms, tuple(_batches(tx, rows)))


def claim_by_batch_ids(tx: SessionTx, session_id: str, fence: SessionExecutionLeaseFence, owner_id: str,
                       boundary: QueuedWorkClaimBoundary, ttl_ms: int, batch_ids: Sequence[str],
                       now: int) -> QueuedWorkClaim | None:
    """Claim exactly ``batch_ids`` as the next prefix, or nothing (a wrong prefix is claimed then abandoned)."""
    wanted = tuple(batch_ids)
    if not wanted:
        return None
    claim = claim_ready(tx, session_id, fence, owner_id, boundary, ttl_ms, len(wanted), now)
    if claim is None:
        return None
    if claim.batch_ids == wanted:
        return claim
    # Abandon rather than roll back: upstream leaves the fencing counters bumped.
    abandon(tx, claim)
    return None


def renew_claim(tx: SessionTx, claim: QueuedWorkClaim, ttl_ms: int, now: int) -> QueuedWorkClaim:
    """Extend every row of the claim; all renewed or raise (and the caller's transaction rolls back)."""
    expires = timing.deadline(now, ttl_ms)
    if tx.queue.renew(claim.session_id, claim.claim_id, claim.lease_token, expires) != len(claim.batches):
        raise QueuedWorkClaimExpired(claim.session_id, claim.claim_id)
    return dataclasses.replace(claim, expires_at_epoch_ms=expires)


def abandon(tx: SessionTx, claim: QueuedWorkClaim) -> None:
    """Free the claim's rows (fencing counters kept); matching nothing is fine."""
    tx.queue.release(claim.session_id, claim.claim_id, claim.lease_token)


def cancel(tx: SessionTx, session_id: str, batch_id: str, now: int) -> QueuedWorkBatch | None:
    """Delete a free batch and return it as it was; ``None`` if missing or held by a live claim."""
    row = tx.queue.free_batch(session_id, batch_id, now)
    if row is None:
        return None
    batch = _batches(tx, [row])[0]
    tx.queue.delete_free(session_id, batch_id, now)
    return batch


def list_all(tx: SessionTx, session_id: str) -> list[QueuedWorkBatch]:
    """Every batch of the session, held or free, in enqueue order."""
    return _batches(tx, tx.queue.all(session_id))


def list_pending(tx: SessionTx, session_id: str, now: int) -> list[QueuedWorkBatch]:
    """Free batches of the session (future ones included), in enqueue order."""
    return _batches(tx, tx.queue.free(session_id, now))


def ensure_completion(tx: SessionTx, completion: QueuedWorkCompletion) -> None:
    """The rows owned by (claim id, token) must be exactly the completion's batch ids (W7)."""
    wanted = completion.batch_ids
    owned = tx.queue.owned(completion.session_id, completion.claim_id, completion.lease_token)
    if len(set(wanted)) != len(wanted) or owned != set(wanted):
        raise QueuedWorkClaimExpired(completion.session_id, completion.claim_id)


def delete_completed(tx: SessionTx, completions: Iterable[QueuedWorkCompletion]) -> None:
    """Delete each completion's batches still held by its claim (items cascade); misses are skipped."""
    tx.queue.delete_claimed([(c.session_id, c.claim_id, c.lease_token, c.batch_ids) for c in completions])
