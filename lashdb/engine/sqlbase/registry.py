"""The process registry's statements (SPEC §3.2), written once for every SQL backend: :class:`RegistryStatements`.

Contract: implements :class:`~lashdb.engine.deployment.ports.RegistryRows` over a
:class:`~.dialect.Dialect`, inside whatever transaction the backend opened. Each method runs its
statements and returns plain values; every rule (idempotent registration, replay-key CAS, fencing,
validation) lives in :mod:`lashdb.engine.deployment.process_registry`. Every statement is confined
to the dialect's scope (the one store a SQLite file holds), and the scope column leads each key.
Unsigned 64-bit values (timestamps, fencing tokens, acknowledged sequences) are stored as upstream
does, a signed cast (:func:`to_i64`), and read back unsigned; query cursors are clamped into the
signed range; text is ordered bytewise so every backend lists in the same order. A backend
subclass implements :meth:`_all` and :meth:`_changed` on its connection.
"""

from __future__ import annotations

from lashdb.engine.base.ints import clamp_cursor, from_i64, to_i64

from .dialect import Dialect, where_clause

__all__ = ["RegistryStatements"]

_LEASE_COLUMNS = ("lease_owner_id", "lease_token", "lease_fencing_token", "lease_claimed_at_ms",
                  "lease_expires_at_ms")


class RegistryStatements:
    """The registry's statements, bound to one connection (and the transaction it is in) and one scope."""

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect
        self._p = dialect.placeholder
        self._processes = dialect.table("processes")
        self._events = dialect.table("process_events")
        self._grants = dialect.table("process_handle_grants")
        self._acks = dialect.table("process_wake_acks")
        self._leases = dialect.table("process_leases")
        scope = dialect.scope_column
        self._join = f"JOIN {self._processes} p ON " + " AND ".join(
            ([f"p.{scope} = g.{scope}"] if scope else []) + ["p.process_id = g.process_id"])

    def _all(self, sql: str, params: tuple) -> list[tuple]:
        """Every row of ``sql`` with ``params`` bound, as tuples."""
        raise NotImplementedError

    def _changed(self, sql: str, params: tuple) -> int:
        """Run a write; how many rows it changed."""
        raise NotImplementedError

    def _one(self, sql: str, params: tuple) -> tuple | None:
        rows = self._all(sql, params)
        return rows[0] if rows else None

    def _where(self, *conditions: str, alias: str = "") -> tuple[str, tuple]:
        """`` WHERE`` the scope and ``conditions`` (each ``column = ?`` by name), and the scope's params."""
        scope, params = self.dialect.scope(alias)
        return where_clause(scope + [f"{alias}{c} = {self._p}" for c in conditions]), tuple(params)

    def _insert(self, table: str, columns: tuple[str, ...], values: tuple, conflict: tuple[str, ...] = (),
                update: tuple[str, ...] = ()) -> int:
        """Insert one row with the scope column first; on a ``conflict`` key, update ``update`` or do nothing."""
        scope_column = self.dialect.scope_column
        scoped = (scope_column,) if scope_column else ()
        scope_values = (self.dialect.scope_value,) if scope_column else ()
        columns = scoped + columns
        sql = (f"INSERT INTO {table} ({', '.join(columns)}) "
               f"VALUES ({', '.join([self._p] * len(columns))})")
        if conflict:
            sql += f" ON CONFLICT ({', '.join(scoped + conflict)}) DO "
            sql += ("UPDATE SET " + ", ".join(f"{c} = excluded.{c}" for c in update)) if update else "NOTHING"
        return self._changed(sql, scope_values + values)

    def _texts(self, sql: str, params: tuple) -> list[str]:
        return [row[0] for row in self._all(sql, params)]

    # --- process rows -------------------------------------------------------------------------------

    def load_process(self, process_id: str) -> str | None:
        """The stored record JSON of a process, or None."""
        where, scope = self._where("process_id")
        row = self._one(f"SELECT record_json FROM {self._processes}{where}", (*scope, process_id))
        return None if row is None else row[0]

    def insert_process(self, process_id: str, registration_hash: str, owner_scope_id: str,
                       created_at_ms: int, status: str, record_json: str) -> None:
        """Insert a new process row (created and updated at ``created_at_ms``)."""
        self._insert(self._processes, ("process_id", "registration_hash", "owner_scope_id", "created_at_ms",
                                       "updated_at_ms", "status", "record_json"),
                     (process_id, registration_hash, owner_scope_id, to_i64(created_at_ms), to_i64(created_at_ms),
                      status, record_json))

    def save_process(self, process_id: str, updated_at_ms: int, status: str, record_json: str) -> None:
        """Overwrite a process row's record, status and update time."""
        p = self._p
        where, scope = self._where("process_id")
        self._changed(f"UPDATE {self._processes} SET updated_at_ms = {p}, status = {p}, record_json = {p}{where}",
                      (to_i64(updated_at_ms), status, record_json, *scope, process_id))

    def _process_records(self, running_only: bool) -> list[str]:
        scope, params = self.dialect.scope()
        running = ["status = 'running'"] if running_only else []
        return self._texts(f"SELECT record_json FROM {self._processes}{where_clause(scope + running)} "
                           f"ORDER BY {self.dialect.text('process_id')} ASC", tuple(params))

    def list_processes(self) -> list[str]:
        """Every record JSON, by process id."""
        return self._process_records(False)

    def list_running(self) -> list[str]:
        """Record JSON of the processes whose status is ``running``, by process id."""
        return self._process_records(True)

    # --- handle grants ------------------------------------------------------------------------------

    def put_grant(self, session_id: str, scope_id: str, process_id: str, descriptor_json: str) -> None:
        """Insert or replace the grant of ``(scope_id, process_id)``."""
        self._insert(self._grants, ("session_id", "scope_id", "process_id", "descriptor_json"),
                     (session_id, scope_id, process_id, descriptor_json),
                     conflict=("scope_id", "process_id"), update=("session_id", "descriptor_json"))

    def delete_grant(self, scope_id: str, process_id: str) -> bool:
        """Delete one grant; True when one existed."""
        where, scope = self._where("scope_id", "process_id")
        return self._changed(f"DELETE FROM {self._grants}{where}", (*scope, scope_id, process_id)) > 0

    def grant_descriptor(self, scope_id: str, process_id: str) -> str | None:
        """The descriptor JSON of one grant, or None."""
        where, scope = self._where("scope_id", "process_id")
        row = self._one(f"SELECT descriptor_json FROM {self._grants}{where}", (*scope, scope_id, process_id))
        return None if row is None else row[0]

    def grants_for_scope(self, scope_id: str, running_only: bool) -> list[tuple[str, str, str]]:
        """``(process_id, descriptor_json, record_json)`` of a scope's grants, by process id."""
        where, scope = self._where("scope_id", alias="g.")
        sql = f"SELECT g.process_id, g.descriptor_json, p.record_json FROM {self._grants} g {self._join}{where}"
        if running_only:
            sql += " AND p.status = 'running'"
        return self._all(sql + f" ORDER BY {self.dialect.text('g.process_id')} ASC", (*scope, scope_id))

    def has_grant(self, scope_id: str, process_id: str) -> bool:
        """True when the scope holds a grant for an existing process."""
        where, scope = self._where("scope_id", "process_id", alias="g.")
        return self._one(f"SELECT 1 FROM {self._grants} g {self._join}{where} LIMIT 1",
                         (*scope, scope_id, process_id)) is not None

    def grants_for_process(self, process_id: str) -> list[tuple[str, str]]:
        """``(session_id, descriptor_json)`` of every grant of a process, by session then scope id."""
        where, scope = self._where("process_id")
        text = self.dialect.text
        return self._all(f"SELECT session_id, descriptor_json FROM {self._grants}{where} "
                         f"ORDER BY {text('session_id')} ASC, {text('scope_id')} ASC", (*scope, process_id))

    def session_grants(self, session_id: str) -> list[tuple[str, str]]:
        """``(process_id, record_json)`` of every grant a session holds (any frame), by process id."""
        where, scope = self._where("session_id", alias="g.")
        return self._all(f"SELECT g.process_id, p.record_json FROM {self._grants} g {self._join}{where} "
                         f"ORDER BY {self.dialect.text('g.process_id')} ASC", (*scope, session_id))

    def delete_session_grants(self, session_id: str) -> int:
        """Delete every grant a session holds; how many were deleted."""
        where, scope = self._where("session_id")
        return self._changed(f"DELETE FROM {self._grants}{where}", (*scope, session_id))

    def count_grants(self, process_id: str) -> int:
        """How many grants (any scope) a process has."""
        where, scope = self._where("process_id")
        return int(self._one(f"SELECT COUNT(*) FROM {self._grants}{where}", (*scope, process_id))[0])

    # --- events -------------------------------------------------------------------------------------

    def _event_query(self, columns: str, process_id: str, extra: str = "", params: tuple = ()) -> tuple[str, tuple]:
        where, scope = self._where("process_id")
        return f"SELECT {columns} FROM {self._events}{where}{extra}", (*scope, process_id, *params)

    def event_by_key(self, process_id: str, replay_key: str) -> tuple[str, str] | None:
        """``(payload_hash, event_json)`` of the event stored under a replay key, or None."""
        row = self._one(*self._event_query("payload_hash, event_json", process_id,
                                           f" AND idempotency_key = {self._p}", (replay_key,)))
        return None if row is None else (row[0], row[1])

    def next_sequence(self, process_id: str) -> int:
        """One more than the process's highest event sequence (1 for none)."""
        return int(self._one(*self._event_query("COALESCE(MAX(sequence), 0) + 1", process_id))[0])

    def insert_event(self, process_id: str, sequence: int, event_type: str, payload_hash: str,
                     replay_key: str | None, occurred_at_ms: int, event_json: str) -> None:
        """Append one event row."""
        self._insert(self._events, ("process_id", "sequence", "event_type", "payload_hash", "idempotency_key",
                                    "occurred_at_ms", "event_json"),
                     (process_id, sequence, event_type, payload_hash, replay_key, to_i64(occurred_at_ms), event_json))

    def events_after(self, process_id: str, after_sequence: int) -> list[str]:
        """Event JSON with sequence > ``after_sequence``, ascending."""
        return self._texts(*self._event_query("event_json", process_id,
                                              f" AND sequence > {self._p} ORDER BY sequence ASC",
                                              (clamp_cursor(after_sequence),)))

    def count_events_through(self, process_id: str, event_type: str, up_to_sequence: int) -> int:
        """How many events of ``event_type`` have sequence <= ``up_to_sequence``."""
        p = self._p
        return int(self._one(*self._event_query("COUNT(*)", process_id,
                                                f" AND event_type = {p} AND sequence <= {p}",
                                                (event_type, clamp_cursor(up_to_sequence))))[0])

    def recent_events(self, process_id: str, limit: int) -> list[str]:
        """Event JSON of the last ``limit`` events, ascending."""
        texts = self._texts(*self._event_query("event_json", process_id, f" ORDER BY sequence DESC LIMIT {self._p}",
                                               (clamp_cursor(limit),)))
        texts.reverse()
        return texts

    def find_event_after(self, process_id: str, event_type: str, after_sequence: int) -> str | None:
        """Event JSON of the first ``event_type`` event after the cursor, or None."""
        p = self._p
        texts = self._texts(*self._event_query(
            "event_json", process_id, f" AND sequence > {p} AND event_type = {p} ORDER BY sequence ASC LIMIT 1",
            (clamp_cursor(after_sequence), event_type)))
        return texts[0] if texts else None

    # --- wake acknowledgements ----------------------------------------------------------------------

    def wake_acks(self, process_id: str) -> set[int]:
        """Sequences of the process's acknowledged wake events."""
        where, scope = self._where("process_id")
        return {from_i64(row[0]) for row in self._all(f"SELECT sequence FROM {self._acks}{where}",
                                                       (*scope, process_id))}

    def add_wake_ack(self, process_id: str, sequence: int) -> bool:
        """Record a wake acknowledgement; True when it was new (a duplicate is ignored)."""
        return self._insert(self._acks, ("process_id", "sequence"), (process_id, to_i64(sequence)),
                            conflict=("process_id", "sequence")) > 0

    # --- process leases -----------------------------------------------------------------------------

    def lease(self, process_id: str) -> tuple[str | None, str | None, int, int, int] | None:
        """``(owner_id, token, fencing, claimed_at_ms, expires_at_ms)`` of the lease row, or None.

        A released lease keeps its row (and fencing counter) with owner and token None.
        """
        where, scope = self._where("process_id")
        row = self._one(f"SELECT {', '.join(_LEASE_COLUMNS)} FROM {self._leases}{where}", (*scope, process_id))
        if row is None:
            return None
        owner, token, fencing, claimed, expires = row
        return owner, token, from_i64(fencing), from_i64(claimed), from_i64(expires)

    def put_lease(self, process_id: str, owner_id: str, token: str, fencing: int, claimed_at_ms: int,
                  expires_at_ms: int) -> None:
        """Insert or overwrite the process's lease row."""
        self._insert(self._leases, ("process_id", *_LEASE_COLUMNS),
                     (process_id, owner_id, token, to_i64(fencing), to_i64(claimed_at_ms), to_i64(expires_at_ms)),
                     conflict=("process_id",), update=_LEASE_COLUMNS)

    def extend_lease(self, process_id: str, token: str, expires_at_ms: int) -> bool:
        """Move the expiry of the lease carrying ``token``; True when it matched."""
        where, scope = self._where("process_id", "lease_token")
        return self._changed(f"UPDATE {self._leases} SET lease_expires_at_ms = {self._p}{where}",
                             (to_i64(expires_at_ms), *scope, process_id, token)) > 0

    def release_lease(self, process_id: str, token: str) -> bool:
        """Clear the lease carrying ``token``, keeping the fencing counter; True when it matched."""
        where, scope = self._where("process_id", "lease_token")
        return self._changed(
            f"UPDATE {self._leases} SET lease_owner_id = NULL, lease_token = NULL, lease_claimed_at_ms = 0, "
            f"lease_expires_at_ms = 0{where}", (*scope, process_id, token)) > 0
