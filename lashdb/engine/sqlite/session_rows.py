"""SQLite statements of a session's own rows: meta, head, usage, turn commits, artifact refs (SPEC §5).

Contract: :class:`SqliteSessionRows` runs inside the caller's transaction, touches one table per
method and returns plain values; decoding (the head's JSON, usage counters) lives in
``session/records.py``. The module-level ``load_*``/``save_head_row``/``insert_usage`` functions are
the pre-seam names, kept for old callers: they take a connection and decode through ``session``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import apsw

from .connection import query_one

__all__ = ["SqliteSessionRows", "insert_usage", "load_head_meta", "load_meta", "load_usage", "save_head_row"]


class SqliteSessionRows:
    """:class:`~lashdb.engine.session.ports.SessionRows` on one connection."""

    def __init__(self, conn: apsw.Connection) -> None:
        self.conn = conn

    def meta(self) -> tuple | None:
        """The meta row, or ``None``."""
        return query_one(self.conn, "SELECT session_id, session_name, created_at, model, cwd, relation_json "
                                    "FROM session_meta WHERE singleton = 1")

    def save_meta(self, session_id: str, session_name: str, created_at: str, model: str, cwd: str | None,
                  relation_json: str) -> None:
        """Replace the meta row."""
        self.conn.execute(
            "INSERT OR REPLACE INTO session_meta "
            "(singleton, session_id, session_name, created_at, model, cwd, relation_json) "
            "VALUES (1, ?, ?, ?, ?, ?, ?)", (session_id, session_name, created_at, model, cwd, relation_json))

    def head(self) -> tuple[str, int] | None:
        """(head_json, head_revision), or ``None``."""
        row = query_one(self.conn, "SELECT head_json, head_revision FROM session_head WHERE singleton = 1")
        return None if row is None else (row[0], row[1])

    def save_head(self, session_id: str, head_json: str, head_revision: int) -> None:
        """Replace the head row."""
        self.conn.execute("INSERT OR REPLACE INTO session_head (singleton, session_id, head_json, head_revision) "
                          "VALUES (1, ?, ?, ?)", (session_id, head_json, head_revision))

    def usage(self) -> list[tuple]:
        """Usage rows in ``seq`` order."""
        return [tuple(r) for r in self.conn.execute(
            "SELECT seq, source, model, input_tokens, output_tokens, cached_input_tokens, "
            "reasoning_tokens FROM usage_deltas ORDER BY seq")]

    def insert_usage(self, rows: Sequence[tuple[str, str, int, int, int, int]]) -> None:
        """Append usage rows in order."""
        self.conn.executemany(
            "INSERT INTO usage_deltas (source, model, input_tokens, output_tokens, cached_input_tokens, "
            "reasoning_tokens) VALUES (?, ?, ?, ?, ?, ?)", rows)

    def turn_commit(self, session_id: str, turn_id: str) -> tuple[str, str] | None:
        """(turn_commit_hash, result_json) of a recorded turn, or ``None``."""
        row = query_one(self.conn, "SELECT turn_commit_hash, result_json FROM runtime_turn_commits "
                                   "WHERE session_id = ? AND turn_id = ?", (session_id, turn_id))
        return None if row is None else (row[0], row[1])

    def record_turn_commit(self, session_id: str, turn_id: str, turn_commit_hash: str, result_json: str,
                           now: int) -> None:
        """Record a turn's result."""
        self.conn.execute("INSERT INTO runtime_turn_commits (session_id, turn_id, turn_commit_hash, result_json, "
                          "committed_at_ms) VALUES (?, ?, ?, ?, ?)",
                          (session_id, turn_id, turn_commit_hash, result_json, now))

    def artifact_blob_ref(self, artifact_ref: str) -> str | None:
        """The blob rooted under ``artifact_ref``, or ``None``."""
        row = query_one(self.conn, "SELECT blob_ref FROM artifact_refs WHERE artifact_ref = ?", (artifact_ref,))
        return None if row is None else row[0]

    def put_artifact_ref(self, artifact_ref: str, blob_ref: str) -> None:
        """Root ``blob_ref`` under ``artifact_ref``."""
        self.conn.execute("INSERT OR REPLACE INTO artifact_refs (artifact_ref, blob_ref) VALUES (?, ?)",
                          (artifact_ref, blob_ref))

    def artifact_refs(self) -> list[tuple[str, str]]:
        """Every (artifact_ref, blob_ref) by artifact ref."""
        return [tuple(r) for r in self.conn.execute(
            "SELECT artifact_ref, blob_ref FROM artifact_refs ORDER BY artifact_ref")]


# --- pre-seam names (a connection in, decoded values out) ----------------------------------------------


class _RowsOnly:
    """The part of a SessionTx that ``session.records`` reads: its session rows."""

    def __init__(self, conn: apsw.Connection) -> None:
        self.rows = SqliteSessionRows(conn)


def _tx(c: apsw.Connection) -> Any:
    return _RowsOnly(c)


def load_meta(c: apsw.Connection) -> Any:
    """Read the session meta row (``None`` before the first save)."""
    from lashdb.engine.session import records
    return records.load_meta(_tx(c))


def load_head_meta(c: apsw.Connection) -> Any:
    """Read the head row; the column revision wins; bad JSON is ``BackendError``."""
    from lashdb.engine.session import records
    return records.load_head_meta(_tx(c))


def save_head_row(c: apsw.Connection, meta: Any) -> None:
    """Write the head singleton row (column and JSON revision alike)."""
    from lashdb.engine.session import records
    records.save_head_row(_tx(c), meta)


def load_usage(c: apsw.Connection) -> list:
    """Every usage row in order; a row with non-integer counters is ``BackendError``."""
    from lashdb.engine.session import records
    return records.load_usage(_tx(c))


def insert_usage(c: apsw.Connection, entries: list) -> None:
    """Append usage rows in order."""
    from lashdb.engine.session import records
    records.insert_usage(_tx(c), entries)
