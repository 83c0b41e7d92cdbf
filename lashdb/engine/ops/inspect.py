"""Read-only inspection of session databases: what ``sessions list/show``, ``head dump`` and
``graph show`` print (CLI.md).

Contract:
- Read-only: every function opens its database through :meth:`Store.open_readonly` (``immutable=1``
  without a ``-wal``, ``mode=ro`` with one) and never writes, checkpoints or creates a file.
- Foreign schemas: session files of another ``user_version`` (e.g. upstream v38) are read where the
  columns allow. Each query first reads the table's columns (``PRAGMA table_info``) and degrades per
  column: an absent column gives ``None`` or a documented alias (v38's ``session_head.leaf_node_id``
  and ``checkpoint_ref`` columns, ``graph_nodes.parent_node_id``, ``session_meta.relation_kind``,
  ``usage_deltas.cache_read_input_tokens``/``reasoning_output_tokens``); an absent table gives an
  empty section. Every result carries ``foreign`` and ``status`` (``ok``, ``foreign vN``,
  ``unreadable: …``; a listed v4 session lacking a table or index of its schema, or holding one that
  is not, shows ``damaged schema: …``).
- All SQL the CLI needs lives here (none in ``lashdb.cli``). Results are frozen dataclasses whose
  ``to_json()`` gives the documented keys: sizes in bytes; every time as ``<name>`` (ISO 8601 UTC
  text) plus ``<name>_epoch_ms`` (integer milliseconds since the epoch).
- Failures are typed :class:`LashdbError`\\ s. :func:`list_sessions` turns a failure inside one
  session into that row's ``unreadable: …`` status instead of failing the whole list.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import apsw

from lashdb.engine.session import blobs, gc
from lashdb.engine.session.ports import session_tx
from . import discovery
from lashdb.engine.base import codec, parallel
from lashdb.engine.base.canonical import jsonable
from lashdb.engine.sqlite.connection import (
    columns,
    open_readonly,
    query_one,
    read_snapshot,
    sidecar,
    translate,
)
from lashdb.engine.base.errors import (
    BackendError,
    BlobError,
    GcAborted,
    LashdbError,
    LookupFailed,
    NotARegularFile,
    one_line,
)
from lashdb.engine.base.jsonread import text_or_none
from lashdb.engine.session.model import GraphNode, SessionRelation, TokenLedgerEntry, TokenUsage, merge_ledger
from lashdb.engine.sqlite.schema import SESSION, classify_connection, object_differences
from lashdb.engine.session.store import Store
from lashdb.engine.sqlite.session_read import MetaView, read_meta, singleton_sql
from lashdb.engine.base.timing import iso_ms, parse_timestamp_ms, wall_clock_ms

_SIBLING_SUFFIXES = ("-wal", *discovery.SIDECAR_SUFFIXES.values())
SORT_KEYS = ("modified", "created", "size", "name")
SHORT_ID_MIN = 8


# --- small helpers ----------------------------------------------------------------------------------


def _time_pair(name: str, epoch_ms: int | None) -> dict[str, Any]:
    return {name: iso_ms(epoch_ms), f"{name}_epoch_ms": epoch_ms}


def short_ids(ids: Iterable[str], min_len: int = SHORT_ID_MIN) -> dict[str, str]:
    """The shortest prefix (at least ``min_len`` characters) that tells each id apart from the others."""
    ids = sorted(set(ids))
    out: dict[str, str] = {}
    for i, ident in enumerate(ids):
        need = min_len
        for other in (ids[i - 1] if i else None, ids[i + 1] if i + 1 < len(ids) else None):
            if other is None:
                continue
            common = 0
            while common < min(len(ident), len(other)) and ident[common] == other[common]:
                common += 1
            need = max(need, common + 1)
        out[ident] = ident[:need]
    return out


def _file_size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def _mtime_ms(path: str) -> int | None:
    try:
        return os.stat(path).st_mtime_ns // 1_000_000
    except OSError:
        return None


@dataclass(frozen=True)
class FileSizes:
    """A database's bytes on disk; ``size_bytes`` is db + wal (what a session costs)."""

    db_bytes: int
    wal_bytes: int
    shm_bytes: int
    modified_ms: int | None

    @property
    def size_bytes(self) -> int:
        """db + wal bytes."""
        return self.db_bytes + self.wal_bytes

    def to_json(self) -> dict[str, Any]:
        """The documented JSON object."""
        return {"db_bytes": self.db_bytes, "wal_bytes": self.wal_bytes, "shm_bytes": self.shm_bytes,
                "size_bytes": self.size_bytes, **_time_pair("modified_at", self.modified_ms)}


def file_sizes(path: str | os.PathLike[str]) -> FileSizes:
    """Sizes of a database and its ``-wal``/``-shm``; modified = the newer of db and wal mtime."""
    path = os.fspath(path)
    times = [t for t in (_mtime_ms(path), _mtime_ms(sidecar(path, "-wal"))) if t is not None]
    return FileSizes(_file_size(path), _file_size(sidecar(path, "-wal")), _file_size(sidecar(path, "-shm")),
                     max(times) if times else None)


def database_files(path: str | os.PathLike[str]) -> list[Path]:
    """The database file and the ``-wal``/``-shm`` beside it that exist (what a delete removes)."""
    names = (os.fspath(path), sidecar(path, "-wal"), sidecar(path, "-shm"))
    return [Path(n) for n in names if os.path.lexists(n)]


def _status(store: Store) -> str:
    cls = store.classification
    return f"foreign v{cls.user_version}" if cls is not None and cls.foreign else "ok"


# --- column-tolerant readers ----------------------------------------------------------------------


@dataclass(frozen=True)
class HeadView:
    """The head row: the JSON document (revision from the column) and the refs it names."""

    session_id: str | None
    revision: int
    document: dict[str, Any]
    leaf_node_id: str | None
    checkpoint_ref: str | None
    graph_node_count: int | None


_ABSENT = object()
_HEAD_COLUMNS = ("head_revision", "leaf_node_id", "checkpoint_ref", "session_id")


def read_head(c: apsw.Connection) -> HeadView | None:
    """The head; the ``head_revision`` column wins, and so do v38's leaf/checkpoint columns."""
    cols = columns(c, "session_head")
    if "head_json" not in cols:
        return None
    extra = [k for k in _HEAD_COLUMNS if k in cols]
    row = query_one(c, f"SELECT {', '.join(['head_json'] + extra)} FROM session_head" + singleton_sql(cols))
    if row is None:
        return None
    values = dict(zip(["head_json"] + extra, row))
    return _head_view(values["head_json"], *(values.get(k, _ABSENT) for k in _HEAD_COLUMNS))


def _head_view(head_json: Any, head_revision: Any = _ABSENT, leaf_node_id: Any = _ABSENT,
               checkpoint_ref: Any = _ABSENT, session_id_col: Any = _ABSENT) -> HeadView:
    """Decode a head row; a column given (not ``_ABSENT``) overrides the JSON, as :func:`read_head` says."""
    values = {k: v for k, v in zip(_HEAD_COLUMNS, (head_revision, leaf_node_id, checkpoint_ref, session_id_col))
              if v is not _ABSENT}
    try:
        doc = json.loads(head_json)
    except (ValueError, TypeError) as exc:
        raise BackendError(f"decode session head: {exc}") from exc
    if not isinstance(doc, dict):
        raise BackendError(f"decode session head: head_json is {type(doc).__name__}, expected an object")
    revision = doc.get("head_revision", 0)
    if "head_revision" in values:
        try:
            revision = int(values["head_revision"])
        except (TypeError, ValueError) as exc:
            raise BackendError(f"decode session head: head_revision {values['head_revision']!r}") from exc
        doc["head_revision"] = revision
    for key in ("leaf_node_id", "checkpoint_ref"):
        if isinstance(values.get(key), str):
            doc[key] = values[key]
    session_id = values.get("session_id") if isinstance(values.get("session_id"), str) else doc.get("session_id")

    def text(key: str) -> str | None:
        return doc[key] if isinstance(doc.get(key), str) else None
    count = doc.get("graph_node_count")
    return HeadView(session_id if isinstance(session_id, str) else None,
                    revision if isinstance(revision, int) and not isinstance(revision, bool) else 0,
                    doc, text("leaf_node_id"), text("checkpoint_ref"),
                    count if isinstance(count, int) and not isinstance(count, bool) else None)


def _count(c: apsw.Connection, sql: str, params: Any = ()) -> int:
    return int(query_one(c, sql, params)[0] or 0)


def _node_counts(c: apsw.Connection) -> tuple[int, int]:
    cols = columns(c, "graph_nodes")
    if not cols:
        return 0, 0
    if "tombstoned" not in cols:
        return _count(c, "SELECT count(*) FROM graph_nodes"), 0
    live, dead = query_one(c, "SELECT count(*) FILTER (WHERE tombstoned = 0), "
                              "count(*) FILTER (WHERE tombstoned <> 0) FROM graph_nodes")
    return int(live or 0), int(dead or 0)


_USER_WHERE = ("json_valid(node_json) AND json_extract(node_json, '$.kind') = 'event' "
               "AND json_extract(node_json, '$.event.Conversation.role') = 'User'")


def _user_messages(c: apsw.Connection) -> tuple[int, str]:
    """(live user messages, text of the first one) — the picker's rule (SPEC §5)."""
    cols = columns(c, "graph_nodes")
    if "node_json" not in cols:
        return 0, ""
    live = " AND tombstoned = 0" if "tombstoned" in cols else ""
    count = _count(c, f"SELECT count(*) FROM graph_nodes WHERE {_USER_WHERE}{live}")
    row = query_one(c, f"SELECT node_json FROM graph_nodes WHERE {_USER_WHERE}{live} ORDER BY seq LIMIT 1")
    text = GraphNode("", "", json.loads(row[0])).text if row else ""
    return count, text


def _usage(c: apsw.Connection) -> list[TokenLedgerEntry]:
    cols = columns(c, "usage_deltas")
    if not {"source", "model", "input_tokens", "output_tokens"} <= cols:
        return []

    def pick(*names: str) -> str:
        return next((n for n in names if n in cols), "0")
    sql = (f"SELECT source, model, input_tokens, output_tokens, "
           f"{pick('cached_input_tokens', 'cache_read_input_tokens')}, "
           f"{pick('reasoning_tokens', 'reasoning_output_tokens')} FROM usage_deltas ORDER BY seq")
    out = []
    for source, model, i, o, cached, r in c.execute(sql):
        try:
            out.append(TokenLedgerEntry(str(source), str(model), TokenUsage(int(i), int(o), int(cached), int(r))))
        except (TypeError, ValueError) as exc:
            raise BackendError(f"usage_deltas row cannot be read: {exc}") from exc
    return out


# --- sessions list ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SessionSummary:
    """One row of ``sessions list`` (non-session databases too, with ``--all``)."""

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
            **_time_pair("created_at", self.created_ms), **_time_pair("modified_at", self.modified_ms),
            "head_revision": self.head_revision, "live_nodes": self.live_nodes,
            "tombstoned_nodes": self.tombstoned_nodes, "user_messages": self.user_messages,
            "blobs": self.blob_count, "blob_bytes": self.blob_bytes, "size_bytes": self.size_bytes,
            "first_user_message": self.first_user_message,
            "sidecars": {role: str(p) for role, p in self.sidecars.items()},
        }


def session_summary(found: discovery.Found) -> SessionSummary:
    """Summarise one discovered file; a failure while reading a session becomes ``unreadable: …``."""
    sizes = file_sizes(found.path)
    base: dict[str, Any] = {"path": found.path, "size_bytes": sizes.size_bytes, "modified_ms": sizes.modified_ms,
                            "sidecars": dict(found.sidecars)}
    if found.error is not None:
        return SessionSummary(kind="unreadable", **_unreadable(found.error), **base)
    cls = found.classification
    assert cls is not None
    base.update(kind=cls.kind_name, foreign=cls.foreign, schema_version=cls.user_version if cls.kind else None,
                status=f"foreign v{cls.user_version}" if cls.foreign else "ok")
    if not found.is_session:
        return SessionSummary(**base)
    try:
        with Store.open_readonly(found.path) as store:
            store.read(lambda c: _fill_summary(c, base, v4=cls.supported))
            if cls.supported:
                store.read(lambda c: _mark_damaged(c, base))
    except LashdbError as exc:
        base.update(_unreadable(exc))
    return SessionSummary(**base)


def _unreadable(exc: LashdbError) -> dict[str, Any]:
    """A row's ``status`` for an error: ``unreadable: <reason>`` (the OS's reason for a file that
    cannot be read at all, which also sets ``unreadable_reason``), else ``unreadable: <error>``."""
    if discovery.is_unreadable(exc):
        reason = discovery.unreadable_reason(exc)
        return {"status": f"unreadable: {reason}", "unreadable_reason": reason}
    return {"status": f"unreadable: {one_line(exc)}"}


def _mark_damaged(c: apsw.Connection, out: dict[str, Any]) -> None:
    """A v4 session lacking a table or index (or holding one of another program) reads as empty there:
    say so in its status instead of ``ok`` (``doctor`` lists column-level differences too)."""
    try:
        differences = object_differences(c, SESSION)
    except apsw.Error as exc:
        raise translate(exc, str(out["path"])) from exc
    if differences:
        out["status"] = "damaged schema: " + ", ".join(f"{d.change} {d.what} {d.name}" for d in differences)


def _scan_summary(path: Path, siblings: frozenset[str], include_all: bool) -> SessionSummary | None:
    """What :func:`session_summary` of ``discovery.examine(path)`` gives, from one read-only open
    (discovery would open each file once to classify it and again to read it): ``None`` for a file
    that is not a session unless ``include_all``. ``siblings`` are the names in its directory, so the
    sidecars are found without a ``stat`` per suffix."""
    try:
        conn = open_readonly(path)
    except LashdbError as exc:
        # A file that cannot be read at all may be a session: listed even without include_all.
        listed = include_all or discovery.is_unreadable(exc)
        return session_summary(discovery.Found(path, None, exc)) if listed else None
    try:
        # A v4 session (nearly every file) is read, classification included, in a few statements.
        # Without a -wal the file was opened immutable, which is one snapshot already.
        if path.name + "-wal" in siblings:
            try:
                with read_snapshot(conn, str(path)):
                    row = _v4_summary_row(conn)
            except LashdbError:
                row = None  # the snapshot itself failed: the step-by-step path reports it for this row
        else:
            row = _v4_summary_row(conn)
        if row is not None:
            base = _scan_base(path, siblings, "session", False, SESSION.version)
            try:
                _fill_v4_summary(conn, base, row)
                _mark_damaged(conn, base)
            except LashdbError as exc:
                base.update(_unreadable(exc))
            return SessionSummary(**base)
        try:
            cls = classify_connection(conn, str(path))
        except apsw.Error as exc:
            error = translate(exc, str(path))
            return session_summary(discovery.Found(path, None, error)) if include_all else None
        if cls.kind is not SESSION:
            return session_summary(discovery.Found(path, cls)) if include_all else None
        base = _scan_base(path, siblings, cls.kind_name, cls.foreign, cls.user_version)
        try:
            with read_snapshot(conn, str(path)):
                _fill_summary(conn, base)  # the one-statement path did not fit this file
                if cls.supported:
                    _mark_damaged(conn, base)
        except LashdbError as exc:
            base.update(_unreadable(exc))
        return SessionSummary(**base)
    finally:
        conn.close()


def _scan_base(path: Path, siblings: frozenset[str], kind: str, foreign: bool, version: int) -> dict[str, Any]:
    name = path.name
    if name + "-wal" in siblings:
        sizes = file_sizes(path)
        size, modified = sizes.size_bytes, sizes.modified_ms
    else:  # what file_sizes gives without a -wal, from one stat
        try:
            st = os.stat(path)
            size, modified = st.st_size, st.st_mtime_ns // 1_000_000
        except OSError:
            size, modified = 0, None
    sidecars = {role: Path(f"{path}{suffix}") for role, suffix in discovery.SIDECAR_SUFFIXES.items()
                if name + suffix in siblings} if siblings else {}
    return {"path": path, "size_bytes": size, "modified_ms": modified, "sidecars": sidecars,
            "kind": kind, "foreign": foreign, "schema_version": version,
            "status": f"foreign v{version}" if foreign else "ok"}


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


def _v4_summary_row(c: apsw.Connection) -> tuple | None:
    """Meta, blob totals, graph counts, first user node and head of a v4 session it can read, as one
    tuple; ``None`` when the file is not v4 or a statement fails. The caller holds one snapshot
    across the statements (a transaction, or an ``immutable`` file)."""
    try:
        if query_one(c, "PRAGMA user_version") != (SESSION.version,):
            return None
        meta = query_one(c, _V4_META) or (None,) * 6
        blob_count, blob_bytes = query_one(c, _V4_BLOBS)
        live, dead, users, first_seq = query_one(c, _V4_GRAPH)
        first = query_one(c, _V4_FIRST, (first_seq,)) if first_seq is not None else None
        head = query_one(c, _V4_HEAD) or (None,) * 3
    except apsw.Error:
        return None  # damaged, or columns this version does not have: the step-by-step path says which
    return (*meta, blob_count, blob_bytes, live, dead, users, first[0] if first else None, *head, SESSION.version)


def _fill_v4_summary(c: apsw.Connection, out: dict[str, Any], row: tuple | None = None) -> bool:
    """The v4 fast path of :func:`_fill_summary`, with its results; ``False`` (nothing filled) when
    a statement fails, so the column-tolerant path runs and keeps what it reads before a failure."""
    row = row or _v4_summary_row(c)
    if row is None:
        return False
    (sid, name, model, cwd, created, relation_json, blob_count, blob_bytes, live, dead, users, first,
     head_json, head_revision, head_sid, _version) = row
    if sid is not None:
        relation = SessionRelation.from_column(relation_json)
        out.update(session_id=text_or_none(sid), session_name=text_or_none(name), model=text_or_none(model),
                   cwd=text_or_none(cwd), relation=relation.kind, parent_session_id=relation.parent_session_id,
                   created_ms=parse_timestamp_ms(text_or_none(created)))
    out["blob_count"], out["blob_bytes"] = int(blob_count), int(blob_bytes)
    out["live_nodes"], out["tombstoned_nodes"] = int(live or 0), int(dead or 0)
    out["user_messages"] = int(users or 0)
    out["first_user_message"] = GraphNode("", "", json.loads(first)).text if first is not None else ""
    if head_json is not None:
        head = _head_view(head_json, head_revision, session_id_col=head_sid)
        out["head_revision"] = head.revision
        if out.get("session_id") is None:
            out["session_id"] = head.session_id
    return True


def _fill_summary(c: apsw.Connection, out: dict[str, Any], *, v4: bool = False) -> None:
    if v4 and _fill_v4_summary(c, out):
        return
    # Filled step by step so that a failure late in the row keeps what was read before it.
    meta = read_meta(c)
    if meta is not None:
        out.update(session_id=meta.session_id, session_name=meta.session_name, model=meta.model, cwd=meta.cwd,
                   relation=meta.relation.kind, parent_session_id=meta.relation.parent_session_id,
                   created_ms=meta.created_ms)
    out["blob_count"], out["blob_bytes"] = blobs.count_and_size(session_tx(c))
    out["live_nodes"], out["tombstoned_nodes"] = _node_counts(c)
    out["user_messages"], out["first_user_message"] = _user_messages(c)
    head = read_head(c)
    if head is not None:
        out["head_revision"] = head.revision
        if out.get("session_id") is None:
            out["session_id"] = head.session_id


def _scan_item(item: tuple[Path, frozenset[str], bool]) -> SessionSummary | None:
    return _scan_summary(*item)


def list_sessions(root: str | os.PathLike[str], *, recursive: bool = False, include_all: bool = False,
                  sort: str = "modified", limit: int | None = None, jobs: int = 1,
                  skipped: list[SessionSummary] | None = None) -> list[SessionSummary]:
    """Summaries of the sessions under root (``include_all``: every ``*.db``), sorted, at most ``limit``;
    ``jobs`` > 1 reads the files in that many forked processes where :func:`parallel.fork_map` may.
    A file that cannot be read is a row ``unreadable: <reason>``; one that is not a regular file (it
    cannot be a session) only with ``include_all``, else its row goes to ``skipped`` when given.
    A root that is not a directory raises :class:`RootUnusable`."""
    if sort not in SORT_KEYS:
        raise LookupFailed(sort, f"unknown sort key `{sort}`", SORT_KEYS, hint="sort by " + ", ".join(SORT_KEYS))
    listings: dict[Path, frozenset[str]] = {}
    items = []
    rows: list[SessionSummary] = []
    for entry in discovery.walk(root, recursive=recursive, listings=listings):
        path = entry.path
        if entry.error is not None:
            row = session_summary(discovery.Found(path, None, entry.error))
            if include_all or not isinstance(entry.error, NotARegularFile):
                rows.append(row)
            elif skipped is not None:
                skipped.append(row)
            continue
        names = listings[path.parent]
        # Only the names that can be this file's sidecars travel to a worker process.
        wanted = (path.name + suffix for suffix in _SIBLING_SUFFIXES)
        items.append((path, frozenset(n for n in wanted if n in names), include_all))
    rows += [row for row in parallel.fork_map(_scan_item, items, jobs=jobs, what=f"sessions list under {root}")
             if row is not None]
    if sort == "name":
        rows.sort(key=lambda r: (r.display_name.casefold(), str(r.path)))
    else:
        def value(r: SessionSummary) -> int:
            v = {"modified": r.modified_ms, "created": r.created_ms, "size": r.size_bytes}[sort]
            return -1 if v is None else v
        rows.sort(key=lambda r: (-value(r), str(r.path)))
    return rows if limit is None else rows[:max(limit, 0)]


# --- sessions show ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class BlobStats:
    """Blob rows of a session: sizes, kinds, compression, and what GC would collect."""

    count: int = 0
    stored_bytes: int = 0
    logical_bytes: int = 0
    compressed_count: int = 0
    undecodable_count: int = 0
    by_kind: dict[str, dict[str, int]] = field(default_factory=dict)
    by_format: dict[str, int] = field(default_factory=dict)
    unreachable_count: int | None = None
    unreachable_bytes: int | None = None
    reachability_note: str | None = None
    artifact_refs: int = 0

    def to_json(self) -> dict[str, Any]:
        """The documented JSON object."""
        return {
            "count": self.count, "stored_bytes": self.stored_bytes, "logical_bytes": self.logical_bytes,
            "compressed_count": self.compressed_count,
            "compressed_share": round(self.compressed_count / self.count, 4) if self.count else 0.0,
            "undecodable_count": self.undecodable_count, "by_kind": self.by_kind, "by_format": self.by_format,
            "unreachable_count": self.unreachable_count, "unreachable_bytes": self.unreachable_bytes,
            "reachability_note": self.reachability_note, "artifact_refs": self.artifact_refs,
        }


def _blob_stats(c: apsw.Connection, foreign: bool, limit: int) -> BlobStats:
    if "hash" not in columns(c, "blobs"):
        return BlobStats()
    count = stored = logical = compressed = undecodable = 0
    by_kind: dict[str, dict[str, int]] = {}
    by_format: dict[str, int] = {}
    sizes: dict[str, int] = {}
    for blob_hash, content in c.execute("SELECT hash, content FROM blobs ORDER BY hash"):
        info = blobs.describe(blob_hash, bytes(content), limit)
        count += 1
        stored += info.stored_bytes
        sizes[blob_hash] = info.stored_bytes
        logical += info.logical_bytes or 0
        compressed += info.compression == "Zlib"
        undecodable += info.error is not None
        by_format[info.format] = by_format.get(info.format, 0) + 1
        entry = by_kind.setdefault(info.kind, {"count": 0, "stored_bytes": 0, "logical_bytes": 0})
        entry["count"] += 1
        entry["stored_bytes"] += info.stored_bytes
        entry["logical_bytes"] += info.logical_bytes or 0
    artifacts = _count(c, "SELECT count(*) FROM artifact_refs") if columns(c, "artifact_refs") else 0
    unreachable = unreachable_bytes = None
    note = None
    if foreign:
        note = "not computed: a foreign schema roots blobs differently"
    else:
        try:
            reachable = gc.find_reachable_objects(session_tx(c), limit).reachable
            unreachable = sum(1 for h in sizes if h not in reachable)
            unreachable_bytes = sum(n for h, n in sizes.items() if h not in reachable)
        except GcAborted as exc:
            note = f"not computed: {one_line(exc)}"
    return BlobStats(count, stored, logical, compressed, undecodable, dict(sorted(by_kind.items())),
                     dict(sorted(by_format.items())), unreachable, unreachable_bytes, note, artifacts)


@dataclass(frozen=True)
class LeaseView:
    """The session execution lease row (runtime-contract §3): live, expired or released."""

    owner_id: str | None
    fencing_token: int
    claimed_ms: int
    expires_ms: int
    state: str
    now_ms: int

    def to_json(self) -> dict[str, Any]:
        """The documented JSON object."""
        held = self.state != "released"
        return {"state": self.state, "owner_id": self.owner_id, "fencing_token": self.fencing_token,
                **_time_pair("claimed_at", self.claimed_ms if held else None),
                **_time_pair("expires_at", self.expires_ms if held else None),
                "expires_in_ms": self.expires_ms - self.now_ms if held else None}


def read_lease(c: apsw.Connection, session_id: str | None, now_ms: int) -> LeaseView | None:
    """The execution lease (``session_id``'s row, else the first) as seen at ``now_ms``; ``None`` when
    there is none or the schema lacks the lease columns."""
    cols = columns(c, "session_execution_leases")
    needed = ("session_id", "lease_owner_id", "lease_token", "lease_fencing_token", "lease_claimed_at_ms",
              "lease_expires_at_ms")
    if not set(needed) <= cols:
        return None
    row = query_one(c, f"SELECT {', '.join(needed)} FROM session_execution_leases "
                       "ORDER BY session_id = ? DESC, session_id LIMIT 1", (session_id,))
    if row is None:
        return None
    _sid, owner, token, fencing, claimed, expires = row
    expires = int(expires or 0)
    state = "released" if token is None else ("live" if expires > now_ms else "expired")
    return LeaseView(owner, int(fencing or 0), int(claimed or 0), expires, state, now_ms)


def _queued_work(c: apsw.Connection, now_ms: int) -> dict[str, Any] | None:
    cols = columns(c, "queued_work_batches")
    if not {"claim_token", "available_at_ms"} <= cols:
        return None
    # Held = a claim token with an expiry still ahead (runtime-contract §4.1); a schema without the
    # expiry column counts every claimed row as held.
    held = "claim_token IS NOT NULL" + (" AND claim_expires_at_ms > :now" if "claim_expires_at_ms" in cols else "")
    batches, claimed, ready = query_one(
        c, f"SELECT count(*), count(*) FILTER (WHERE {held}), "
           f"count(*) FILTER (WHERE NOT ({held}) AND available_at_ms <= :now) FROM queued_work_batches",
        {"now": now_ms})
    items = _count(c, "SELECT count(*) FROM queued_work_items") if columns(c, "queued_work_items") else 0
    return {"batches": int(batches), "pending": int(batches) - int(claimed), "claimed": int(claimed),
            "ready": int(ready), "items": items}


def _attachments(c: apsw.Connection, now_ms: int) -> dict[str, Any] | None:
    if not {"intent_at_ms", "committed_at_ms"} <= columns(c, "attachment_manifest"):
        return None
    committed, uncommitted, oldest = query_one(
        c, "SELECT count(*) FILTER (WHERE committed_at_ms IS NOT NULL), "
           "count(*) FILTER (WHERE committed_at_ms IS NULL), "
           "min(intent_at_ms) FILTER (WHERE committed_at_ms IS NULL) FROM attachment_manifest")
    oldest = None if oldest is None else int(oldest)
    return {"committed": int(committed), "uncommitted": int(uncommitted),
            **_time_pair("oldest_uncommitted_at", oldest),
            "oldest_uncommitted_age_ms": None if oldest is None else now_ms - oldest}


def _turn_commits(c: apsw.Connection) -> dict[str, Any] | None:
    if "committed_at_ms" not in columns(c, "runtime_turn_commits"):
        return None
    count, last = query_one(c, "SELECT count(*), max(committed_at_ms) FROM runtime_turn_commits")
    return {"count": int(count), **_time_pair("last_committed_at", None if last is None else int(last))}


def _ledger_json(ledger: tuple[TokenLedgerEntry, ...]) -> list[dict[str, Any]]:
    return [{"source": e.source, "model": e.model, **e.usage.to_json(), "total_tokens": e.usage.total}
            for e in ledger]


@dataclass(frozen=True)
class SessionDetails:
    """Everything ``sessions show`` prints about one session database."""

    path: Path
    status: str
    foreign: bool
    schema_version: int
    meta: MetaView | None
    head: HeadView | None
    live_nodes: int
    tombstoned_nodes: int
    user_messages: int
    token_ledger: tuple[TokenLedgerEntry, ...]
    blobs: BlobStats
    execution_lease: LeaseView | None
    queued_work: dict[str, Any] | None
    attachments: dict[str, Any] | None
    turn_commits: dict[str, Any] | None
    sidecars: dict[str, Path]
    files: FileSizes

    def to_json(self) -> dict[str, Any]:
        """The documented JSON object."""
        relation = self.meta.relation if self.meta else SessionRelation.root()
        totals = TokenUsage()
        for entry in self.token_ledger:
            totals = totals + entry.usage
        head = None
        if self.head is not None:
            head = {"revision": self.head.revision, "leaf_node_id": self.head.leaf_node_id,
                    "checkpoint_ref": self.head.checkpoint_ref, "live_nodes": self.live_nodes,
                    "tombstoned_nodes": self.tombstoned_nodes, "graph_node_count": self.head.graph_node_count}
        return {
            "path": str(self.path), "status": self.status, "foreign": self.foreign,
            "schema_version": self.schema_version, "supported_schema_version": SESSION.version,
            "meta": self.meta.to_json() if self.meta else None,
            "relation": jsonable(relation.to_json()),
            "head": head,
            "user_messages": self.user_messages,
            "token_ledger": _ledger_json(self.token_ledger),
            "token_totals": {**totals.to_json(), "total_tokens": totals.total},
            "blobs": self.blobs.to_json(),
            "execution_lease": self.execution_lease.to_json() if self.execution_lease else None,
            "queued_work": self.queued_work,
            "attachments": self.attachments,
            "turn_commits": self.turn_commits,
            "sidecars": {role: str(p) for role, p in self.sidecars.items()},
            "files": self.files.to_json(),
        }


def session_details(path: str | os.PathLike[str], *, now_ms: int | None = None) -> SessionDetails:
    """Read one session database (foreign schemas too) for ``sessions show``."""
    now = wall_clock_ms() if now_ms is None else int(now_ms)
    with Store.open_readonly(path) as store:
        foreign = store.foreign
        limit = store.options.decompression_limit

        def read(c: apsw.Connection) -> SessionDetails:
            meta = read_meta(c)
            head = read_head(c)
            live, dead = _node_counts(c)
            users, _first = _user_messages(c)
            session_id = (meta.session_id if meta else None) or (head.session_id if head else None)
            return SessionDetails(
                Path(os.fspath(path)), _status(store), foreign, store.classification.user_version, meta, head,
                live, dead, users, merge_ledger(_usage(c)), _blob_stats(c, foreign, limit),
                read_lease(c, session_id, now), _queued_work(c, now), _attachments(c, now), _turn_commits(c),
                discovery.sidecars_of(Path(os.fspath(path))), file_sizes(path))
        return store.read(read)


# --- head dump --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HeadDocument:
    """``head dump``: the head meta (revision from the column) and, on request, the decoded manifest."""

    path: Path
    status: str
    foreign: bool
    schema_version: int
    session_id: str | None
    head: HeadView | None
    checkpoint: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        """The documented JSON object."""
        out = {"path": str(self.path), "status": self.status, "foreign": self.foreign,
               "schema_version": self.schema_version, "session_id": self.session_id,
               "head_revision": self.head.revision if self.head else None,
               "head": self.head.document if self.head else None}
        if self.checkpoint is not None:
            out["checkpoint"] = self.checkpoint
        return out

    def require_readable_checkpoint(self) -> None:
        """Raise :class:`CheckpointUnreadable` when the decoded checkpoint section carries an error."""
        if self.checkpoint is not None and self.checkpoint.get("error"):
            raise CheckpointUnreadable(self.path, self.checkpoint["ref"], self.checkpoint["error"])


class CheckpointUnreadable(BlobError):
    """The head's checkpoint manifest, or a snapshot it points at, cannot be decoded."""

    def __init__(self, path: os.PathLike[str] | str, ref: str, reason: str):
        self.path = os.fspath(path)
        self.reason = reason
        super().__init__(ref, f"{self.path}: checkpoint {ref} cannot be read: {reason}",
                         hint="`lashdb blob verify` lists the damaged blobs; `head dump` without --checkpoint "
                              "shows the head")


def _blob_entry(c: apsw.Connection, role: str, ref: str, limit: int) -> dict[str, Any]:
    stored = blobs.get_stored(session_tx(c), ref)
    if stored is None:
        return {"role": role, "ref": ref, "present": False, "kind": None, "compression": None,
                "stored_bytes": None, "logical_bytes": None}
    info = blobs.describe(ref, stored, limit)
    return {"role": role, "ref": ref, "present": True, "kind": info.kind, "compression": info.compression,
            "stored_bytes": info.stored_bytes, "logical_bytes": info.logical_bytes}


def _checkpoint_section(c: apsw.Connection, ref: str | None, limit: int) -> dict[str, Any]:
    section: dict[str, Any] = {"ref": ref, "present": False, "format": None, "manifest": None,
                               "children": [], "error": None}
    if ref is None:
        return section
    try:
        decoded = blobs.get_decoded(session_tx(c), ref, limit)
        if decoded is None:
            return section
        section.update(present=True, format=decoded.envelope.format)
        value = codec.decode_value(decoded.content, decoded.envelope.format, ref)
    except BlobError as exc:
        section.update(present=blobs.get_stored(session_tx(c), ref) is not None, error=one_line(exc))
        return section
    section["manifest"] = jsonable(value)
    if isinstance(value, dict):
        # Every text ``*_ref`` field points at a snapshot blob (v4: tool state, plugin snapshot,
        # execution state); newer upstream names differ, so the rule is by shape, not by name.
        children = [_blob_entry(c, key[:-4], v, limit) for key, v in value.items()
                    if isinstance(key, str) and key.endswith("_ref") and isinstance(v, str)]
        components = value.get("components")  # newer upstream: {name: {"blob_ref": …}}
        if isinstance(components, dict):
            children += [_blob_entry(c, str(name), comp["blob_ref"], limit) for name, comp in components.items()
                         if isinstance(comp, dict) and isinstance(comp.get("blob_ref"), str)]
        section["children"] = children
        section["error"] = _first_unreadable_child(c, children, limit)
    return section


def _first_unreadable_child(c: apsw.Connection, children: list[dict[str, Any]], limit: int) -> str | None:
    # A snapshot that hashes right but does not decode (e.g. nested past the reader's limit) would
    # fail every load_session; say so instead of listing it as present and healthy.
    for child in children:
        if child["present"] and child["kind"] in codec.VALUE_KINDS:
            try:
                blobs.get_value(session_tx(c), child["ref"], limit)
            except BlobError as exc:
                return f"{child['role']}: {one_line(exc)}"
    return None


def head_document(path: str | os.PathLike[str], with_checkpoint: bool = False) -> HeadDocument:
    """The head meta of a session (foreign schemas too); ``with_checkpoint`` decodes its manifest."""
    with Store.open_readonly(path) as store:
        limit = store.options.decompression_limit

        def read(c: apsw.Connection) -> HeadDocument:
            head = read_head(c)
            meta = read_meta(c)
            session_id = (meta.session_id if meta else None) or (head.session_id if head else None)
            checkpoint = None
            if with_checkpoint:
                checkpoint = _checkpoint_section(c, head.checkpoint_ref if head else None, limit)
            return HeadDocument(Path(os.fspath(path)), _status(store), store.foreign,
                                store.classification.user_version, session_id, head, checkpoint)
        return store.read(read)


# --- graph show -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NodeView:
    """One graph row as ``graph show`` prints it (tolerant: a damaged row carries ``error``)."""

    seq: int
    node_id: str
    parent_node_id: str | None
    kind: str
    role: str | None
    plugin_type: str | None
    event_type: str | None
    text: str
    timestamp_raw: str | None
    tombstoned: bool
    error: str | None = None

    @property
    def label(self) -> str:
        """Role, plugin type or event type: what the node is, in one word."""
        return self.role or self.plugin_type or self.event_type or ""

    @property
    def first_line(self) -> str:
        """The first non-empty line of the node's text."""
        return self.text.strip().splitlines()[0] if self.text.strip() else ""


def _node_view(seq: int, node_id: str, node_json: Any, tombstoned: Any, parent_col: Any) -> NodeView:
    try:
        doc = json.loads(node_json)
        if not isinstance(doc, dict):
            raise ValueError(f"node_json is {type(doc).__name__}, expected an object")
    except (ValueError, TypeError) as exc:
        return NodeView(seq, node_id, parent_col if isinstance(parent_col, str) else None, "?", None, None, None,
                        "", None, bool(tombstoned), f"cannot decode: {exc}")
    parent = parent_col if isinstance(parent_col, str) else doc.get("parent_node_id")
    parent = parent if isinstance(parent, str) else None
    timestamp = doc.get("timestamp") if isinstance(doc.get("timestamp"), str) else None
    node = GraphNode(node_id, timestamp or "", doc, parent)
    kind = node.kind
    plugin_type = doc.get("plugin_type") if kind == "plugin" and isinstance(doc.get("plugin_type"), str) else None
    event = doc.get("event") if kind == "event" else None
    event_type = next(iter(event), None) if isinstance(event, dict) and len(event) == 1 else None
    role = node.role if isinstance(node.role, str) else None
    text = node.text
    if kind == "plugin":
        text = json.dumps(doc.get("body"), ensure_ascii=False, separators=(",", ":"))
    elif not text and node.conversation:
        tools = [p.get("name") for p in node.conversation.get("parts") or []
                 if isinstance(p, dict) and p.get("kind") == "ToolCall"]
        text = " ".join(f"[tool call {t}]" for t in tools if isinstance(t, str))
    return NodeView(seq, node_id, parent, kind, role, plugin_type, event_type, text, timestamp, bool(tombstoned))


@dataclass(frozen=True)
class GraphView:
    """``graph show``: nodes in display order (tree: depth-first; active path: root first)."""

    path: Path
    status: str
    foreign: bool
    session_id: str | None
    mode: str
    leaf_node_id: str | None
    live_nodes: int
    tombstoned_nodes: int
    nodes: tuple[NodeView, ...]
    depths: dict[str, int]
    on_path: frozenset[str]
    omitted: int

    def short_ids(self) -> dict[str, str]:
        """Unique short prefixes of the shown node ids."""
        return short_ids(n.node_id for n in self.nodes)

    def node_json(self, node: NodeView, short: str) -> dict[str, Any]:
        """One node's JSON object (documented keys)."""
        return {
            "node_id": node.node_id, "short_id": short, "parent_node_id": node.parent_node_id, "seq": node.seq,
            "depth": self.depths.get(node.node_id, 0), "kind": node.kind, "role": node.role,
            "plugin_type": node.plugin_type, "event_type": node.event_type, "label": node.label,
            "text": node.first_line, **_time_pair("timestamp", parse_timestamp_ms(node.timestamp_raw)),
            "timestamp_raw": node.timestamp_raw, "tombstoned": node.tombstoned,
            "on_active_path": node.node_id in self.on_path, "error": node.error,
        }

    def to_json(self) -> dict[str, Any]:
        """The documented JSON object."""
        shorts = self.short_ids()
        return {"path": str(self.path), "status": self.status, "foreign": self.foreign,
                "session_id": self.session_id, "mode": self.mode, "leaf_node_id": self.leaf_node_id,
                "live_nodes": self.live_nodes, "tombstoned_nodes": self.tombstoned_nodes,
                "shown": len(self.nodes), "omitted": self.omitted,
                "nodes": [self.node_json(n, shorts[n.node_id]) for n in self.nodes]}


class _Graph:
    """Row access for one graph_nodes table, whatever columns it has."""

    def __init__(self, c: apsw.Connection) -> None:
        self.c = c
        cols = columns(c, "graph_nodes")
        if not {"node_id", "node_json"} <= cols:
            raise BackendError("graph_nodes has no node_id/node_json columns: cannot show this graph")
        self.has_tombstoned = "tombstoned" in cols
        tomb = "tombstoned" if self.has_tombstoned else "0"
        parent = "parent_node_id" if "parent_node_id" in cols else "NULL"
        seq = "seq" if "seq" in cols else "rowid"
        self.select = f"SELECT {seq}, node_id, node_json, {tomb}, {parent} FROM graph_nodes"
        self.order = f" ORDER BY {seq}"

    def all(self, tombstoned: bool) -> list[NodeView]:
        """Every row in append order (tombstoned ones only on request)."""
        where = " WHERE tombstoned = 0" if self.has_tombstoned and not tombstoned else ""
        return [_node_view(*row) for row in self.c.execute(self.select + where + self.order)]

    def one(self, node_id: str) -> NodeView | None:
        """The row with ``node_id`` (tombstoned or not), or ``None``."""
        row = query_one(self.c, self.select + " WHERE node_id = ?", (node_id,))
        return None if row is None else _node_view(*row)

    def with_prefix(self, prefix: str) -> list[str]:
        """Up to 11 node ids starting with ``prefix`` (index range scan)."""
        return [r[0] for r in self.c.execute(
            "SELECT node_id FROM graph_nodes WHERE node_id >= ? AND node_id < ? ORDER BY node_id LIMIT 11",
            (prefix, prefix + "\uffff"))]


def _resolve_leaf(g: _Graph, leaf: str, tombstoned: bool) -> NodeView:
    node = g.one(leaf)
    if node is None:
        matches = g.with_prefix(leaf)
        if len(matches) > 1:
            shown = ", ".join(matches[:10]) + (", …" if len(matches) > 10 else "")
            raise LookupFailed(leaf, f"node `{leaf}` is ambiguous: {shown}", matches, hint="type more of the node id")
        node = g.one(matches[0]) if matches else None
    if node is None:
        raise LookupFailed(leaf, f"no graph node `{leaf}`", hint="list nodes with `lashdb graph show SESSION`")
    if node.tombstoned and not tombstoned:
        raise LookupFailed(leaf, f"graph node `{node.node_id}` is tombstoned",
                           hint="add --tombstoned to walk from it")
    return node


def _walk(g: _Graph, leaf: NodeView, tombstoned: bool) -> list[NodeView]:
    """Leaf to root by parent links, one indexed lookup per level; returned root first."""
    chain = [leaf]
    seen = {leaf.node_id}
    while chain[-1].parent_node_id is not None:
        parent = g.one(chain[-1].parent_node_id)
        if parent is None or (parent.tombstoned and not tombstoned):
            break
        if parent.node_id in seen:
            raise BackendError(f"graph has a parent cycle at node `{parent.node_id}`")
        seen.add(parent.node_id)
        chain.append(parent)
    chain.reverse()
    return chain


def _tree_order(nodes: list[NodeView]) -> tuple[list[NodeView], dict[str, int]]:
    """Depth-first, children in append order; depth grows only where a node has several children."""
    by_id = {n.node_id: n for n in nodes}
    children: dict[str | None, list[NodeView]] = {}
    for n in nodes:
        parent = n.parent_node_id if n.parent_node_id in by_id else None
        children.setdefault(parent, []).append(n)
    order: list[NodeView] = []
    depths: dict[str, int] = {}
    roots = children.get(None, [])
    stack = [(n, 1 if len(roots) > 1 else 0) for n in reversed(roots)]
    while stack:
        node, depth = stack.pop()
        if node.node_id in depths:
            continue
        depths[node.node_id] = depth
        order.append(node)
        kids = children.get(node.node_id, [])
        step = 1 if len(kids) > 1 else 0
        stack.extend((k, depth + step) for k in reversed(kids))
    for n in nodes:  # parent cycles unreachable from any root: still shown, never dropped
        if n.node_id not in depths:
            depths[n.node_id] = 0
            order.append(n)
    return order, depths


def graph_view(path: str | os.PathLike[str], *, active_path: bool = False, leaf: str | None = None,
               tombstoned: bool = False, limit: int | None = None) -> GraphView:
    """The graph as a tree, or the active path to ``leaf`` (default: the head's leaf); ``limit`` keeps the newest N."""
    with Store.open_readonly(path) as store:
        def read(c: apsw.Connection) -> GraphView:
            g = _Graph(c)
            head = read_head(c)
            meta = read_meta(c)
            live, dead = _node_counts(c)
            session_id = (meta.session_id if meta else None) or (head.session_id if head else None)
            head_leaf = head.leaf_node_id if head else None
            leaf_node = _resolve_leaf(g, leaf, tombstoned) if leaf is not None else None
            if leaf_node is None and head_leaf is not None:
                leaf_node = g.one(head_leaf)
                if leaf_node is not None and leaf_node.tombstoned and not tombstoned:
                    leaf_node = None
            path_nodes = _walk(g, leaf_node, tombstoned) if leaf_node is not None else []
            on_path = frozenset(n.node_id for n in path_nodes)
            if active_path or leaf is not None:
                mode, shown, depths = "active_path", path_nodes, {n.node_id: 0 for n in path_nodes}
            else:
                mode = "tree"
                shown, depths = _tree_order(g.all(tombstoned))
            omitted = 0
            if limit is not None and len(shown) > max(limit, 0):
                keep = {n.node_id for n in sorted(shown, key=lambda n: n.seq)[len(shown) - max(limit, 0):]}
                omitted = len(shown) - len(keep)
                shown = [n for n in shown if n.node_id in keep]
            return GraphView(Path(os.fspath(path)), _status(store), store.foreign, session_id, mode,
                             leaf_node.node_id if leaf_node else None, live, dead, tuple(shown), depths, on_path,
                             omitted)
        return store.read(read)


__all__ = [
    "BlobStats", "FileSizes", "GraphView", "HeadDocument", "HeadView", "LeaseView", "MetaView", "NodeView",
    "SORT_KEYS", "SessionDetails", "SessionSummary", "database_files", "file_sizes", "graph_view",
    "head_document", "iso_ms", "list_sessions", "parse_timestamp_ms", "read_head", "read_meta",
    "session_details", "session_summary", "short_ids",
]
