"""The store-wide reads of a PostgreSQL store: which sessions exist, in one statement each (CLI.md, issue 13).

Contract:
- Every method runs one statement in one ``REPEATABLE READ READ ONLY`` transaction of the
  database it was given (the backend hands the read-only one, so a look never writes) and
  returns plain values.
- Lookups use the indexes of ``postgres/schema.py``: an id by the primary key, a prefix by
  ``session_id text_pattern_ops`` (``LIKE 'p%'`` with ``%``/``_``/``\\`` escaped), children by
  ``parent_session_id``. The listing is one statement whatever the number of sessions: it sorts
  ``lash_sessions`` (a scan of that table alone: ``updated_at_ms`` is deliberately not indexed, see
  ``schema.py``) and applies ``LIMIT`` before the per-session blob counts (``LATERAL`` over
  ``(session_id, hash)``), so ``--limit 20`` of 10,000 sessions counts 20. Nothing of a row scans
  the session's graph: live/tombstoned/user-message counts and node bytes are the session row's
  listing columns, the first user message one probe of ``(session_id, seq)`` at ``first_user_seq``.
- A listing row carries the fields of the SQLite reader's ``v4_summary`` in its order (the head as
  ``'{}'`` when there is one: a listing row takes its revision and session id from their columns,
  so the head document is neither sent nor decoded per row), then
  ``created_at_ms``, ``updated_at_ms``, the session's bytes (blob contents plus node JSON: a
  shared database has no per-session file) and which deployment scopes (processes, triggers,
  effects) hold rows for it.
"""

from __future__ import annotations

from typing import Any

from lashdb.engine.base.listing import NO_FILTER, ListingFilter

from .connection import PgDatabase
from .schema import COMPONENT, TABLES, VERSION, inspect_schema

SORTS = {
    "modified": "s.updated_at_ms DESC, s.session_id COLLATE \"C\"",
    "created": "s.created_at_ms DESC, s.session_id COLLATE \"C\"",
    "name": "lower(coalesce(s.session_name, s.session_id)), s.session_id COLLATE \"C\"",
}
"""``sessions list --sort`` keys answered by an ordering of ``lash_sessions`` alone; ``size`` sorts on the counts."""

# Blob aggregates scan the session's blobs; everything of the graph comes from the session row's
# listing columns (kept by every graph write, schema.py), the first user message by one index probe.
_COUNTS = """
LEFT JOIN LATERAL (SELECT count(*) AS blobs, coalesce(sum(octet_length(b.content)), 0) AS blob_bytes
                   FROM lash_blobs b WHERE b.session_id = s.session_id) b ON true
"""
# What the sorted subquery carries of each session: its listing columns and whether it has a head,
# not the head document (sorting 10,000 rows with their heads took ~12% longer).
_COLUMNS = ("s.session_id, s.session_name, s.model, s.cwd, s.created_at, s.relation_json, s.live_nodes, "
            "s.dead_nodes, s.user_nodes, s.first_user_seq, s.head_json IS NOT NULL AS has_head, s.head_revision, "
            "s.head_session_id, s.created_at_ms, s.updated_at_ms, s.node_bytes")
_FIRST_NODE = "FROM lash_graph_nodes n WHERE n.session_id = s.session_id AND n.seq = s.first_user_seq"
_SELECT = f"""
SELECT s.session_id, s.session_name, s.model, s.cwd, s.created_at, s.relation_json,
       b.blobs, b.blob_bytes, s.live_nodes, s.dead_nodes, s.user_nodes, (SELECT n.node_json {_FIRST_NODE}),
       CASE WHEN s.has_head THEN '{{}}' END, s.head_revision, s.head_session_id, {VERSION},
       s.created_at_ms, s.updated_at_ms, b.blob_bytes + s.node_bytes AS size_bytes,
       EXISTS (SELECT 1 FROM lash_processes p WHERE p.root_session_id = s.session_id) AS has_processes,
       EXISTS (SELECT 1 FROM lash_trigger_subscriptions t WHERE t.root_session_id = s.session_id)
         OR EXISTS (SELECT 1 FROM lash_trigger_occurrences o WHERE o.root_session_id = s.session_id)
         AS has_triggers,
       EXISTS (SELECT 1 FROM lash_effect_replay e WHERE e.session_id = s.session_id) AS has_effects
"""
# The first user message's text as GraphNode.text gives it: Text parts' content, an Image part as a
# placeholder, joined by a blank line (what `sessions list --grep` searches besides the name).
_FIRST_TEXT = f"""(SELECT (SELECT string_agg(CASE WHEN p ->> 'kind' = 'Text' THEN p ->> 'content'
                                       ELSE '[Image attached]' END, E'\\n\\n' ORDER BY i)
                   FROM jsonb_array_elements(CASE WHEN jsonb_typeof(n.node_json::jsonb #> '{{event,Conversation,parts}}')
                                                   = 'array' THEN n.node_json::jsonb #> '{{event,Conversation,parts}}'
                                                   ELSE '[]'::jsonb END) WITH ORDINALITY AS x(p, i)
                   WHERE p ->> 'kind' = 'Text' AND jsonb_typeof(p -> 'content') = 'string' OR p ->> 'kind' = 'Image')
                  {_FIRST_NODE})"""


def filter_terms(flt: ListingFilter) -> tuple[list[str], list[Any]]:
    """The ``WHERE`` terms over ``lash_sessions s`` (and their parameters) for ``flt`` (listing.py's
    meanings; the status is the caller's: every row of this store reads ``ok``)."""
    terms: list[str] = []
    params: list[Any] = []
    if flt.since_ms is not None:
        terms.append("s.updated_at_ms >= %s")
        params.append(flt.since_ms)
    if flt.until_ms is not None:
        terms.append("s.updated_at_ms <= %s")
        params.append(flt.until_ms)
    if flt.model is not None:
        terms.append("s.model = %s")
        params.append(flt.model)
    if flt.cwd is not None:
        terms.append("(s.cwd = %s OR starts_with(s.cwd, %s))")
        params += [flt.cwd, flt.cwd_prefix()]
    if flt.parent is not None:
        terms.append("starts_with(s.parent_session_id, %s)")
        params.append(flt.parent)
    if flt.children is not None:
        terms.append(f"s.parent_session_id IS {'NOT ' if flt.children else ''}NULL")
    if flt.grep is not None:
        terms.append(f"(strpos(lower(coalesce(s.session_name, '')), %s) > 0 "
                     f"OR strpos(lower(coalesce({_FIRST_TEXT}, '')), %s) > 0)")
        params += [flt.grep.lower()] * 2
    return terms, params


def listing_statement(*, sort: str = "modified", limit: int | None = None, session_ids: list[str] | None = None,
                      filters: ListingFilter = NO_FILTER) -> tuple[str, tuple]:
    """The one statement of :meth:`PgCatalog.listing` and its parameters."""
    terms, params = filter_terms(filters)
    if session_ids is not None:
        terms.insert(0, "s.session_id = ANY(%s)")
        params.insert(0, list(session_ids))
    where = ("WHERE " + " AND ".join(terms)) if terms else ""
    tail = "" if limit is None else " LIMIT %s"
    if sort in SORTS:
        sql = (f"{_SELECT} FROM (SELECT {_COLUMNS} FROM lash_sessions s {where} ORDER BY {SORTS[sort]}{tail}) s "
               f"{_COUNTS} ORDER BY {SORTS[sort]}")
    else:  # size: the counts decide the order, so they run for every session first
        sql = f"{_SELECT} FROM (SELECT {_COLUMNS} FROM lash_sessions s {where}) s {_COUNTS} ORDER BY size_bytes DESC, s.session_id COLLATE \"C\"{tail}"
    if limit is not None:
        params.append(max(int(limit), 0))
    return sql, tuple(params)


ROW_FIELDS = 16
"""How many leading fields of a listing row have the SQLite ``v4_summary`` shape."""


def like_prefix(prefix: str) -> str:
    """``prefix`` as a ``LIKE`` pattern matching only itself followed by anything."""
    return prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


class PgCatalog:
    """Store-wide lookups over one (read-only) :class:`PgDatabase`."""

    def __init__(self, db: PgDatabase) -> None:
        self.db = db

    def _rows(self, sql: str, params: Any = ()) -> list[tuple]:
        return self.db.read(lambda conn: conn.execute(sql, params).fetchall())

    def exists(self, session_id: str) -> bool:
        """True when ``session_id`` has its row."""
        return bool(self._rows("SELECT 1 FROM lash_sessions WHERE session_id = %s", (session_id,)))

    def ids_with_prefix(self, prefix: str, limit: int) -> list[str]:
        """At most ``limit`` session ids starting with ``prefix``, in id order (the prefix index)."""
        return [r[0] for r in self._rows(
            "SELECT session_id FROM lash_sessions WHERE session_id LIKE %s ESCAPE '\\' ORDER BY session_id COLLATE \"C\" LIMIT %s",
            (like_prefix(prefix), limit))]

    def session_ids(self) -> list[str]:
        """Every session id, in id order."""
        return [r[0] for r in self._rows("SELECT session_id FROM lash_sessions ORDER BY session_id COLLATE \"C\"")]

    def children(self, session_id: str) -> list[str]:
        """The ids of the sessions whose relation names ``session_id`` as parent, in id order."""
        return [r[0] for r in self._rows(
            "SELECT session_id FROM lash_sessions WHERE parent_session_id = %s ORDER BY session_id COLLATE \"C\"", (session_id,))]

    def listing(self, *, sort: str = "modified", limit: int | None = None,
                session_ids: list[str] | None = None, filters: ListingFilter = NO_FILTER) -> list[tuple]:
        """``sessions list`` rows (see the module contract) that ``filters`` keeps, sorted by ``sort``,
        at most ``limit`` (after the filters, in the same statement)."""
        return self._rows(*listing_statement(sort=sort, limit=limit, session_ids=session_ids, filters=filters))

    def size_and_modified(self, session_id: str) -> tuple[int, int | None]:
        """The session's bytes (blob contents plus node JSON) and its last write (epoch ms); ``(0, None)`` if absent."""
        rows = self._rows(
            "SELECT (SELECT coalesce(sum(octet_length(content)), 0) FROM lash_blobs WHERE session_id = %(s)s)"
            " + coalesce((SELECT node_bytes FROM lash_sessions WHERE session_id = %(s)s), 0),"
            " (SELECT updated_at_ms FROM lash_sessions WHERE session_id = %(s)s)", {"s": session_id})
        return int(rows[0][0]), rows[0][1]

    def scope_rows(self, role: str, scope: str) -> int:
        """How many top-level rows the ``role`` deployment store (processes, triggers, effects) holds for ``scope``."""
        sql = {
            "processes": "SELECT count(*) FROM lash_processes WHERE root_session_id = %s",
            "triggers": "SELECT (SELECT count(*) FROM lash_trigger_subscriptions WHERE root_session_id = %s)"
                        " + (SELECT count(*) FROM lash_trigger_occurrences WHERE root_session_id = %s)",
            "effects": "SELECT count(*) FROM lash_effect_replay WHERE session_id = %s",
        }[role]
        return int(self._rows(sql, (scope,) * sql.count("%s"))[0][0])

    def scopes(self, role: str) -> list[str]:
        """The scopes (root session ids; session ids for effects) holding ``role`` rows, in order."""
        sql = {
            "processes": "SELECT DISTINCT root_session_id FROM lash_processes",
            "triggers": "SELECT root_session_id FROM lash_trigger_subscriptions "
                        "UNION SELECT root_session_id FROM lash_trigger_occurrences",
            "effects": "SELECT DISTINCT session_id FROM lash_effect_replay",
        }[role]
        return sorted(r[0] for r in self._rows(sql))  # Python sorts by code point, as "C" does

    def schema_check(self) -> tuple[int | None, int, list[str], str | None]:
        """(the store's lashdb schema version or ``None``, the supported version, the tables of the
        DDL missing from the database, the cutover refusal's message or ``None``), read-only."""
        tables, versions, problem = self.db.read(lambda conn: inspect_schema(conn, self.db.where))
        return (versions.get(COMPONENT), VERSION, sorted(set(TABLES) - tables),
                None if problem is None else str(problem))


def open_catalog(db: PgDatabase) -> PgCatalog:
    """The catalog over ``db``."""
    return PgCatalog(db)


__all__ = ["PgCatalog", "ROW_FIELDS", "SORTS", "filter_terms", "like_prefix", "listing_statement", "open_catalog"]
