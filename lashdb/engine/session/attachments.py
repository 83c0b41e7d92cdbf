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
- Functions take an open connection; the caller owns the transaction. Nothing is swallowed: the
  warnings above accompany the documented success, they never replace an error.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import apsw

from lashdb.engine.sqlite.connection import query_one
from lashdb.engine.base.errors import BackendError
from .model import dumps

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


def record_intent(conn: apsw.Connection, intent: AttachmentIntent) -> None:
    """Insert the intent row unless the attachment id already has one (then keep the old row)."""
    conn.execute(
        "INSERT INTO attachment_manifest (attachment_id, session_id, canonical_uri, intent_at_ms, committed_at_ms) "
        "VALUES (?, ?, ?, ?, NULL) ON CONFLICT(attachment_id) DO NOTHING",
        (intent.attachment_id, intent.session_id, intent.canonical_uri, intent.intent_at_epoch_ms))
    if conn.changes():
        return
    row = query_one(conn, "SELECT session_id, canonical_uri FROM attachment_manifest WHERE attachment_id = ?",
                    (intent.attachment_id,))
    if row is not None and (row[0], row[1]) != (intent.session_id, intent.canonical_uri):
        log.warning("attachment intent %r for session %r at %r ignored: the manifest already holds it for "
                    "session %r at %r", intent.attachment_id, intent.session_id, intent.canonical_uri,
                    row[0], row[1])


def stamp_committed(conn: apsw.Connection, session_id: str, attachment_ids: Sequence[str], now: int) -> None:
    """Stamp ``committed_at_ms = now`` on the session's unstamped rows among ``attachment_ids``."""
    if not attachment_ids:
        return
    ids = dumps(list(attachment_ids))
    unknown = [r[0] for r in conn.execute(
        "SELECT DISTINCT value FROM json_each(?) WHERE value NOT IN "
        "(SELECT attachment_id FROM attachment_manifest WHERE session_id = ?)", (ids, session_id))]
    if unknown:
        log.warning("attachment commit for session %r names ids with no manifest row of that session: %s",
                    session_id, ", ".join(map(repr, unknown)))
    conn.execute("UPDATE attachment_manifest SET committed_at_ms = ? WHERE session_id = ? "
                 "AND committed_at_ms IS NULL AND attachment_id IN (SELECT value FROM json_each(?))",
                 (now, session_id, ids))


def list_uncommitted(conn: apsw.Connection, older_than_epoch_ms: int) -> list[AttachmentManifestEntry]:
    """Unstamped rows with ``intent_at_ms <= older_than`` (every session), oldest first."""
    out = []
    for attachment_id, session_id, uri, intent_at in conn.execute(
            "SELECT attachment_id, session_id, canonical_uri, intent_at_ms FROM attachment_manifest "
            "WHERE committed_at_ms IS NULL AND intent_at_ms <= ? ORDER BY intent_at_ms, attachment_id",
            (older_than_epoch_ms,)):
        if not (isinstance(attachment_id, str) and isinstance(session_id, str) and isinstance(uri, str)
                and isinstance(intent_at, int)):
            raise BackendError(f"attachment_manifest row `{attachment_id}` cannot be read: wrong column types")
        out.append(AttachmentManifestEntry(attachment_id, session_id, uri, intent_at, None))
    return out


def forget(conn: apsw.Connection, attachment_id: str) -> None:
    """Delete the manifest row of ``attachment_id`` if present."""
    conn.execute("DELETE FROM attachment_manifest WHERE attachment_id = ?", (attachment_id,))
