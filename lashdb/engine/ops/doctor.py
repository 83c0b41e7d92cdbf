"""Health checks over every database under a root or the given paths (CLI.md ``doctor``).

Contract:
- Read-only: files are classified through :func:`discovery.examine` and opened with
  ``connection.open_readonly`` (``immutable=1`` without a ``-wal``; a ``-wal`` without its ``-shm``
  is read from a private copy); nothing is written, checkpointed or created.
- The checks are the list :data:`CHECKS` of functions ``check(found, ctx)`` over a
  :class:`discovery.Found`. Each returns ``None`` when it does not apply to that file, else its
  findings (empty: passed). Append a function (or decorate it with :func:`check`) to add one; it
  gets the shared read-only connection from :meth:`Context.connection` or opens the path itself.
  A check that raises (a :class:`LashdbError`, SQLite finding the file malformed half-way, anything)
  becomes an ``error`` finding naming the check; the other checks and files go on.
- Besides databases, ``-wal``/``-shm`` files without their database are reported as orphan sidecars, and
  so are a session's sidecars (``<file>.db.effects.db``, ``.host.json``, …) whose session database is
  gone; a child session whose parent session is not in its directory is a warning (it still works).
- Every finding is a problem (``error``: damage or unreadable; ``warning``: needs attention, e.g. an
  expired lease, a foreign schema, a file that is not a lash database); :attr:`DoctorReport.ok` is
  true only when there is none.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import apsw

from lashdb.engine.session import blobs, gc
from lashdb.engine.session.ports import session_tx
from . import discovery, doctor_summary, verify
from .ports import Health, driver_error, open_health
from lashdb.engine.base import codec, kinds
from lashdb.engine.base.files import sidecar
from lashdb.engine.base.locator import is_location
from lashdb.engine.base.errors import RESTORE, DatabaseNotFound, LashdbError, one_line
from lashdb.engine.base.timing import iso_ms

ERROR = "error"
WARNING = "warning"
ATTACHMENT_STALE_MS = 3_600_000
"""An attachment intent uncommitted for longer than this is reported (one hour)."""
LARGE_WAL_BYTES = 64 << 20
"""A ``-wal`` past this size means checkpoints are starved (a long reader, or a stuck writer)."""
ORPHAN_SIDECAR = "orphan sidecar"
_SQLITE_SIDECARS = ("-wal", "-shm")
_QUICK_CHECK_LINES = 10


@dataclass(frozen=True)
class Finding:
    """One problem: which check found it, how bad it is, what it is about and what is wrong."""

    check: str
    severity: str
    message: str
    subject: str | None = None
    remedy: str | None = None
    """The command that fixes it (set by :mod:`.doctor_fix`), or None when only a person can decide."""

    def to_json(self) -> dict[str, Any]:
        """The documented JSON object."""
        return {"check": self.check, "severity": self.severity, "subject": self.subject, "message": self.message,
                "remedy": self.remedy}


class Context:
    """What the checks share for one run: "now", worker threads, and one read-only connection per file."""

    def __init__(self, now_ms: int, jobs: int = verify.DEFAULT_JOBS) -> None:
        self.now_ms = now_ms
        self.jobs = jobs
        self._health: dict[Path, Health] = {}
        self._session_ids: dict[Path, set[str]] = {}

    def session_ids_in(self, directory: Path) -> set[str]:
        """The session ids stored in the session databases directly in ``directory`` (read once per run)."""
        ids = self._session_ids.get(directory)
        if ids is None:
            ids = self._session_ids[directory] = {sid for sid in discovery.session_ids(directory).values() if sid}
        return ids

    def neighbours(self, path: Path) -> tuple[set[str], str]:
        """The session ids a child at ``path`` finds its parent among, and where that is (for messages)."""
        return self.session_ids_in(path.parent), f"under {path.parent}"

    @staticmethod
    def can_open(path: Path) -> bool:
        """True when the file is there to open read-only (a ``-wal`` without its ``-shm`` is read from a
        private copy, so opening never creates a file)."""
        return os.path.isfile(path)

    def health(self, path: Path) -> Health:
        """The shared health reads of ``path`` (one read-only open on first use, closed by :meth:`release`)."""
        health = self._health.get(path)
        if health is None:
            health = self._health[path] = open_health(path)
        return health

    def connection(self, path: Path) -> Any:
        """The shared read-only connection to ``path`` (for session functions that take one)."""
        return self.health(path).connection

    def release(self, path: Path) -> None:
        """Close the open of ``path`` if one was made."""
        health = self._health.pop(path, None)
        if health is not None:
            health.close()


Check = Callable[[discovery.Found, Context], "list[Finding] | None"]
CHECKS: list[Check] = []


def check(fn: Check) -> Check:
    """Register ``fn`` as a doctor check (appended to :data:`CHECKS`)."""
    CHECKS.append(fn)
    return fn


def ago(ms: int) -> str:
    """A duration for a message: ``45 s``, ``12 min``, ``5 h 3 min``, ``4 days``."""
    seconds = max(ms, 0) // 1000
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h" + (f" {minutes} min" if minutes else "")
    return f"{hours // 24} days"


def _kind_is(found: discovery.Found, kind: str) -> bool:
    cls = found.classification
    return cls is not None and cls.kind is not None and cls.kind.name == kind


def _openable(found: discovery.Found) -> bool:
    return found.error is None and found.is_lash


# --- checks -----------------------------------------------------------------------------------------


@check
def readable(found: discovery.Found, ctx: Context) -> list[Finding]:
    """The file opens as SQLite."""
    if found.error is None:
        return []
    if found.unreadable:
        return [Finding("readable", ERROR, f"cannot be read: {discovery.unreadable_reason(found.error)}")]
    if verify.is_damage(found.error):
        return [Finding("readable", ERROR, f"damaged: SQLite cannot read it ({verify.damage_reason(found.error)}); "
                        f"restore it with {RESTORE}")]
    return [Finding("readable", ERROR, f"cannot be read: {one_line(found.error)}")]


@check
def lash_kind(found: discovery.Found, ctx: Context) -> list[Finding] | None:
    """The file is one of the four lash database kinds."""
    if found.error is not None:
        return None
    if found.is_lash:
        return []
    claimed = ctx.health(found.path).claimed_kind() if found.classification else None
    if claimed is not None:
        missing = ", ".join(t for t in claimed.marker_tables if t not in found.classification.tables)
        return [Finding("kind", ERROR, f"damaged lash {claimed.name} database: it is at version {claimed.version} "
                        f"and holds only {claimed.name} objects, but lacks {missing}")]
    tables = sorted(found.classification.tables) if found.classification else []
    what = "an empty file" if not tables and _size(found.path) == 0 else (
        f"tables: {', '.join(tables[:8])}{', …' if len(tables) > 8 else ''}" if tables else "no tables")
    return [Finding("kind", WARNING, f"not a lash database ({what})")]


@check
def schema_version(found: discovery.Found, ctx: Context) -> list[Finding] | None:
    """The schema version is the one this lashdb supports."""
    if found.error is not None or not found.is_lash:
        return None
    cls = found.classification
    if not cls.foreign:
        return []
    return [Finding("schema", WARNING,
                    f"foreign {cls.kind.name} schema: version {cls.user_version}, this lashdb supports "
                    f"{cls.kind.version}; it is read-only here and mutating commands refuse it")]


@check
def schema_shape(found: discovery.Found, ctx: Context) -> list[Finding] | None:
    """A lash file at its supported version has exactly its kind's tables, columns, constraints, indexes
    and foreign keys, and each singleton table at most its one row (else writes refuse it)."""
    if found.error is not None or found.classification is None or found.classification.foreign:
        return None
    health = ctx.health(found.path)
    kind = found.classification.kind or health.claimed_kind()
    if kind is None:
        return None
    out = [Finding("schema", ERROR, f"{text}: not the lash {kind.name} schema v{kind.version}; writing commands "
                   "refuse this file", name) for name, text in health.schema_differences(kind)]
    out += [Finding("schema", ERROR, text, table) for table, text in health.singleton_problems(kind)]
    return out


@check
def wal_files(found: discovery.Found, ctx: Context) -> list[Finding]:
    """The ``-wal``/``-shm`` pair is consistent and the WAL is not piling up."""
    wal, shm = Path(sidecar(found.path, "-wal")), Path(sidecar(found.path, "-shm"))
    out = []
    if shm.exists() and not wal.exists():
        out.append(Finding("wal", WARNING, f"{shm.name} exists but {wal.name} does not: the -wal of a live "
                           "database was deleted; transactions not yet checkpointed are lost", str(wal)))
    # A -wal without its -shm is no damage: the next writer rebuilds the -shm from the -wal.
    size = _size(wal)
    if size > LARGE_WAL_BYTES:
        out.append(Finding("wal", WARNING, f"{wal.name} holds {size} bytes: checkpoints are not keeping up "
                           "(a long-lived reader or a stuck writer)", str(wal)))
    return out


@check
def quick_check(found: discovery.Found, ctx: Context) -> list[Finding] | None:
    """The backend's integrity quick check (SQLite: ``PRAGMA quick_check``) passes."""
    if found.error is not None:
        return None
    return [Finding("quick_check", ERROR, problem)
            for problem in ctx.health(found.path).quick_check(_QUICK_CHECK_LINES)]


@check
def blob_envelopes(found: discovery.Found, ctx: Context) -> list[Finding] | None:
    """Every blob decodes and hashes to its address (SPEC §4)."""
    if not _openable(found) or not found.is_session or not ctx.health(found.path).reader().has_blob_table():
        return None
    conn = ctx.connection(found.path)
    failures: list[codec.Verification] = []
    read = 0

    def sink(batch: list[codec.Verification]) -> None:
        nonlocal read
        read += len(batch)
        failures.extend(v for v in batch if not v.ok)

    stopped: BaseException | None = None
    try:
        verify.verify_rows(verify.table_rows(conn), jobs=ctx.jobs, limit=codec.DEFAULT_DECOMPRESSION_LIMIT,
                           sink=sink)
    except apsw.Error as exc:
        if not verify.is_damage(exc):
            raise driver_error(exc, found.path) from exc
        stopped = exc  # the blobs read before the damaged page are still reported
    out = [Finding("blobs", ERROR, f"blob {v.blob_hash}: {v.status}: {v.reason}", v.blob_hash)
           for v in sorted(failures, key=lambda v: v.blob_hash)]
    if stopped is not None:
        out.append(Finding("blobs", ERROR, f"damaged: SQLite stopped reading the blobs after {read} row(s) "
                           f"({verify.damage_reason(stopped)})"))
    return out


@check
def gc_roots(found: discovery.Found, ctx: Context) -> list[Finding] | None:
    """The head reads, and the checkpoint manifest it names is stored (else every session read fails)
    and decodes (else GC would abort)."""
    if not _openable(found) or not _kind_is(found, kinds.SESSION) or found.classification.foreign:
        return None
    conn = ctx.connection(found.path)
    try:
        gc.find_reachable_objects(session_tx(conn), codec.DEFAULT_DECOMPRESSION_LIMIT)
        ref = gc.head_checkpoint_ref(session_tx(conn))
    except LashdbError as exc:
        return [Finding("gc_roots", ERROR, f"gc would abort: {one_line(exc)}", getattr(exc, "blob_hash", None))]
    if ref is not None and blobs.get_stored(session_tx(conn), ref) is None:
        return [Finding("gc_roots", ERROR, f"the session head names checkpoint {ref}, which is missing from the "
                        "blobs table: loading the session fails (restore it with " + RESTORE + ")", ref)]
    return []


CHECKS.append(doctor_summary.make_check(Finding, WARNING, lambda f: _kind_is(f, kinds.SESSION) and _openable(f)
                                        and not f.classification.foreign))


@check
def execution_leases(found: discovery.Found, ctx: Context) -> list[Finding] | None:
    """No session execution lease is held past its expiry (a runner died holding it)."""
    if not _openable(found) or not found.is_session:
        return None
    rows = ctx.health(found.path).reader().expired_leases(ctx.now_ms)
    if rows is None:
        return None
    return [Finding("execution_leases", WARNING,
                    f"execution lease of `{owner}` on session `{sid}` expired at {iso_ms(int(expires))} "
                    f"({ago(ctx.now_ms - int(expires))} ago) and was never released", str(sid))
            for sid, owner, expires in rows]


@check
def attachment_intents(found: discovery.Found, ctx: Context) -> list[Finding] | None:
    """No attachment intent stays uncommitted for over an hour (a crashed upload)."""
    if not _openable(found) or not found.is_session:
        return None
    rows = ctx.health(found.path).reader().old_attachment_intents(ctx.now_ms - ATTACHMENT_STALE_MS)
    if rows is None:
        return None
    return [Finding("attachments", WARNING,
                    f"attachment `{aid}` ({uri}) recorded at {iso_ms(int(at))} is still uncommitted after "
                    f"{ago(ctx.now_ms - int(at))}", str(aid))
            for aid, uri, at in rows]


@check
def process_leases(found: discovery.Found, ctx: Context) -> list[Finding] | None:
    """No process lease is held past its expiry, and no process looks stuck."""
    if not _openable(found) or not _kind_is(found, kinds.PROCESS_REGISTRY):
        return None
    from . import deployment_inspect

    out = [Finding("process_leases", WARNING,
                   f"lease of process `{lease.process_id}` held by `{lease.owner_id}` expired at "
                   f"{iso_ms(lease.expires_at_ms)} and was never released", lease.process_id)
           for lease in deployment_inspect.expired_process_leases(found.path, now_ms=ctx.now_ms)]
    for stuck in deployment_inspect.stuck_processes(found.path, now_ms=ctx.now_ms):
        if set(stuck.reasons) - {"lease_expired"}:  # an expired lease alone is reported above
            out.append(Finding("stuck_processes", WARNING,
                               f"process `{stuck.process_id}` ({stuck.status}) looks stuck: {stuck.detail}",
                               stuck.process_id))
    return out


@check
def stale_effects(found: discovery.Found, ctx: Context) -> list[Finding] | None:
    """No effect stays in progress past its lease (its runner died; a replay would run it again)."""
    if not _openable(found) or not _kind_is(found, kinds.EFFECT_REPLAY):
        return None
    from lashdb.engine.ops import effects

    out = []
    for row in effects.stale_in_progress(found.path, now_ms=ctx.now_ms):
        expires = row.lease_expires_at_ms or 0
        lease = (f"its lease held by `{row.lease_owner_id}` expired at {iso_ms(expires)} "
                 f"({ago(ctx.now_ms - expires)} ago)" if expires and row.lease_owner_id else "no lease holds it")
        out.append(Finding("stale_effects", WARNING,
                           f"effect `{row.replay_key}` of scope `{row.scope_id}` is still in progress and {lease}; "
                           f"a replay would execute it again (`{_replay_command(found.path, row.scope_id)}`)",
                           f"{row.scope_id} {row.replay_key}"))
    return out


@check
def parent_session(found: discovery.Found, ctx: Context) -> list[Finding] | None:
    """A child session's parent session is still in its root (deleting a parent leaves the child behind)."""
    if not _openable(found) or not found.is_session:
        return None
    meta = ctx.health(found.path).reader().meta()
    parent = meta.relation.parent_session_id if meta is not None else None
    if parent is None:
        return None
    ids, where = ctx.neighbours(found.path)
    if parent in ids:
        return []
    return [Finding("parent_session", WARNING,
                    f"child session `{meta.session_id}` names parent session `{parent}`, which is not "
                    f"{where} (deleted?); the child still works, but its parent's history is gone",
                    parent)]


@check
def session_sidecar(found: discovery.Found, ctx: Context) -> list[Finding] | None:
    """A file named as a session's sidecar (``<file>.db.effects.db``, …) has its session database beside it."""
    owner = discovery.sidecar_owner(found.path)
    if owner is None:
        return None
    return [] if os.path.lexists(owner[1]) else [_sidecar_without_session(found.path, *owner)]


def _replay_command(path: Any, scope: str) -> str:
    """The command that replays ``scope`` of the effect journal at ``path`` (a file, or a located session)."""
    if is_location(path):
        return (f"lashdb --store {shlex.quote(path.store)} effects replay {shlex.quote(path.session_id)} "
                f"--scope {shlex.quote(scope)}")
    return f"lashdb effects replay --db {shlex.quote(str(path))} --scope {shlex.quote(scope)}"


def _sidecar_without_session(path: Path, role: str, session_db: Path) -> Finding:
    from .views import database_files

    rm = " ".join(shlex.quote(str(f)) for f in database_files(path))
    return Finding("session_sidecar", WARNING,
                   f"{path.name} is the {role} sidecar of session database {session_db.name}, which does not "
                   f"exist (the session was deleted); remove it with `rm -- {rm}` if its records are no longer "
                   "needed", str(path))


def _size(path: Path) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


# --- running --------------------------------------------------------------------------------------------


@dataclass
class FileReport:
    """Everything doctor found about one file: what it is, its sizes, each check's outcome."""

    path: Path
    kind: str
    schema_version: int | None = None
    supported_version: int | None = None
    db_bytes: int = 0
    wal_bytes: int = 0
    checks: dict[str, str] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    unreadable_reason: str | None = None

    @property
    def ok(self) -> bool:
        """No finding."""
        return not self.findings

    @property
    def status(self) -> str:
        """``ok``, ``problems``, or ``unreadable`` when the file cannot be read at all (see ``reason``)."""
        if self.unreadable_reason is not None:
            return "unreadable"
        return "ok" if self.ok else "problems"

    def to_json(self) -> dict[str, Any]:
        """The documented JSON object."""
        return {"path": str(self.path), "file": self.path.name, "kind": self.kind, "status": self.status,
                "reason": self.unreadable_reason,
                "schema_version": self.schema_version, "supported_schema_version": self.supported_version,
                "db_bytes": self.db_bytes, "wal_bytes": self.wal_bytes, "ok": self.ok, "checks": self.checks,
                "findings": [f.to_json() for f in self.findings]}


@dataclass(frozen=True)
class DoctorReport:
    """Reports for every database and orphan sidecar examined."""

    paths: tuple[Path, ...]
    files: tuple[FileReport, ...]
    now_ms: int
    unusable: str | None = None
    """Why the target could not be examined at all (a store it cannot connect to or read): exit 3."""

    @property
    def ok(self) -> bool:
        """Nothing wrong anywhere."""
        return all(f.ok for f in self.files)

    def counts(self) -> dict[str, int]:
        """Files checked, files with problems, and findings by severity."""
        findings = [x for f in self.files for x in f.findings]
        return {"checked": len(self.files), "problem_files": sum(not f.ok for f in self.files),
                "errors": sum(x.severity == ERROR for x in findings),
                "warnings": sum(x.severity == WARNING for x in findings)}

    def to_json(self) -> dict[str, Any]:
        """The documented JSON object."""
        return {"ok": self.ok, "paths": [str(p) for p in self.paths], "checked_at": iso_ms(self.now_ms),
                "checked_at_epoch_ms": self.now_ms, **self.counts(), "files": [f.to_json() for f in self.files]}


def examine_file(found: discovery.Found, ctx: Context, checks: Iterable[Check] | None = None) -> FileReport:
    """Run every check on one file; a check that fails becomes an error finding naming it."""
    cls = found.classification
    report = FileReport(found.path, found.kind_name,
                        cls.user_version if cls is not None and cls.kind else None,
                        cls.kind.version if cls is not None and cls.kind else None,
                        _size(found.path), _size(Path(sidecar(found.path, "-wal"))),
                        unreadable_reason=discovery.unreadable_reason(found.error) if found.unreadable else None)
    try:
        for fn in CHECKS if checks is None else checks:
            name = fn.__name__
            try:
                got = fn(found, ctx)
            except Exception as exc:  # noqa: BLE001 - one failing check must not stop doctor
                got = [_failed(name, exc, found.path)]
            if got is None:
                continue
            report.checks[name] = "ok" if not got else "problems"
            report.findings.extend(got)
    finally:
        ctx.release(found.path)
    return report


def _failed(name: str, exc: BaseException, path: Path) -> Finding:
    """The finding for a check that raised: damage if SQLite found the file malformed."""
    if verify.is_damage(exc):
        return Finding(name, ERROR, f"damaged: SQLite stopped reading it ({verify.damage_reason(exc)})")
    if isinstance(exc, LashdbError):
        return Finding(name, ERROR, f"check failed: {one_line(exc)}")
    if isinstance(exc, apsw.Error):
        return Finding(name, ERROR, f"check failed: {one_line(driver_error(exc, path))}")
    return Finding(name, ERROR, f"check failed: {type(exc).__name__}: {one_line(exc)}")


def orphan_sidecars(directory: Path, *, recursive: bool = False) -> list[Path]:
    """``-wal``/``-shm`` files in ``directory`` whose database does not exist."""
    if not directory.is_dir():
        return []
    out = []
    for suffix in _SQLITE_SIDECARS:
        pattern = f"*{suffix}"
        for path in directory.rglob(pattern) if recursive else directory.glob(pattern):
            if path.is_file() and not os.path.lexists(str(path)[: -len(suffix)]):
                out.append(path)
    return sorted(out)


def orphan_session_files(directory: Path, *, recursive: bool = False) -> list[Path]:
    """Session sidecars that are not databases (``<file>.db.host.json``) whose session database is gone."""
    if not directory.is_dir():
        return []
    out = []
    for suffix in (s for s in discovery.SIDECAR_SUFFIXES.values() if not s.endswith(".db")):
        pattern = f"*.db{suffix}"
        for path in directory.rglob(pattern) if recursive else directory.glob(pattern):
            if path.is_file() and not os.path.lexists(str(path)[: -len(suffix)]):
                out.append(path)
    return sorted(out)


def _orphan_file_report(path: Path, role: str, session_db: Path) -> FileReport:
    return FileReport(path, ORPHAN_SIDECAR, db_bytes=_size(path), checks={"session_sidecar": "problems"},
                      findings=[_sidecar_without_session(path, role, session_db)])


def _orphan_report(path: Path) -> FileReport:
    suffix = next(s for s in _SQLITE_SIDECARS if path.name.endswith(s))
    database = path.name[: -len(suffix)]
    return FileReport(path, ORPHAN_SIDECAR, db_bytes=0, wal_bytes=_size(path) if suffix == "-wal" else 0,
                      checks={"orphan_sidecar": "problems"},
                      findings=[Finding("orphan_sidecar", WARNING, f"{path.name} ({_size(path)} bytes) has no "
                                        f"database {database} beside it; delete it", str(path))])


def _targets(paths: Iterable[Path], recursive: bool) -> Iterator[tuple[Path, LashdbError | None]]:
    """Each file to check, with the walk's error for one it cannot read (named paths: found on open)."""
    for path in paths:
        if path.is_dir():
            for entry in discovery.walk(path, recursive=recursive):
                yield entry.path, entry.error
            for orphan in orphan_sidecars(path, recursive=recursive):
                yield orphan, None
            for orphan in orphan_session_files(path, recursive=recursive):
                yield orphan, None
        else:
            yield path, None


def _report(path: Path, error: LashdbError | None, ctx: Context) -> FileReport | None:
    if error is not None:
        return examine_file(discovery.Found(path, None, error), ctx)
    if path.name.endswith(_SQLITE_SIDECARS):
        return _orphan_report(path) if not os.path.lexists(str(path)[:-4]) else None
    owner = discovery.sidecar_owner(path)
    if owner is not None and not path.name.endswith(".db") and not os.path.lexists(owner[1]):
        return _orphan_file_report(path, *owner)
    return examine_file(discovery.examine(path), ctx)


def run(paths: Iterable[str | os.PathLike[str]], *, now_ms: int, recursive: bool = False,
        jobs: int = verify.DEFAULT_JOBS, progress: Callable[[int, int], None] | None = None) -> DoctorReport:
    """Check every database in (or named by) ``paths``; a path that does not exist raises;
    ``progress(done, total)`` hears of each file checked."""
    roots = tuple(Path(os.fspath(p)) for p in paths)
    for path in roots:
        if not os.path.lexists(path):
            raise DatabaseNotFound(path)
    ctx = Context(now_ms, jobs)
    files: list[FileReport] = []
    seen: set[str] = set()
    targets = list(_targets(roots, recursive))
    for done, (target, error) in enumerate(targets, 1):
        if progress is not None:
            progress(done, len(targets))
        # A symlink loop has no real path: its own path is its key.
        key = os.path.realpath(target) if error is None else os.path.abspath(target)
        if key in seen:
            continue
        seen.add(key)
        report = _report(target, error, ctx)
        if report is not None:
            files.append(report)
    return DoctorReport(roots, tuple(files), now_ms)


__all__ = [
    "ATTACHMENT_STALE_MS", "CHECKS", "Check", "Context", "DoctorReport", "ERROR", "FileReport", "Finding",
    "WARNING", "check", "examine_file", "orphan_session_files", "orphan_sidecars", "run",
]
