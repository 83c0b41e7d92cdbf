"""PostgreSQL statements of ``lashdb migrate``: one session's rows out and in as plain records
(postgres.md §5; the contract lives in ``ops/migrate.py``).

Contract:
- Records use the SQLite session schema's table and column names (see ``sqlite/transfer.py``):
  ``lash_sessions`` is read out as a ``session_meta`` row (when meta is saved) and a
  ``session_head`` row (when a head is saved); the scope column ``session_id`` is dropped from the
  tables whose SQLite twin has none; ``tombstoned``/``enabled`` are 0/1; blob ``content`` is the
  stored bytes. Sidecar rows are ``<role>.<table>`` (``effects.runtime_effect_replay`` scoped by
  ``session_id``; ``processes.*`` and ``triggers.*`` by ``root_session_id``); the trigger sequence
  is ``triggers.trigger_subscription_seq`` = ``[{"last_number": N}]``.
- :meth:`PgTransfer.export` reads in one repeatable-read snapshot. :meth:`PgTransfer.import_session`
  writes everything, sidecars included, in ONE transaction under the session's advisory lock (the
  lock every writer of the session takes) and the sidecars' own locks, bulk rows through
  ``executemany``, then the session row's listing columns recounted from the imported graph
  (``schema.recount``); a row naming another session than the
  one imported is refused (it would land in another session's scope). :meth:`PgTransfer.remove`
  deletes every row of the session in one such transaction.
"""

from __future__ import annotations

from typing import Any

from lashdb.engine.base.errors import BackendError, DatabaseError, LashdbError

from .connection import PgDatabase, advisory_key
from .schema import COUNT_COLUMNS, recount
from .session_rows import NOW_MS, _parent

Records = dict[str, list[dict[str, Any]]]

# Neutral table → (PostgreSQL table, scope column, its other columns, whether the record keeps the scope
# column: the SQLite twin has a session_id column of its own). Parents come before children.
_TABLES: dict[str, tuple[str, str, tuple[str, ...], bool]] = {
    "blobs": ("lash_blobs", "session_id", ("hash", "content"), False),
    "graph_nodes": ("lash_graph_nodes", "session_id", ("seq", "node_id", "node_json", "tombstoned"), False),
    "usage_deltas": ("lash_usage_deltas", "session_id", (
        "seq", "source", "model", "input_tokens", "output_tokens", "cached_input_tokens", "reasoning_tokens"), False),
    "runtime_turn_commits": ("lash_runtime_turn_commits", "session_id", (
        "turn_id", "turn_commit_hash", "result_json", "committed_at_ms"), True),
    "session_execution_leases": ("lash_session_execution_leases", "session_id", (
        "lease_owner_id", "lease_token", "lease_fencing_token", "lease_claimed_at_ms", "lease_expires_at_ms"), True),
    "queued_work_batches": ("lash_queued_work_batches", "session_id", (
        "enqueue_seq", "batch_id", "source_key", "delivery_policy", "slot_policy", "merge_key_json",
        "available_at_ms", "enqueued_at_ms", "claim_id", "claim_owner_id", "claim_token", "claim_fencing_token",
        "claim_claimed_at_ms", "claim_expires_at_ms"), True),
    "queued_work_items": ("lash_queued_work_items", "session_id", (
        "batch_id", "item_index", "item_id", "payload_json"), False),
    "attachment_manifest": ("lash_attachment_manifest", "session_id", (
        "attachment_id", "canonical_uri", "intent_at_ms", "committed_at_ms"), True),
    "artifact_refs": ("lash_artifact_refs", "session_id", ("artifact_ref", "blob_ref"), False),
    # Sidecars: the effect journal of the session; the process registry and trigger store of a root session.
    "effects.runtime_effect_replay": ("lash_effect_replay", "session_id", (
        "scope_id", "replay_key", "envelope_hash", "status", "outcome_json", "error_json", "lease_owner_id",
        "lease_token", "lease_expires_at_ms", "due_at_ms", "created_at_ms", "updated_at_ms"), False),
    "processes.processes": ("lash_processes", "root_session_id", (
        "process_id", "registration_hash", "owner_scope_id", "created_at_ms", "updated_at_ms", "status",
        "record_json"), False),
    "processes.process_events": ("lash_process_events", "root_session_id", (
        "process_id", "sequence", "event_type", "payload_hash", "idempotency_key", "occurred_at_ms", "event_json"),
        False),
    "processes.process_wake_acks": ("lash_process_wake_acks", "root_session_id", ("process_id", "sequence"), False),
    "processes.process_handle_grants": ("lash_process_handle_grants", "root_session_id", (
        "session_id", "scope_id", "process_id", "descriptor_json"), False),
    "processes.process_leases": ("lash_process_leases", "root_session_id", (
        "process_id", "lease_owner_id", "lease_token", "lease_fencing_token", "lease_claimed_at_ms",
        "lease_expires_at_ms"), False),
    "triggers.trigger_subscription_seq": ("lash_trigger_subscription_seq", "root_session_id", ("last_number",), False),
    "triggers.trigger_subscriptions": ("lash_trigger_subscriptions", "root_session_id", (
        "subscription_id", "registrant_scope_id", "handle", "source_type", "source_key", "enabled", "created_at_ms",
        "updated_at_ms", "record_json"), False),
    "triggers.trigger_occurrences": ("lash_trigger_occurrences", "root_session_id", (
        "occurrence_id", "idempotency_key", "request_hash", "source_type", "source_key", "occurred_at_ms",
        "record_json"), False),
    "triggers.trigger_deliveries": ("lash_trigger_deliveries", "root_session_id", (
        "occurrence_id", "subscription_id", "process_id", "created_at_ms"), False),
}
_BOOLEANS = ("tombstoned", "enabled")
# The advisory lock each sidecar's writers take (deployment_backend's "<concern>:<scope>").
_SIDECAR_LOCKS = {"effects": "effect_journal", "processes": "process_registry", "triggers": "trigger_store"}
_META = ("session_id", "session_name", "created_at", "model", "cwd", "relation_json")


def _neutral(row: dict[str, Any]) -> dict[str, Any]:
    for name in _BOOLEANS:
        if name in row:
            row[name] = int(bool(row[name]))
    if "content" in row:
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
            for table, (pg, scope, cols, keeps) in _TABLES.items():
                if table not in wanted:
                    continue
                names = (scope, *cols) if keeps else cols
                # Table and column names are this module's constants; the session id is a parameter.
                cur = conn.execute(f"SELECT {', '.join(names)} FROM {pg} WHERE {scope} = %s "
                                   f"ORDER BY {', '.join(names)}", (session_id,))
                out[table] = [_neutral(dict(zip(names, r))) for r in cur.fetchall()]
            return out

        return self.db.read(run)

    def import_session(self, session_id: str, records: Records) -> None:
        """Write ``records`` as ``session_id`` in one transaction under the session's advisory lock."""
        self._import(session_id, records, replace=False)

    def replace_session(self, session_id: str, records: Records) -> None:
        """Delete ``session_id``'s rows and write ``records`` in their place, in ONE transaction
        (``sessions restore --force``): a reader sees the old session or the new one, never neither."""
        self._import(session_id, records, replace=True)

    def _import(self, session_id: str, records: Records, *, replace: bool) -> None:
        where = f"{self.db.where}#{session_id}"
        meta = (records.get("session_meta") or [None])[0]
        head = (records.get("session_head") or [None])[0]
        for table, (_pg, _scope, _cols, keeps) in _TABLES.items():
            for row in records.get(table) or []:
                if keeps and row.get("session_id") != session_id:
                    raise DatabaseError(where, f"{where}: a {table} row names session {row.get('session_id')!r}, "
                                        f"not {session_id!r}", hint="a PostgreSQL store keeps each session's "
                                        "rows under its own id; fix the source session first")

        def run(conn: Any) -> None:
            if replace:
                _delete_rows(conn, session_id)
            found = conn.execute("SELECT created_at, head_json FROM lash_sessions WHERE session_id = %s FOR UPDATE",
                                 (session_id,)).fetchone()
            if found is not None and (found[0] is not None or found[1] is not None):
                raise BackendError(f"{where}: session {session_id!r} is already there", path=self.db.where,
                                   hint="migrate skips or reports a session already at the destination")
            m = meta or {}
            params = (session_id, m.get("session_name"), m.get("created_at"), m.get("model"), m.get("cwd"),
                      m.get("relation_json"), _parent(m.get("relation_json")),
                      head["session_id"] if head else None, head["head_json"] if head else None,
                      int(head["head_revision"]) if head else 0)
            conn.execute(
                "INSERT INTO lash_sessions (session_id, session_name, created_at, model, cwd, relation_json, "
                "parent_session_id, head_session_id, head_json, head_revision, created_at_ms, "
                f"updated_at_ms) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, {NOW_MS}, {NOW_MS}) "
                "ON CONFLICT (session_id) DO UPDATE SET session_name = excluded.session_name, "
                "created_at = excluded.created_at, model = excluded.model, cwd = excluded.cwd, "
                "relation_json = excluded.relation_json, parent_session_id = excluded.parent_session_id, "
                "head_session_id = excluded.head_session_id, head_json = excluded.head_json, "
                "head_revision = excluded.head_revision, "
                + ", ".join(f"{c} = DEFAULT" for c in COUNT_COLUMNS)
                + ", updated_at_ms = excluded.updated_at_ms", params)
            for role, concern in _SIDECAR_LOCKS.items():
                if any(records.get(t) for t in _TABLES if t.startswith(role + ".")):
                    # The sidecar's own writers serialise on this lock: take it as they do.
                    conn.execute("SELECT pg_advisory_xact_lock(%s)", (advisory_key(f"{concern}:{session_id}"),))
            for table, (pg, scope, cols, _keeps) in _TABLES.items():
                rows = records.get(table) or []
                if not rows:
                    continue
                values = [(session_id, *(bool(r[c]) if c in _BOOLEANS else r.get(c) for c in cols)) for r in rows]
                conn.cursor().executemany(
                    f"INSERT INTO {pg} ({scope}, {', '.join(cols)}) VALUES ({', '.join(['%s'] * (len(cols) + 1))})",
                    values)
            # The listing columns every graph write keeps, from the imported graph (the same rule).
            conn.execute(recount("WHERE n.session_id = %s"), (session_id,))

        self.db.write(session_id, run)

    def remove(self, session_id: str) -> None:
        """Delete every row of ``session_id`` in one transaction under its advisory lock."""
        self.db.write(session_id, lambda conn: _delete_rows(conn, session_id))

    def now_ms(self) -> int:
        """The database's clock (leases are judged against it)."""
        return self.db.clock_ms()

    def close(self) -> None:
        """Close the pool when this transfer opened it."""
        if self._owns_db:
            self.db.close()


def _delete_rows(conn: Any, session_id: str) -> None:
    for pg, scope, _cols, _keeps in reversed(list(_TABLES.values())):
        conn.execute(f"DELETE FROM {pg} WHERE {scope} = %s", (session_id,))
    conn.execute("DELETE FROM lash_sessions WHERE session_id = %s", (session_id,))


def open_transfer(url: str, *, readonly: bool = False, settings: Any = None) -> PgTransfer:
    """A transfer over its own database at ``url`` (read-only: the cutover rule is checked, never applied)."""
    return PgTransfer(PgDatabase.open(url, readonly=readonly, settings=settings), owns_db=True)
