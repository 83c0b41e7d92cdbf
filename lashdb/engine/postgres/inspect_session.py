"""Read-only reads of one session in a PostgreSQL store: the twin of ``sqlite/inspect_session.py``.

Contract (implements :class:`lashdb.engine.ops.ports.SessionReader`):
- :class:`PgSessionReader` reads inside the caller's :class:`~.session_backend.PgSessionTx` (one
  ``REPEATABLE READ READ ONLY`` snapshot); it never writes. Every statement is scoped by the
  transaction's session id, so no other session's rows are ever seen.
- Each method returns exactly what the SQLite reader returns for the same session content, type
  for type: ``tombstoned`` as ``0``/``1``, blob hashes of :meth:`raw_blob_rows` as bytes, the head
  as the v4 ``session_head`` keys (``head_json``, ``head_revision``, ``session_id``), a v4 graph
  with no parent column (``None``), text ordered bytewise (``COLLATE "C"``, SQLite's BINARY).
- The schema is lashdb's own (the cutover rule refused any other at open), so nothing is
  column-tolerant here: :meth:`schema_damage` is ``[]``, :meth:`has_blob_table` and
  :meth:`graph_shape` are true. Tables that hold rows keyed by a session id another session could
  name (leases, queued work, attachments, turn commits) are read for this session's id only.
- :meth:`v4_summary` (the listing) reads the graph's counts from the session row's listing
  columns; :meth:`node_counts` and :meth:`user_messages` count the graph itself (doctor compares
  the two).
- Driver errors propagate as raised (the caller's ``Store.read`` translates them).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

from lashdb.engine.base.kinds import SESSION_VERSION
from lashdb.engine.session.meta_view import MetaView
from lashdb.engine.session.model import SessionRelation

from .schema import USER_NODE
from .session_rows import one

__all__ = ["PgSessionReader"]

_USER = USER_NODE.replace("n.node_json", "node_json")

# One statement for a `sessions list` row: meta, head and the graph's counts come from the session's
# lash_sessions row (its listing columns, kept by every graph write: no scan of the graph; NULL
# meta/head columns until first saved, as SQLite has no row then), the first user message from one
# probe of (session_id, seq), blob aggregates from one scan.
_V4 = """
SELECT CASE WHEN s.created_at IS NOT NULL THEN s.session_id END, s.session_name, s.model, s.cwd,
       s.created_at, s.relation_json, b.n, b.bytes, coalesce(s.live_nodes, 0), coalesce(s.dead_nodes, 0),
       coalesce(s.user_nodes, 0),
       (SELECT node_json FROM lash_graph_nodes WHERE session_id = %(s)s AND seq = s.first_user_seq),
       s.head_json, CASE WHEN s.head_json IS NOT NULL THEN s.head_revision END,
       CASE WHEN s.head_json IS NOT NULL THEN s.head_session_id END
FROM (SELECT count(*) AS n, coalesce(sum(length(content)), 0) AS bytes
      FROM lash_blobs WHERE session_id = %(s)s) b
LEFT JOIN lash_sessions s ON s.session_id = %(s)s
"""

_GRAPH = "SELECT seq, node_id, node_json, tombstoned::int, NULL FROM lash_graph_nodes WHERE session_id = %s"
_LEASE = ("SELECT session_id, lease_owner_id, lease_token, lease_fencing_token, lease_claimed_at_ms, "
          "lease_expires_at_ms FROM lash_session_execution_leases WHERE session_id = %s")

# Server-side cursor names must be unique per connection while open; raw_blob_rows may nest.
_CURSOR_NAMES = itertools.count(1)


class PgSessionReader:
    """Read-only views of one session inside a PostgreSQL read snapshot (see the module contract)."""

    def __init__(self, tx: Any) -> None:
        self.conn = tx.conn
        self.sid = tx.session_id

    def _one(self, sql: str, params: Any = None) -> tuple | None:
        return one(self.conn, sql, (self.sid,) if params is None else params)

    def _all(self, sql: str, params: Any = None) -> list[tuple]:
        return [tuple(r) for r in self.conn.execute(sql, (self.sid,) if params is None else params)]

    # --- meta, head, graph counts ------------------------------------------------------------------

    def meta(self) -> MetaView | None:
        """The meta columns of the session's row, or ``None`` before meta was first saved."""
        row = self._one("SELECT session_id, session_name, model, cwd, created_at, relation_json FROM lash_sessions "
                        "WHERE session_id = %s AND created_at IS NOT NULL")
        if row is None:
            return None
        session_id, name, model, cwd, created_at, relation_json = row
        return MetaView(session_id, name, model, cwd, created_at, SessionRelation.from_column(relation_json))

    def head_row(self) -> dict[str, Any] | None:
        """``{"head_json", "head_revision", "session_id"}`` (the v4 head keys), or ``None`` without a head."""
        row = self._one("SELECT head_json, head_revision, head_session_id FROM lash_sessions "
                        "WHERE session_id = %s AND head_json IS NOT NULL")
        return None if row is None else dict(zip(("head_json", "head_revision", "session_id"), row))

    def node_counts(self) -> tuple[int, int]:
        """(live, tombstoned) graph nodes."""
        live, dead = self._one("SELECT count(*) FILTER (WHERE NOT tombstoned), count(*) FILTER (WHERE tombstoned) "
                               "FROM lash_graph_nodes WHERE session_id = %s")
        return int(live), int(dead)

    def user_messages(self) -> tuple[int, str | None]:
        """(live user-message nodes, node_json of the first one or ``None``) — SPEC §5's picker rule."""
        users = f"FROM lash_graph_nodes WHERE session_id = %(s)s AND NOT tombstoned AND {_USER}"
        count, first = one(self.conn, f"SELECT (SELECT count(*) {users}), "
                                      f"(SELECT node_json {users} ORDER BY seq LIMIT 1)", {"s": self.sid})
        return int(count), first

    def usage_rows(self) -> list[tuple[Any, Any, Any, Any, Any, Any]]:
        """(source, model, input, output, cached, reasoning) per usage delta in order."""
        return self._all("SELECT source, model, input_tokens, output_tokens, cached_input_tokens, reasoning_tokens "
                         "FROM lash_usage_deltas WHERE session_id = %s ORDER BY seq")

    # --- sessions list fast path ------------------------------------------------------------------

    def v4_summary(self) -> tuple | None:
        """Meta (6), blob count/bytes, live/dead/user counts, first user node_json, head (3) and the
        session schema version, as one tuple read by one statement (the counts and the first user
        message as the session row stores them; :meth:`node_counts` and :meth:`user_messages` scan)."""
        row = one(self.conn, _V4, {"s": self.sid})
        return (*row, SESSION_VERSION)

    def schema_damage(self, path: str) -> list[tuple[str, str, str]]:
        """``[]``: the store's schema passed the cutover check when it was opened."""
        return []

    def free_page_bytes(self) -> int | None:
        """``None``: the sessions share tables, so no free space belongs to one session."""
        return None

    # --- blobs ------------------------------------------------------------------------------------

    def blob_contents(self) -> list[tuple[str, bytes]] | None:
        """Every (hash, content) by hash."""
        return [(h, bytes(c)) for h, c in self._all(
            "SELECT hash, content FROM lash_blobs WHERE session_id = %s ORDER BY hash COLLATE \"C\"")]

    def has_blob_table(self) -> bool:
        """True: every PostgreSQL store has ``lash_blobs``."""
        return True

    def raw_blob_rows(self, ordered: bool = False) -> Iterator[tuple[Any, Any]]:
        """Every row's (hash, content) as bytes; table order unless ``ordered`` (by hash, bytewise)."""
        order = " ORDER BY hash COLLATE \"C\"" if ordered else ""
        # A server-side cursor streams the rows: a client-side one would hold every blob in memory.
        with self.conn.cursor(name=f"lashdb_raw_blobs_{next(_CURSOR_NAMES)}") as cur:
            cur.execute("SELECT convert_to(hash, 'UTF8'), content FROM lash_blobs WHERE session_id = %s" + order,
                        (self.sid,))
            for blob_hash, content in cur:
                yield bytes(blob_hash), bytes(content)

    def raw_blob_row(self, blob_hash: str) -> tuple[Any] | None:
        """The stored content bytes of one row as a 1-tuple, or ``None`` when there is no such row."""
        row = self._one("SELECT content FROM lash_blobs WHERE session_id = %s AND hash = %s", (self.sid, blob_hash))
        return None if row is None else (bytes(row[0]),)

    def artifact_count(self) -> int:
        """Rows of the session's artifact refs."""
        return int(self._one("SELECT count(*) FROM lash_artifact_refs WHERE session_id = %s")[0])

    # --- runtime tables ---------------------------------------------------------------------------

    def lease_row(self, session_id: str | None) -> tuple | None:
        """(session_id, owner, token, fencing, claimed_ms, expires_ms) of this session's lease, or ``None``.

        ``session_id`` is accepted for the SQLite twin's signature: a SQLite file falls back to its
        first lease row, which on a shared store is this session's own."""
        return self._one(_LEASE)

    def queued_work_counts(self, now_ms: int) -> tuple[int, int, int, int] | None:
        """(batches, claimed-and-held, ready, items) of this session's queue."""
        held = "claim_token IS NOT NULL AND claim_expires_at_ms > %(now)s"
        batches, claimed, ready, items = one(self.conn, (
            f"SELECT count(*), count(*) FILTER (WHERE {held}), "
            f"count(*) FILTER (WHERE NOT ({held}) AND available_at_ms <= %(now)s), "
            "(SELECT count(*) FROM lash_queued_work_items WHERE session_id = %(s)s) "
            "FROM lash_queued_work_batches WHERE session_id = %(s)s"), {"s": self.sid, "now": now_ms})
        return int(batches), int(claimed), int(ready), int(items)

    def attachment_counts(self) -> tuple[int, int, int | None] | None:
        """(committed, uncommitted, oldest uncommitted intent ms) of this session's manifest."""
        committed, uncommitted, oldest = self._one(
            "SELECT count(*) FILTER (WHERE committed_at_ms IS NOT NULL), count(*) FILTER (WHERE committed_at_ms IS NULL), "
            "min(intent_at_ms) FILTER (WHERE committed_at_ms IS NULL) FROM lash_attachment_manifest "
            "WHERE session_id = %s")
        return int(committed), int(uncommitted), None if oldest is None else int(oldest)

    def turn_commit_stats(self) -> tuple[int, int | None] | None:
        """(turn commits, last committed ms) of this session."""
        count, last = self._one("SELECT count(*), max(committed_at_ms) FROM lash_runtime_turn_commits "
                                "WHERE session_id = %s")
        return int(count), None if last is None else int(last)

    def expired_leases(self, now_ms: int) -> list[tuple[Any, Any, Any]] | None:
        """(session_id, owner, expires_ms) of this session's lease when held past ``now_ms``."""
        return self._all("SELECT session_id, lease_owner_id, lease_expires_at_ms FROM lash_session_execution_leases "
                         "WHERE session_id = %s AND lease_token IS NOT NULL AND lease_expires_at_ms <= %s",
                         (self.sid, now_ms))

    def old_attachment_intents(self, before_ms: int) -> list[tuple[Any, Any, Any]] | None:
        """(attachment_id, uri, intent_ms) of intents uncommitted since before ``before_ms``."""
        return self._all("SELECT attachment_id, canonical_uri, intent_at_ms FROM lash_attachment_manifest "
                         "WHERE session_id = %s AND committed_at_ms IS NULL AND intent_at_ms < %s "
                         "ORDER BY intent_at_ms, attachment_id COLLATE \"C\"", (self.sid, before_ms))

    # --- graph rows -------------------------------------------------------------------------------

    def graph_shape(self) -> tuple[bool, bool]:
        """(True, True): node_id/node_json and ``tombstoned`` always exist."""
        return True, True

    def graph_rows(self, with_tombstoned: bool) -> list[tuple[Any, Any, Any, Any, Any]]:
        """(seq, node_id, node_json, tombstoned 0/1, ``None``) of every row in append order."""
        where = "" if with_tombstoned else " AND NOT tombstoned"
        return self._all(_GRAPH + where + " ORDER BY seq")

    def graph_row(self, node_id: str) -> tuple[Any, Any, Any, Any, Any] | None:
        """The row of ``node_id`` (tombstoned or not), as :meth:`graph_rows` gives it, or ``None``."""
        row = self._one(_GRAPH + " AND node_id = %s", (self.sid, node_id))
        return None if row is None else tuple(row)

    def node_ids_with_prefix(self, prefix: str, limit: int) -> list[str]:
        """Up to ``limit`` node ids starting with ``prefix``, bytewise in order."""
        return [r[0] for r in self._all(
            "SELECT node_id FROM lash_graph_nodes WHERE session_id = %s AND starts_with(node_id, %s) "
            "ORDER BY node_id COLLATE \"C\" LIMIT %s", (self.sid, prefix, None if limit < 0 else int(limit)))]
