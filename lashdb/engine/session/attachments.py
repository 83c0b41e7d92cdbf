"""The attachment write-ahead manifest (runtime contract §5).

Contract:
- :func:`record_intent` writes a row *before* attachment bytes are stored. An intent for an
  attachment id that already has a row changes nothing and succeeds (the first row wins in every
  column); if it names a different session or URI, that conflict is logged at warning level (W15).
- :func:`stamp_committed` (used by :func:`commit_refs` and by turn commits) sets
  ``committed_at_ms`` once, on rows of the given session that are not yet stamped, with one
  statement; ids that match no row of that session are logged at warning level and otherwise
  ignored (W15).
- :func:`list_uncommitted` returns never-stamped rows whose intent is at or before the cutoff,
  oldest first (ties by attachment id), across all sessions; a row that cannot be read raises
  :class:`BackendError` naming it.
- :func:`forget` deletes a row; a missing row is not an error.
- Functions take the transaction's :class:`~.ports.SessionTx` (statements behind
  :class:`~.ports.AttachmentRows`); the caller owns the transaction. Nothing is swallowed: the
  warnings above accompany the documented success, they never replace an error.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from lashdb.engine.base.errors import BackendError

from .ports import SessionTx

# The logger keeps its pre-issue-11 name: operators and tests configure it by that name.
log = logging.getLogger("lashdb.engine.attachments")


@dataclass(frozen=True)
class AttachmentIntent:
    """A promise to store an attachment's bytes at ``canonical_uri`` for ``session_id``."""

    attachment_id: str
    session_id: str
    canonical_uri: str
    intent_at_epoch_ms: int


@dataclass(frozen=True)
class AttachmentManifestEntry:
    """A manifest row; ``committed_at_epoch_ms`` is ``None`` until a commit references it."""

    attachment_id: str
    session_id: str
    canonical_uri: str
    intent_at_epoch_ms: int
    committed_at_epoch_ms: int | None = None


def record_intent(tx: SessionTx, intent: AttachmentIntent) -> None:
    """Insert the intent row unless the attachment id already has one (then keep the old row)."""
    if tx.attachments.insert_if_absent(intent.attachment_id, intent.session_id, intent.canonical_uri,
                                       intent.intent_at_epoch_ms):
        return
    row = tx.attachments.location(intent.attachment_id)
    if row is not None and (row[0], row[1]) != (intent.session_id, intent.canonical_uri):
        log.warning("attachment intent %r for session %r at %r ignored: the manifest already holds it for "
                    "session %r at %r", intent.attachment_id, intent.session_id, intent.canonical_uri,
                    row[0], row[1])


def stamp_committed(tx: SessionTx, session_id: str, attachment_ids: Sequence[str], now: int) -> None:
    """Stamp ``committed_at_ms = now`` on the session's unstamped rows among ``attachment_ids``."""
    if not attachment_ids:
        return
    ids = list(attachment_ids)
    unknown = tx.attachments.unknown_ids(session_id, ids)
    if unknown:
        log.warning("attachment commit for session %r names ids with no manifest row of that session: %s",
                    session_id, ", ".join(map(repr, unknown)))
    tx.attachments.stamp(session_id, ids, now)


def list_uncommitted(tx: SessionTx, older_than_epoch_ms: int) -> list[AttachmentManifestEntry]:
    """Unstamped rows with ``intent_at_ms <= older_than`` (every session), oldest first."""
    out = []
    for attachment_id, session_id, uri, intent_at in tx.attachments.uncommitted(older_than_epoch_ms):
        if not (isinstance(attachment_id, str) and isinstance(session_id, str) and isinstance(uri, str)
                and isinstance(intent_at, int)):
            raise BackendError(f"attachment_manifest row `{attachment_id}` cannot be read: wrong column types")
        out.append(AttachmentManifestEntry(attachment_id, session_id, uri, intent_at, None))
    return out


def forget(tx: SessionTx, attachment_id: str) -> None:
    """Delete the manifest row of ``attachment_id`` if present."""
    tx.attachments.delete(attachment_id)
