"""Column-tolerant, read-only reads of one SQLite session database: what ``ops`` inspects.

Contract (implements :class:`lashdb.engine.ops.ports.SessionReader`):
- Reads only, inside the caller's connection or snapshot; never writes, checkpoints or creates a file.
- Foreign schemas: each read first looks at the table's columns and degrades per column (an absent
  column gives ``None``, ``0`` or a documented alias, e.g. v38's ``cache_read_input_tokens``); an
  absent table gives ``None``/empty. Every method returns plain values (tuples, ints, str, bytes).
- Driver errors propagate as raised (the caller's ``Store.read`` or :func:`translate` types them),
  except where a method says it returns ``None`` on failure.
- :class:`SessionFile` is one read-only open of a file for ``sessions list``'s fast path: it opens
  through this module's ``open_readonly`` and snapshots through its ``read_snapshot``.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from typing import Any

import apsw

from .connection import columns, open_readonly, query_one, read_snapshot, translate, translated, unopenable
from .graph import SqliteGraphRows
from .schema import SESSION, Classification, classify_connection, object_differences
from .shape import objects_differences, read_objects
from .session_read import read_meta, singleton_sql
from lashdb.engine.session.list_summary import HEAD_KEY as SUMMARY_KEY
from lashdb.engine.session.list_summary import ListSummary
from lashdb.engine.session.meta_view import MetaView

__all__ = ["SessionFile", "SqliteSessionReader", "open_session_file"]

_HEAD_COLUMNS = ("head_revision", "leaf_node_id", "checkpoint_ref", "session_id")
_USER_WHERE = ("json_valid(node_json) AND json_extract(node_json, '$.kind') = 'event' "
               "AND json_extract(node_json, '$.event.Conversation.role') = 'User'")

# Everything a `sessions list` row needs from a v4 session, and the file's user_version, as five
# plain statements. Measured on fresh connections (each pays SQLite's schema parse once either
# way), five simple statements cost ~15% less than one statement joining them: planning the joined
# statement's subqueries cost more than four extra prepares. One scan of graph_nodes counts live,
# tombstoned and user nodes and finds the first user node, deciding "is a user message" once per
# row (deciding it in both aggregates doubled the JSON work); instr() spares the JSON parser the
# nodes that cannot be user messages, and one json_extract of two paths reads kind and role in one
# parse. A node that is not JSON fails the statement (json_extract raises), which sends the file
# down the step-by-step path that skips such nodes.
_V4_USER = ("instr(node_json, '\"User\"') > 0 "
            "AND json_extract(node_json, '$.kind', '$.event.Conversation.role') = '[\"event\",\"User\"]'")
_V4_META = ("SELECT session_id, session_name, model, cwd, created_at, relation_json "
            "FROM session_meta WHERE singleton = 1")
_V4_BLOBS = "SELECT count(*), coalesce(sum(length(content)), 0) FROM blobs"
_V4_GRAPH = ("SELECT count(*) FILTER (WHERE tombstoned = 0), count(*) FILTER (WHERE tombstoned <> 0), "
             "count(*) FILTER (WHERE u), min(seq) FILTER (WHERE u) "
             f"FROM (SELECT seq, tombstoned, tombstoned = 0 AND {_V4_USER} AS u FROM graph_nodes)")
_V4_FIRST = "SELECT node_json FROM graph_nodes WHERE seq = ?"
_V4_HEAD = "SELECT head_json, head_revision, session_id FROM session_head WHERE singleton = 1"
# The list summary a lashdb commit keeps in the head (session/list_summary.py): when present, the
# counts, the blob figures and the first user message come from it and one indexed lookup, not from
# a scan of every node and blob. The lookup re-applies the picker rule, so a summary naming a node
# since hidden is not trusted.
_V4_SUMMARY = ("SELECT CASE WHEN json_valid(head_json) THEN json_extract(head_json, '$.' || ?) END "
               "FROM session_head WHERE singleton = 1")
_V4_FIRST_BY_ID = f"SELECT node_json FROM graph_nodes WHERE node_id = ? AND tombstoned = 0 AND {_V4_USER}"

# The columns are declared TEXT and BLOB, but SQLite keeps whatever type was written: a damaged or
# hand-edited row may hold TEXT that is not UTF-8 (which apsw would refuse to fetch), a number or
# NULL. CAST(… AS BLOB) hands over the stored bytes whatever they are (a no-op for a BLOB).
_RAW_ROWS = "SELECT CAST(hash AS BLOB), CAST(content AS BLOB) FROM blobs"


class SqliteSessionReader:
    """Read-only views of one open session database (see the module contract)."""

    def __init__(self, conn: apsw.Connection) -> None:
        self.conn = conn
        self._graph: tuple[str, str, bool] | None = None

    def _count(self, sql: str, params: Any = ()) -> int:
        return int(query_one(self.conn, sql, params)[0] or 0)

    # --- meta, head, graph counts ------------------------------------------------------------------

    def meta(self) -> MetaView | None:
        """The meta row (v38's relation columns understood), or ``None``."""
        return read_meta(self.conn)

    def head_row(self) -> dict[str, Any] | None:
        """``{"head_json": …}`` plus whichever of head_revision/leaf_node_id/checkpoint_ref/session_id
        columns the table has; ``None`` without a head (or a ``head_json`` column)."""
        cols = columns(self.conn, "session_head")
        if "head_json" not in cols:
            return None
        extra = [k for k in _HEAD_COLUMNS if k in cols]
        row = query_one(self.conn, f"SELECT {', '.join(['head_json'] + extra)} FROM session_head"
                        + singleton_sql(cols))
        return None if row is None else dict(zip(["head_json"] + extra, row))

    def node_counts(self) -> tuple[int, int]:
        """(live, tombstoned) graph nodes; a schema without ``tombstoned`` has none tombstoned."""
        cols = columns(self.conn, "graph_nodes")
        if not cols:
            return 0, 0
        if "tombstoned" not in cols:
            return self._count("SELECT count(*) FROM graph_nodes"), 0
        live, dead = query_one(self.conn, "SELECT count(*) FILTER (WHERE tombstoned = 0), "
                                          "count(*) FILTER (WHERE tombstoned <> 0) FROM graph_nodes")
        return int(live or 0), int(dead or 0)

    def user_messages(self) -> tuple[int, str | None]:
        """(live user-message nodes, node_json of the first one or ``None``) — SPEC §5's picker rule."""
        cols = columns(self.conn, "graph_nodes")
        if "node_json" not in cols:
            return 0, None
        live = " AND tombstoned = 0" if "tombstoned" in cols else ""
        count = self._count(f"SELECT count(*) FROM graph_nodes WHERE {_USER_WHERE}{live}")
        row = query_one(self.conn, f"SELECT node_json FROM graph_nodes WHERE {_USER_WHERE}{live} ORDER BY seq LIMIT 1")
        return count, row[0] if row else None

    def usage_rows(self) -> list[tuple[Any, Any, Any, Any, Any, Any]]:
        """(source, model, input, output, cached, reasoning) per usage delta in order; [] without the table."""
        cols = columns(self.conn, "usage_deltas")
        if not {"source", "model", "input_tokens", "output_tokens"} <= cols:
            return []

        def pick(*names: str) -> str:
            return next((n for n in names if n in cols), "0")
        return [tuple(r) for r in self.conn.execute(
            f"SELECT source, model, input_tokens, output_tokens, "
            f"{pick('cached_input_tokens', 'cache_read_input_tokens')}, "
            f"{pick('reasoning_tokens', 'reasoning_output_tokens')} FROM usage_deltas ORDER BY seq")]

    # --- sessions list fast path ------------------------------------------------------------------

    def v4_summary(self) -> tuple | None:
        """Meta (6), blob count/bytes, live/dead/user counts, first user node_json, head (3) and the
        version of a v4 session, as one tuple; ``None`` when not v4 or a statement fails. The caller
        holds one snapshot across the statements (a transaction, or an ``immutable`` file)."""
        c = self.conn
        try:
            if query_one(c, "PRAGMA user_version") != (SESSION.version,):
                return None
            meta = query_one(c, _V4_META) or (None,) * 6
            kept = self._kept_summary()
            if kept is not None and kept[4] is not None:
                blob_count, blob_bytes = kept[4]
            else:
                blob_count, blob_bytes = query_one(c, _V4_BLOBS)
            if kept is not None:
                live, dead, users, first = kept[:4]
            else:
                live, dead, users, first_seq = query_one(c, _V4_GRAPH)
                first = query_one(c, _V4_FIRST, (first_seq,)) if first_seq is not None else None
            head = query_one(c, _V4_HEAD) or (None,) * 3
        except apsw.Error:
            return None  # damaged, or columns this version does not have: the step-by-step path says which
        return (*meta, blob_count, blob_bytes, live, dead, users, first[0] if first else None, *head,
                SESSION.version)

    def _head_summary(self) -> ListSummary | None:
        found = query_one(self.conn, _V4_SUMMARY, (SUMMARY_KEY,))
        if found is None or found[0] is None:
            return None
        try:
            return ListSummary.from_json(json.loads(found[0]))
        except ValueError:
            return None

    def _kept_summary(self) -> tuple[int, int, int, tuple[str] | None, tuple[int, int] | None] | None:
        """(live, dead, users, (first node_json,) or None, blob (rows, bytes) or None) from the head's
        list summary; ``None`` without one, or when the first user message it names is no longer a
        live user message."""
        summary = self._head_summary()
        if summary is None:
            return None
        first = None
        if summary.first_user_node_id is not None:
            first = query_one(self.conn, _V4_FIRST_BY_ID, (summary.first_user_node_id,))
            if first is None:
                return None
        return summary.live, summary.tombstoned, summary.user_messages, first, summary.blob_figures()

    def stored_list_summary(self) -> tuple[int, int, int, str | None, int | None, int | None] | None:
        """(live, tombstoned, users, first user node id, blob rows, blob bytes) the head's list summary
        claims (blob figures ``None`` when it keeps none); ``None`` without a summary."""
        if not {"head_json", "singleton"} <= columns(self.conn, "session_head"):
            return None
        summary = self._head_summary()
        return None if summary is None else (summary.live, summary.tombstoned, summary.user_messages,
                                             summary.first_user_node_id, summary.blobs, summary.blob_bytes)

    def scanned_list_summary(self) -> tuple[int, int, int, str | None, int, int]:
        """The figures of :meth:`stored_list_summary` from a scan of every graph row (the picker rule)
        and every blob."""
        live, dead, users, first = SqliteGraphRows(self.conn).summary_scan(True)
        blob_count, blob_bytes = query_one(self.conn, _V4_BLOBS)
        return live, dead, users or 0, first, int(blob_count), int(blob_bytes)

    def schema_damage(self, path: str) -> list[tuple[str, str, str]]:
        """(change, what, name) for each table or index the v4 session schema lacks or has in excess."""
        try:
            return [(d.change, d.what, d.name) for d in object_differences(self.conn, SESSION)]
        except apsw.Error as exc:
            raise translate(exc, path) from exc

    def free_page_bytes(self) -> int | None:
        """Bytes of the file's free pages (freelist count × page size): what a compaction returns
        besides the ``-wal``."""
        return self._count("PRAGMA freelist_count") * self._count("PRAGMA page_size")

    # --- blobs ------------------------------------------------------------------------------------

    def blob_contents(self) -> list[tuple[str, bytes]] | None:
        """Every (hash, content) by hash; ``None`` when the blobs table has no ``hash`` column."""
        if "hash" not in columns(self.conn, "blobs"):
            return None
        return [(h, bytes(content)) for h, content in self.conn.execute("SELECT hash, content FROM blobs ORDER BY hash")]

    def has_blob_table(self) -> bool:
        """True when the blobs table has ``hash`` and ``content`` columns."""
        return {"hash", "content"} <= columns(self.conn, "blobs")

    def raw_blob_rows(self, ordered: bool = False) -> Iterator[tuple[Any, Any]]:
        """Every row's stored (hash, content) bytes whatever their SQLite type; table order unless ``ordered``."""
        # Table order by default: a scan reads the pages front to back, where ORDER BY hash walks the
        # primary-key index and fetches each row from wherever it lies.
        yield from self.conn.execute(_RAW_ROWS + (" ORDER BY hash" if ordered else ""))

    def raw_blob_row(self, blob_hash: str) -> tuple[Any] | None:
        """The stored content bytes of one row as a 1-tuple, or ``None`` when there is no such row."""
        for row in self.conn.execute("SELECT CAST(content AS BLOB) FROM blobs WHERE hash = ?", (blob_hash,)):
            return (row[0],)
        return None

    def artifact_count(self) -> int:
        """Rows of ``artifact_refs`` (0 without the table)."""
        return self._count("SELECT count(*) FROM artifact_refs") if columns(self.conn, "artifact_refs") else 0

    # --- runtime tables ---------------------------------------------------------------------------

    def lease_row(self, session_id: str | None) -> tuple | None:
        """(session_id, owner, token, fencing, claimed_ms, expires_ms) of ``session_id``'s lease, else the
        first; ``None`` when there is none or the schema lacks the lease columns."""
        needed = ("session_id", "lease_owner_id", "lease_token", "lease_fencing_token", "lease_claimed_at_ms",
                  "lease_expires_at_ms")
        if not set(needed) <= columns(self.conn, "session_execution_leases"):
            return None
        return query_one(self.conn, f"SELECT {', '.join(needed)} FROM session_execution_leases "
                                    "ORDER BY session_id = ? DESC, session_id LIMIT 1", (session_id,))

    def queued_work_counts(self, now_ms: int) -> tuple[int, int, int, int] | None:
        """(batches, claimed-and-held, ready, items); ``None`` without the queue columns."""
        cols = columns(self.conn, "queued_work_batches")
        if not {"claim_token", "available_at_ms"} <= cols:
            return None
        # Held = a claim token with an expiry still ahead (runtime-contract §4.1); a schema without the
        # expiry column counts every claimed row as held.
        held = "claim_token IS NOT NULL" + (" AND claim_expires_at_ms > :now" if "claim_expires_at_ms" in cols else "")
        batches, claimed, ready = query_one(
            self.conn, f"SELECT count(*), count(*) FILTER (WHERE {held}), "
                       f"count(*) FILTER (WHERE NOT ({held}) AND available_at_ms <= :now) FROM queued_work_batches",
            {"now": now_ms})
        items = self._count("SELECT count(*) FROM queued_work_items") if columns(self.conn, "queued_work_items") else 0
        return int(batches), int(claimed), int(ready), items

    def attachment_counts(self) -> tuple[int, int, int | None] | None:
        """(committed, uncommitted, oldest uncommitted intent ms); ``None`` without the manifest columns."""
        if not {"intent_at_ms", "committed_at_ms"} <= columns(self.conn, "attachment_manifest"):
            return None
        committed, uncommitted, oldest = query_one(
            self.conn, "SELECT count(*) FILTER (WHERE committed_at_ms IS NOT NULL), "
                       "count(*) FILTER (WHERE committed_at_ms IS NULL), "
                       "min(intent_at_ms) FILTER (WHERE committed_at_ms IS NULL) FROM attachment_manifest")
        return int(committed), int(uncommitted), None if oldest is None else int(oldest)

    def turn_commit_stats(self) -> tuple[int, int | None] | None:
        """(turn commits, last committed ms); ``None`` without the table."""
        if "committed_at_ms" not in columns(self.conn, "runtime_turn_commits"):
            return None
        count, last = query_one(self.conn, "SELECT count(*), max(committed_at_ms) FROM runtime_turn_commits")
        return int(count), None if last is None else int(last)

    def expired_leases(self, now_ms: int) -> list[tuple[Any, Any, Any]] | None:
        """(session_id, owner, expires_ms) of leases held past ``now_ms``; ``None`` without the columns."""
        if not {"session_id", "lease_owner_id", "lease_token", "lease_expires_at_ms"} <= columns(
                self.conn, "session_execution_leases"):
            return None
        return [tuple(r) for r in self.conn.execute(
            "SELECT session_id, lease_owner_id, lease_expires_at_ms FROM session_execution_leases "
            "WHERE lease_token IS NOT NULL AND lease_expires_at_ms <= ? ORDER BY session_id", (now_ms,))]

    def old_attachment_intents(self, before_ms: int) -> list[tuple[Any, Any, Any]] | None:
        """(attachment_id, uri, intent_ms) of intents uncommitted since before ``before_ms``; ``None``
        without the manifest columns."""
        if not {"attachment_id", "canonical_uri", "intent_at_ms", "committed_at_ms"} <= columns(
                self.conn, "attachment_manifest"):
            return None
        return [tuple(r) for r in self.conn.execute(
            "SELECT attachment_id, canonical_uri, intent_at_ms FROM attachment_manifest "
            "WHERE committed_at_ms IS NULL AND intent_at_ms < ? ORDER BY intent_at_ms, attachment_id",
            (before_ms,))]

    # --- graph rows -------------------------------------------------------------------------------

    def _graph_select(self) -> tuple[str, str, bool]:
        if self._graph is None:  # a walk asks once per level: read the columns once
            self._graph = self._graph_statements()
        return self._graph

    def _graph_statements(self) -> tuple[str, str, bool]:
        cols = columns(self.conn, "graph_nodes")
        tomb = "tombstoned" if "tombstoned" in cols else "0"
        parent = "parent_node_id" if "parent_node_id" in cols else "NULL"
        seq = "seq" if "seq" in cols else "rowid"
        return f"SELECT {seq}, node_id, node_json, {tomb}, {parent} FROM graph_nodes", f" ORDER BY {seq}", \
            "tombstoned" in cols

    def graph_shape(self) -> tuple[bool, bool]:
        """(graph rows are readable: node_id and node_json exist, the table has ``tombstoned``)."""
        cols = columns(self.conn, "graph_nodes")
        return {"node_id", "node_json"} <= cols, "tombstoned" in cols

    def graph_rows(self, with_tombstoned: bool) -> list[tuple[Any, Any, Any, Any, Any]]:
        """(seq, node_id, node_json, tombstoned, parent column) of every row in append order."""
        select, order, has_tombstoned = self._graph_select()
        where = " WHERE tombstoned = 0" if has_tombstoned and not with_tombstoned else ""
        return [tuple(r) for r in self.conn.execute(select + where + order)]

    def graph_row(self, node_id: str) -> tuple[Any, Any, Any, Any, Any] | None:
        """The row of ``node_id`` (tombstoned or not), as :meth:`graph_rows` gives it, or ``None``."""
        select, _order, _t = self._graph_select()
        return query_one(self.conn, select + " WHERE node_id = ?", (node_id,))

    def node_ids_with_prefix(self, prefix: str, limit: int) -> list[str]:
        """Up to ``limit`` node ids starting with ``prefix``, in order (index range scan)."""
        return [r[0] for r in self.conn.execute(
            "SELECT node_id FROM graph_nodes WHERE node_id >= ? AND node_id < ? ORDER BY node_id LIMIT ?",
            (prefix, prefix + "\uffff", limit))]


class SessionFile:
    """One read-only open of a database file (``sessions list``: classify and read from one open)."""

    def __init__(self, path: str | os.PathLike[str], *, checked: bool = False) -> None:
        self.path = os.fspath(path)
        self.conn = open_readonly(path, checked=checked)
        self.reader = SqliteSessionReader(self.conn)

    def list_read(self) -> tuple[tuple | None, list[tuple[str, str, str]]]:
        """(:meth:`SqliteSessionReader.v4_summary`, :meth:`SqliteSessionReader.schema_damage`) of a
        file opened ``checked`` (no ``-wal``: immutable, one snapshot), from one read of
        ``sqlite_master`` and the summary's statements; the summary is ``None`` when it does not fit
        (the caller's step-by-step path then reads the file). A file that is not SQLite raises the
        typed error an unchecked open would have."""
        try:
            got = read_objects(self.conn)  # the first statement: it also shows the file is SQLite
        except apsw.Error as exc:
            raise unopenable(exc, self.path) from exc
        row = self.reader.v4_summary()
        if row is None:
            return None, []
        return row, [(d.change, d.what, d.name) for d in objects_differences(got, SESSION)]

    @property
    def connection(self) -> apsw.Connection:
        """The open connection (for session functions that take one)."""
        return self.conn

    def snapshot(self) -> contextlib.AbstractContextManager:
        """One read transaction over the statements run inside it (typed errors if it cannot begin)."""
        return read_snapshot(self.conn, self.path)

    def classify(self) -> Classification:
        """What the file is (kind, version, tables); typed errors."""
        with translated(self.path):
            return classify_connection(self.conn, self.path)

    def close(self) -> None:
        """Close the connection."""
        self.conn.close()


def open_session_file(path: str | os.PathLike[str], *, checked: bool = False) -> SessionFile:
    """Open ``path`` read-only (typed errors when it cannot be); ``checked`` as :func:`open_readonly` says."""
    return SessionFile(path, checked=checked)
