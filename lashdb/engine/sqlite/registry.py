"""The process registry's statements on SQLite (SPEC §3.2): :class:`SqliteRegistryRows`.

Contract: implements :class:`~lashdb.engine.deployment.ports.RegistryRows` on one apsw connection,
inside whatever transaction the backend opened. Each method runs its statements and returns plain
values; every rule (idempotent registration, replay-key CAS, fencing, validation) lives in
:mod:`lashdb.engine.deployment.process_registry`. Unsigned 64-bit values (timestamps, fencing
tokens) are stored as upstream does, a signed cast (:func:`to_i64`), and read back unsigned;
query cursors are clamped into SQLite's signed range.
"""

from __future__ import annotations

import apsw

from lashdb.engine.base.ints import clamp_cursor, from_i64, to_i64

from .connection import query_one

__all__ = ["SqliteRegistryRows"]

_UPSERT_GRANT = (
    "INSERT INTO process_handle_grants (session_id, scope_id, process_id, descriptor_json) "
    "VALUES (?, ?, ?, ?) ON CONFLICT(scope_id, process_id) DO UPDATE SET "
    "session_id = excluded.session_id, descriptor_json = excluded.descriptor_json")


class SqliteRegistryRows:
    """The registry's statements, bound to one connection (and the transaction it is in)."""

    def __init__(self, conn: apsw.Connection) -> None:
        self.conn = conn

    def _texts(self, sql: str, params: tuple = ()) -> list[str]:
        return [row[0] for row in self.conn.execute(sql, params)]

    # --- process rows -------------------------------------------------------------------------------

    def load_process(self, process_id: str) -> str | None:
        """The stored record JSON of a process, or None."""
        row = query_one(self.conn, "SELECT record_json FROM processes WHERE process_id = ?", (process_id,))
        return None if row is None else row[0]

    def insert_process(self, process_id: str, registration_hash: str, owner_scope_id: str,
                       created_at_ms: int, status: str, record_json: str) -> None:
        """Insert a new process row (created and updated at ``created_at_ms``)."""
        self.conn.execute(
            "INSERT INTO processes (process_id, registration_hash, owner_scope_id, created_at_ms, "
            "updated_at_ms, status, record_json) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (process_id, registration_hash, owner_scope_id, to_i64(created_at_ms), to_i64(created_at_ms),
             status, record_json))

    def save_process(self, process_id: str, updated_at_ms: int, status: str, record_json: str) -> None:
        """Overwrite a process row's record, status and update time."""
        self.conn.execute(
            "UPDATE processes SET updated_at_ms = ?, status = ?, record_json = ? WHERE process_id = ?",
            (to_i64(updated_at_ms), status, record_json, process_id))

    def list_processes(self) -> list[str]:
        """Every record JSON, by process id."""
        return self._texts("SELECT record_json FROM processes ORDER BY process_id ASC")

    def list_running(self) -> list[str]:
        """Record JSON of the processes whose status is ``running``, by process id."""
        return self._texts("SELECT record_json FROM processes WHERE status = 'running' ORDER BY process_id ASC")

    # --- handle grants ------------------------------------------------------------------------------

    def put_grant(self, session_id: str, scope_id: str, process_id: str, descriptor_json: str) -> None:
        """Insert or replace the grant of ``(scope_id, process_id)``."""
        self.conn.execute(_UPSERT_GRANT, (session_id, scope_id, process_id, descriptor_json))

    def delete_grant(self, scope_id: str, process_id: str) -> bool:
        """Delete one grant; True when one existed."""
        self.conn.execute("DELETE FROM process_handle_grants WHERE scope_id = ? AND process_id = ?",
                          (scope_id, process_id))
        return self.conn.changes() > 0

    def grant_descriptor(self, scope_id: str, process_id: str) -> str | None:
        """The descriptor JSON of one grant, or None."""
        row = query_one(self.conn, "SELECT descriptor_json FROM process_handle_grants "
                                   "WHERE scope_id = ? AND process_id = ?", (scope_id, process_id))
        return None if row is None else row[0]

    def grants_for_scope(self, scope_id: str, running_only: bool) -> list[tuple[str, str, str]]:
        """``(process_id, descriptor_json, record_json)`` of a scope's grants, by process id."""
        sql = ("SELECT g.process_id, g.descriptor_json, p.record_json FROM process_handle_grants g "
               "JOIN processes p ON p.process_id = g.process_id WHERE g.scope_id = ?")
        if running_only:
            sql += " AND p.status = 'running'"
        sql += " ORDER BY g.process_id ASC"
        return [tuple(row) for row in self.conn.execute(sql, (scope_id,))]

    def has_grant(self, scope_id: str, process_id: str) -> bool:
        """True when the scope holds a grant for an existing process."""
        return query_one(
            self.conn, "SELECT 1 FROM process_handle_grants g JOIN processes p ON p.process_id = g.process_id "
                       "WHERE g.scope_id = ? AND g.process_id = ? LIMIT 1", (scope_id, process_id)) is not None

    def grants_for_process(self, process_id: str) -> list[tuple[str, str]]:
        """``(session_id, descriptor_json)`` of every grant of a process, by session then scope id."""
        return [tuple(row) for row in self.conn.execute(
            "SELECT session_id, descriptor_json FROM process_handle_grants WHERE process_id = ? "
            "ORDER BY session_id ASC, scope_id ASC", (process_id,))]

    def session_grants(self, session_id: str) -> list[tuple[str, str]]:
        """``(process_id, record_json)`` of every grant a session holds (any frame), by process id."""
        return [tuple(row) for row in self.conn.execute(
            "SELECT g.process_id, p.record_json FROM process_handle_grants g "
            "JOIN processes p ON p.process_id = g.process_id WHERE g.session_id = ? "
            "ORDER BY g.process_id ASC", (session_id,))]

    def delete_session_grants(self, session_id: str) -> int:
        """Delete every grant a session holds; how many were deleted."""
        self.conn.execute("DELETE FROM process_handle_grants WHERE session_id = ?", (session_id,))
        return self.conn.changes()

    def count_grants(self, process_id: str) -> int:
        """How many grants (any scope) a process has."""
        return query_one(self.conn, "SELECT COUNT(*) FROM process_handle_grants WHERE process_id = ?",
                         (process_id,))[0]

    # --- events -------------------------------------------------------------------------------------

    def event_by_key(self, process_id: str, replay_key: str) -> tuple[str, str] | None:
        """``(payload_hash, event_json)`` of the event stored under a replay key, or None."""
        row = query_one(self.conn, "SELECT payload_hash, event_json FROM process_events "
                                   "WHERE process_id = ? AND idempotency_key = ?", (process_id, replay_key))
        return None if row is None else (row[0], row[1])

    def next_sequence(self, process_id: str) -> int:
        """One more than the process's highest event sequence (1 for none)."""
        return query_one(self.conn, "SELECT COALESCE(MAX(sequence), 0) + 1 FROM process_events "
                                    "WHERE process_id = ?", (process_id,))[0]

    def insert_event(self, process_id: str, sequence: int, event_type: str, payload_hash: str,
                     replay_key: str | None, occurred_at_ms: int, event_json: str) -> None:
        """Append one event row."""
        self.conn.execute(
            "INSERT INTO process_events (process_id, sequence, event_type, payload_hash, idempotency_key, "
            "occurred_at_ms, event_json) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (process_id, sequence, event_type, payload_hash, replay_key, to_i64(occurred_at_ms), event_json))

    def events_after(self, process_id: str, after_sequence: int) -> list[str]:
        """Event JSON with sequence > ``after_sequence``, ascending."""
        return self._texts("SELECT event_json FROM process_events WHERE process_id = ? "
                           "AND sequence > ? ORDER BY sequence ASC", (process_id, clamp_cursor(after_sequence)))

    def count_events_through(self, process_id: str, event_type: str, up_to_sequence: int) -> int:
        """How many events of ``event_type`` have sequence <= ``up_to_sequence``."""
        return query_one(self.conn, "SELECT COUNT(*) FROM process_events WHERE process_id = ? "
                                    "AND event_type = ? AND sequence <= ?",
                         (process_id, event_type, clamp_cursor(up_to_sequence)))[0]

    def recent_events(self, process_id: str, limit: int) -> list[str]:
        """Event JSON of the last ``limit`` events, ascending."""
        texts = self._texts("SELECT event_json FROM process_events WHERE process_id = ? "
                            "ORDER BY sequence DESC LIMIT ?", (process_id, clamp_cursor(limit)))
        texts.reverse()
        return texts

    def find_event_after(self, process_id: str, event_type: str, after_sequence: int) -> str | None:
        """Event JSON of the first ``event_type`` event after the cursor, or None."""
        texts = self._texts("SELECT event_json FROM process_events WHERE process_id = ? "
                            "AND sequence > ? AND event_type = ? ORDER BY sequence ASC LIMIT 1",
                            (process_id, clamp_cursor(after_sequence), event_type))
        return texts[0] if texts else None

    # --- wake acknowledgements ----------------------------------------------------------------------

    def wake_acks(self, process_id: str) -> set[int]:
        """Sequences of the process's acknowledged wake events."""
        return {from_i64(row[0]) for row in self.conn.execute(
            "SELECT sequence FROM process_wake_acks WHERE process_id = ?", (process_id,))}

    def add_wake_ack(self, process_id: str, sequence: int) -> bool:
        """Record a wake acknowledgement; True when it was new (a duplicate is ignored)."""
        self.conn.execute("INSERT OR IGNORE INTO process_wake_acks (process_id, sequence) VALUES (?, ?)",
                          (process_id, to_i64(sequence)))
        return self.conn.changes() > 0

    # --- process leases -----------------------------------------------------------------------------

    def lease(self, process_id: str) -> tuple[str | None, str | None, int, int, int] | None:
        """``(owner_id, token, fencing, claimed_at_ms, expires_at_ms)`` of the lease row, or None.

        A released lease keeps its row (and fencing counter) with owner and token None.
        """
        row = query_one(
            self.conn,
            "SELECT lease_owner_id, lease_token, lease_fencing_token, lease_claimed_at_ms, "
            "lease_expires_at_ms FROM process_leases WHERE process_id = ?", (process_id,))
        if row is None:
            return None
        owner, token, fencing, claimed, expires = row
        return owner, token, from_i64(fencing), from_i64(claimed), from_i64(expires)

    def put_lease(self, process_id: str, owner_id: str, token: str, fencing: int, claimed_at_ms: int,
                  expires_at_ms: int) -> None:
        """Insert or overwrite the process's lease row."""
        self.conn.execute(
            "INSERT INTO process_leases (process_id, lease_owner_id, lease_token, lease_fencing_token, "
            "lease_claimed_at_ms, lease_expires_at_ms) VALUES (?, ?, ?, ?, ?, ?) "
            "ON CONFLICT(process_id) DO UPDATE SET lease_owner_id = excluded.lease_owner_id, "
            "lease_token = excluded.lease_token, lease_fencing_token = excluded.lease_fencing_token, "
            "lease_claimed_at_ms = excluded.lease_claimed_at_ms, "
            "lease_expires_at_ms = excluded.lease_expires_at_ms",
            (process_id, owner_id, token, to_i64(fencing), to_i64(claimed_at_ms), to_i64(expires_at_ms)))

    def extend_lease(self, process_id: str, token: str, expires_at_ms: int) -> bool:
        """Move the expiry of the lease carrying ``token``; True when it matched."""
        self.conn.execute("UPDATE process_leases SET lease_expires_at_ms = ? WHERE process_id = ? AND lease_token = ?",
                          (to_i64(expires_at_ms), process_id, token))
        return self.conn.changes() > 0

    def release_lease(self, process_id: str, token: str) -> bool:
        """Clear the lease carrying ``token``, keeping the fencing counter; True when it matched."""
        self.conn.execute(
            "UPDATE process_leases SET lease_owner_id = NULL, lease_token = NULL, lease_claimed_at_ms = 0, "
            "lease_expires_at_ms = 0 WHERE process_id = ? AND lease_token = ?", (process_id, token))
        return self.conn.changes() > 0
