"""``lashdb sessions backup`` and ``lashdb sessions restore``: verified copies of sessions and their sidecars.

Contract (backup, per session, into the directory ``out``):
- A session FILE is copied, with each sidecar beside it (``<file>.db.<role>.db``), by SQLite's
  online backup API from a read-only connection (``sqlite/backup.py``): one consistent snapshot
  per file even while a runtime commits, and the source is never written. A session on
  PostgreSQL is a :func:`migrate.migrate_one` into a directory (one snapshot, verified row for
  row), which writes the same files. Either way the files are first written into a private
  staging directory inside ``out``, then verified (:func:`check_copy`), and only then renamed
  into ``out``: a copy that fails verification is removed and never replaces an older backup.
- The result in ``out`` is a sessions root: ``lashdb --root OUT sessions list`` reads it, and
  ``lashdb sessions restore OUT/<file>`` puts a session back.
Contract (restore, per backup session file; a directory means every session file in it):
- The backup is verified first (:func:`check_copy`); a damaged backup is ``failed``.
- Without ``force`` a session is restored only where nothing of it exists: no session with its id,
  and on a directory no file (nor ``-wal``/``-shm``, nor sidecar) under the name it would take.
  Otherwise it is ``refused`` (exit 1) naming what is there.
- With ``force`` an existing session is replaced, unless its execution lease is live (refused,
  naming the holder: a runtime still writes it). On a directory each file is copied into a
  staging directory in the root and renamed over its target (one atomic rename per file, the
  sidecars first, the session file last); the old ``-wal``/``-shm`` and sidecars the backup lacks
  are removed. On PostgreSQL the session's rows are deleted and the backup's imported in ONE
  transaction.
- ``dry_run`` reads everything and writes nothing (``status`` says what would happen).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lashdb.engine.base import backends, kinds
from lashdb.engine.base.errors import DatabaseError, LashdbError, SessionInUse, SessionNotMigrated, one_line
from lashdb.engine.base.locator import SessionLocation

from . import discovery, migrate
from .ports import classify, open_health, require_session_file
from .verify import verify_session

COPIED, RESTORED, REFUSED, FAILED = "copied", "restored", "refused", "failed"
ROLE_KIND_NAMES = {"effects": kinds.EFFECT_REPLAY, "processes": kinds.PROCESS_REGISTRY, "triggers": kinds.TRIGGER_STORE}
IN_USE_HINT = "stop that runtime or wait until its lease expires (`lashdb sessions show` shows it), then restore again"

Progress = Callable[["SessionCopy", int, int], None]


@dataclass
class SessionCopy:
    """One session's backup or restore: where from and to, the files, the outcome and why."""

    session_id: str | None
    source: str
    status: str
    target: str | None = None
    files: list[dict[str, Any]] = field(default_factory=list)
    blobs: int = 0
    reason: str | None = None
    error: LashdbError | None = field(default=None, repr=False)

    @property
    def bytes(self) -> int:
        """Bytes of every file written (or that would be)."""
        return sum(int(f["bytes"]) for f in self.files)

    def fail(self, exc: LashdbError, status: str = FAILED) -> SessionCopy:
        """Record ``exc`` as why this session was not copied."""
        self.status, self.error, self.reason = status, exc, one_line(exc)
        return self

    def to_json(self) -> dict[str, Any]:
        """The report entry (keys: session_id, source, target, status, files, bytes, blobs, reason)."""
        return {"session_id": self.session_id, "source": self.source, "target": self.target, "status": self.status,
                "files": list(self.files), "bytes": self.bytes, "blobs": self.blobs, "reason": self.reason}


@dataclass
class CopyReport:
    """One backup or restore run: the store, the directory or backups, the options, one entry per session."""

    command: str
    store: str
    dest: str | None
    dry_run: bool
    force: bool
    sessions: list[SessionCopy]

    @property
    def ok(self) -> bool:
        """True when every session was copied (or would be)."""
        return all(s.status in (COPIED, RESTORED) for s in self.sessions)

    def totals(self) -> dict[str, int]:
        """Sessions per status, plus files and bytes."""
        out = {s: sum(1 for r in self.sessions if r.status == s) for s in (COPIED, RESTORED, REFUSED, FAILED)}
        out.update(sessions=len(self.sessions), files=sum(len(r.files) for r in self.sessions),
                   bytes=sum(r.bytes for r in self.sessions))
        return out

    def to_json(self) -> dict[str, Any]:
        """The ``--json`` document (keys: command, store, dest, dry_run, force, sessions, total)."""
        return {"command": self.command, "store": self.store, "dest": self.dest, "dry_run": self.dry_run,
                "force": self.force, "sessions": [s.to_json() for s in self.sessions], "total": self.totals()}


# --- verification ---------------------------------------------------------------------------------------


def check_copy(session_file: Path, sidecars: dict[str, Path]) -> tuple[str | None, int]:
    """Why a copied session file (and its sidecars) is unfit to restore, or None; and its blob count.

    Checks: SQLite's quick check of every file, each file's schema is the kind and version this
    lashdb writes, every blob of the session re-hashes to its name and its head's checkpoint is there."""
    try:
        for role, path in [("session", session_file), *sorted(sidecars.items())]:
            problems = _quick_check(path)
            if problems:
                return f"{path.name}: {problems[0]}", 0
            found = classify(path)
            expected = kinds.SESSION if role == "session" else ROLE_KIND_NAMES[role]
            if found.kind_name != expected or not found.supported:
                return f"{path.name}: its schema is {found.kind_name}" + ("" if found.supported else
                                                                         " at a version this lashdb does not write"), 0
            if role == "session":
                require_session_file(found, path)
    except LashdbError as exc:
        return one_line(exc), 0
    entry = verify_session(session_file, jobs=1)
    if not entry.ok:
        detail = entry.error_text or (entry.problems or [f"{entry.failed} blob(s) failed verification"])[0]
        return detail, entry.blobs
    return None, entry.blobs


def _quick_check(path: Path) -> list[str]:
    health = open_health(path)
    try:
        return health.quick_check(3)
    finally:
        health.close()


def _session_id_of(session_file: Path) -> str | None:
    return verify_session(session_file, jobs=1).session_id


# --- backup ---------------------------------------------------------------------------------------------


def _staging(parent: Path, what: str) -> Path:
    parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".lashdb-{what}-{os.getpid()}-", dir=parent))


def _staged_files(staging: Path) -> tuple[Path, dict[str, Path]]:
    """The session file a staging directory holds, and its sidecars by role."""
    names = sorted(p for p in staging.iterdir() if p.name.endswith(".db"))
    sessions = [p for p in names if not discovery.is_sidecar_name(p)]
    if len(sessions) != 1:
        raise DatabaseError(staging, f"{staging}: expected one session file in the staging directory, found "
                            f"{len(sessions)}", hint="report this: the copy wrote something unexpected")
    return sessions[0], {role: p for role, p in discovery.sidecars_of(sessions[0]).items() if isinstance(p, Path)}


def _install(files: list[tuple[Path, Path]]) -> None:
    """Rename each staged file over its target, the session file (given last) last; stale -wal/-shm go first."""
    for staged, target in files:
        for suffix in ("-wal", "-shm"):
            # A -wal of the file being replaced would be replayed onto the new one: it goes before the rename.
            side = Path(os.fspath(target) + suffix)
            if side.exists():
                side.unlink()
        os.replace(staged, target)


def _file_entries(files: list[tuple[str, Path, Path]]) -> list[dict[str, Any]]:
    return [{"role": role, "source": str(src), "path": str(dst), "bytes": os.path.getsize(src)}
            for role, src, dst in files]


def _refuse_open_target(target: Path) -> None:
    for suffix in ("-wal", "-shm"):
        if Path(os.fspath(target) + suffix).exists():
            raise DatabaseError(target, f"{target}{suffix}: the backup already there is open (or was not closed "
                                "cleanly); not replacing it", hint="close what has it open, or choose another -o DIR")


def _verified_install(result: SessionCopy, staging: Path, out: Path, sources: dict[str, str]) -> None:
    session_file, sidecars = _staged_files(staging)
    problem, result.blobs = check_copy(session_file, sidecars)
    if problem is not None:
        raise SessionNotMigrated(result.session_id or session_file.name, f"{session_file.name}: the copy failed "
                                 f"verification: {problem}; nothing was written to {out}",
                                 hint="run `lashdb doctor` and `lashdb blob verify` on the session, then back up again")
    moves = [(staged, out / staged.name) for staged in [*sidecars.values(), session_file]]
    for _staged, target in moves:
        _refuse_open_target(target)
    result.files = [{"role": role, "source": sources.get(role, result.source), "path": str(out / p.name),
                     "bytes": os.path.getsize(p)} for role, p in [*sorted(sidecars.items()), ("session", session_file)]]
    _install(moves)
    result.target = str(out / session_file.name)


def backup_session_file(path: Path, out: Path, *, dry_run: bool = False) -> SessionCopy:
    """Back up one session file and its sidecars into ``out`` (see the module contract)."""
    sidecars = {role: p for role, p in discovery.sidecars_of(path).items() if isinstance(p, Path)}
    result = SessionCopy(None, str(path), COPIED, str(out / path.name))
    try:
        found = classify(path)
        if found.kind_name != kinds.SESSION:
            raise DatabaseError(path, f"{path}: not a session database (its tables identify {found.kind_name})",
                                hint="name a session: `lashdb sessions list` shows them")
        result.session_id = _session_id_of(path)
        if dry_run:
            result.files = _file_entries([(r, p, out / p.name) for r, p in [*sorted(sidecars.items()),
                                                                          ("session", path)]])
            return result
        staging = _staging(out, "backup")
        try:
            backends.open_with("sqlite.backup_file", path, staging / path.name)
            for role, side in sidecars.items():
                backends.open_with("sqlite.backup_file", side, staging / side.name)
            _verified_install(result, staging, out, {r: str(p) for r, p in sidecars.items()} | {"session": str(path)})
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    except LashdbError as exc:
        return result.fail(exc)
    return result


def backup_located(source: Any, location: SessionLocation, out: Path, *, dry_run: bool = False) -> SessionCopy:
    """Back up one session of a URL store (``source`` its read-only transfer) into ``out``: a verified migrate."""
    from .backend import open_backend

    result = SessionCopy(location.session_id, location.display, COPIED)
    staging = _staging(out, "backup") if not dry_run else None
    try:
        dest = open_backend(staging).transfer() if staging is not None else _NoDest()
        try:
            # force: a backup of a session in use is what it is for; the export is one snapshot.
            moved = migrate.migrate_one(source, dest, location.session_id, location.display, None,
                                        dry_run=dry_run, force=True)
        finally:
            dest.close()
        if moved.error is not None:
            return result.fail(moved.error)
        if dry_run:
            result.files = [{"role": "session", "source": location.display, "path": None, "bytes": moved.bytes}]
            return result
        _verified_install(result, staging, out, {})
    except LashdbError as exc:
        return result.fail(exc)
    finally:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
    return result


class _NoDest:
    """A destination that holds nothing, for a dry run (nothing is created)."""

    target = "(dry run)"

    def export(self, session_id: str, tables: tuple[str, ...] | None = None) -> None:
        return None

    def close(self) -> None:
        """Nothing to release."""


def backup(backend: Any, sessions: list[Any], out: Path, *, dry_run: bool = False,
           progress: Progress | None = None) -> CopyReport:
    """Back up each of ``sessions`` (resolved paths or locations of ``backend``) into ``out``."""
    report = CopyReport("backup", backend.target, str(out), dry_run, False, [])
    if out.exists() and not out.is_dir():
        raise DatabaseError(out, f"{out}: not a directory", hint="give -o a directory (it is created when absent)")
    located = [s for s in sessions if isinstance(s, SessionLocation)]
    source = backend.transfer(readonly=True) if located else None
    try:
        for index, session in enumerate(sessions, 1):
            if isinstance(session, SessionLocation):
                result = backup_located(source, session, out, dry_run=dry_run)
            else:
                result = backup_session_file(Path(session), out, dry_run=dry_run)
            report.sessions.append(result)
            if progress is not None:
                progress(result, index, len(sessions))
    finally:
        if source is not None:
            source.close()
    return report


# --- restore ----------------------------------------------------------------------------------------------


def backup_files(paths: list[Path]) -> list[Path]:
    """The session files the BACKUP arguments name: a file itself, a directory every session file in it."""
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            out.extend(f.path for f in discovery.discover(path) if f.is_session)
        else:
            out.append(path)
    return list(dict.fromkeys(out))


def _existing_files(backend: Any, session_id: str) -> tuple[Path, list[Path]]:
    """Where ``session_id`` lives (or would) under a directory store, and every file of it there."""
    transfer = backend.transfer(readonly=True)
    try:
        where: dict[str, Path] = {}
        for sid, path, _refusal in transfer.sessions():
            if not discovery.is_sidecar_name(Path(path)):
                where.setdefault(sid, Path(path))
    finally:
        transfer.close()
    target = where.get(session_id) or backend.path_for_session(session_id)
    names = [target, *(Path(os.fspath(target) + s) for s in ("-wal", "-shm")),
             *(Path(os.fspath(target) + s) for s in discovery.SIDECAR_SUFFIXES.values())]
    return target, [p for p in names if os.path.lexists(p)]


def _refuse_present(session_id: str, where: str, present: list[str]) -> SessionNotMigrated:
    return SessionNotMigrated(session_id, f"session {session_id} already exists at {where} ({', '.join(present)}); "
                              "not restored", hint="pass --force to replace it with the backup, or delete it first "
                                                   "with `lashdb sessions delete`")


def _in_use(where: str, session_id: str, owner: Any, expires_ms: int) -> SessionNotMigrated:
    return SessionNotMigrated(session_id, f"{where}: session `{session_id}` is in use: its execution lease is held "
                              f"by `{owner}` until {migrate.iso_time(expires_ms)}; not replaced", hint=IN_USE_HINT)


def restore_to_directory(backend: Any, backup_file: Path, *, now_ms: int, force: bool = False,
                         dry_run: bool = False) -> SessionCopy:
    """Restore one backup session file (and its sidecars) into a directory store."""
    from .maintenance import plan_session_delete

    result = SessionCopy(None, str(backup_file), RESTORED)
    sidecars = {role: p for role, p in discovery.sidecars_of(backup_file).items() if isinstance(p, Path)}
    try:
        problem, result.blobs = check_copy(backup_file, sidecars)
        if problem is not None:
            raise DatabaseError(backup_file, f"{backup_file}: the backup failed verification: {problem}; not restored",
                                hint="restore from another backup")
        session_id = result.session_id = _session_id_of(backup_file)
        if session_id is None:
            raise DatabaseError(backup_file, f"{backup_file}: the backup names no session id", hint="restore from another backup")
        target, present = _existing_files(backend, session_id)
        result.target = str(target)
        if present and not force:
            return result.fail(_refuse_present(session_id, backend.target, [p.name for p in present]), REFUSED)
        if target.exists() and force:
            try:
                plan_session_delete(target, now_ms=now_ms)  # raises SessionInUse for a live lease
            except SessionInUse as exc:
                return result.fail(_in_use(str(target), session_id, exc.owner_id, exc.expires_at_ms), REFUSED)
        pairs = [(role, p, Path(os.fspath(target) + discovery.SIDECAR_SUFFIXES[role])) for role, p in sorted(sidecars.items())]
        pairs.append(("session", backup_file, target))
        result.files = _file_entries(pairs)
        if dry_run:
            return result
        staging = _staging(target.parent, "restore")
        try:
            moves = []
            for _role, src, dst in pairs:
                backends.open_with("sqlite.backup_file", src, staging / dst.name)
                moves.append((staging / dst.name, dst))
            keep = {dst for _r, _s, dst in pairs}
            for old in present:
                if old not in keep and not old.name.endswith(("-wal", "-shm")):
                    for suffix in ("", "-wal", "-shm"):
                        Path(os.fspath(old) + suffix).unlink(missing_ok=True)
            _install(moves)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    except LashdbError as exc:
        return result.fail(exc)
    return result


def restore_to_url(backend: Any, backup_file: Path, *, force: bool = False, dry_run: bool = False) -> SessionCopy:
    """Restore one backup session file into a URL store: a migrate from the backup's directory."""
    from .backend import open_backend

    result = SessionCopy(None, str(backup_file), RESTORED)
    sidecars = {role: p for role, p in discovery.sidecars_of(backup_file).items() if isinstance(p, Path)}
    try:
        problem, result.blobs = check_copy(backup_file, sidecars)
        if problem is not None:
            raise DatabaseError(backup_file, f"{backup_file}: the backup failed verification: {problem}; not restored",
                                hint="restore from another backup")
        session_id = result.session_id = _session_id_of(backup_file) or ""
        result.target = backend.location(session_id).display
        result.files = _file_entries([(r, p, p) for r, p in [*sorted(sidecars.items()), ("session", backup_file)]])
        for f in result.files:
            f["path"] = result.target
        source = open_backend(backup_file.parent).transfer(readonly=True)
        dest = backend.transfer()
        try:
            there = dest.export(session_id, ("session_meta", "session_head", "session_execution_leases"))
            if there is not None and not force:
                return result.fail(_refuse_present(session_id, backend.target, ["its rows"]), REFUSED)
            if there is not None:
                lease = migrate.live_lease(there, dest.now_ms())
                if lease is not None:
                    return result.fail(_in_use(result.target, session_id, lease.get("lease_owner_id"),
                                               int(lease.get("lease_expires_at_ms") or 0)), REFUSED)
            if dry_run:
                return result
            if there is None:
                moved = migrate.migrate_one(source, dest, session_id, str(backup_file), None, force=True)
                if moved.error is not None:
                    return result.fail(moved.error)
                return result
            records = source.export(session_id)
            if records is None:
                raise DatabaseError(backup_file, f"{backup_file}: holds no session rows", hint="restore from another backup")
            dest.replace_session(session_id, records)  # delete + import: one transaction
            problem = migrate.verify_copy(records, dest.export(session_id))
            if problem is not None:
                raise SessionNotMigrated(session_id, f"{session_id}: the restored rows differ from the backup: {problem}",
                                         hint="restore again with --force")
        finally:
            dest.close()
            source.close()
    except LashdbError as exc:
        return result.fail(exc)
    return result


def restore(backend: Any, backups: list[Path], *, now_ms: int, force: bool = False, dry_run: bool = False,
            progress: Progress | None = None) -> CopyReport:
    """Restore every session file ``backups`` name into ``backend`` (see the module contract)."""
    files = backup_files(backups)
    report = CopyReport("restore", backend.target, None, dry_run, force, [])
    for index, path in enumerate(files, 1):
        if hasattr(backend, "location"):
            result = restore_to_url(backend, path, force=force, dry_run=dry_run)
        else:
            result = restore_to_directory(backend, path, now_ms=now_ms, force=force, dry_run=dry_run)
        report.sessions.append(result)
        if progress is not None:
            progress(result, index, len(files))
    return report
