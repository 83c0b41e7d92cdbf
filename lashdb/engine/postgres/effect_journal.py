"""The effect journal's statements on PostgreSQL (``lash_effect_replay``; runtime contract §6).

Contract: :class:`PgEffectJournalRows` implements
:class:`~lashdb.engine.deployment.ports.EffectJournalRows` on one connection inside the
transaction its backend opened, every statement scoped by ``session_id`` (one SQLite effects file
holds one session's journal). It runs statements and returns what
:class:`~lashdb.engine.sqlite.effect_journal.SqliteEffectJournalRows` returns (times as stored:
the controller bounds them to the signed range), and decides nothing.
"""

from __future__ import annotations

from typing import Any

# The lease guard: the row is still held, by this owner and token, for this envelope, and alive.
_GUARD = ("WHERE session_id = %s AND scope_id = %s AND replay_key = %s AND envelope_hash = %s "
          "AND lease_owner_id = %s AND lease_token = %s AND status = 'in_progress' AND lease_expires_at_ms > %s")


class PgEffectJournalRows:
    """The effect journal's statements on one PostgreSQL connection, bound to one session."""

    def __init__(self, conn: Any, session_id: str) -> None:
        self.conn = conn
        self.session_id = session_id

    def get(self, scope_id: str, replay_key: str) -> tuple | None:
        """The row's hash, status, outcome, error, lease expiry and due time, or None."""
        row = self.conn.execute(
            "SELECT envelope_hash, status, outcome_json, error_json, lease_expires_at_ms, due_at_ms "
            "FROM lash_effect_replay WHERE session_id = %s AND scope_id = %s AND replay_key = %s",
            (self.session_id, scope_id, replay_key)).fetchone()
        return None if row is None else tuple(row)

    def insert(self, scope_id: str, replay_key: str, envelope_hash: str, status: str, owner_id: str,
               lease_token: str, lease_expires_at_ms: int, due_at_ms: int | None, now_ms: int) -> None:
        """Add a leased row with no outcome and no error."""
        self.conn.execute(
            "INSERT INTO lash_effect_replay (session_id, scope_id, replay_key, envelope_hash, status, "
            "outcome_json, error_json, lease_owner_id, lease_token, lease_expires_at_ms, due_at_ms, "
            "created_at_ms, updated_at_ms) VALUES (%s, %s, %s, %s, %s, NULL, NULL, %s, %s, %s, %s, %s, %s)",
            (self.session_id, scope_id, replay_key, envelope_hash, status, owner_id, lease_token,
             lease_expires_at_ms, due_at_ms, now_ms, now_ms))

    def claim(self, scope_id: str, replay_key: str, owner_id: str, lease_token: str, lease_expires_at_ms: int,
              due_at_ms: int | None, now_ms: int) -> None:
        """Hand the row's lease to ``owner_id``/``lease_token``."""
        self.conn.execute(
            "UPDATE lash_effect_replay SET lease_owner_id = %s, lease_token = %s, "
            "lease_expires_at_ms = %s, due_at_ms = %s, updated_at_ms = %s "
            "WHERE session_id = %s AND scope_id = %s AND replay_key = %s",
            (owner_id, lease_token, lease_expires_at_ms, due_at_ms, now_ms, self.session_id, scope_id,
             replay_key))

    def _guarded(self, assignments: str, values: tuple, scope_id: str, replay_key: str, envelope_hash: str,
                 owner_id: str, lease_token: str, now_ms: int) -> bool:
        cursor = self.conn.execute(
            f"UPDATE lash_effect_replay SET {assignments} " + _GUARD,
            (*values, self.session_id, scope_id, replay_key, envelope_hash, owner_id, lease_token, now_ms))
        return cursor.rowcount == 1

    def renew(self, scope_id: str, replay_key: str, envelope_hash: str, owner_id: str, lease_token: str,
              lease_expires_at_ms: int, now_ms: int) -> bool:
        """Extend the guarded lease; whether it matched."""
        return self._guarded("lease_expires_at_ms = %s, updated_at_ms = %s", (lease_expires_at_ms, now_ms),
                             scope_id, replay_key, envelope_hash, owner_id, lease_token, now_ms)

    def finalize(self, scope_id: str, replay_key: str, envelope_hash: str, owner_id: str, lease_token: str,
                 status: str, outcome_json: str | None, error_json: str | None, now_ms: int) -> bool:
        """Record the result and clear the guarded lease; whether it matched."""
        return self._guarded(
            "status = %s, outcome_json = %s, error_json = %s, lease_owner_id = NULL, lease_token = NULL, "
            "lease_expires_at_ms = 0, updated_at_ms = %s", (status, outcome_json, error_json, now_ms),
            scope_id, replay_key, envelope_hash, owner_id, lease_token, now_ms)

    def release(self, scope_id: str, replay_key: str, envelope_hash: str, owner_id: str, lease_token: str,
                now_ms: int) -> bool:
        """Clear the guarded lease; whether it matched."""
        return self._guarded(
            "lease_owner_id = NULL, lease_token = NULL, lease_expires_at_ms = 0, updated_at_ms = %s", (now_ms,),
            scope_id, replay_key, envelope_hash, owner_id, lease_token, now_ms)
