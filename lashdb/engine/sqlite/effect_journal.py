"""The SQLite statements of the effect journal (``runtime_effect_replay``; runtime contract §6).

Contract: :class:`SqliteEffectJournalRows` implements
:class:`~lashdb.engine.deployment.ports.EffectJournalRows` on one connection inside the
transaction its backend opened; it runs statements and returns plain values, and decides nothing.
:func:`open_effect_journal` opens (creating if absent) an effects file, refusing a foreign or
other-kind file before anything on disk changes, or a private in-memory journal for ``None``.
"""

from __future__ import annotations

import apsw

from . import schema
from .connection import query_one
from .deployment_backend import SqliteDeploymentBackend, open_deployment

# The lease guard: the row is still held, by this owner and token, for this envelope, and alive.
_GUARD = ("WHERE scope_id = ? AND replay_key = ? AND envelope_hash = ? AND lease_owner_id = ? "
          "AND lease_token = ? AND status = 'in_progress' AND lease_expires_at_ms > ?")


class SqliteEffectJournalRows:
    """The effect journal's statements on one SQLite connection."""

    def __init__(self, conn: apsw.Connection) -> None:
        self.conn = conn

    def get(self, scope_id: str, replay_key: str) -> tuple | None:
        """The row's hash, status, outcome, error, lease expiry and due time, or None."""
        return query_one(
            self.conn,
            "SELECT envelope_hash, status, outcome_json, error_json, lease_expires_at_ms, due_at_ms "
            "FROM runtime_effect_replay WHERE scope_id = ? AND replay_key = ?",
            (scope_id, replay_key))

    def insert(self, scope_id: str, replay_key: str, envelope_hash: str, status: str, owner_id: str,
               lease_token: str, lease_expires_at_ms: int, due_at_ms: int | None, now_ms: int) -> None:
        """Add a leased row with no outcome and no error."""
        self.conn.execute(
            "INSERT INTO runtime_effect_replay (scope_id, replay_key, envelope_hash, status, "
            "outcome_json, error_json, lease_owner_id, lease_token, lease_expires_at_ms, due_at_ms, "
            "created_at_ms, updated_at_ms) VALUES (?, ?, ?, ?, NULL, NULL, ?, ?, ?, ?, ?, ?)",
            (scope_id, replay_key, envelope_hash, status, owner_id, lease_token, lease_expires_at_ms, due_at_ms,
             now_ms, now_ms))

    def claim(self, scope_id: str, replay_key: str, owner_id: str, lease_token: str, lease_expires_at_ms: int,
              due_at_ms: int | None, now_ms: int) -> None:
        """Hand the row's lease to ``owner_id``/``lease_token``."""
        self.conn.execute(
            "UPDATE runtime_effect_replay SET lease_owner_id = ?, lease_token = ?, "
            "lease_expires_at_ms = ?, due_at_ms = ?, updated_at_ms = ? "
            "WHERE scope_id = ? AND replay_key = ?",
            (owner_id, lease_token, lease_expires_at_ms, due_at_ms, now_ms, scope_id, replay_key))

    def renew(self, scope_id: str, replay_key: str, envelope_hash: str, owner_id: str, lease_token: str,
              lease_expires_at_ms: int, now_ms: int) -> bool:
        """Extend the guarded lease; whether it matched."""
        self.conn.execute(
            "UPDATE runtime_effect_replay SET lease_expires_at_ms = ?, updated_at_ms = ? " + _GUARD,
            (lease_expires_at_ms, now_ms, scope_id, replay_key, envelope_hash, owner_id, lease_token, now_ms))
        return self.conn.changes() == 1

    def finalize(self, scope_id: str, replay_key: str, envelope_hash: str, owner_id: str, lease_token: str,
                 status: str, outcome_json: str | None, error_json: str | None, now_ms: int) -> bool:
        """Record the result and clear the guarded lease; whether it matched."""
        self.conn.execute(
            "UPDATE runtime_effect_replay SET status = ?, outcome_json = ?, error_json = ?, "
            "lease_owner_id = NULL, lease_token = NULL, lease_expires_at_ms = 0, updated_at_ms = ? " + _GUARD,
            (status, outcome_json, error_json, now_ms, scope_id, replay_key, envelope_hash, owner_id, lease_token,
             now_ms))
        return self.conn.changes() == 1

    def release(self, scope_id: str, replay_key: str, envelope_hash: str, owner_id: str, lease_token: str,
                now_ms: int) -> bool:
        """Clear the guarded lease; whether it matched."""
        self.conn.execute(
            "UPDATE runtime_effect_replay SET lease_owner_id = NULL, lease_token = NULL, "
            "lease_expires_at_ms = 0, updated_at_ms = ? " + _GUARD,
            (now_ms, scope_id, replay_key, envelope_hash, owner_id, lease_token, now_ms))
        return self.conn.changes() == 1


def open_effect_journal(path: str | None) -> SqliteDeploymentBackend:
    """The effects file at ``path`` (``None``: in memory) with :class:`SqliteEffectJournalRows`."""
    return open_deployment(schema.EFFECT_REPLAY, path, SqliteEffectJournalRows)
