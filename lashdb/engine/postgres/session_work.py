"""PostgreSQL statements of a session's execution leases, queued work and attachment manifest
(postgres.md §2–§3; the rules live in ``session/leases.py``, ``queued_work.py``, ``attachments.py``).

Contract: every statement runs inside the caller's transaction and is scoped by a session id.
Methods that take a ``session_id`` use it (the row's key column, as the SQLite twins store it);
the others use the session the rows object was built for (a queued batch read by id uses the
session its row was seen or inserted under in this transaction). A write that names another session than
the bound one first takes that session's advisory lock too, so two stores never race on one
session's lease or queue. A batch is *free* at ``now`` when it has no claim token or its claim
expired. :meth:`PgQueueRows.stamp_claim` is all or nothing: it locks the listed free batches
(``FOR UPDATE``), stamps only if every listed batch is among them, and undoes its stamps
unless the update changed every one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .connection import advisory_key
from .session_rows import one


class Scope:
    """The transaction a rows object runs in: its connection, bound session and whether it writes."""

    def __init__(self, conn: Any, session_id: str, writing: bool) -> None:
        self.conn = conn
        self.sid = session_id
        self.writing = writing
        self._locked = {session_id}

    def lock(self, session_id: str) -> str:
        """Return ``session_id``, having taken its write lock first when it is not the bound one."""
        if self.writing and session_id not in self._locked:
            self.conn.execute("SELECT pg_advisory_xact_lock(%s)", (advisory_key(session_id),))
            self._locked.add(session_id)
        return session_id


_LEASE = "lease_owner_id, lease_token, lease_fencing_token, lease_claimed_at_ms, lease_expires_at_ms"


class PgLeaseRows:
    """:class:`~lashdb.engine.session.ports.LeaseRows` (``lash_session_execution_leases``)."""

    def __init__(self, scope: Scope) -> None:
        self.scope = scope
        self.conn = scope.conn

    def get(self, session_id: str) -> tuple | None:
        """The session's lease row, or ``None``."""
        return one(self.conn, f"SELECT {_LEASE} FROM lash_session_execution_leases WHERE session_id = %s",
                   (self.scope.lock(session_id),))

    def put(self, session_id: str, owner_id: str, lease_token: str, fencing_token: int, claimed_at_ms: int,
            expires_at_ms: int) -> None:
        """Create or overwrite the lease row."""
        self.conn.execute(
            "INSERT INTO lash_session_execution_leases (session_id, lease_owner_id, lease_token, "
            "lease_fencing_token, lease_claimed_at_ms, lease_expires_at_ms) VALUES (%s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (session_id) DO UPDATE SET lease_owner_id = excluded.lease_owner_id, "
            "lease_token = excluded.lease_token, lease_fencing_token = excluded.lease_fencing_token, "
            "lease_claimed_at_ms = excluded.lease_claimed_at_ms, lease_expires_at_ms = excluded.lease_expires_at_ms",
            (self.scope.lock(session_id), owner_id, lease_token, fencing_token, claimed_at_ms, expires_at_ms))

    def set_expiry(self, session_id: str, expires_at_ms: int) -> None:
        """Set the row's expiry."""
        self.conn.execute("UPDATE lash_session_execution_leases SET lease_expires_at_ms = %s WHERE session_id = %s",
                          (expires_at_ms, self.scope.lock(session_id)))

    def clear(self, session_id: str, owner_id: str, lease_token: str, fencing_token: int) -> None:
        """Clear the holder when all four fields match (the fencing token stays)."""
        self.conn.execute(
            "UPDATE lash_session_execution_leases SET lease_owner_id = NULL, lease_token = NULL, "
            "lease_claimed_at_ms = 0, lease_expires_at_ms = 0 WHERE session_id = %s AND lease_owner_id = %s "
            "AND lease_token = %s AND lease_fencing_token = %s",
            (self.scope.lock(session_id), owner_id, lease_token, fencing_token))

    def live(self, now: int) -> list[tuple]:
        """The bound session's lease if live at ``now`` (one database holds every session's leases)."""
        return [tuple(r) for r in self.conn.execute(
            "SELECT session_id, lease_owner_id, lease_token, lease_fencing_token, lease_claimed_at_ms, "
            "lease_expires_at_ms FROM lash_session_execution_leases "
            "WHERE session_id = %s AND lease_token IS NOT NULL AND lease_expires_at_ms > %s", (self.scope.sid, now))]


_BATCH = ("enqueue_seq, batch_id, session_id, source_key, delivery_policy, slot_policy, merge_key_json, "
          "available_at_ms, enqueued_at_ms, claim_fencing_token")
_FREE = "(claim_token IS NULL OR claim_expires_at_ms <= %s)"


class PgQueueRows:
    """:class:`~lashdb.engine.session.ports.QueueRows` (``lash_queued_work_batches``/``_items``)."""

    def __init__(self, scope: Scope) -> None:
        self.scope = scope
        self.conn = scope.conn
        # Batch ids are unique per store, as in the SQLite twin, but keyed by session here: remember
        # which session each batch row seen or inserted in this transaction belongs to, so a batch
        # of another session (enqueued or listed through this store) is read back with its items.
        self._session_of: dict[str, str] = {}

    def _rows(self, sql: str, params: Sequence[Any]) -> list[tuple]:
        rows = [tuple(r) for r in self.conn.execute(sql, params)]
        if sql.startswith(f"SELECT {_BATCH} "):
            self._session_of.update((row[1], row[2]) for row in rows)
        return rows

    def batch_id_for_source(self, session_id: str, source_key: str) -> str | None:
        """The batch of (session, source key), or ``None``."""
        row = one(self.conn, "SELECT batch_id FROM lash_queued_work_batches WHERE session_id = %s AND source_key = %s",
                  (self.scope.lock(session_id), source_key))
        return None if row is None else row[0]

    def batch(self, batch_id: str) -> tuple | None:
        """One batch row of the bound session, or ``None``."""
        return one(self.conn, f"SELECT {_BATCH} FROM lash_queued_work_batches WHERE session_id = %s "
                              f"AND batch_id = %s", (self._session_of.get(batch_id, self.scope.sid), batch_id))

    def insert(self, row: tuple, items: Sequence[tuple[int, str, str]]) -> None:
        """Insert a batch row (next ``enqueue_seq`` of its session) and its items."""
        batch_id, session_id = row[0], self.scope.lock(row[1])
        self._session_of[batch_id] = session_id
        seq = int(one(self.conn, "SELECT coalesce(max(enqueue_seq), 0) + 1 FROM lash_queued_work_batches "
                                 "WHERE session_id = %s", (session_id,))[0])
        self.conn.execute(
            "INSERT INTO lash_queued_work_batches (enqueue_seq, batch_id, session_id, source_key, delivery_policy, "
            "slot_policy, merge_key_json, available_at_ms, enqueued_at_ms) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)", (seq, *row))
        if items:
            self.conn.cursor().executemany(
                "INSERT INTO lash_queued_work_items (session_id, batch_id, item_index, item_id, payload_json) "
                "VALUES (%s, %s, %s, %s, %s)",
                [(session_id, batch_id, index, item_id, payload) for index, item_id, payload in items])

    def items(self, batch_ids: Sequence[str]) -> list[tuple[str, str, str]]:
        """Items of the batches (each in its own session), by batch then index (one statement)."""
        ids = list(batch_ids)
        sessions = [self._session_of.get(batch_id, self.scope.sid) for batch_id in ids]
        return self._rows("SELECT batch_id, item_id, payload_json FROM lash_queued_work_items "
                          "WHERE (session_id, batch_id) IN (SELECT * FROM unnest(%s::text[], %s::text[])) "
                          "ORDER BY batch_id COLLATE \"C\", item_index", (sessions, ids))

    def ready(self, session_id: str, now: int, limit: int) -> list[tuple]:
        """Free batches available at ``now``, in enqueue order, at most ``limit``."""
        return self._rows(f"SELECT {_BATCH} FROM lash_queued_work_batches WHERE session_id = %s "
                          f"AND available_at_ms <= %s AND {_FREE} ORDER BY enqueue_seq LIMIT %s",
                          (self.scope.lock(session_id), now, now, limit))

    def stamp_claim(self, session_id: str, batch_ids: Sequence[str], claim: tuple[str, str, str, int, int],
                    now: int) -> bool:
        """Stamp the claim on every listed free batch, or on none (False)."""
        claim_id, owner_id, token, claimed_at, expires = claim
        session_id = self.scope.lock(session_id)
        free = self.conn.execute(
            f"SELECT batch_id FROM lash_queued_work_batches WHERE session_id = %s AND batch_id = ANY(%s) "
            f"AND {_FREE} FOR UPDATE", (session_id, list(batch_ids), now)).fetchall()
        # The SQLite twin compares changed rows with the listed ids: a repeated id fails the claim too.
        if len(free) != len(batch_ids):
            return False
        # Count the rows the update really changed, as the SQLite twin does: anything that skips a
        # locked row (a trigger, a rule) must undo this claim's own stamps, not hand out a part.
        self.conn.execute("SAVEPOINT lashdb_queued_claim")
        changed = self.conn.execute(
            "UPDATE lash_queued_work_batches SET claim_id = %s, claim_owner_id = %s, claim_token = %s, "
            "claim_fencing_token = claim_fencing_token + 1, claim_claimed_at_ms = %s, claim_expires_at_ms = %s "
            "WHERE session_id = %s AND batch_id = ANY(%s)",
            (claim_id, owner_id, token, claimed_at, expires, session_id, [r[0] for r in free])).rowcount
        if changed != len(batch_ids):
            self.conn.execute("ROLLBACK TO SAVEPOINT lashdb_queued_claim")
            self.conn.execute("RELEASE SAVEPOINT lashdb_queued_claim")
            return False
        self.conn.execute("RELEASE SAVEPOINT lashdb_queued_claim")
        return True

    def renew(self, session_id: str, claim_id: str, lease_token: str, expires_at_ms: int) -> int:
        """Set the claim's expiry; how many batches it set."""
        return self.conn.execute(
            "UPDATE lash_queued_work_batches SET claim_expires_at_ms = %s "
            "WHERE session_id = %s AND claim_id = %s AND claim_token = %s",
            (expires_at_ms, self.scope.lock(session_id), claim_id, lease_token)).rowcount

    def release(self, session_id: str, claim_id: str, lease_token: str) -> None:
        """Free the claim's batches (fencing counters kept)."""
        self.conn.execute("UPDATE lash_queued_work_batches SET claim_id = NULL, claim_owner_id = NULL, "
                          "claim_token = NULL, claim_claimed_at_ms = 0, claim_expires_at_ms = 0 "
                          "WHERE session_id = %s AND claim_id = %s AND claim_token = %s",
                          (self.scope.lock(session_id), claim_id, lease_token))

    def free_batch(self, session_id: str, batch_id: str, now: int) -> tuple | None:
        """The batch if free at ``now``."""
        return one(self.conn, f"SELECT {_BATCH} FROM lash_queued_work_batches "
                              f"WHERE session_id = %s AND batch_id = %s AND {_FREE}",
                   (self.scope.lock(session_id), batch_id, now))

    def delete_free(self, session_id: str, batch_id: str, now: int) -> None:
        """Delete the batch if free at ``now`` (items cascade)."""
        self.conn.execute(f"DELETE FROM lash_queued_work_batches WHERE session_id = %s AND batch_id = %s AND {_FREE}",
                          (self.scope.lock(session_id), batch_id, now))

    def all(self, session_id: str) -> list[tuple]:
        """Every batch of the session in enqueue order."""
        return self._rows(f"SELECT {_BATCH} FROM lash_queued_work_batches WHERE session_id = %s "
                          f"ORDER BY enqueue_seq", (self.scope.lock(session_id),))

    def free(self, session_id: str, now: int) -> list[tuple]:
        """Every free batch in enqueue order."""
        return self._rows(f"SELECT {_BATCH} FROM lash_queued_work_batches WHERE session_id = %s AND {_FREE} "
                          f"ORDER BY enqueue_seq", (self.scope.lock(session_id), now))

    def owned(self, session_id: str, claim_id: str, lease_token: str) -> set[str]:
        """Ids of the batches held by (claim id, token)."""
        return {r[0] for r in self.conn.execute(
            "SELECT batch_id FROM lash_queued_work_batches WHERE session_id = %s AND claim_id = %s "
            "AND claim_token = %s", (self.scope.lock(session_id), claim_id, lease_token))}

    def delete_claimed(self, claims: Sequence[tuple[str, str, str, Sequence[str]]]) -> None:
        """Delete each claim's listed batches still held by it."""
        params = [(self.scope.lock(s), c, t, list(ids)) for s, c, t, ids in claims]
        if params:
            self.conn.cursor().executemany(
                "DELETE FROM lash_queued_work_batches WHERE session_id = %s AND claim_id = %s AND claim_token = %s "
                "AND batch_id = ANY(%s)", params)


class PgAttachmentRows:
    """:class:`~lashdb.engine.session.ports.AttachmentRows` (``lash_attachment_manifest``)."""

    def __init__(self, scope: Scope) -> None:
        self.scope = scope
        self.conn = scope.conn

    def insert_if_absent(self, attachment_id: str, session_id: str, canonical_uri: str, intent_at_ms: int) -> bool:
        """Insert an uncommitted row unless the id has one in the bound session; True when inserted."""
        if session_id != self.scope.sid and self.location(attachment_id) is not None:
            return False  # the id is taken in this store's scope, as one SQLite file's manifest has it
        return bool(self.conn.execute(
            "INSERT INTO lash_attachment_manifest (session_id, attachment_id, canonical_uri, intent_at_ms, "
            "committed_at_ms) VALUES (%s, %s, %s, %s, NULL) ON CONFLICT (session_id, attachment_id) DO NOTHING",
            (self.scope.lock(session_id), attachment_id, canonical_uri, intent_at_ms)).rowcount)

    def location(self, attachment_id: str) -> tuple[str, str] | None:
        """(session_id, canonical_uri) of the bound session's row, or ``None``."""
        row = one(self.conn, "SELECT session_id, canonical_uri FROM lash_attachment_manifest "
                             "WHERE session_id = %s AND attachment_id = %s", (self.scope.sid, attachment_id))
        return None if row is None else (row[0], row[1])

    def unknown_ids(self, session_id: str, attachment_ids: Sequence[str]) -> list[str]:
        """Distinct ids with no row of ``session_id``."""
        return [r[0] for r in self.conn.execute(
            "SELECT DISTINCT id FROM unnest(%s::text[]) AS ids(id) WHERE id NOT IN "
            "(SELECT attachment_id FROM lash_attachment_manifest WHERE session_id = %s)",
            (list(attachment_ids), self.scope.lock(session_id)))]

    def stamp(self, session_id: str, attachment_ids: Sequence[str], now: int) -> None:
        """Stamp the session's unstamped rows among the ids, in one statement."""
        self.conn.execute("UPDATE lash_attachment_manifest SET committed_at_ms = %s WHERE session_id = %s "
                          "AND committed_at_ms IS NULL AND attachment_id = ANY(%s)",
                          (now, self.scope.lock(session_id), list(attachment_ids)))

    def uncommitted(self, older_than_ms: int) -> list[tuple]:
        """Every session's unstamped rows with intent at or before the cutoff, oldest first: the store's
        manifest spans the database as a SQLite file's spans the file (and as upstream's does), so a
        sweeper holding any store sees every orphaned intent."""
        return [tuple(r) for r in self.conn.execute(
            "SELECT attachment_id, session_id, canonical_uri, intent_at_ms FROM lash_attachment_manifest "
            "WHERE committed_at_ms IS NULL AND intent_at_ms <= %s "
            "ORDER BY intent_at_ms, attachment_id COLLATE \"C\", session_id COLLATE \"C\"", (older_than_ms,))]

    def delete(self, attachment_id: str) -> None:
        """Delete the id's row: the bound session's when it has one, else the id's unstamped rows in other
        sessions (what :meth:`uncommitted` listed), each under that session's lock."""
        if self.location(attachment_id) is not None:
            self.conn.execute("DELETE FROM lash_attachment_manifest WHERE session_id = %s AND attachment_id = %s",
                              (self.scope.sid, attachment_id))
            return
        for (owner,) in self.conn.execute("SELECT DISTINCT session_id FROM lash_attachment_manifest "
                                          "WHERE attachment_id = %s AND committed_at_ms IS NULL",
                                          (attachment_id,)).fetchall():
            self.conn.execute("DELETE FROM lash_attachment_manifest WHERE session_id = %s AND attachment_id = %s "
                              "AND committed_at_ms IS NULL", (self.scope.lock(owner), attachment_id))
