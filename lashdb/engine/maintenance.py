"""Garbage collection and vacuum over one or many session databases (CLI.md ``gc``, ``vacuum``).

Contract:
- Each file is classified read-only first (:func:`discovery.examine`, :func:`schema.check_openable`);
  one that is not a session database, one of a foreign schema, or a v4 one whose schema is damaged
  or not lash's is refused with :class:`NotALashDatabase`, the cutover :class:`SchemaVersionError`
  or :class:`SchemaDamaged` before any writable open, so it is never touched (dry runs too).
- ``gc`` runs :meth:`Store.gc_unreachable` (SPEC §6): one ``BEGIN IMMEDIATE`` mark and sweep. A dry
  run opens the file read-only and computes the same report without writing a byte or creating a file.
- ``vacuum`` runs :meth:`Store.vacuum`: tombstoned nodes removed; with ``compact``, ``VACUUM`` and a
  truncating checkpoint, reporting the size on disk (db + ``-wal``) before the command and after it.
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
from .errors import GcAborted, LashdbError
from .inspect import file_sizes, read_meta
from .model import GcReport, VacuumReport
from .schema import REFUSALS, SESSION, check_openable
from .store import Store
from .verify import error_text


def _require_session(path: Path) -> None:
    found = discovery.examine(path)
    if found.error is not None:
        raise found.error
    found.classification.require(SESSION)  # another kind: NotALashDatabase; foreign: the cutover error
    # A damaged or unrecognised v4 schema: the refusal the writable open would give, for dry runs too.
    check_openable(path, SESSION)


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
    def outcome(self) -> str:
        """``collected``, ``dry-run``, ``refused`` (not a v4 session), ``aborted`` or ``failed``."""
        return _outcome(self.error, "dry-run" if self.report and self.report.dry_run else "collected")

    def to_json(self) -> dict[str, Any]:
        """The documented JSON object."""
        r = self.report
        return {"path": str(self.path), "session_id": self.session_id, "outcome": self.outcome,
                "root_count": r.root_count if r else None,
                "retained_blob_count": r.retained_blob_count if r else None,
                "deleted_blob_count": r.deleted_blob_count if r else None,
                "freed_bytes": r.freed_bytes if r else None,
                "missing_blob_count": r.missing_blob_count if r else None,
                "error": None if self.error is None else error_text(self.path, self.error)}


def gc_session(path: str | os.PathLike[str], *, dry_run: bool = False) -> SessionGc:
    """Collect (or, with ``dry_run``, only count) one session's unreachable blobs; refusals raise."""
    path = Path(os.fspath(path))
    _require_session(path)
    opener: Callable[[Path], Store] = Store.open_readonly if dry_run else Store.open
    with opener(path) as store:
        return SessionGc(path, _session_id(store), store.gc_unreachable(dry_run=dry_run))


@dataclass(frozen=True)
class SessionVacuum:
    """Vacuum of one file: its report, or the typed error that stopped it."""

    path: Path
    session_id: str | None
    report: VacuumReport | None
    error: LashdbError | None = None

    @property
    def outcome(self) -> str:
        """``vacuumed``, ``refused`` (not a v4 session) or ``failed``."""
        return _outcome(self.error, "vacuumed")

    def to_json(self) -> dict[str, Any]:
        """The documented JSON object."""
        r = self.report
        return {"path": str(self.path), "session_id": self.session_id, "outcome": self.outcome,
                "removed_node_count": r.removed_node_count if r else None,
                "compacted": r.compacted if r else None, "size_before": r.size_before if r else None,
                "size_after": r.size_after if r else None,
                "error": None if self.error is None else error_text(self.path, self.error)}


def vacuum_session(path: str | os.PathLike[str], *, compact: bool = False) -> SessionVacuum:
    """Remove one session's tombstoned nodes (and with ``compact`` return free pages); refusals raise."""
    path = Path(os.fspath(path))
    _require_session(path)
    before = file_sizes(path).size_bytes  # as the operator saw it: before this command wrote anything
    with Store.open(path) as store:
        report = store.vacuum(compact=compact)
        if report.compacted:
            report = dataclasses.replace(report, size_before=before)
        return SessionVacuum(path, _session_id(store), report)


def gc_sessions(paths: Iterable[str | os.PathLike[str]], *, dry_run: bool = False) -> list[SessionGc]:
    """GC each file in turn; a file's failure is kept in its result and the others go on."""
    out = []
    for p in paths:
        try:
            out.append(gc_session(p, dry_run=dry_run))
        except LashdbError as exc:
            path = Path(os.fspath(p))
            out.append(SessionGc(path, _stored_session_id(path), None, exc))
    return out


def vacuum_sessions(paths: Iterable[str | os.PathLike[str]], *, compact: bool = False) -> list[SessionVacuum]:
    """Vacuum each file in turn; a file's failure is kept in its result and the others go on."""
    out = []
    for p in paths:
        try:
            out.append(vacuum_session(p, compact=compact))
        except LashdbError as exc:
            path = Path(os.fspath(p))
            out.append(SessionVacuum(path, _stored_session_id(path), None, exc))
    return out


def gc_totals(results: Iterable[SessionGc]) -> dict[str, int]:
    """Sums over GC results (sessions by outcome, roots, blobs retained/deleted, bytes freed)."""
    results = list(results)
    done = [r.report for r in results if r.report is not None]
    return {"sessions": len(results), "collected": sum(r.outcome in ("collected", "dry-run") for r in results),
            "refused": sum(r.outcome == "refused" for r in results),
            "aborted": sum(r.outcome == "aborted" for r in results),
            "failed": sum(r.outcome == "failed" for r in results),
            "root_count": sum(r.root_count for r in done),
            "retained_blob_count": sum(r.retained_blob_count for r in done),
            "deleted_blob_count": sum(r.deleted_blob_count for r in done),
            "freed_bytes": sum(r.freed_bytes for r in done)}


def vacuum_totals(results: Iterable[SessionVacuum]) -> dict[str, int | None]:
    """Sums over vacuum results (sessions by outcome, nodes removed, sizes when compacted)."""
    results = list(results)
    done = [r.report for r in results if r.report is not None]
    compacted = [r for r in done if r.compacted]
    return {"sessions": len(results), "vacuumed": len(done),
            "refused": sum(r.outcome == "refused" for r in results),
            "failed": sum(r.outcome == "failed" for r in results),
            "removed_node_count": sum(r.removed_node_count for r in done),
            "size_before": sum(r.size_before or 0 for r in compacted) if compacted else None,
            "size_after": sum(r.size_after or 0 for r in compacted) if compacted else None}


__all__ = ["SessionGc", "SessionVacuum", "gc_session", "gc_sessions", "gc_totals", "vacuum_session",
           "vacuum_sessions", "vacuum_totals"]
