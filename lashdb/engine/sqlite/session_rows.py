"""Rows of a session database that Store and the commit path share: meta, head and usage (SPEC §5).

Contract: each function runs inside the caller's transaction and touches only its own table; a head
or usage row that cannot be decoded raises :class:`BackendError` naming it, never reads as absent.
"""

from __future__ import annotations

import json

import apsw

from .connection import query_one
from lashdb.engine.base.errors import BackendError
from lashdb.engine.session.model import (
    SessionHeadMeta,
    SessionMeta,
    SessionRelation,
    TokenLedgerEntry,
    TokenUsage,
    dumps,
)

__all__ = ["insert_usage", "load_head_meta", "load_meta", "load_usage", "save_head_row"]


def load_meta(c: apsw.Connection) -> SessionMeta | None:
    """Read the session meta row (``None`` before the first save)."""
    row = query_one(c, "SELECT session_id, session_name, created_at, model, cwd, relation_json "
                       "FROM session_meta WHERE singleton = 1")
    if row is None:
        return None
    session_id, name, created_at, model, cwd, relation_json = row
    return SessionMeta(session_id, name, created_at, model, cwd, SessionRelation.from_column(relation_json))


def load_head_meta(c: apsw.Connection) -> SessionHeadMeta | None:
    """Read the head row; the column revision wins; bad JSON is ``BackendError``."""
    row = query_one(c, "SELECT head_json, head_revision FROM session_head WHERE singleton = 1")
    if row is None:
        return None
    head_json, revision = row
    try:
        return SessionHeadMeta.from_json(json.loads(head_json), int(revision))
    except (ValueError, TypeError) as exc:
        raise BackendError(f"decode session head: {exc}") from exc


def save_head_row(c: apsw.Connection, meta: SessionHeadMeta) -> None:
    """Write the head singleton row (column and JSON revision alike)."""
    c.execute("INSERT OR REPLACE INTO session_head (singleton, session_id, head_json, head_revision) "
              "VALUES (1, ?, ?, ?)", (meta.session_id, dumps(meta.to_json()), meta.head_revision))


def load_usage(c: apsw.Connection) -> list[TokenLedgerEntry]:
    """Every usage row in order; a row with non-integer counters is ``BackendError``."""
    out = []
    for seq, source, model, i, o, cached, r in c.execute(
            "SELECT seq, source, model, input_tokens, output_tokens, cached_input_tokens, "
            "reasoning_tokens FROM usage_deltas ORDER BY seq"):
        if not all(isinstance(v, int) for v in (i, o, cached, r)) or not isinstance(source, str) \
                or not isinstance(model, str):
            raise BackendError(f"usage_deltas row {seq} cannot be read: non-integer counters")
        out.append(TokenLedgerEntry(source, model, TokenUsage(i, o, cached, r)))
    return out


def insert_usage(c: apsw.Connection, entries: list[TokenLedgerEntry]) -> None:
    """Append usage rows in order."""
    c.executemany(
        "INSERT INTO usage_deltas (source, model, input_tokens, output_tokens, cached_input_tokens, "
        "reasoning_tokens) VALUES (?, ?, ?, ?, ?, ?)",
        [(e.source, e.model, e.usage.input_tokens, e.usage.output_tokens, e.usage.cached_input_tokens,
          e.usage.reasoning_tokens) for e in entries])
