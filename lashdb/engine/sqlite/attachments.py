"""SQLite statements of ``attachment_manifest`` (the rules live in ``session/attachments.py``).

Contract: runs inside the caller's transaction; returns plain values; never decides anything.
"""

from __future__ import annotations

from collections.abc import Sequence

import apsw

from lashdb.engine.session.model import dumps

from .connection import query_one


class SqliteAttachmentRows:
    """:class:`~lashdb.engine.session.ports.AttachmentRows` on one connection."""

    def __init__(self, conn: apsw.Connection) -> None:
        self.conn = conn

    def insert_if_absent(self, attachment_id: str, session_id: str, canonical_uri: str, intent_at_ms: int) -> bool:
        """Insert an uncommitted row unless the id has one; True when inserted."""
        self.conn.execute(
            "INSERT INTO attachment_manifest (attachment_id, session_id, canonical_uri, intent_at_ms, "
            "committed_at_ms) VALUES (?, ?, ?, ?, NULL) ON CONFLICT(attachment_id) DO NOTHING",
            (attachment_id, session_id, canonical_uri, intent_at_ms))
        return bool(self.conn.changes())

    def location(self, attachment_id: str) -> tuple[str, str] | None:
        """(session_id, canonical_uri) of the row, or ``None``."""
        row = query_one(self.conn, "SELECT session_id, canonical_uri FROM attachment_manifest "
                                   "WHERE attachment_id = ?", (attachment_id,))
        return None if row is None else (row[0], row[1])

    def unknown_ids(self, session_id: str, attachment_ids: Sequence[str]) -> list[str]:
        """Distinct ids with no row of ``session_id``."""
        return [r[0] for r in self.conn.execute(
            "SELECT DISTINCT value FROM json_each(?) WHERE value NOT IN "
            "(SELECT attachment_id FROM attachment_manifest WHERE session_id = ?)",
            (dumps(list(attachment_ids)), session_id))]

    def stamp(self, session_id: str, attachment_ids: Sequence[str], now: int) -> None:
        """Stamp the session's unstamped rows among the ids, in one statement."""
        self.conn.execute("UPDATE attachment_manifest SET committed_at_ms = ? WHERE session_id = ? "
                          "AND committed_at_ms IS NULL AND attachment_id IN (SELECT value FROM json_each(?))",
                          (now, session_id, dumps(list(attachment_ids))))

    def uncommitted(self, older_than_ms: int) -> list[tuple]:
        """Unstamped rows with intent at or before the cutoff, oldest first."""
        return [tuple(r) for r in self.conn.execute(
            "SELECT attachment_id, session_id, canonical_uri, intent_at_ms FROM attachment_manifest "
            "WHERE committed_at_ms IS NULL AND intent_at_ms <= ? ORDER BY intent_at_ms, attachment_id",
            (older_than_ms,))]

    def delete(self, attachment_id: str) -> None:
        """Delete the row if present."""
        self.conn.execute("DELETE FROM attachment_manifest WHERE attachment_id = ?", (attachment_id,))
