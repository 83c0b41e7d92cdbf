"""PostgreSQL statements of one session's ``lash_blobs`` and the GC sweep (postgres.md §2; rules in ``session/``).

Contract: blobs belong to their session (primary key ``(session_id, hash)``), so every statement is
scoped by the session id and the sweep never touches another session's rows. Writes keep the first
row for a hash. The sweep's statements read rows past a hash in primary-key order, probe
``lash_artifact_refs`` with one array parameter, and delete a set of hashes in one statement
(which rows are roots is decided in ``session/gc.py``). Listings are in byte order
(``COLLATE "C"``), as on SQLite; the sweep's scan uses the key's own order, which its index serves.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from .session_rows import one


# A join with the array, not ``hash = ANY(%s)``: before the table's first ANALYZE (a session just
# filled, GC right after) the planner read every row of the session for ``= ANY`` and filtered them
# (80-100 ms for a batch of 185 rows among 100,000 blobs); the join probes the primary key.
SWEEP_DELETE = ("DELETE FROM lash_blobs b USING unnest(%s::text[]) AS d(h) WHERE b.session_id = %s "
                "AND b.hash = d.h RETURNING octet_length(b.content)")
"""The sweep's delete of a batch: (hashes, session id) -> the stored length of each row deleted."""


class PgBlobRows:
    """:class:`~lashdb.engine.session.ports.BlobRows` of one session."""

    def __init__(self, conn: Any, session_id: str) -> None:
        self.conn = conn
        self.sid = session_id

    def put(self, rows: Iterable[tuple[str, bytes]]) -> None:
        """Store rows whose hash is not stored yet."""
        params = [(self.sid, h, bytes(content)) for h, content in rows]
        if params:
            self.conn.cursor().executemany(
                "INSERT INTO lash_blobs (session_id, hash, content) VALUES (%s, %s, %s) "
                "ON CONFLICT (session_id, hash) DO NOTHING", params)

    def get(self, blob_hash: str) -> bytes | None:
        """The stored bytes, or ``None``."""
        row = one(self.conn, "SELECT content FROM lash_blobs WHERE session_id = %s AND hash = %s",
                  (self.sid, blob_hash))
        return None if row is None else bytes(row[0])

    def exists(self, blob_hash: str) -> bool:
        """True when the hash is stored."""
        return one(self.conn, "SELECT 1 FROM lash_blobs WHERE session_id = %s AND hash = %s",
                   (self.sid, blob_hash)) is not None

    def iter_all(self) -> Iterator[tuple[str, bytes]]:
        """Every row in hash order, streamed through a server-side cursor (the caller's snapshot)."""
        with self.conn.cursor(name="lashdb_blob_rows") as cur:
            cur.execute("SELECT hash, content FROM lash_blobs WHERE session_id = %s ORDER BY hash COLLATE \"C\"",
                        (self.sid,))
            for blob_hash, content in cur:
                yield blob_hash, bytes(content)

    def rewrite(self, blob_hash: str, old: bytes, new: bytes) -> bool:
        """Replace the row's envelope when it still holds ``old``; True when it did."""
        cur = self.conn.execute("UPDATE lash_blobs SET content = %s WHERE session_id = %s AND hash = %s AND content = %s",
                                (new, self.sid, blob_hash, old))
        return cur.rowcount == 1

    def count_and_size(self) -> tuple[int, int]:
        """(rows, sum of stored lengths)."""
        row = one(self.conn, "SELECT count(*), coalesce(sum(octet_length(content)), 0) FROM lash_blobs "
                             "WHERE session_id = %s", (self.sid,))
        return int(row[0]), int(row[1])

    def take_delta(self) -> None:
        """``None``: this backend keeps no list summary in its head (the list reads ``lash_sessions``)."""
        return None


    def hashes_with_prefix(self, prefix: str) -> list[str]:
        """Hashes starting with ``prefix`` (no LIKE: ``_`` and ``%`` are not special), in order."""
        return [r[0] for r in self.conn.execute(
            "SELECT hash FROM lash_blobs WHERE session_id = %s AND starts_with(hash, %s) ORDER BY hash COLLATE \"C\"",
            (self.sid, prefix))]

    def count(self) -> int:
        """Rows of this session."""
        return int(one(self.conn, "SELECT count(*) FROM lash_blobs WHERE session_id = %s", (self.sid,))[0])

    def scan(self, after: str | None, limit: int) -> list[tuple[str, str, int]]:
        """Up to ``limit`` rows past hash ``after`` in primary-key order: (hash, hash, stored length)."""
        # The primary key's order (the column's collation, so the range and the order agree and
        # the index serves both): each batch starts where the last stopped.
        rows = self.conn.execute(
            "SELECT hash, octet_length(content) FROM lash_blobs WHERE session_id = %s AND hash > %s "
            "ORDER BY hash LIMIT %s", (self.sid, "" if after is None else after, limit)).fetchall()
        return [(r[0], r[0], int(r[1])) for r in rows]

    def delete(self, rows: Sequence[tuple[str, str]]) -> list[int]:
        """Delete this session's rows with these (hash, hash) in one statement; the stored length of each."""
        if not rows:
            return []
        hashes = [h for _, h in rows]
        return [int(r[0]) for r in self.conn.execute(SWEEP_DELETE, (list(hashes), self.sid)).fetchall()]

    def named_by_artifacts(self, hashes: Sequence[str]) -> set[str]:
        """Those of ``hashes`` some of this session's ``artifact_refs.blob_ref`` names."""
        if not hashes:
            return set()
        # A join with the array (a hash join) rather than ``= ANY``: on a prepared (generic) plan the
        # array is a parameter, and each ref row would search it linearly.
        return {r[0] for r in self.conn.execute(
            "SELECT DISTINCT a.blob_ref FROM lash_artifact_refs a JOIN unnest(%s::text[]) AS c(h) "
            "ON a.blob_ref = c.h WHERE a.session_id = %s", (list(hashes), self.sid))}

    def artifact_count(self) -> int:
        """This session's ``artifact_refs`` rows."""
        return int(one(self.conn, "SELECT count(*) FROM lash_artifact_refs WHERE session_id = %s", (self.sid,))[0])

    def artifact_refs_missing(self) -> list[str]:
        """Distinct ``blob_ref`` values of this session's artifact refs with no stored blob."""
        return [r[0] for r in self.conn.execute(
            "SELECT DISTINCT a.blob_ref FROM lash_artifact_refs a WHERE a.session_id = %s AND NOT EXISTS "
            "(SELECT 1 FROM lash_blobs b WHERE b.session_id = a.session_id AND b.hash = a.blob_ref)", (self.sid,)
        ).fetchall()]
