"""PostgreSQL statements of one session's own rows and graph: ``lash_sessions``, usage, turn commits,
artifact refs and ``lash_graph_nodes`` (postgres.md §2; the rules live in ``session/``).

Contract: every statement runs inside the caller's transaction and is scoped by the session id the
rows object was built for; methods return the plain values the SQLite twins return
(``sqlite/session_rows.py``, ``sqlite/graph.py``). Meta and head share the session's one
``lash_sessions`` row: meta is present once ``created_at`` is set, head once ``head_json`` is set.
Writes keep the listing columns current: ``updated_at_ms`` (database clock) on every meta, head and
graph write, ``parent_session_id`` from the meta's relation, and the graph's listing columns
(``live_nodes``, ``dead_nodes``, ``user_nodes``, ``first_user_seq``, ``node_bytes``, see
``schema.py``) on every graph write, by arithmetic on what the write's own statement returned.

One update of the session row per write transaction: the head and graph columns are read once
(:class:`SessionRow`, on first use) and changed in memory; the session's write lock holds every
other writer of them off, and the backend calls :meth:`SessionRow.flush` (one ``UPDATE``) before
it commits. Reads inside the transaction see the pending values. One update, none of whose
columns is indexed, is a HOT update: a commit's cost does not grow with the dead versions of the
row that many updates per commit would leave behind.
``seq`` columns increase per session: each append computes its base inside its own ``INSERT``
from the ``(session_id, seq)`` index (``ORDER BY seq DESC LIMIT 1``: one index probe, whatever
the session's size) under the session's write lock.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from lashdb.engine.base.errors import SessionBindingMismatch

from .schema import COUNT_COLUMNS, GRAPH_COUNTS, USER_NODE

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


# The session-row columns a write transaction reads once and writes once (SessionRow).
ROW_COLUMNS = ("head_session_id", "head_json", "head_revision", "live_nodes", "dead_nodes", "user_nodes",
               "first_user_seq", "node_bytes")
_EMPTY = dict(zip(ROW_COLUMNS, (None, None, 0, 0, 0, 0, None, 0)))

# Append a batch of nodes after the session's last seq, and say what the batch adds to the listing
# columns, in one statement (one round trip; the base is one index probe).
_APPEND_NODES = f"""
WITH ins AS (
    INSERT INTO lash_graph_nodes (session_id, seq, node_id, node_json)
    SELECT %(s)s, coalesce((SELECT seq FROM lash_graph_nodes WHERE session_id = %(s)s ORDER BY seq DESC LIMIT 1), 0)
                  + t.o, t.i, t.j
    FROM unnest(%(ids)s::text[], %(jsons)s::text[]) WITH ORDINALITY AS t(i, j, o)
    RETURNING seq, node_json)
SELECT count(*), count(*) FILTER (WHERE {USER_NODE}), min(n.seq) FILTER (WHERE {USER_NODE}),
       coalesce(sum(octet_length(n.node_json)), 0)
FROM ins n
"""
_APPEND_USAGE = """
INSERT INTO lash_usage_deltas (session_id, seq, source, model, input_tokens, output_tokens, cached_input_tokens,
                               reasoning_tokens)
SELECT %(s)s, coalesce((SELECT seq FROM lash_usage_deltas WHERE session_id = %(s)s ORDER BY seq DESC LIMIT 1), 0)
              + t.o, t.source, t.model, t.i, t.out, t.cached, t.reasoning
FROM unnest(%(source)s::text[], %(model)s::text[], %(i)s::bigint[], %(out)s::bigint[], %(cached)s::bigint[],
            %(reasoning)s::bigint[]) WITH ORDINALITY AS t(source, model, i, out, cached, reasoning, o)
"""


class SessionRow:
    """The session's ``lash_sessions`` head and graph columns as this transaction has changed them."""

    def __init__(self, conn: Any, session_id: str) -> None:
        self.conn = conn
        self.sid = session_id
        self._values: dict[str, Any] | None = None
        self._changed: set[str] = set()

    def get(self) -> dict[str, Any]:
        """The columns (read on first use; a missing row reads as an empty session's)."""
        if self._values is None:
            row = one(self.conn, f"SELECT {', '.join(ROW_COLUMNS)} FROM lash_sessions WHERE session_id = %s",
                      (self.sid,))
            self._values = dict(_EMPTY) if row is None else dict(zip(ROW_COLUMNS, row))
        return self._values

    def set(self, **changes: Any) -> None:
        """Change columns in memory; :meth:`flush` writes them."""
        self.get().update(changes)
        self._changed.update(changes)

    def forget(self) -> None:
        """Drop what was read and changed (the row was deleted in this transaction)."""
        self._values = None
        self._changed.clear()

    def flush(self) -> None:
        """Write the changed columns and ``updated_at_ms`` in one ``UPDATE`` (nothing when unchanged)."""
        if not self._changed:
            return
        # Only what changed: rewriting an unchanged head_json would store its TOASTed value again.
        columns = [c for c in ROW_COLUMNS if c in self._changed]
        values = self.get()
        self.conn.execute(f"UPDATE lash_sessions SET {', '.join(f'{c} = %s' for c in columns)}, "
                          f"updated_at_ms = {NOW_MS} WHERE session_id = %s",
                          (*(values[c] for c in columns), self.sid))
        self._changed.clear()


class PgSessionRows:
    """:class:`~lashdb.engine.session.ports.SessionRows` of one session."""

    def __init__(self, conn: Any, session_id: str, row: SessionRow | None = None) -> None:
        self.conn = conn
        self.sid = session_id
        self.row = row or SessionRow(conn, session_id)

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
        values = self.row.get()
        return None if values["head_json"] is None else (values["head_json"], int(values["head_revision"]))

    def save_head(self, session_id: str, head_json: str, head_revision: int) -> None:
        """Replace the head columns (written with the transaction's one update of the row)."""
        self.row.set(head_session_id=session_id, head_json=head_json, head_revision=head_revision)

    def usage(self) -> list[tuple]:
        """Usage rows in ``seq`` order."""
        return [tuple(r) for r in self.conn.execute(
            "SELECT seq, source, model, input_tokens, output_tokens, cached_input_tokens, reasoning_tokens "
            "FROM lash_usage_deltas WHERE session_id = %s ORDER BY seq", (self.sid,))]

    def insert_usage(self, rows: Sequence[tuple[str, str, int, int, int, int]]) -> None:
        """Append usage rows in order."""
        if not rows:
            return
        columns = list(zip(*rows))
        self.conn.execute(_APPEND_USAGE, {"s": self.sid, **{k: list(v) for k, v in zip(
            ("source", "model", "i", "out", "cached", "reasoning"), columns)}})

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

    def __init__(self, conn: Any, session_id: str, row: SessionRow | None = None) -> None:
        self.conn = conn
        self.sid = session_id
        self.row = row or SessionRow(conn, session_id)

    def insert(self, rows: Sequence[tuple[str, str]]) -> None:
        """Append rows in order (an existing node id is a unique violation)."""
        rows = list(rows)
        if not rows:
            return
        added, users, first, size = one(self.conn, _APPEND_NODES, {
            "s": self.sid, "ids": [r[0] for r in rows], "jsons": [r[1] for r in rows]})
        v = self.row.get()
        # New seqs follow every stored one: an existing first user message stays the first.
        self.row.set(live_nodes=v["live_nodes"] + added, user_nodes=v["user_nodes"] + users,
                     first_user_seq=first if v["first_user_seq"] is None else v["first_user_seq"],
                     node_bytes=v["node_bytes"] + size)

    def replace(self, rows: Sequence[tuple[str, str]]) -> None:
        """Delete every row of the session, then append ``rows``."""
        self.conn.execute("DELETE FROM lash_graph_nodes WHERE session_id = %s", (self.sid,))
        self.row.set(live_nodes=0, dead_nodes=0, user_nodes=0, first_user_seq=None, node_bytes=0)
        self.insert(rows)

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
        """Number of live rows: the session row's ``live_nodes``, kept exact by every graph write in its
        transaction, so a commit reads it in O(1) instead of scanning the graph (PostgreSQL has no
        change marker to skip the scan by, as SQLite's data_version does)."""
        return int(self.row.get()["live_nodes"])

    def tombstoned_count(self) -> int:
        """Number of tombstoned rows (the session row's ``dead_nodes``)."""
        return int(self.row.get()["dead_nodes"])

    def summary_scan(self, with_users: bool) -> None:
        """``None``: this backend keeps no graph summary in its head (the list reads ``lash_sessions``)."""
        return None

    def tombstone(self, node_ids: Iterable[str]) -> None:
        """Mark nodes tombstoned (one statement; a tombstoned first user message hands that role on)."""
        ids = list(node_ids)
        if not ids:
            return
        gone = self.conn.execute(f"UPDATE lash_graph_nodes n SET tombstoned = TRUE WHERE n.session_id = %s "
                                 f"AND n.node_id = ANY(%s) AND NOT n.tombstoned RETURNING n.seq, {USER_NODE}",
                                 (self.sid, ids)).fetchall()
        if not gone:
            return
        v = self.row.get()
        users = [seq for seq, user in gone if user]
        first = v["first_user_seq"]
        if first is not None and first in users:
            # Every live user node before the old first is none; search on from it.
            found = one(self.conn, f"SELECT n.seq FROM lash_graph_nodes n WHERE n.session_id = %s AND n.seq > %s "
                                   f"AND NOT n.tombstoned AND {USER_NODE} ORDER BY n.seq LIMIT 1", (self.sid, first))
            first = None if found is None else found[0]
        self.row.set(live_nodes=v["live_nodes"] - len(gone), dead_nodes=v["dead_nodes"] + len(gone),
                     user_nodes=v["user_nodes"] - len(users), first_user_seq=first)

    def remove_tombstoned(self) -> int:
        """Delete tombstoned rows; how many went. Vacuum is the session's maintenance pass, so it also
        recounts the listing columns from the graph: it repairs them (doctor's ``listing_columns``)
        should a writer that does not keep them (an older lashdb still running) have written."""
        removed = self.conn.execute("DELETE FROM lash_graph_nodes WHERE session_id = %s AND tombstoned",
                                    (self.sid,)).rowcount
        counts = one(self.conn, f"{GRAPH_COUNTS} WHERE n.session_id = %s GROUP BY n.session_id", (self.sid,))
        self.row.set(**dict(zip(COUNT_COLUMNS, (0, 0, 0, None, 0) if counts is None else counts[1:])))
        return removed
