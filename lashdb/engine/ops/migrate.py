"""``lashdb migrate``: copy sessions between any two stores, one destination transaction each (postgres.md §5).

Contract (checked per session, in this order):
1. a source session the cutover rule refuses (a foreign schema such as upstream v38) → ``refused``
   with the cutover error; nothing is read further or written;
2. a live execution lease (judged by the source's clock) → ``refused`` naming the holder, unless
   ``force``;
3. the destination holds the session: same head revision and checkpoint ref → ``skipped``;
   different → ``conflict`` (left alone, exit 1 in the CLI);
4. else the session's rows are imported in ONE destination transaction, then re-read from the
   destination and verified: every blob is re-hashed (its stored bytes' SHA-256 equals the
   source's, and :func:`verify.verify_one` gives the same outcome on both sides), the live and
   tombstoned node counts, the head (revision, checkpoint ref and JSON) and the usage ledger, and
   every other table row for row. A mismatch removes what was written (one transaction) and the
   session is ``failed``; so is an import the destination refused (nothing was written). The head's
   ``lashdb_list_summary`` key (session/list_summary.py) is left behind: figures one store kept are
   no promise about the other's rows, so the copy lists by scanning until its next commit.
Reruns are idempotent: a session is copied in one transaction or not at all, so an interrupted run
leaves only whole sessions, which the next run skips. ``dry_run`` reads both sides and writes
nothing (``copied`` then means "would be copied"). ``progress(result, done, total)`` hears of each
session as it finishes.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from lashdb.engine.base.errors import LashdbError, LookupFailed, SessionNotMigrated, one_line
from lashdb.engine.session.list_summary import HEAD_KEY as SUMMARY_KEY

from .ports import Records, SessionTransfer
from .verify import verify_one

COPIED, SKIPPED, CONFLICT, REFUSED, FAILED = "copied", "skipped", "conflict", "refused", "failed"
STATUSES = (COPIED, SKIPPED, CONFLICT, REFUSED, FAILED)
PROBLEMS = (CONFLICT, FAILED)
"""Statuses that make the run exit 1."""

Progress = Callable[["SessionMigration", int, int], None]


@dataclass
class SessionMigration:
    """What happened to one session: status, rows and blob bytes moved, and why when not copied."""

    session_id: str
    source: str
    status: str
    rows: int = 0
    bytes: int = 0
    reason: str | None = None
    error: LashdbError | None = field(default=None, repr=False)

    def to_json(self) -> dict[str, Any]:
        """The report entry (keys: session_id, source, status, rows, bytes, reason)."""
        return {"session_id": self.session_id, "source": self.source, "status": self.status, "rows": self.rows,
                "bytes": self.bytes, "reason": self.reason}


@dataclass
class MigrationReport:
    """One run: where from and to, the options, one entry per session."""

    source: str
    dest: str
    dry_run: bool
    force: bool
    sessions: list[SessionMigration]

    def totals(self) -> dict[str, int]:
        """Sessions per status, plus rows and bytes moved."""
        out = {s: sum(1 for r in self.sessions if r.status == s) for s in STATUSES}
        out.update(sessions=len(self.sessions), rows=sum(r.rows for r in self.sessions),
                   bytes=sum(r.bytes for r in self.sessions))
        return out

    @property
    def ok(self) -> bool:
        """True when no session conflicted or failed."""
        return not any(r.status in PROBLEMS for r in self.sessions)

    def to_json(self) -> dict[str, Any]:
        """The ``--json`` document (keys: source, dest, dry_run, force, sessions, total)."""
        return {"source": self.source, "dest": self.dest, "dry_run": self.dry_run, "force": self.force,
                "sessions": [r.to_json() for r in self.sessions], "total": self.totals()}


def _head(records: Records) -> tuple[int, str | None, str | None]:
    """(head revision, checkpoint ref, head JSON) of exported records; (0, None, None) without a head."""
    rows = records.get("session_head") or []
    if not rows:
        return 0, None, None
    head_json = rows[0].get("head_json")
    try:
        doc = json.loads(head_json) if head_json else {}
    except ValueError:
        doc = {}
    ref = doc.get("checkpoint_ref") if isinstance(doc, dict) else None
    return int(rows[0].get("head_revision") or 0), ref if isinstance(ref, str) else None, head_json


def without_list_summary(records: Records) -> Records:
    """``records`` with the head JSON's list-summary key removed (the records themselves when it has none)."""
    rows = records.get("session_head") or []
    text = rows[0].get("head_json") if rows else None
    if not isinstance(text, str) or SUMMARY_KEY not in text:
        return records
    try:
        doc = json.loads(text)
    except ValueError:
        return records
    if not isinstance(doc, dict) or doc.pop(SUMMARY_KEY, None) is None:
        return records
    head = dict(rows[0], head_json=json.dumps(doc, ensure_ascii=False, separators=(",", ":")))
    return {**records, "session_head": [head, *rows[1:]]}


def live_lease(records: Records, now_ms: int) -> dict[str, Any] | None:
    """The first execution lease live at ``now_ms`` (token set, expiry strictly later), or None."""
    for row in records.get("session_execution_leases") or []:
        if row.get("lease_token") is not None and int(row.get("lease_expires_at_ms") or 0) > now_ms:
            return row
    return None


def iso_time(epoch_ms: Any) -> str:
    """Epoch milliseconds as an ISO 8601 UTC time to the second (how messages name a lease's expiry)."""
    return datetime.fromtimestamp(int(epoch_ms or 0) / 1000, timezone.utc).isoformat(timespec="seconds")


def _count(records: Records) -> tuple[int, int]:
    rows = sum(len(v) for v in records.values())
    size = sum(len(r["content"]) for r in records.get("blobs") or [])
    return rows, size


def _canonical(rows: Iterable[dict[str, Any]]) -> list[str]:
    return sorted(json.dumps(r, sort_keys=True, default=lambda v: v.hex() if isinstance(v, bytes) else str(v))
                  for r in rows)


def _blob_problem(source: list[dict[str, Any]], dest: list[dict[str, Any]]) -> str | None:
    theirs = {r["hash"]: bytes(r["content"]) for r in dest}
    if len(theirs) != len(source):
        return f"blobs: {len(source)} at the source, {len(theirs)} at the destination"
    for row in source:
        h, stored = row["hash"], bytes(row["content"])
        copy = theirs.get(h)
        if copy is None:
            return f"blob {h} is missing at the destination"
        if hashlib.sha256(copy).digest() != hashlib.sha256(stored).digest():
            return f"blob {h}: the destination's bytes hash differently from the source's"
        if verify_one(h, copy).status != verify_one(h, stored).status:
            return f"blob {h}: verifies {verify_one(h, copy).status} at the destination"
    return None


def verify_copy(source: Records, dest: Records | None) -> str | None:
    """Why the destination's copy differs from the source's rows, or None when it matches."""
    if dest is None:
        return "the session is not at the destination after its transaction committed"
    problem = _blob_problem(source.get("blobs") or [], dest.get("blobs") or [])
    if problem:
        return problem
    nodes = [(sum(1 for r in rs if not r["tombstoned"]), sum(1 for r in rs if r["tombstoned"]))
             for rs in (source.get("graph_nodes") or [], dest.get("graph_nodes") or [])]
    if nodes[0] != nodes[1]:
        return f"graph: {nodes[0][0]} live / {nodes[0][1]} tombstoned nodes at the source, {nodes[1][0]} / " \
               f"{nodes[1][1]} at the destination"
    if _head(source) != _head(dest):
        return f"head: revision {_head(source)[0]} at the source, {_head(dest)[0]} at the destination"
    for table in ("usage_deltas", *sorted(set(source) | set(dest))):
        if table == "blobs":
            continue
        if _canonical(source.get(table) or []) != _canonical(dest.get(table) or []):
            name = "ledger (usage_deltas)" if table == "usage_deltas" else table
            return f"{name}: the destination's rows differ from the source's"
    return None


def _select(entries: list[tuple[str, str, LashdbError | None]], wanted: list[str] | None,
            where: str) -> list[tuple[str, str, LashdbError | None]]:
    if not wanted:
        return entries
    picked: dict[str, tuple[str, str, LashdbError | None]] = {}
    for query in wanted:
        exact = [e for e in entries if e[0] == query]
        matches = exact or ([e for e in entries if e[0].startswith(query)] if len(query) >= 4 else [])
        if len(matches) != 1:
            found = "no session" if not matches else f"{len(matches)} sessions"
            raise LookupFailed(query, f"{where}: {found} match `{query}`", [e[0] for e in matches],
                               hint="give a session id (or a unique prefix of 4+ characters); "
                                    "`lashdb sessions list` shows them")
        picked.setdefault(matches[0][0], matches[0])
    return list(picked.values())


def migrate_one(source: SessionTransfer, dest: SessionTransfer, session_id: str, where: str,
                refusal: LashdbError | None, *, dry_run: bool = False, force: bool = False) -> SessionMigration:
    """Apply the contract above to one source session."""
    result = SessionMigration(session_id, where, REFUSED)
    if refusal is not None:
        result.error, result.reason = refusal, one_line(refusal)
        return result
    try:
        records = source.export(session_id)
        if records is None:
            raise LookupFailed(session_id, f"{where}: the session is gone from the source")
        lease = None if force else live_lease(records, source.now_ms())
        if lease is not None:
            err = SessionNotMigrated(session_id, f"{where}: session `{session_id}` is in use: its execution lease is held by "
                             f"`{lease.get('lease_owner_id')}` until {iso_time(lease.get('lease_expires_at_ms'))}; "
                             "not copied", hint="stop that runtime or wait until the lease expires, or pass "
                             "--force to copy the session as it is now")
            result.error, result.reason = err, one_line(err)
            return result
        there = dest.export(session_id, ("session_meta", "session_head"))
        if there is not None:
            same = _head(there)[:2] == _head(records)[:2]
            result.status = SKIPPED if same else CONFLICT
            if not same:
                result.reason = (f"the destination holds this session at head revision {_head(there)[0]} "
                                 f"(checkpoint {_head(there)[1]}), the source at {_head(records)[0]} "
                                 f"(checkpoint {_head(records)[1]}); left alone")
            return result
        records = without_list_summary(records)
        result.rows, result.bytes = _count(records)
        if dry_run:
            result.status = COPIED
            return result
        dest.import_session(session_id, records)
        problem = verify_copy(records, dest.export(session_id))
        if problem is not None:
            dest.remove(session_id)
            raise SessionNotMigrated(session_id, f"{session_id}: verification after copying failed: {problem}; the copy was "
                             "rolled back", hint="run `lashdb blob verify` and `lashdb doctor` on the source, "
                                                 "then migrate again")
        result.status = COPIED
    except LashdbError as exc:
        result.status, result.error, result.reason = FAILED, exc, one_line(exc)
        result.rows = result.bytes = 0
    return result


def migrate(source: SessionTransfer, dest: SessionTransfer, *, sessions: list[str] | None = None,
            dry_run: bool = False, force: bool = False, progress: Progress | None = None,
            on_start: Callable[[int], None] | None = None) -> MigrationReport:
    """Copy every (or every named) session of ``source`` into ``dest``; one entry per session.

    ``on_start(total)`` hears how many sessions will be looked at before the first one is."""
    entries = _select(source.sessions(), sessions, source.target)
    if on_start is not None:
        on_start(len(entries))
    report = MigrationReport(source.target, dest.target, dry_run, force, [])
    for index, (session_id, where, refusal) in enumerate(entries, 1):
        result = migrate_one(source, dest, session_id, where, refusal, dry_run=dry_run, force=force)
        report.sessions.append(result)
        if progress is not None:
            progress(result, index, len(entries))
    return report


def migrate_stores(source: Any, dest: Any, **options: Any) -> MigrationReport:
    """:func:`migrate` between two backends (``ops.backend.open_backend``): the source is opened read-only."""
    src = source.transfer(readonly=True)
    try:
        dst = dest.transfer()
        try:
            return migrate(src, dst, **options)
        finally:
            dst.close()
    finally:
        src.close()
