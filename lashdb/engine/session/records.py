"""Decoding a session's own rows: meta, head and usage (SPEC §5), over :class:`~.ports.SessionTx`.

Contract: each function runs inside the caller's transaction; a head or usage row that cannot be
decoded raises :class:`BackendError` naming it, never reads as absent.
"""

from __future__ import annotations

import json

from lashdb.engine.base.errors import BackendError

from .model import (
    SessionHeadMeta,
    SessionMeta,
    SessionRelation,
    TokenLedgerEntry,
    TokenUsage,
    dumps,
)
from .ports import SessionTx

__all__ = ["insert_usage", "load_head_meta", "load_meta", "load_usage", "save_head_row", "save_meta"]


def load_meta(tx: SessionTx) -> SessionMeta | None:
    """Read the session meta row (``None`` before the first save)."""
    row = tx.rows.meta()
    if row is None:
        return None
    session_id, name, created_at, model, cwd, relation_json = row
    return SessionMeta(session_id, name, created_at, model, cwd, SessionRelation.from_column(relation_json))


def save_meta(tx: SessionTx, meta: SessionMeta) -> None:
    """Replace the session meta row."""
    tx.rows.save_meta(meta.session_id, meta.session_name, meta.created_at, meta.model, meta.cwd,
                      dumps(meta.relation.to_json()))


def decode_head(head_json: str, revision: int) -> SessionHeadMeta:
    """A head row decoded; the column revision wins; bad JSON is ``BackendError``."""
    try:
        return SessionHeadMeta.from_json(json.loads(head_json), int(revision))
    except (ValueError, TypeError) as exc:
        raise BackendError(f"decode session head: {exc}") from exc


def load_head_meta(tx: SessionTx) -> SessionHeadMeta | None:
    """Read the head row; the column revision wins; bad JSON is ``BackendError``."""
    row = tx.rows.head()
    return None if row is None else decode_head(*row)


def save_head_row(tx: SessionTx, meta: SessionHeadMeta) -> None:
    """Write the head singleton row (column and JSON revision alike)."""
    tx.rows.save_head(meta.session_id, dumps(meta.to_json()), meta.head_revision)


def load_usage(tx: SessionTx) -> list[TokenLedgerEntry]:
    """Every usage row in order; a row with non-integer counters is ``BackendError``."""
    out = []
    for seq, source, model, i, o, cached, r in tx.rows.usage():
        if not all(isinstance(v, int) for v in (i, o, cached, r)) or not isinstance(source, str) \
                or not isinstance(model, str):
            raise BackendError(f"usage_deltas row {seq} cannot be read: non-integer counters")
        out.append(TokenLedgerEntry(source, model, TokenUsage(i, o, cached, r)))
    return out


def insert_usage(tx: SessionTx, entries: list[TokenLedgerEntry]) -> None:
    """Append usage rows in order."""
    tx.rows.insert_usage([(e.source, e.model, e.usage.input_tokens, e.usage.output_tokens,
                           e.usage.cached_input_tokens, e.usage.reasoning_tokens) for e in entries])
