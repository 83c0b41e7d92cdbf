"""SQLite statements of ``queued_work_batches``/``queued_work_items`` (the rules live in ``session/queued_work.py``).

Contract: runs inside the caller's transaction; returns plain rows. A batch is free at ``now`` when
its claim token is NULL or its claim expired. :meth:`SqliteQueueRows.stamp_claim` is all or
nothing through a savepoint, so a lost race undoes only its own stamps and the caller's
transaction still commits normally.
"""

from __future__ import annotations

from collections.abc import Sequence

import apsw

from lashdb.engine.session.model import dumps

from .connection import query_one

_COLUMNS = ("enqueue_seq, batch_id, session_id, source_key, delivery_policy, slot_policy, merge_key_json, "
            "available_at_ms, enqueued_at_ms, claim_fencing_token")
_FREE = "(claim_token IS NULL OR claim_expires_at_ms <= ?)"


class SqliteQueueRows:
    """:class:`~lashdb.engine.session.ports.QueueRows` on one connection."""

    def __init__(self, conn: apsw.Connection) -> None:
        self.conn = conn

    def batch_id_for_source(self, session_id: str, source_key: str) -> str | None:
        """The batch of (session, source key), or ``None``."""
        row = query_one(self.conn, "SELECT batch_id FROM queued_work_batches WHERE session_id = ? AND source_key = ?",
                        (session_id, source_key))
        return None if row is None else row[0]

    def batch(self, batch_id: str) -> tuple | None:
        """One batch row, or ``None``."""
        return query_one(self.conn, f"SELECT {_COLUMNS} FROM queued_work_batches WHERE batch_id = ?", (batch_id,))

    def insert(self, row: tuple, items: Sequence[tuple[int, str, str]]) -> None:
        """Insert a batch row and its items."""
        batch_id = row[0]
        self.conn.execute(
            "INSERT INTO queued_work_batches (batch_id, session_id, source_key, delivery_policy, slot_policy, "
            "merge_key_json, available_at_ms, enqueued_at_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", row)
        self.conn.executemany(
            "INSERT INTO queued_work_items (batch_id, item_index, item_id, payload_json) VALUES (?, ?, ?, ?)",
            [(batch_id, index, item_id, payload) for index, item_id, payload in items])

    def items(self, batch_ids: Sequence[str]) -> list[tuple[str, str, str]]:
        """Items of the batches, by batch then index (one statement)."""
        if len(batch_ids) == 1:
            cursor = self.conn.execute("SELECT batch_id, item_id, payload_json FROM queued_work_items "
                                       "WHERE batch_id = ? ORDER BY item_index", (batch_ids[0],))
        else:
            cursor = self.conn.execute(
                "SELECT batch_id, item_id, payload_json FROM queued_work_items "
                "WHERE batch_id IN (SELECT value FROM json_each(?)) ORDER BY batch_id, item_index",
                (dumps(list(batch_ids)),))
        return [tuple(r) for r in cursor]

    def ready(self, session_id: str, now: int, limit: int) -> list[tuple]:
        """Free batches available at ``now``, in enqueue order, at most ``limit``."""
        return self.conn.execute(
            f"SELECT {_COLUMNS} FROM queued_work_batches WHERE session_id = ? AND available_at_ms <= ? "
            f"AND {_FREE} ORDER BY enqueue_seq LIMIT ?", (session_id, now, now, limit)).fetchall()

    def stamp_claim(self, session_id: str, batch_ids: Sequence[str], claim: tuple[str, str, str, int, int],
                    now: int) -> bool:
        """Stamp the claim on every listed free batch, or on none (False)."""
        claim_id, owner_id, token, claimed_at, expires = claim
        conn = self.conn
        conn.execute("SAVEPOINT lashdb_queued_claim")
        conn.execute(
            f"UPDATE queued_work_batches SET claim_id = ?, claim_owner_id = ?, claim_token = ?, "
            f"claim_fencing_token = claim_fencing_token + 1, claim_claimed_at_ms = ?, claim_expires_at_ms = ? "
            f"WHERE session_id = ? AND {_FREE} AND batch_id IN (SELECT value FROM json_each(?))",
            (claim_id, owner_id, token, claimed_at, expires, session_id, now, dumps(list(batch_ids))))
        if conn.changes() != len(batch_ids):
            conn.execute("ROLLBACK TO lashdb_queued_claim")
            conn.execute("RELEASE lashdb_queued_claim")
            return False
        conn.execute("RELEASE lashdb_queued_claim")
        return True

    def renew(self, session_id: str, claim_id: str, lease_token: str, expires_at_ms: int) -> int:
        """Set the claim's expiry; how many batches it set."""
        self.conn.execute("UPDATE queued_work_batches SET claim_expires_at_ms = ? "
                          "WHERE session_id = ? AND claim_id = ? AND claim_token = ?",
                          (expires_at_ms, session_id, claim_id, lease_token))
        return self.conn.changes()

    def release(self, session_id: str, claim_id: str, lease_token: str) -> None:
        """Free the claim's batches (fencing counters kept)."""
        self.conn.execute("UPDATE queued_work_batches SET claim_id = NULL, claim_owner_id = NULL, "
                          "claim_token = NULL, claim_claimed_at_ms = 0, claim_expires_at_ms = 0 "
                          "WHERE session_id = ? AND claim_id = ? AND claim_token = ?",
                          (session_id, claim_id, lease_token))

    def free_batch(self, session_id: str, batch_id: str, now: int) -> tuple | None:
        """The batch if free at ``now``."""
        return query_one(self.conn, f"SELECT {_COLUMNS} FROM queued_work_batches "
                                    f"WHERE session_id = ? AND batch_id = ? AND {_FREE}", (session_id, batch_id, now))

    def delete_free(self, session_id: str, batch_id: str, now: int) -> None:
        """Delete the batch if free at ``now`` (items cascade)."""
        self.conn.execute(f"DELETE FROM queued_work_batches WHERE session_id = ? AND batch_id = ? AND {_FREE}",
                          (session_id, batch_id, now))

    def all(self, session_id: str) -> list[tuple]:
        """Every batch of the session in enqueue order."""
        return self.conn.execute(f"SELECT {_COLUMNS} FROM queued_work_batches WHERE session_id = ? "
                                 f"ORDER BY enqueue_seq", (session_id,)).fetchall()

    def free(self, session_id: str, now: int) -> list[tuple]:
        """Every free batch in enqueue order."""
        return self.conn.execute(f"SELECT {_COLUMNS} FROM queued_work_batches WHERE session_id = ? AND {_FREE} "
                                 f"ORDER BY enqueue_seq", (session_id, now)).fetchall()

    def owned(self, session_id: str, claim_id: str, lease_token: str) -> set[str]:
        """Ids of the batches held by (claim id, token)."""
        return {r[0] for r in self.conn.execute(
            "SELECT batch_id FROM queued_work_batches WHERE session_id = ? AND claim_id = ? AND claim_token = ?",
            (session_id, claim_id, lease_token))}

    def delete_claimed(self, claims: Sequence[tuple[str, str, str, Sequence[str]]]) -> None:
        """Delete each claim's listed batches still held by it."""
        self.conn.executemany(
            "DELETE FROM queued_work_batches WHERE session_id = ? AND claim_id = ? AND claim_token = ? "
            "AND batch_id IN (SELECT value FROM json_each(?))",
            [(s, c, t, dumps(list(ids))) for s, c, t, ids in claims])
