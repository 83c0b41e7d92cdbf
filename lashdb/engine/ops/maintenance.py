"""Garbage collection and vacuum over one or many session databases (CLI.md ``gc``, ``vacuum``).

Contract:
- Each file is classified read-only first (:func:`discovery.examine`, :func:`schema.check_openable`);
  one that is not a session database, one of a foreign schema, or a v4 one whose schema is damaged
  or not lash's is refused with :class:`NotALashDatabase`, the cutover :class:`SchemaVersionError`
  or :class:`SchemaDamaged` before any writable open, so it is never touched (dry runs too).
- ``gc`` runs :meth:`Store.gc_unreachable` (SPEC §6): batches, each one ``BEGIN IMMEDIATE`` mark and
  sweep. It runs from outside the runtime, so a session whose execution lease is live is skipped (or
  stopped between batches) and reported ``busy`` with the holder and expiry, unless ``force``. A dry
  run opens the file read-only and computes the same report without writing a byte or creating a file.
- ``vacuum`` runs :meth:`Store.vacuum`: tombstoned nodes removed (committed on their own); with
  ``compact``, ``VACUUM`` and a truncating checkpoint, reporting the size on disk (db + ``-wal``) before
  the command and after the store closed. A compaction that could not finish (disk full, a reader
  keeping the ``-wal`` busy) is reported as ``not-compacted`` with the nodes removed and the reason.
- ``sessions delete`` plans first (:func:`plan_session_delete`, read-only): the files it removes, the
  session's execution lease, and what stays behind — child sessions naming it as parent, sidecars. A
  live lease refuses the delete with :class:`SessionInUse` unless forced, checked again just before
  the files are removed.
- Over many files, a failure in one (refused, GC aborted, busy, I/O) is kept as that file's typed
  error and the others go on; nothing is skipped silently.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import discovery
from lashdb.engine.base.errors import (CompactionFailed, GcAborted, LashdbError, NotALashDatabase, SchemaDamaged,
                                      SchemaVersionError, SessionInUse)
from lashdb.engine.session.factory import delete_database_files
from .show import LeaseView, read_lease
from .views import database_files, file_sizes
from lashdb.engine.session.model import GcBusy, GcReport, VacuumReport
from .ports import read_meta, require_session_file
from lashdb.engine.base.locator import as_target, is_location
from lashdb.engine.session.store import Store
from lashdb.engine.base.timing import iso_ms
from .verify import error_text

# The errors a writable open refuses a file with (the backend's schema check raises exactly these).
REFUSALS = (NotALashDatabase, SchemaVersionError, SchemaDamaged)


def _require_session(path: Path) -> None:
    found = discovery.examine(path)
    if found.error is not None:
        raise found.error
    if is_location(path):
        return  # the store's cutover check already refused any other schema
    # Another kind: NotALashDatabase; foreign: the cutover error; a damaged or unrecognised v4
    # schema: the refusal the writable open would give, for dry runs too.
    require_session_file(found.classification, path)


def _session_id(store: Store) -> str | None:
    meta = store.read(read_meta)
    return meta.session_id if meta else None


def _stored_session_id(path: Path) -> str | None:
    """The session id of a file that was refused (a foreign session still names itself), if readable."""
    try:
        with Store.open_readonly(path) as store:
            return _session_id(store)
    except LashdbError:
        return None


def _outcome(error: LashdbError | None, done: str) -> str:
    if error is None:
        return done
    if isinstance(error, REFUSALS):
        return "refused"
    if isinstance(error, GcAborted):
        return "aborted"
    return "failed"


@dataclass(frozen=True)
class SessionGc:
    """GC of one file: its report, or the typed error that stopped it."""

    path: Path
    session_id: str | None
    report: GcReport | None
    error: LashdbError | None = None

    @property
    def busy(self) -> GcBusy | None:
        """The live lease held by someone else that made this GC skip or stop, if any."""
        return self.report.busy if self.report else None

    @property
    def outcome(self) -> str:
        """``collected``, ``dry-run``, ``busy`` (a live lease), ``refused`` (not a v4 session), ``aborted``
        or ``failed``."""
        if self.busy is not None:
            return "busy"
        return _outcome(self.error, "dry-run" if self.report and self.report.dry_run else "collected")

    def to_json(self) -> dict[str, Any]:
        """The documented JSON object."""
        r = self.report
        looked = r is not None and r.batch_count > 0  # a session skipped as busy was not looked at
        b = self.busy
        return {"path": str(self.path), "session_id": self.session_id, "outcome": self.outcome,
                "root_count": r.root_count if looked else None,
                "retained_blob_count": r.retained_blob_count if looked else None,
                "deleted_blob_count": r.deleted_blob_count if r else None,
                "freed_bytes": r.freed_bytes if r else None,
                "missing_blob_count": r.missing_blob_count if looked else None,
                "batch_count": r.batch_count if r else None,
                "busy": None if b is None else {"session_id": b.session_id, "owner_id": b.owner_id,
                                                "expires_at_ms": b.expires_at_epoch_ms},
                "error": None if self.error is None else error_text(self.path, self.error)}


def gc_session(path: str | os.PathLike[str], *, dry_run: bool = False, force: bool = False) -> SessionGc:
    """Collect (or, with ``dry_run``, only count) one session's unreachable blobs; a live execution
    lease makes it ``busy`` unless ``force``; refusals raise."""
    path = as_target(path)
    _require_session(path)
    opener: Callable[[Path], Store] = Store.open_readonly if dry_run else Store.open
    with opener(path) as store:
        return SessionGc(path, _session_id(store), store.gc_unreachable(dry_run=dry_run, force=force))


@dataclass(frozen=True)
class SessionVacuum:
    """Vacuum of one file: its report, or the typed error that stopped it."""

    path: Path
    session_id: str | None
    report: VacuumReport | None
    error: LashdbError | None = None

    @property
    def outcome(self) -> str:
        """``vacuumed``, ``not-compacted`` (nodes removed, compaction could not finish), ``refused`` (not a
        v4 session) or ``failed``."""
        if isinstance(self.error, CompactionFailed):
            return "not-compacted"
        return _outcome(self.error, "vacuumed")

    def to_json(self) -> dict[str, Any]:
        """The documented JSON object."""
        r = self.report
        return {"path": str(self.path), "session_id": self.session_id, "outcome": self.outcome,
                "removed_node_count": r.removed_node_count if r else None,
                "compressed_blobs": r.compressed_blobs if r else None,
                "compressed_bytes_saved": r.compressed_bytes_saved if r else None,
                "compacted": r.compacted if r else None, "compact_error": r.compact_error if r else None,
                "size_before": r.size_before if r else None,
                "size_after": r.size_after if r else None,
                "error": None if self.error is None else error_text(self.path, self.error)}


def vacuum_session(path: str | os.PathLike[str], *, compact: bool = False) -> SessionVacuum:
    """Remove one session's tombstoned nodes, compress the snapshots its commits stored uncompressed (and
    with ``compact`` return free pages); refusals raise.

    A compaction that cannot finish is no raise here: its result carries the committed removal, the
    :class:`CompactionFailed` error and the sizes measured after the store closed.
    """
    path = as_target(path)
    _require_session(path)
    before = file_sizes(path).size_bytes  # as the operator saw it: before this command wrote anything
    error: CompactionFailed | None = None
    with Store.open(path) as store:
        session_id = _session_id(store)
        try:
            report = store.vacuum(compact=compact)
        except CompactionFailed as exc:
            report, error = exc.report, exc
    if compact:
        # After closing: closing checkpoints and may drop the -wal, so this is what stays on disk.
        report = dataclasses.replace(report, size_before=before, size_after=file_sizes(path).size_bytes)
    return SessionVacuum(path, session_id, report, error)


def gc_sessions(paths: Iterable[str | os.PathLike[str]], *, dry_run: bool = False,
                force: bool = False) -> list[SessionGc]:
    """GC each file in turn; a file's failure (or busy lease) is kept in its result and the others go on."""
    out = []
    for p in paths:
        try:
            out.append(gc_session(p, dry_run=dry_run, force=force))
        except LashdbError as exc:
            path = as_target(p)
            out.append(SessionGc(path, _stored_session_id(path), None, exc))
    return out


def vacuum_sessions(paths: Iterable[str | os.PathLike[str]], *, compact: bool = False) -> list[SessionVacuum]:
    """Vacuum each file in turn; a file's failure is kept in its result and the others go on."""
    out = []
    for p in paths:
        try:
            out.append(vacuum_session(p, compact=compact))
        except LashdbError as exc:
            path = as_target(p)
            out.append(SessionVacuum(path, _stored_session_id(path), None, exc))
    return out


def gc_totals(results: Iterable[SessionGc]) -> dict[str, int]:
    """Sums over GC results (sessions by outcome, roots, blobs retained/deleted, bytes freed)."""
    results = list(results)
    done = [r.report for r in results if r.report is not None]
    return {"sessions": len(results), "collected": sum(r.outcome in ("collected", "dry-run") for r in results),
            "busy": sum(r.outcome == "busy" for r in results),
            "refused": sum(r.outcome == "refused" for r in results),
            "aborted": sum(r.outcome == "aborted" for r in results),
            "failed": sum(r.outcome == "failed" for r in results),
            "root_count": sum(r.root_count for r in done),
            "retained_blob_count": sum(r.retained_blob_count for r in done),
            "deleted_blob_count": sum(r.deleted_blob_count for r in done),
            "freed_bytes": sum(r.freed_bytes for r in done)}


def vacuum_totals(results: Iterable[SessionVacuum]) -> dict[str, int | None]:
    """Sums over vacuum results (sessions by outcome, nodes removed, sizes of those compaction ran on)."""
    results = list(results)
    done = [r.report for r in results if r.report is not None]
    measured = [r for r in done if r.size_before is not None]
    return {"sessions": len(results), "vacuumed": sum(r.outcome == "vacuumed" for r in results),
            "not_compacted": sum(r.outcome == "not-compacted" for r in results),
            "refused": sum(r.outcome == "refused" for r in results),
            "failed": sum(r.outcome == "failed" for r in results),
            "removed_node_count": sum(r.removed_node_count for r in done),
            "compressed_blobs": sum(r.compressed_blobs for r in done),
            "compressed_bytes_saved": sum(r.compressed_bytes_saved for r in done),
            "size_before": sum(r.size_before or 0 for r in measured) if measured else None,
            "size_after": sum(r.size_after or 0 for r in measured) if measured else None}


# --- delete ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SessionDeletion:
    """What deleting one session database removes (db, ``-wal``, ``-shm``) and what it leaves behind."""

    path: Path
    session_id: str | None
    files: tuple[Path, ...]
    lease: LeaseView | None
    children: tuple[tuple[str | None, Path], ...]
    sidecars: tuple[tuple[str, Path], ...]

    def files_json(self) -> list[dict[str, Any]]:
        """What goes, with its bytes: each file (a located session: its rows' bytes)."""
        return [{"path": str(p), "bytes": file_sizes(p).db_bytes if is_location(p) else p.stat().st_size}
                for p in self.files]

    def to_json(self) -> dict[str, Any]:
        """The plan's part of the ``sessions delete`` document."""
        return {"path": str(self.path), "session_id": self.session_id,
                "execution_lease": self.lease.to_json() if self.lease else None,
                "children_kept": [{"session_id": sid, "path": str(p)} for sid, p in self.children],
                "sidecars_kept": [str(p) for _role, p in self.sidecars]}


def _lease_of(path: Path, session_id: str | None, now_ms: int) -> LeaseView | None:
    with Store.open_readonly(path) as store:
        return store.read(lambda c: read_lease(c, session_id, now_ms))


def _refuse_live(path: Path, session_id: str | None, lease: LeaseView | None) -> None:
    if lease is not None and lease.state == "live":
        raise SessionInUse(path, session_id, lease.owner_id, lease.expires_ms, iso_ms(lease.expires_ms))


def plan_session_delete(path: str | os.PathLike[str], *, now_ms: int, force: bool = False) -> SessionDeletion:
    """What deleting the session at ``path`` would remove and keep (child sessions, sidecars); only reads.

    Raises :class:`SessionInUse` while its execution lease is live at ``now_ms``, unless ``force``;
    a file that is not a session database is refused.
    """
    path = as_target(path)
    found = discovery.examine(path)
    if found.error is not None:
        raise found.error
    if not found.is_session:
        raise NotALashDatabase(path, f"its tables identify {found.kind_name}", expected="session")
    session_id = _stored_session_id(path)
    lease = _lease_of(path, session_id, now_ms)
    if not force:
        _refuse_live(path, session_id, lease)
    scope = path if is_location(path) else path.parent
    children = tuple(c for c in discovery.children_of(scope, session_id) if c[1] != path) \
        if session_id else ()
    files = (path,) if is_location(path) else tuple(database_files(path))
    return SessionDeletion(path, session_id, files, lease, children,
                           tuple(discovery.sidecars_of(path).items()))


def delete_session_database(plan: SessionDeletion, *, now_ms: int, force: bool = False) -> list[Path]:
    """Remove the planned database and its ``-wal``/``-shm``, re-checking its lease first (it may have been
    claimed since the plan); return the files removed. Child sessions and sidecars are kept. A located
    session's rows go in one transaction that re-checks the lease under the session's lock."""
    if is_location(plan.path):
        return _delete_located(plan, now_ms=now_ms, force=force)
    if not force:
        _refuse_live(plan.path, plan.session_id, _lease_of(plan.path, plan.session_id, now_ms))
    return delete_database_files(plan.path)


def _delete_located(plan: SessionDeletion, *, now_ms: int, force: bool) -> list[Any]:
    def run(tx: Any) -> None:
        if not force:
            _refuse_live(plan.path, plan.session_id, read_lease(tx, plan.session_id, now_ms))
        tx.delete_session_rows()

    with Store.open(plan.path) as store:
        store.transaction(run)
    return [plan.path]


__all__ = ["SessionDeletion", "SessionGc", "SessionVacuum", "delete_session_database", "gc_session", "gc_sessions",
           "gc_totals", "plan_session_delete", "vacuum_session", "vacuum_sessions", "vacuum_totals"]
