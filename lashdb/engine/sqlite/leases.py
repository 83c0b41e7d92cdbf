"""SQLite statements of ``session_execution_leases`` (the rules live in ``session/leases.py``).

Contract: runs inside the caller's transaction; returns plain tuples; never decides anything.
"""

from __future__ import annotations

import apsw

from .connection import query_one

_COLUMNS = "lease_owner_id, lease_token, lease_fencing_token, lease_claimed_at_ms, lease_expires_at_ms"


class SqliteLeaseRows:
    """:class:`~lashdb.engine.session.ports.LeaseRows` on one connection."""

    def __init__(self, conn: apsw.Connection) -> None:
        self.conn = conn

    def get(self, session_id: str) -> tuple | None:
        """The session's lease row, or ``None``."""
        return query_one(self.conn, f"SELECT {_COLUMNS} FROM session_execution_leases WHERE session_id = ?",
                         (session_id,))

    def put(self, session_id: str, owner_id: str, lease_token: str, fencing_token: int, claimed_at_ms: int,
            expires_at_ms: int) -> None:
        """Create or overwrite the lease row."""
        self.conn.execute(
            "INSERT INTO session_execution_leases (session_id, lease_owner_id, lease_token, lease_fencing_token, "
            "lease_claimed_at_ms, lease_expires_at_ms) VALUES (?, ?, ?, ?, ?, ?) "
            "ON CONFLICT(session_id) DO UPDATE SET lease_owner_id = excluded.lease_owner_id, "
            "lease_token = excluded.lease_token, lease_fencing_token = excluded.lease_fencing_token, "
            "lease_claimed_at_ms = excluded.lease_claimed_at_ms, lease_expires_at_ms = excluded.lease_expires_at_ms",
            (session_id, owner_id, lease_token, fencing_token, claimed_at_ms, expires_at_ms))

    def set_expiry(self, session_id: str, expires_at_ms: int) -> None:
        """Set the row's expiry."""
        self.conn.execute("UPDATE session_execution_leases SET lease_expires_at_ms = ? WHERE session_id = ?",
                          (expires_at_ms, session_id))

    def clear(self, session_id: str, owner_id: str, lease_token: str, fencing_token: int) -> None:
        """Clear the holder when all four fields match (the fencing token stays)."""
        self.conn.execute(
            "UPDATE session_execution_leases SET lease_owner_id = NULL, lease_token = NULL, "
            "lease_claimed_at_ms = 0, lease_expires_at_ms = 0 "
            "WHERE session_id = ? AND lease_owner_id = ? AND lease_token = ? AND lease_fencing_token = ?",
            (session_id, owner_id, lease_token, fencing_token))

    def live(self, now: int) -> list[tuple]:
        """Every lease live at ``now``, by session id."""
        return [tuple(r) for r in self.conn.execute(
            "SELECT session_id, lease_owner_id, lease_token, lease_fencing_token, lease_claimed_at_ms, "
            "lease_expires_at_ms FROM session_execution_leases "
            "WHERE lease_token IS NOT NULL AND lease_expires_at_ms > ? ORDER BY session_id", (now,))]
