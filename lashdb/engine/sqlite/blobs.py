"""SQLite statements of ``blobs`` and the GC sweep (encoding, verification and GC roots live in ``session/``).

Contract: runs inside the caller's transaction. Writes keep the first row for a hash. The sweep's
statements read rows past a rowid, probe ``artifact_refs`` for a set of hashes, and delete a set of
rows in one statement; which rows are roots is decided in ``session/gc.py``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence

import apsw

from .connection import query_one

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
        """(rows, bytes) stored net by this object's puts and deletes since the last call; resets it."""
        delta, self._rows, self._bytes = (self._rows, self._bytes), 0, 0
        return delta

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

    def rewrite(self, blob_hash: str, old: bytes, new: bytes) -> bool:
        """Replace the row's envelope when it still holds ``old``; True when it did."""
        self.conn.execute("UPDATE blobs SET content = ? WHERE hash = ? AND content = ?", (new, blob_hash, old))
        if not self.conn.changes():
            return False
        self._bytes += len(new) - len(old)
        return True

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

    def count(self) -> int:
        """Rows stored."""
        return int(query_one(self.conn, "SELECT count(*) FROM blobs")[0])

    def scan(self, after: int | None, limit: int) -> list[tuple[int, str, int]]:
        """Up to ``limit`` rows past rowid ``after`` in rowid order: (rowid, hash, stored length)."""
        # Rowid order keeps a batch's deletions on neighbouring table pages (a small WAL per batch),
        # and each batch starts where the last stopped instead of re-reading the rows it kept.
        if after is None:
            cur = self.conn.execute("SELECT rowid, hash, length(content) FROM blobs ORDER BY rowid LIMIT ?", (limit,))
        else:
            cur = self.conn.execute("SELECT rowid, hash, length(content) FROM blobs WHERE rowid > ? "
                                    "ORDER BY rowid LIMIT ?", (after, limit))
        return [(int(r[0]), r[1], int(r[2])) for r in cur]

    def delete(self, rows: Sequence[tuple[int, str]]) -> list[int]:
        """Delete each row at (rowid, hash) that still has that hash, in one statement; their stored lengths."""
        if not rows:
            return []
        # By rowid: the batch's rows sit on neighbouring table pages, so few pages change. The hash
        # test keeps a rowid reused since it was read (a revisited row) from taking another blob.
        sizes = [int(r[0]) for r in self.conn.execute(
            "DELETE FROM blobs WHERE rowid IN (SELECT value FROM json_each(?1)) "
            "AND hash IN (SELECT value FROM json_each(?2)) RETURNING length(content)",
            (json.dumps([p for p, _ in rows]), json.dumps([h for _, h in rows])))]
        self._rows -= len(sizes)
        self._bytes -= sum(sizes)
        return sizes

    def named_by_artifacts(self, hashes: Sequence[str]) -> set[str]:
        """Those of ``hashes`` some ``artifact_refs.blob_ref`` names: one scan of the refs, probing the set."""
        if not hashes:
            return set()
        # artifact_refs has no index on blob_ref (the schema is upstream's): one scan probing a small
        # set is cheap; the opposite direction would build an index over every ref in each batch.
        return {r[0] for r in self.conn.execute(
            "SELECT blob_ref FROM artifact_refs WHERE blob_ref IN (SELECT value FROM json_each(?))",
            (json.dumps(list(hashes)),))}

    def artifact_count(self) -> int:
        """Rows of ``artifact_refs``."""
        return int(query_one(self.conn, "SELECT count(*) FROM artifact_refs")[0])

    def artifact_refs_missing(self) -> list[str]:
        """Distinct ``artifact_refs.blob_ref`` values with no stored blob."""
        return [r[0] for r in self.conn.execute(
            "SELECT DISTINCT blob_ref FROM artifact_refs WHERE blob_ref NOT IN (SELECT hash FROM blobs)")]
