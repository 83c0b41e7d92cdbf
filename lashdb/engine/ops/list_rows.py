"""The rows of ``sessions list`` and how a URL store's catalog fills them (CLI.md, issue 13).

Contract:
- :class:`SessionSummary` is one row, whatever the store; ``to_json()`` is the documented object.
- :func:`located_summaries` lists a URL store from one catalog statement (filtered, sorted and limited
  in SQL), each row filled as the SQLite fast path fills a v4 session's, and reads nothing else.
- Light on purpose: it imports the model and ``base`` only, not the SQLite store, so ``lashdb --store
  URL sessions list`` starts without loading the file backend (about 50 ms of imports).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lashdb.engine.base import kinds
from lashdb.engine.base.errors import BackendError, LookupFailed
from lashdb.engine.base.files import SCOPED_ROLES
from lashdb.engine.base.listing import NO_FILTER, ListingFilter, parse_when
from lashdb.engine.base.timing import iso_ms, parse_timestamp_ms
from lashdb.engine.session.model import SessionRelation, stored_message_text

SORT_KEYS = ("modified", "created", "size", "name")


@dataclass(slots=True)
class SessionSummary:
    """One row of ``sessions list`` (non-session databases too, with ``--all``). Not frozen: a listing
    builds one per session, and a frozen dataclass's constructor cost 3.5 µs of that row."""

    path: Path
    kind: str
    status: str
    foreign: bool = False
    schema_version: int | None = None
    session_id: str | None = None
    session_name: str | None = None
    model: str | None = None
    cwd: str | None = None
    relation: str | None = None
    parent_session_id: str | None = None
    created_ms: int | None = None
    modified_ms: int | None = None
    head_revision: int | None = None
    live_nodes: int | None = None
    tombstoned_nodes: int | None = None
    user_messages: int | None = None
    blob_count: int | None = None
    blob_bytes: int | None = None
    size_bytes: int = 0
    first_user_message: str | None = None
    sidecars: dict[str, Path] = field(default_factory=dict)
    unreadable_reason: str | None = None
    """Why the file (or its ``-wal``/``-shm``) cannot be read at all, when that is so (not in the JSON:
    ``status`` says ``unreadable: <reason>``)."""

    @property
    def display_name(self) -> str:
        """Session name, else session id, else file name."""
        return self.session_name or self.session_id or self.path.name

    def to_json(self) -> dict[str, Any]:
        """The documented JSON object."""
        return {
            "path": str(self.path), "file": self.path.name, "kind": self.kind, "status": self.status,
            "foreign": self.foreign, "schema_version": self.schema_version,
            "session_id": self.session_id, "session_name": self.session_name, "model": self.model,
            "cwd": self.cwd, "relation": self.relation, "parent_session_id": self.parent_session_id,
            # views._time_pair's keys, written out: that module loads the SQLite store this one avoids.
            "created_at": iso_ms(self.created_ms), "created_at_epoch_ms": self.created_ms,
            "modified_at": iso_ms(self.modified_ms), "modified_at_epoch_ms": self.modified_ms,
            "head_revision": self.head_revision, "live_nodes": self.live_nodes,
            "tombstoned_nodes": self.tombstoned_nodes, "user_messages": self.user_messages,
            "blobs": self.blob_count, "blob_bytes": self.blob_bytes, "size_bytes": self.size_bytes,
            "first_user_message": self.first_user_message,
            "sidecars": {role: str(p) for role, p in self.sidecars.items()} if self.sidecars else {},
        }


def summary_passes(flt: ListingFilter, row: SessionSummary) -> bool:
    """True when a built row passes every field of ``flt``."""
    return (flt.time_ok(row.modified_ms) and flt.status_ok(row.status)
            and flt.meta_ok(row.model, row.cwd, row.parent_session_id)
            and flt.text_ok(row.session_name, row.first_user_message))


def located_summaries(store: Any, *, sort: str = "modified", limit: int | None = None,
                      session_ids: list[str] | None = None, filters: ListingFilter = NO_FILTER) -> list[SessionSummary]:
    """``sessions list`` of a URL store (``ops.url_store.UrlStore``): one catalog statement, filtered,
    sorted and limited in SQL, each row filled as the SQLite fast path fills a v4 session's."""
    if sort not in SORT_KEYS:
        raise LookupFailed(sort, f"unknown sort key `{sort}`", SORT_KEYS, hint="sort by " + ", ".join(SORT_KEYS))
    if not filters.status_ok("ok"):
        return []  # every row of a located store reads `ok` (no file can be foreign or unreadable)
    rows = []
    scoped = SCOPED_ROLES
    kind, version = kinds.SESSION, kinds.SESSION_VERSION
    location = store.location
    for row in store.catalog().listing(sort=sort, limit=limit, session_ids=session_ids, filters=filters):
        # The catalog's columns are typed by its schema (text or NULL, bigint, boolean), and its
        # session id is the primary key: no per-value type checks as a SQLite file's row needs.
        (sid, name, model, cwd, created, relation_json, blob_count, blob_bytes, live, dead, users, first,
         head, head_revision, head_sid, _version, created_ms, modified_ms, size, *roles) = row
        loc = location(sid)
        relation = _relation(relation_json)
        parsed = parse_timestamp_ms(created)
        rows.append(SessionSummary(
            path=loc, kind=kind, status="ok", foreign=False, schema_version=version,
            session_id=sid, session_name=name, model=model, cwd=cwd,
            relation=relation.kind, parent_session_id=relation.parent_session_id,
            created_ms=parsed if parsed is not None else created_ms, modified_ms=modified_ms,
            # The catalog sends a head as '{}' with its revision as a column (catalog.py).
            head_revision=None if head is None else _revision(head_revision),
            live_nodes=live or 0, tombstoned_nodes=dead or 0, user_messages=users or 0,
            blob_count=blob_count, blob_bytes=int(blob_bytes), size_bytes=int(size),
            first_user_message=stored_message_text(first),
            sidecars={role: loc for role, present in zip(scoped, roles) if present} if any(roles) else {}))
    return rows


@functools.lru_cache(maxsize=256)
def _relation(relation_json: str | None) -> SessionRelation:
    """``SessionRelation.from_column``, remembered: most sessions share a few relation documents."""
    return SessionRelation.from_column(relation_json)


def _revision(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise BackendError(f"decode session head: head_revision {value!r}") from exc


__all__ = ["SORT_KEYS", "ListingFilter", "SessionSummary", "located_summaries", "parse_when", "summary_passes"]
