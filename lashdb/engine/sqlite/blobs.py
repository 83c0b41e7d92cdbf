"""SQLite statements of ``blobs`` and the GC sweep (encoding, verification and GC roots live in ``session/``).

Contract: runs inside the caller's transaction. Writes keep the first row for a hash. The sweep
marks the keep-set in a temporary table and deletes set-based, at most one batch per call; the
temporary tables are dropped whatever happens.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator

import apsw

from .connection import query_one

_UNMARKED = "FROM blobs WHERE hash NOT IN (SELECT hash FROM temp.lashdb_gc_marked)"
_PUT = "INSERT OR IGNORE INTO blobs (hash, content) VALUES (?, ?)"


class SqliteBlobRows:
    """:class:`~lashdb.engine.session.ports.BlobRows` on one connection."""

    def __init__(self, conn: apsw.Connection) -> None:
        self.conn = conn
        self._rows = self._bytes = 0  # net change this transaction made, for the head's list summary

    def put(self, rows: Iterable[tuple[str, bytes]]) -> None:
        """Store rows whose hash is not stored yet."""
        # One statement per row (not executemany) to learn which rows were new: measured +3 µs for a
        # commit's five rows, where RETURNING cost +10 µs.
        execute, changes = self.conn.execute, self.conn.changes
        for blob_hash, stored in rows:
            execute(_PUT, (blob_hash, stored))
            if changes():
                self._rows += 1
                self._bytes += len(stored)

    def take_delta(self) -> tuple[int, int]:
        """(rows, bytes) stored net by this object's puts and sweeps since the last call; resets it."""
        delta, self._rows, self._bytes = (self._rows, self._bytes), 0, 0
        return delta

    def row_count(self) -> int:
        """Number of rows (a count of the primary-key index, not of the content)."""
        return int(query_one(self.conn, "SELECT count(*) FROM blobs")[0])

    def get(self, blob_hash: str) -> bytes | None:
        """The stored bytes, or ``None``."""
        row = query_one(self.conn, "SELECT content FROM blobs WHERE hash = ?", (blob_hash,))
        return None if row is None else bytes(row[0])

    def exists(self, blob_hash: str) -> bool:
        """True when the hash is stored."""
        return query_one(self.conn, "SELECT 1 FROM blobs WHERE hash = ?", (blob_hash,)) is not None

    def iter_all(self) -> Iterator[tuple[str, bytes]]:
        """Every row in hash order."""
        for blob_hash, content in self.conn.execute("SELECT hash, content FROM blobs ORDER BY hash"):
            yield blob_hash, bytes(content)

    def count_and_size(self) -> tuple[int, int]:
        """(rows, sum of stored lengths)."""
        row = query_one(self.conn, "SELECT count(*), coalesce(sum(length(content)), 0) FROM blobs")
        return int(row[0]), int(row[1])

    def hashes_with_prefix(self, prefix: str) -> list[str]:
        """Hashes starting with ``prefix``."""
        # The range form uses the primary-key index; LIKE would not, and would treat _ and % specially.
        upper = prefix + "\uffff"
        return [r[0] for r in self.conn.execute(
            "SELECT hash FROM blobs WHERE hash >= ? AND hash < ? ORDER BY hash", (prefix, upper))]

    @contextlib.contextmanager
    def _marked(self, keep: Iterable[str]) -> Iterator[int]:
        conn = self.conn
        conn.execute("CREATE TEMP TABLE IF NOT EXISTS lashdb_gc_marked (hash TEXT PRIMARY KEY)")
        try:
            conn.execute("DELETE FROM temp.lashdb_gc_marked")
            conn.executemany("INSERT OR IGNORE INTO temp.lashdb_gc_marked (hash) VALUES (?)", [(h,) for h in keep])
            yield int(query_one(
                conn, "SELECT count(*) FROM blobs WHERE hash IN (SELECT hash FROM temp.lashdb_gc_marked)")[0])
        finally:
            conn.execute("DROP TABLE IF EXISTS temp.lashdb_gc_marked")

    def sweep(self, keep: Iterable[str], batch_size: int, *, dry_run: bool,
              count_unmarked: bool) -> tuple[int, int, int, int | None]:
        """(present, doomed, freed, unmarked): one batch of the sweep (dry run: count, delete nothing)."""
        conn = self.conn
        with self._marked(keep) as present:
            unmarked = None
            if dry_run or count_unmarked:
                count, size = query_one(conn, f"SELECT count(*), coalesce(sum(length(content)), 0) {_UNMARKED}")
                unmarked = int(count)
            if dry_run:
                return present, unmarked, int(size), unmarked
            conn.execute("CREATE TEMP TABLE IF NOT EXISTS lashdb_gc_doomed (hash TEXT PRIMARY KEY, size INTEGER)")
            try:
                conn.execute("DELETE FROM temp.lashdb_gc_doomed")
                conn.execute(f"INSERT INTO temp.lashdb_gc_doomed (hash, size) SELECT hash, length(content) "
                             f"{_UNMARKED} LIMIT ?", (batch_size,))
                doomed, freed = query_one(conn, "SELECT count(*), coalesce(sum(size), 0) FROM temp.lashdb_gc_doomed")
                if doomed:
                    conn.execute("DELETE FROM blobs WHERE hash IN (SELECT hash FROM temp.lashdb_gc_doomed)")
                    self._rows -= int(doomed)
                    self._bytes -= int(freed)
            finally:
                conn.execute("DROP TABLE IF EXISTS temp.lashdb_gc_doomed")
            return present, int(doomed), int(freed), unmarked
