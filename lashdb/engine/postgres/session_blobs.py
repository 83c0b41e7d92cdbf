"""PostgreSQL statements of one session's ``lash_blobs`` and the GC sweep (postgres.md §2; rules in ``session/``).

Contract: blobs belong to their session (primary key ``(session_id, hash)``), so every statement is
scoped by the session id and the sweep never touches another session's rows. Writes keep the first
row for a hash. The sweep passes the keep-set as one array parameter and deletes set-based, at
most ``batch_size`` rows per call (the batch contract of
:meth:`~lashdb.engine.session.ports.BlobRows.sweep`); a dry run deletes nothing. Hash order is
byte order (``COLLATE "C"``), as on SQLite.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from .session_rows import one

_UNMARKED = "FROM lash_blobs WHERE session_id = %s AND NOT (hash = ANY(%s))"


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

    def count_and_size(self) -> tuple[int, int]:
        """(rows, sum of stored lengths)."""
        row = one(self.conn, "SELECT count(*), coalesce(sum(octet_length(content)), 0) FROM lash_blobs "
                             "WHERE session_id = %s", (self.sid,))
        return int(row[0]), int(row[1])

    def take_delta(self) -> None:
        """``None``: this backend keeps no list summary in its head (the list reads ``lash_sessions``)."""
        return None

    def row_count(self) -> int:
        """Number of this session's rows."""
        return int(one(self.conn, "SELECT count(*) FROM lash_blobs WHERE session_id = %s", (self.sid,))[0])

    def hashes_with_prefix(self, prefix: str) -> list[str]:
        """Hashes starting with ``prefix`` (no LIKE: ``_`` and ``%`` are not special), in order."""
        return [r[0] for r in self.conn.execute(
            "SELECT hash FROM lash_blobs WHERE session_id = %s AND starts_with(hash, %s) ORDER BY hash COLLATE \"C\"",
            (self.sid, prefix))]

    def sweep(self, keep: Iterable[str], batch_size: int, *, dry_run: bool,
              count_unmarked: bool) -> tuple[int, int, int, int | None]:
        """(present, doomed, freed, unmarked): one batch of the sweep (dry run: count, delete nothing)."""
        marked = sorted(set(keep))
        present = int(one(self.conn, "SELECT count(*) FROM lash_blobs WHERE session_id = %s AND hash = ANY(%s)",
                          (self.sid, marked))[0])
        unmarked = None
        size = 0
        if dry_run or count_unmarked:
            count, size = one(self.conn, f"SELECT count(*), coalesce(sum(octet_length(content)), 0) {_UNMARKED}",
                              (self.sid, marked))
            unmarked = int(count)
        if dry_run:
            return present, unmarked, int(size), unmarked
        rows = self.conn.execute(
            "DELETE FROM lash_blobs WHERE session_id = %s AND hash IN "
            f"(SELECT hash {_UNMARKED} LIMIT %s) RETURNING octet_length(content)",
            (self.sid, self.sid, marked, batch_size)).fetchall()
        return present, len(rows), sum(int(r[0]) for r in rows), unmarked
