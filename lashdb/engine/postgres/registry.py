"""The process registry's statements on PostgreSQL (SPEC §3.2): :class:`PgRegistryRows`.

Contract: implements :class:`~lashdb.engine.deployment.ports.RegistryRows` on one psycopg
connection inside the transaction its backend opened, with every statement scoped by
``root_session_id`` (the scope one SQLite sidecar file has). It returns exactly what
:class:`~lashdb.engine.sqlite.registry.SqliteRegistryRows` returns: u64 values (timestamps,
fencing tokens, acknowledged sequences) are stored as the signed cast (:func:`to_i64`) in BIGINT
and read back unsigned; query cursors are clamped into the signed range; text is ordered
bytewise (``COLLATE "C"``, SQLite's BINARY) so both backends list in the same order.
"""

from __future__ import annotations

from typing import Any

from lashdb.engine.base.ints import clamp_cursor, from_i64, to_i64

__all__ = ["PgRegistryRows"]

_UPSERT_GRANT = (
    "INSERT INTO lash_process_handle_grants (root_session_id, session_id, scope_id, process_id, "
    "descriptor_json) VALUES (%s, %s, %s, %s, %s) ON CONFLICT (root_session_id, scope_id, process_id) "
    "DO UPDATE SET session_id = excluded.session_id, descriptor_json = excluded.descriptor_json")

_JOIN_PROCESS = ("JOIN lash_processes p ON p.root_session_id = g.root_session_id "
                 "AND p.process_id = g.process_id")

_UPSERT_LEASE = (
    "INSERT INTO lash_process_leases (root_session_id, process_id, lease_owner_id, lease_token, "
    "lease_fencing_token, lease_claimed_at_ms, lease_expires_at_ms) VALUES (%s, %s, %s, %s, %s, %s, %s) "
    "ON CONFLICT (root_session_id, process_id) DO UPDATE SET lease_owner_id = excluded.lease_owner_id, "
    "lease_token = excluded.lease_token, lease_fencing_token = excluded.lease_fencing_token, "
    "lease_claimed_at_ms = excluded.lease_claimed_at_ms, lease_expires_at_ms = excluded.lease_expires_at_ms")


class PgRegistryRows:
    """The registry's statements, bound to one connection and one root session."""

    def __init__(self, conn: Any, root_session_id: str) -> None:
        self.conn = conn
        self.root = root_session_id

    def _one(self, sql: str, params: tuple = ()) -> tuple | None:
        return self.conn.execute(sql, (self.root, *params)).fetchone()

    def _all(self, sql: str, params: tuple = ()) -> list[tuple]:
        return [tuple(row) for row in self.conn.execute(sql, (self.root, *params)).fetchall()]

    def _texts(self, sql: str, params: tuple = ()) -> list[str]:
        return [row[0] for row in self._all(sql, params)]

    def _changed(self, sql: str, params: tuple = ()) -> int:
        return self.conn.execute(sql, (self.root, *params)).rowcount

    # --- process rows -------------------------------------------------------------------------------

    def load_process(self, process_id: str) -> str | None:
        """The stored record JSON of a process, or None."""
        row = self._one("SELECT record_json FROM lash_processes WHERE root_session_id = %s "
                        "AND process_id = %s", (process_id,))
        return None if row is None else row[0]

    def insert_process(self, process_id: str, registration_hash: str, owner_scope_id: str,
                       created_at_ms: int, status: str, record_json: str) -> None:
        """Insert a new process row (created and updated at ``created_at_ms``)."""
        self._changed(
            "INSERT INTO lash_processes (root_session_id, process_id, registration_hash, owner_scope_id, "
            "created_at_ms, updated_at_ms, status, record_json) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
            (process_id, registration_hash, owner_scope_id, to_i64(created_at_ms), to_i64(created_at_ms),
             status, record_json))

    def save_process(self, process_id: str, updated_at_ms: int, status: str, record_json: str) -> None:
        """Overwrite a process row's record, status and update time."""
        self.conn.execute(
            "UPDATE lash_processes SET updated_at_ms = %s, status = %s, record_json = %s "
            "WHERE root_session_id = %s AND process_id = %s",
            (to_i64(updated_at_ms), status, record_json, self.root, process_id))

    def list_processes(self) -> list[str]:
        """Every record JSON, by process id."""
        return self._texts("SELECT record_json FROM lash_processes WHERE root_session_id = %s "
                           'ORDER BY process_id COLLATE "C" ASC')

    def list_running(self) -> list[str]:
        """Record JSON of the processes whose status is ``running``, by process id."""
        return self._texts("SELECT record_json FROM lash_processes WHERE root_session_id = %s "
                           "AND status = 'running' ORDER BY process_id COLLATE \"C\" ASC")

    # --- handle grants ------------------------------------------------------------------------------

    def put_grant(self, session_id: str, scope_id: str, process_id: str, descriptor_json: str) -> None:
        """Insert or replace the grant of ``(scope_id, process_id)``."""
        self._changed(_UPSERT_GRANT, (session_id, scope_id, process_id, descriptor_json))

    def delete_grant(self, scope_id: str, process_id: str) -> bool:
        """Delete one grant; True when one existed."""
        return self._changed("DELETE FROM lash_process_handle_grants WHERE root_session_id = %s "
                             "AND scope_id = %s AND process_id = %s", (scope_id, process_id)) > 0

    def grant_descriptor(self, scope_id: str, process_id: str) -> str | None:
        """The descriptor JSON of one grant, or None."""
        row = self._one("SELECT descriptor_json FROM lash_process_handle_grants WHERE root_session_id = %s "
                        "AND scope_id = %s AND process_id = %s", (scope_id, process_id))
        return None if row is None else row[0]

    def grants_for_scope(self, scope_id: str, running_only: bool) -> list[tuple[str, str, str]]:
        """``(process_id, descriptor_json, record_json)`` of a scope's grants, by process id."""
        sql = ("SELECT g.process_id, g.descriptor_json, p.record_json FROM lash_process_handle_grants g "
               f"{_JOIN_PROCESS} WHERE g.root_session_id = %s AND g.scope_id = %s")
        if running_only:
            sql += " AND p.status = 'running'"
        return self._all(sql + ' ORDER BY g.process_id COLLATE "C" ASC', (scope_id,))

    def has_grant(self, scope_id: str, process_id: str) -> bool:
        """True when the scope holds a grant for an existing process."""
        return self._one(f"SELECT 1 FROM lash_process_handle_grants g {_JOIN_PROCESS} "
                         "WHERE g.root_session_id = %s AND g.scope_id = %s AND g.process_id = %s LIMIT 1",
                         (scope_id, process_id)) is not None

    def grants_for_process(self, process_id: str) -> list[tuple[str, str]]:
        """``(session_id, descriptor_json)`` of every grant of a process, by session then scope id."""
        return self._all("SELECT session_id, descriptor_json FROM lash_process_handle_grants "
                         "WHERE root_session_id = %s AND process_id = %s "
                         'ORDER BY session_id COLLATE "C" ASC, scope_id COLLATE "C" ASC', (process_id,))

    def session_grants(self, session_id: str) -> list[tuple[str, str]]:
        """``(process_id, record_json)`` of every grant a session holds (any frame), by process id."""
        return self._all(f"SELECT g.process_id, p.record_json FROM lash_process_handle_grants g {_JOIN_PROCESS} "
                         "WHERE g.root_session_id = %s AND g.session_id = %s "
                         'ORDER BY g.process_id COLLATE "C" ASC', (session_id,))

    def delete_session_grants(self, session_id: str) -> int:
        """Delete every grant a session holds; how many were deleted."""
        return self._changed("DELETE FROM lash_process_handle_grants WHERE root_session_id = %s "
                             "AND session_id = %s", (session_id,))

    def count_grants(self, process_id: str) -> int:
        """How many grants (any scope) a process has."""
        return int(self._one("SELECT COUNT(*) FROM lash_process_handle_grants WHERE root_session_id = %s "
                             "AND process_id = %s", (process_id,))[0])

    # --- events -------------------------------------------------------------------------------------

    def event_by_key(self, process_id: str, replay_key: str) -> tuple[str, str] | None:
        """``(payload_hash, event_json)`` of the event stored under a replay key, or None."""
        row = self._one("SELECT payload_hash, event_json FROM lash_process_events WHERE root_session_id = %s "
                        "AND process_id = %s AND idempotency_key = %s", (process_id, replay_key))
        return None if row is None else (row[0], row[1])

    def next_sequence(self, process_id: str) -> int:
        """One more than the process's highest event sequence (1 for none)."""
        return int(self._one("SELECT COALESCE(MAX(sequence), 0) + 1 FROM lash_process_events "
                             "WHERE root_session_id = %s AND process_id = %s", (process_id,))[0])

    def insert_event(self, process_id: str, sequence: int, event_type: str, payload_hash: str,
                     replay_key: str | None, occurred_at_ms: int, event_json: str) -> None:
        """Append one event row."""
        self._changed(
            "INSERT INTO lash_process_events (root_session_id, process_id, sequence, event_type, payload_hash, "
            "idempotency_key, occurred_at_ms, event_json) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
            (process_id, sequence, event_type, payload_hash, replay_key, to_i64(occurred_at_ms), event_json))

    def events_after(self, process_id: str, after_sequence: int) -> list[str]:
        """Event JSON with sequence > ``after_sequence``, ascending."""
        return self._texts("SELECT event_json FROM lash_process_events WHERE root_session_id = %s "
                           "AND process_id = %s AND sequence > %s ORDER BY sequence ASC",
                           (process_id, clamp_cursor(after_sequence)))

    def count_events_through(self, process_id: str, event_type: str, up_to_sequence: int) -> int:
        """How many events of ``event_type`` have sequence <= ``up_to_sequence``."""
        return int(self._one("SELECT COUNT(*) FROM lash_process_events WHERE root_session_id = %s "
                             "AND process_id = %s AND event_type = %s AND sequence <= %s",
                             (process_id, event_type, clamp_cursor(up_to_sequence)))[0])

    def recent_events(self, process_id: str, limit: int) -> list[str]:
        """Event JSON of the last ``limit`` events, ascending."""
        texts = self._texts("SELECT event_json FROM lash_process_events WHERE root_session_id = %s "
                            "AND process_id = %s ORDER BY sequence DESC LIMIT %s",
                            (process_id, clamp_cursor(limit)))
        texts.reverse()
        return texts

    def find_event_after(self, process_id: str, event_type: str, after_sequence: int) -> str | None:
        """Event JSON of the first ``event_type`` event after the cursor, or None."""
        texts = self._texts("SELECT event_json FROM lash_process_events WHERE root_session_id = %s "
                            "AND process_id = %s AND sequence > %s AND event_type = %s "
                            "ORDER BY sequence ASC LIMIT 1",
                            (process_id, clamp_cursor(after_sequence), event_type))
        return texts[0] if texts else None

    # --- wake acknowledgements ----------------------------------------------------------------------

    def wake_acks(self, process_id: str) -> set[int]:
        """Sequences of the process's acknowledged wake events."""
        return {from_i64(row[0]) for row in self._all(
            "SELECT sequence FROM lash_process_wake_acks WHERE root_session_id = %s AND process_id = %s",
            (process_id,))}

    def add_wake_ack(self, process_id: str, sequence: int) -> bool:
        """Record a wake acknowledgement; True when it was new (a duplicate is ignored)."""
        return self._changed("INSERT INTO lash_process_wake_acks (root_session_id, process_id, sequence) "
                             "VALUES (%s, %s, %s) ON CONFLICT DO NOTHING", (process_id, to_i64(sequence))) > 0

    # --- process leases -----------------------------------------------------------------------------

    def lease(self, process_id: str) -> tuple[str | None, str | None, int, int, int] | None:
        """``(owner_id, token, fencing, claimed_at_ms, expires_at_ms)`` of the lease row, or None.

        A released lease keeps its row (and fencing counter) with owner and token None.
        """
        row = self._one("SELECT lease_owner_id, lease_token, lease_fencing_token, lease_claimed_at_ms, "
                        "lease_expires_at_ms FROM lash_process_leases WHERE root_session_id = %s "
                        "AND process_id = %s", (process_id,))
        if row is None:
            return None
        owner, token, fencing, claimed, expires = row
        return owner, token, from_i64(fencing), from_i64(claimed), from_i64(expires)

    def put_lease(self, process_id: str, owner_id: str, token: str, fencing: int, claimed_at_ms: int,
                  expires_at_ms: int) -> None:
        """Insert or overwrite the process's lease row."""
        self._changed(_UPSERT_LEASE, (process_id, owner_id, token, to_i64(fencing), to_i64(claimed_at_ms),
                                      to_i64(expires_at_ms)))

    def extend_lease(self, process_id: str, token: str, expires_at_ms: int) -> bool:
        """Move the expiry of the lease carrying ``token``; True when it matched."""
        return self.conn.execute(
            "UPDATE lash_process_leases SET lease_expires_at_ms = %s WHERE root_session_id = %s "
            "AND process_id = %s AND lease_token = %s",
            (to_i64(expires_at_ms), self.root, process_id, token)).rowcount > 0

    def release_lease(self, process_id: str, token: str) -> bool:
        """Clear the lease carrying ``token``, keeping the fencing counter; True when it matched."""
        return self._changed(
            "UPDATE lash_process_leases SET lease_owner_id = NULL, lease_token = NULL, lease_claimed_at_ms = 0, "
            "lease_expires_at_ms = 0 WHERE root_session_id = %s AND process_id = %s AND lease_token = %s",
            (process_id, token)) > 0
