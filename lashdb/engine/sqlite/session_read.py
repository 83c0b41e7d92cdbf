"""Column-tolerant reading of a session's meta row, for discovery and inspection alike.

Contract: reads only (inside the caller's connection or snapshot); works on foreign schemas too
(v38's meta has no ``session_name`` and keeps its relation in ``relation_kind``/``caused_by_*``
columns); a field the schema lacks reads as ``None``.
"""

from __future__ import annotations

import apsw

from .connection import columns, query_one
from lashdb.engine.session.model import SessionRelation
from lashdb.engine.session.meta_view import MetaView

__all__ = ["MetaView", "read_meta", "singleton_sql"]


def singleton_sql(cols: set[str] | frozenset[str]) -> str:
    """The clause that picks the one row of a singleton table (foreign schemas may lack the column)."""
    return " WHERE singleton = 1" if "singleton" in cols else " LIMIT 1"


def read_meta(c: apsw.Connection) -> MetaView | None:
    """The meta row; v38's ``relation_kind``/``parent_session_id``/``caused_by_*`` columns are understood."""
    cols = columns(c, "session_meta")
    wanted = [k for k in ("session_id", "session_name", "model", "cwd", "created_at", "relation_json",
                          "relation_kind", "parent_session_id") if k in cols]
    caused = sorted(k for k in cols if k.startswith("caused_by_"))
    if not wanted:
        return None
    row = query_one(c, f"SELECT {', '.join(wanted + caused)} FROM session_meta" + singleton_sql(cols))
    if row is None:
        return None
    values = dict(zip(wanted + caused, row))
    if "relation_json" in values:
        relation = SessionRelation.from_column(values["relation_json"])
    elif values.get("relation_kind") == "child" and isinstance(values.get("parent_session_id"), str):
        caused_by = {k[len("caused_by_"):]: values[k] for k in caused if values[k] is not None} or None
        relation = SessionRelation.child(values["parent_session_id"], caused_by)
    else:
        relation = SessionRelation.root()

    def text(key: str) -> str | None:
        value = values.get(key)
        return value if isinstance(value, str) else None
    return MetaView(text("session_id"), text("session_name"), text("model"), text("cwd"), text("created_at"),
                    relation)
