"""``sessions list``: one row per session database under a root (CLI.md).

Contract:
- Read-only: every file is opened read-only through the backend (``immutable=1`` without a ``-wal``,
  ``mode=ro`` with one) and never written, checkpointed or created.
- Each file is opened once: a v4 session is classified and read in a few statements inside one
  snapshot (the fast path); anything else (foreign schemas, damage) goes the column-tolerant way.
  Both paths give the same row.
- A failure inside one session becomes that row's ``unreadable: …`` status instead of failing the
  whole list; a listed v4 session lacking a table or index of its schema shows ``damaged schema: …``.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from collections.abc import Callable
from typing import Any

from lashdb.engine.session.ports import session_tx
from lashdb.engine.session import blobs
from . import discovery
from lashdb.engine.base import kinds, parallel
from lashdb.engine.base.errors import LashdbError, LookupFailed, NotARegularFile, one_line
from lashdb.engine.base.jsonread import text_or_none
from lashdb.engine.base.listing import NO_FILTER, ListingFilter, parse_when
from lashdb.engine.session.model import SessionRelation, stored_message_text
from lashdb.engine.session.store import Store
from lashdb.engine.base.timing import parse_timestamp_ms
from .list_rows import SORT_KEYS, SessionSummary, located_summaries, summary_passes
from .ports import open_session_file, read_meta, session_reader
from .views import _head_view, _node_counts, _user_messages, file_sizes, read_head

_SIBLING_SUFFIXES = ("-wal", *discovery.SIDECAR_SUFFIXES.values())


# --- sessions list ----------------------------------------------------------------------------------


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


def _mark_damaged(c: Any, out: dict[str, Any]) -> None:
    """A v4 session lacking a table or index (or holding one of another program) reads as empty there:
    say so in its status instead of ``ok`` (``doctor`` lists column-level differences too)."""
    differences = session_reader(c).schema_damage(str(out["path"]))
    if differences:
        out["status"] = _damage_status(differences)


def _damage_status(differences: list[tuple[str, str, str]]) -> str:
    return "damaged schema: " + ", ".join(f"{change} {what} {name}" for change, what, name in differences)


def _v4_row_passes(flt: ListingFilter, row: tuple) -> bool:
    """The meta and text fields of ``flt`` on a ``v4_summary`` row, before any summary is built of it."""
    if not (flt.needs_session or flt.children is not None):
        return True
    name, model, cwd, relation_json, first = row[1], row[2], row[3], row[5], row[11]
    parent = SessionRelation.from_column(relation_json).parent_session_id if row[0] is not None else None
    if not flt.meta_ok(text_or_none(model), text_or_none(cwd), parent):
        return False
    if flt.grep is None:
        return True
    return flt.text_ok(text_or_none(name), stored_message_text(first))


def _modified_before_open(path: Path, siblings: frozenset[str]) -> int | None:
    """The row's modified time (the newer of the db and its ``-wal``) from ``stat`` alone."""
    times = []
    for name in (os.fspath(path), *((f"{path}-wal",) if path.name + "-wal" in siblings else ())):
        try:
            times.append(os.stat(name).st_mtime_ns // 1_000_000)
        except OSError:
            pass
    return max(times) if times else None


def _scan_summary(path: Path, siblings: frozenset[str], include_all: bool,
                  flt: ListingFilter = NO_FILTER) -> SessionSummary | None:
    """What :func:`session_summary` of ``discovery.examine(path)`` gives, from one read-only open
    (discovery would open each file once to classify it and again to read it): ``None`` for a file
    that is not a session unless ``include_all``, and for one ``flt`` drops. ``siblings`` are the
    names in its directory, so the sidecars are found without a ``stat`` per suffix."""
    # A time bound drops a file on its mtime before it is opened at all.
    if (flt.since_ms is not None or flt.until_ms is not None) and \
            not flt.time_ok(_modified_before_open(path, siblings)):
        return None
    row = _scan_unfiltered(path, siblings, include_all, flt)
    return row if row is None or not flt.active or summary_passes(flt, row) else None


def _regular_without_wal(path: Path, siblings: frozenset[str]) -> os.stat_result | None:
    """The file's ``stat`` when it is a regular file with no ``-wal`` beside it: it can be opened
    ``immutable`` without the opener's own checks (and its size and time come from this one call)."""
    if path.name + "-wal" in siblings:
        return None
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st if stat.S_ISREG(st.st_mode) else None


def _scan_unfiltered(path: Path, siblings: frozenset[str], include_all: bool,
                     flt: ListingFilter) -> SessionSummary | None:
    st = _regular_without_wal(path, siblings)
    read = None
    try:
        file = open_session_file(path, checked=st is not None)
    except LashdbError as exc:
        # A file that cannot be read at all may be a session: listed even without include_all.
        listed = include_all or discovery.is_unreadable(exc)
        return session_summary(discovery.Found(path, None, exc)) if listed else None
    try:
        # A v4 session (nearly every file) is read, classification included, in a few statements.
        # Without a -wal the file was opened immutable, which is one snapshot already.
        if st is not None:
            try:
                read = file.list_read()  # the error the open would have raised, when it is not SQLite
            except LashdbError as exc:
                listed = include_all or discovery.is_unreadable(exc)
                return session_summary(discovery.Found(path, None, exc)) if listed else None
            row = read[0]
        elif path.name + "-wal" in siblings:
            try:
                with file.snapshot():
                    row = file.reader.v4_summary()
            except LashdbError:
                row = None  # the snapshot itself failed: the step-by-step path reports it for this row
        else:
            row = file.reader.v4_summary()
        if row is not None:
            if not _v4_row_passes(flt, row):
                return None  # dropped on the one row read, before the summary and the schema check
            base = _scan_base(path, siblings, kinds.SESSION, False, kinds.SESSION_VERSION, st)
            try:
                _fill_v4_summary(file.connection, base, row)
                if read is None:
                    _mark_damaged(file.connection, base)
                elif read[1]:
                    base["status"] = _damage_status(read[1])
            except LashdbError as exc:
                base.update(_unreadable(exc))
            return SessionSummary(**base)
        try:
            cls = file.classify()
        except LashdbError as error:
            return session_summary(discovery.Found(path, None, error)) if include_all else None
        if cls.kind_name != kinds.SESSION:
            return session_summary(discovery.Found(path, cls)) if include_all else None
        base = _scan_base(path, siblings, cls.kind_name, cls.foreign, cls.user_version)
        try:
            with file.snapshot():
                _fill_summary(file.connection, base)  # the one-statement path did not fit this file
                if cls.supported:
                    _mark_damaged(file.connection, base)
        except LashdbError as exc:
            base.update(_unreadable(exc))
        return SessionSummary(**base)
    finally:
        file.close()


def _scan_base(path: Path, siblings: frozenset[str], kind: str, foreign: bool, version: int,
               st: os.stat_result | None = None) -> dict[str, Any]:
    name = path.name
    if name + "-wal" in siblings:
        sizes = file_sizes(path)
        size, modified = sizes.size_bytes, sizes.modified_ms
    else:  # what file_sizes gives without a -wal, from one stat (the caller's, when it has one)
        try:
            st = st or os.stat(path)
            size, modified = st.st_size, st.st_mtime_ns // 1_000_000
        except OSError:
            size, modified = 0, None
    sidecars = {role: Path(f"{path}{suffix}") for role, suffix in discovery.SIDECAR_SUFFIXES.items()
                if name + suffix in siblings} if siblings else {}
    return {"path": path, "size_bytes": size, "modified_ms": modified, "sidecars": sidecars,
            "kind": kind, "foreign": foreign, "schema_version": version,
            "status": f"foreign v{version}" if foreign else "ok"}


def _fill_v4_summary(c: Any, out: dict[str, Any], row: tuple | None = None) -> bool:
    """The v4 fast path of :func:`_fill_summary`, with its results; ``False`` (nothing filled) when
    a statement fails, so the column-tolerant path runs and keeps what it reads before a failure."""
    row = row or session_reader(c).v4_summary()
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
    out["first_user_message"] = stored_message_text(first)
    if head_json is not None:
        head = _head_view(head_json, head_revision, session_id_col=head_sid)
        out["head_revision"] = head.revision
        if out.get("session_id") is None:
            out["session_id"] = head.session_id
    return True


def _fill_summary(c: Any, out: dict[str, Any], *, v4: bool = False) -> None:
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


def _scan_item(item: tuple[Path, frozenset[str], bool, ListingFilter]) -> SessionSummary | None:
    return _scan_summary(*item)


def list_sessions(root: str | os.PathLike[str], *, recursive: bool = False, include_all: bool = False,
                  sort: str = "modified", limit: int | None = None, jobs: int = 1,
                  skipped: list[SessionSummary] | None = None,
                  filters: ListingFilter = NO_FILTER,
                  progress: Callable[[int, int], None] | None = None) -> list[SessionSummary]:
    """Summaries of the sessions under root (``include_all``: every ``*.db``) that ``filters`` keeps
    (applied inside each file's reader, a time bound before the file is opened), sorted, at most ``limit``;
    ``jobs`` > 1 reads the files in that many processes (this one and forked children) where
    :func:`parallel.fork_map` may.
    A file that cannot be read is a row ``unreadable: <reason>``; one that is not a regular file (it
    cannot be a session) only with ``include_all``, else its row goes to ``skipped`` when given.
    A root that is not a directory raises :class:`RootUnusable`. ``progress(done, total)`` hears of
    the files read."""
    if sort not in SORT_KEYS:
        raise LookupFailed(sort, f"unknown sort key `{sort}`", SORT_KEYS, hint="sort by " + ", ".join(SORT_KEYS))
    listings: dict[Path, frozenset[str]] = {}
    items = []
    rows: list[SessionSummary] = []
    for entry in discovery.walk(root, recursive=recursive, listings=listings):
        path = entry.path
        if entry.error is not None:
            row = session_summary(discovery.Found(path, None, entry.error))
            if filters.active and not summary_passes(filters, row):
                continue
            if include_all or not isinstance(entry.error, NotARegularFile):
                rows.append(row)
            elif skipped is not None:
                skipped.append(row)
            continue
        names = listings[path.parent]
        # Only the names that can be this file's sidecars travel to a worker process.
        wanted = (path.name + suffix for suffix in _SIBLING_SUFFIXES)
        items.append((path, frozenset(n for n in wanted if n in names), include_all, filters))
    done = [0]

    def advance(n: int) -> None:
        done[0] += n
        progress(done[0], len(items))

    rows += [row for row in parallel.fork_map(_scan_item, items, jobs=jobs, what=f"sessions list under {root}",
                                              advance=advance if progress is not None else None)
             if row is not None]
    if sort == "name":
        rows.sort(key=lambda r: (r.display_name.casefold(), str(r.path)))
    else:
        def value(r: SessionSummary) -> int:
            v = {"modified": r.modified_ms, "created": r.created_ms, "size": r.size_bytes}[sort]
            return -1 if v is None else v
        rows.sort(key=lambda r: (-value(r), str(r.path)))
    return rows if limit is None else rows[:max(limit, 0)]


ROW_FIELDS = 16
"""Leading fields of a catalog listing row in the SQLite ``v4_summary`` order (postgres/catalog.py)."""

__all__ = ["SORT_KEYS", "ListingFilter", "SessionSummary", "parse_when", "list_sessions", "located_summaries", "session_summary", "summary_passes"]
