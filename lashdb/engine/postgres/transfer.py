"""PostgreSQL statements of ``lashdb migrate``: one session's rows out and in as plain records
(postgres.md §5; the contract lives in ``ops/migrate.py``).

Contract:
- Records use the SQLite session schema's table and column names (see ``sqlite/transfer.py``):
  ``lash_sessions`` is read out as a ``session_meta`` row (when meta is saved) and a
  ``session_head`` row (when a head is saved); the scope column ``session_id`` is dropped from the
  tables whose SQLite twin has none; ``tombstoned`` is 0/1; blob ``content`` is the stored bytes.
- :meth:`PgTransfer.export` reads in one repeatable-read snapshot. :meth:`PgTransfer.import_session`
  writes everything in ONE transaction under the session's advisory lock (the lock every writer
  of the session takes), bulk rows through ``executemany``; a row naming another session than the
  one imported is refused (it would land in another session's scope). :meth:`PgTransfer.remove`
  deletes every row of the session in one such transaction.
"""

from __future__ import annotations

from typing import Any

from lashdb.engine.base.errors import BackendError, DatabaseError, LashdbError

from .connection import PgDatabase
from .session_rows import NOW_MS, _parent

Records = dict[str, list[dict[str, Any]]]

# Neutral table → (PostgreSQL table, its columns besides the scope, whether the SQLite twin has session_id).
_TABLES: dict[str, tuple[str, tuple[str, ...], bool]] = {
    "blobs": ("lash_blobs", ("hash", "content"), False),
    "graph_nodes": ("lash_graph_nodes", ("seq", "node_id", "node_json", "tombstoned"), False),
    "usage_deltas": ("lash_usage_deltas", ("seq", "source", "model", "input_tokens", "output_tokens",
                                           "cached_input_tokens", "reasoning_tokens"), False),
    "runtime_turn_commits": ("lash_runtime_turn_commits", ("turn_id", "turn_commit_hash", "result_json",
                                                           "committed_at_ms"), True),
    "session_execution_leases": ("lash_session_execution_leases", (
        "lease_owner_id", "lease_token", "lease_fencing_token", "lease_claimed_at_ms", "lease_expires_at_ms"), True),
    "queued_work_batches": ("lash_queued_work_batches", (
        "enqueue_seq", "batch_id", "source_key", "delivery_policy", "slot_policy", "merge_key_json",
        "available_at_ms", "enqueued_at_ms", "claim_id", "claim_owner_id", "claim_token", "claim_fencing_token",
        "claim_claimed_at_ms", "claim_expires_at_ms"), True),
    "queued_work_items": ("lash_queued_work_items", ("batch_id", "item_index", "item_id", "payload_json"), False),
    "attachment_manifest": ("lash_attachment_manifest", ("attachment_id", "canonical_uri", "intent_at_ms",
                                                         "committed_at_ms"), True),
    "artifact_refs": ("lash_artifact_refs", ("artifact_ref", "blob_ref"), False),
}
_ORDER = {"blobs": "hash COLLATE \"C\"", "graph_nodes": "seq", "usage_deltas": "seq", "runtime_turn_commits": "turn_id",
          "session_execution_leases": "session_id", "queued_work_batches": "enqueue_seq",
          "queued_work_items": "batch_id, item_index", "attachment_manifest": "attachment_id",
          "artifact_refs": "artifact_ref"}
_META = ("session_id", "session_name", "created_at", "model", "cwd", "relation_json")


def _neutral(table: str, row: dict[str, Any]) -> dict[str, Any]:
    if table == "graph_nodes":
        row["tombstoned"] = int(bool(row["tombstoned"]))
    elif table == "blobs":
        row["content"] = bytes(row["content"])
    return row


class PgTransfer:
    """:class:`~lashdb.engine.ops.ports.SessionTransfer` over a PostgreSQL store."""

    def __init__(self, db: PgDatabase, *, owns_db: bool = False) -> None:
        self.db = db
        self.target = db.display
        self._owns_db = owns_db

    def sessions(self) -> list[tuple[str, str, LashdbError | None]]:
        """(session id, where, None) of every session the store holds (a foreign schema refused at open)."""
        def run(conn: Any) -> list[tuple]:
            if conn.execute("SELECT to_regclass('lash_sessions')").fetchone()[0] is None:
                return []  # a database no lashdb store was ever opened on (read-only opens create nothing)
            return conn.execute("SELECT session_id FROM lash_sessions WHERE created_at IS NOT NULL "
                                "OR head_json IS NOT NULL ORDER BY session_id COLLATE \"C\"").fetchall()

        rows = self.db.read(run)
        return [(r[0], f"{self.db.display}#{r[0]}", None) for r in rows]

    def export(self, session_id: str, tables: tuple[str, ...] | None = None) -> Records | None:
        """The session's rows (of ``tables``, default all) from one snapshot; None when it holds no session."""
        wanted = tables or ("session_meta", "session_head", *_TABLES)

        def run(conn: Any) -> Records | None:
            cur = conn.execute("SELECT session_id, session_name, created_at, model, cwd, relation_json, "
                               "head_session_id, head_json, head_revision FROM lash_sessions WHERE session_id = %s",
                               (session_id,))
            row = cur.fetchone()
            if row is None or (row[2] is None and row[7] is None):
                return None
            out: Records = {}
            if "session_meta" in wanted:
                out["session_meta"] = [dict(zip(_META, row[:6]))] if row[2] is not None else []
            if "session_head" in wanted:
                out["session_head"] = ([{"session_id": row[6], "head_json": row[7], "head_revision": int(row[8])}]
                                       if row[7] is not None else [])
            for table, (pg, cols, scoped) in _TABLES.items():
                if table not in wanted:
                    continue
                names = ("session_id", *cols) if scoped else cols
                # Table and column names are this module's constants; the session id is a parameter.
                cur = conn.execute(f"SELECT {', '.join(names)} FROM {pg} WHERE session_id = %s "
                                   f"ORDER BY {_ORDER[table]}", (session_id,))
                out[table] = [_neutral(table, dict(zip(names, r))) for r in cur.fetchall()]
            return out

        return self.db.read(run)

    def import_session(self, session_id: str, records: Records) -> None:
        """Write ``records`` as ``session_id`` in one transaction under the session's advisory lock."""
        where = f"{self.db.where}#{session_id}"
        meta = (records.get("session_meta") or [None])[0]
        head = (records.get("session_head") or [None])[0]
        for table, (_pg, _cols, scoped) in _TABLES.items():
            for row in records.get(table) or []:
                if scoped and row.get("session_id") != session_id:
                    raise DatabaseError(where, f"{where}: a {table} row names session {row.get('session_id')!r}, "
                                        f"not {session_id!r}", hint="a PostgreSQL store keeps each session's "
                                        "rows under its own id; fix the source session first")
        live = sum(1 for r in records.get("graph_nodes") or [] if not r["tombstoned"])

        def run(conn: Any) -> None:
            found = conn.execute("SELECT created_at, head_json FROM lash_sessions WHERE session_id = %s FOR UPDATE",
                                 (session_id,)).fetchone()
            if found is not None and (found[0] is not None or found[1] is not None):
                raise BackendError(f"{where}: session {session_id!r} is already there", path=self.db.where,
                                   hint="migrate skips or reports a session already at the destination")
            m = meta or {}
            params = (session_id, m.get("session_name"), m.get("created_at"), m.get("model"), m.get("cwd"),
                      m.get("relation_json"), _parent(m.get("relation_json")),
                      head["session_id"] if head else None, head["head_json"] if head else None,
                      int(head["head_revision"]) if head else 0, live)
            conn.execute(
                "INSERT INTO lash_sessions (session_id, session_name, created_at, model, cwd, relation_json, "
                "parent_session_id, head_session_id, head_json, head_revision, live_nodes, created_at_ms, "
                f"updated_at_ms) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, {NOW_MS}, {NOW_MS}) "
                "ON CONFLICT (session_id) DO UPDATE SET session_name = excluded.session_name, "
                "created_at = excluded.created_at, model = excluded.model, cwd = excluded.cwd, "
                "relation_json = excluded.relation_json, parent_session_id = excluded.parent_session_id, "
                "head_session_id = excluded.head_session_id, head_json = excluded.head_json, "
                "head_revision = excluded.head_revision, live_nodes = excluded.live_nodes, "
                "updated_at_ms = excluded.updated_at_ms", params)
            for table, (pg, cols, _scoped) in _TABLES.items():
                rows = records.get(table) or []
                if not rows:
                    continue
                values = [(session_id, *(bool(r[c]) if c == "tombstoned" else r.get(c) for c in cols)) for r in rows]
                conn.cursor().executemany(
                    f"INSERT INTO {pg} (session_id, {', '.join(cols)}) VALUES ({', '.join(['%s'] * (len(cols) + 1))})",
                    values)

        self.db.write(session_id, run)

    def remove(self, session_id: str) -> None:
        """Delete every row of ``session_id`` in one transaction under its advisory lock."""
        def run(conn: Any) -> None:
            for pg, _cols, _scoped in reversed(list(_TABLES.values())):
                conn.execute(f"DELETE FROM {pg} WHERE session_id = %s", (session_id,))
            conn.execute("DELETE FROM lash_sessions WHERE session_id = %s", (session_id,))

        self.db.write(session_id, run)

    def now_ms(self) -> int:
        """The database's clock (leases are judged against it)."""
        return self.db.clock_ms()

    def close(self) -> None:
        """Close the pool when this transfer opened it."""
        if self._owns_db:
            self.db.close()


def open_transfer(url: str, *, readonly: bool = False, settings: Any = None) -> PgTransfer:
    """A transfer over its own database at ``url`` (read-only: the cutover rule is checked, never applied)."""
    return PgTransfer(PgDatabase.open(url, readonly=readonly, settings=settings), owns_db=True)
