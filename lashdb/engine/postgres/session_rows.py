"""PostgreSQL statements of one session's own rows and graph: ``lash_sessions``, usage, turn commits,
artifact refs and ``lash_graph_nodes`` (postgres.md §2; the rules live in ``session/``).

Contract: every statement runs inside the caller's transaction and is scoped by the session id the
rows object was built for; methods return the plain values the SQLite twins return
(``sqlite/session_rows.py``, ``sqlite/graph.py``). Meta and head share the session's one
``lash_sessions`` row: meta is present once ``created_at`` is set, head once ``head_json`` is set.
Writes keep the listing columns current: ``updated_at_ms`` (database clock) on every meta, head and
graph write, ``parent_session_id`` from the meta's relation, ``live_nodes`` on every graph write.
``seq`` columns increase per session (computed under the session's write lock).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from lashdb.engine.base.errors import SessionBindingMismatch

# The database clock in epoch ms: hosts with skewed clocks agree on updated_at_ms.
NOW_MS = "(extract(epoch FROM clock_timestamp()) * 1000)::bigint"


def one(conn: Any, sql: str, params: Sequence[Any] = ()) -> tuple | None:
    """The first row of ``sql``, or ``None``."""
    return conn.execute(sql, params).fetchone()


def _parent(relation_json: str | None) -> str | None:
    """The parent session id a relation column names (``None`` for a root or unreadable column)."""
    try:
        doc = json.loads(relation_json) if relation_json else None
    except ValueError:
        return None
    parent = doc.get("parent_session_id") if isinstance(doc, dict) else None
    return parent if isinstance(parent, str) else None


class PgSessionRows:
    """:class:`~lashdb.engine.session.ports.SessionRows` of one session."""

    def __init__(self, conn: Any, session_id: str) -> None:
        self.conn = conn
        self.sid = session_id

    def meta(self) -> tuple | None:
        """The meta columns, or ``None`` before the first save."""
        return one(self.conn, "SELECT session_id, session_name, created_at, model, cwd, relation_json "
                              "FROM lash_sessions WHERE session_id = %s AND created_at IS NOT NULL", (self.sid,))

    def save_meta(self, session_id: str, session_name: str, created_at: str, model: str, cwd: str | None,
                  relation_json: str) -> None:
        """Replace the meta columns (the row's key is the session id: another id is a binding mismatch)."""
        if session_id != self.sid:
            raise SessionBindingMismatch(self.sid, session_id)
        self.conn.execute(
            f"UPDATE lash_sessions SET session_name = %s, created_at = %s, model = %s, cwd = %s, "
            f"relation_json = %s, parent_session_id = %s, updated_at_ms = {NOW_MS} WHERE session_id = %s",
            (session_name, created_at, model, cwd, relation_json, _parent(relation_json), self.sid))

    def head(self) -> tuple[str, int] | None:
        """(head_json, head_revision), or ``None``."""
        row = one(self.conn, "SELECT head_json, head_revision FROM lash_sessions "
                             "WHERE session_id = %s AND head_json IS NOT NULL", (self.sid,))
        return None if row is None else (row[0], int(row[1]))

    def save_head(self, session_id: str, head_json: str, head_revision: int) -> None:
        """Replace the head columns."""
        self.conn.execute(f"UPDATE lash_sessions SET head_session_id = %s, head_json = %s, head_revision = %s, "
                          f"updated_at_ms = {NOW_MS} WHERE session_id = %s",
                          (session_id, head_json, head_revision, self.sid))

    def usage(self) -> list[tuple]:
        """Usage rows in ``seq`` order."""
        return [tuple(r) for r in self.conn.execute(
            "SELECT seq, source, model, input_tokens, output_tokens, cached_input_tokens, reasoning_tokens "
            "FROM lash_usage_deltas WHERE session_id = %s ORDER BY seq", (self.sid,))]

    def insert_usage(self, rows: Sequence[tuple[str, str, int, int, int, int]]) -> None:
        """Append usage rows in order."""
        if not rows:
            return
        base = int(one(self.conn, "SELECT coalesce(max(seq), 0) FROM lash_usage_deltas WHERE session_id = %s",
                       (self.sid,))[0])
        self.conn.cursor().executemany(
            "INSERT INTO lash_usage_deltas (session_id, seq, source, model, input_tokens, output_tokens, "
            "cached_input_tokens, reasoning_tokens) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
            [(self.sid, base + i, *row) for i, row in enumerate(rows, 1)])

    def turn_commit(self, session_id: str, turn_id: str) -> tuple[str, str] | None:
        """(turn_commit_hash, result_json) of a recorded turn, or ``None``."""
        row = one(self.conn, "SELECT turn_commit_hash, result_json FROM lash_runtime_turn_commits "
                             "WHERE session_id = %s AND turn_id = %s", (session_id, turn_id))
        return None if row is None else (row[0], row[1])

    def record_turn_commit(self, session_id: str, turn_id: str, turn_commit_hash: str, result_json: str,
                           now: int) -> None:
        """Record a turn's result (a second record is a unique violation)."""
        self.conn.execute("INSERT INTO lash_runtime_turn_commits (session_id, turn_id, turn_commit_hash, "
                          "result_json, committed_at_ms) VALUES (%s, %s, %s, %s, %s)",
                          (session_id, turn_id, turn_commit_hash, result_json, now))

    def artifact_blob_ref(self, artifact_ref: str) -> str | None:
        """The blob rooted under ``artifact_ref``, or ``None``."""
        row = one(self.conn, "SELECT blob_ref FROM lash_artifact_refs WHERE session_id = %s AND artifact_ref = %s",
                  (self.sid, artifact_ref))
        return None if row is None else row[0]

    def put_artifact_ref(self, artifact_ref: str, blob_ref: str) -> None:
        """Root ``blob_ref`` under ``artifact_ref``."""
        self.conn.execute("INSERT INTO lash_artifact_refs (session_id, artifact_ref, blob_ref) VALUES (%s, %s, %s) "
                          "ON CONFLICT (session_id, artifact_ref) DO UPDATE SET blob_ref = excluded.blob_ref",
                          (self.sid, artifact_ref, blob_ref))

    def artifact_refs(self) -> list[tuple[str, str]]:
        """Every (artifact_ref, blob_ref) by artifact ref."""
        return [tuple(r) for r in self.conn.execute(
            "SELECT artifact_ref, blob_ref FROM lash_artifact_refs WHERE session_id = %s "
            "ORDER BY artifact_ref COLLATE \"C\"", (self.sid,))]


class PgGraphRows:
    """:class:`~lashdb.engine.session.ports.GraphRows` of one session."""

    def __init__(self, conn: Any, session_id: str) -> None:
        self.conn = conn
        self.sid = session_id

    def _touch(self, live_delta: int | None = None, live_set: int | None = None) -> None:
        """Keep ``live_nodes`` and ``updated_at_ms`` of the session row current."""
        if live_set is not None:
            self.conn.execute(f"UPDATE lash_sessions SET live_nodes = %s, updated_at_ms = {NOW_MS} "
                              f"WHERE session_id = %s", (live_set, self.sid))
        else:
            self.conn.execute(f"UPDATE lash_sessions SET live_nodes = live_nodes + %s, updated_at_ms = {NOW_MS} "
                              f"WHERE session_id = %s", (live_delta or 0, self.sid))

    def _append(self, rows: Sequence[tuple[str, str]]) -> None:
        base = int(one(self.conn, "SELECT coalesce(max(seq), 0) FROM lash_graph_nodes WHERE session_id = %s",
                       (self.sid,))[0])
        self.conn.cursor().executemany(
            "INSERT INTO lash_graph_nodes (session_id, seq, node_id, node_json) VALUES (%s, %s, %s, %s)",
            [(self.sid, base + i, node_id, node_json) for i, (node_id, node_json) in enumerate(rows, 1)])

    def insert(self, rows: Sequence[tuple[str, str]]) -> None:
        """Append rows in order (an existing node id is a unique violation)."""
        rows = list(rows)
        if rows:
            self._append(rows)
            self._touch(live_delta=len(rows))

    def replace(self, rows: Sequence[tuple[str, str]]) -> None:
        """Delete every row of the session, then append ``rows``."""
        rows = list(rows)
        self.conn.execute("DELETE FROM lash_graph_nodes WHERE session_id = %s", (self.sid,))
        if rows:
            self._append(rows)
        self._touch(live_set=len(rows))

    def live(self) -> list[tuple[str, str]]:
        """Every live row in ``seq`` order."""
        return [tuple(r) for r in self.conn.execute(
            "SELECT node_id, node_json FROM lash_graph_nodes WHERE session_id = %s AND NOT tombstoned "
            "ORDER BY seq", (self.sid,))]

    def live_one(self, node_id: str) -> str | None:
        """The node_json of a live node, or ``None``."""
        row = one(self.conn, "SELECT node_json FROM lash_graph_nodes WHERE session_id = %s AND node_id = %s "
                             "AND NOT tombstoned", (self.sid, node_id))
        return None if row is None else row[0]

    def path_rows(self, leaf_node_id: str) -> list[tuple]:
        """The live ancestors of the leaf, one indexed lookup per level."""
        # UNION (not UNION ALL) makes a cyclic chain terminate; the walk above reports the revisit.
        return [tuple(r) for r in self.conn.execute(
            """
            WITH RECURSIVE active(node_id, node_json, parent_node_id) AS (
                SELECT node_id, node_json, node_json::jsonb ->> 'parent_node_id'
                FROM lash_graph_nodes WHERE session_id = %(s)s AND node_id = %(leaf)s AND NOT tombstoned
              UNION
                SELECT g.node_id, g.node_json, g.node_json::jsonb ->> 'parent_node_id'
                FROM lash_graph_nodes g JOIN active ON g.node_id = active.parent_node_id
                WHERE g.session_id = %(s)s AND NOT g.tombstoned
            )
            SELECT node_id, node_json, parent_node_id FROM active
            """, {"s": self.sid, "leaf": leaf_node_id})]

    def live_count(self) -> int:
        """Number of live rows: the session row's ``live_nodes``, which every graph write of this class
        keeps exact in the same transaction, so a commit reads it in O(1) instead of scanning the graph
        (PostgreSQL has no change marker to skip the scan by, as SQLite's data_version does)."""
        row = one(self.conn, "SELECT live_nodes FROM lash_sessions WHERE session_id = %s", (self.sid,))
        return 0 if row is None else int(row[0])

    def tombstoned_count(self) -> int:
        """Number of tombstoned rows."""
        return int(one(self.conn, "SELECT count(*) FROM lash_graph_nodes WHERE session_id = %s AND tombstoned",
                       (self.sid,))[0])

    def summary_scan(self, with_users: bool) -> None:
        """``None``: this backend keeps no graph summary in its head (the list reads ``lash_sessions``)."""
        return None

    def tombstone(self, node_ids: Iterable[str]) -> None:
        """Mark nodes tombstoned (one statement)."""
        ids = list(node_ids)
        if not ids:
            return
        cur = self.conn.execute("UPDATE lash_graph_nodes SET tombstoned = TRUE WHERE session_id = %s "
                                "AND node_id = ANY(%s) AND NOT tombstoned", (self.sid, ids))
        if cur.rowcount:
            self._touch(live_delta=-cur.rowcount)

    def remove_tombstoned(self) -> int:
        """Delete tombstoned rows; how many went."""
        cur = self.conn.execute("DELETE FROM lash_graph_nodes WHERE session_id = %s AND tombstoned", (self.sid,))
        return cur.rowcount
