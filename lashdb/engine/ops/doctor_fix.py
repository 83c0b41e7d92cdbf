"""What fixes each doctor finding (``doctor --json``'s ``remedy``) and ``doctor --fix`` (issue 14).

Contract:
- :func:`with_remedies` sets each finding's ``remedy``: the exact command that fixes it, or None
  when only a person can decide (damage, a foreign schema, a stuck process, a missing parent).
  Commands name the session as the report does (a session file's path; on a URL store
  ``--store <url without password>`` and the session id).
- Safe without judgement, and applied by :func:`fix`: an expired execution lease, an expired
  process lease (each released in one write transaction, judged again under its lock: a lease
  re-claimed since the report is live and refused), an orphan ``-wal``/``-shm`` whose
  database still does not exist (deleted), and a stale private copy (:mod:`.doctor_copies`) whose
  owner is still gone (``rm -r -- DIR`` is its command). Everything else with a remedy is listed with its command
  and left for a person (a stale effect, an uncommitted attachment, a deleted session's sidecars).
- A dry run applies nothing; its entries say ``would apply``.
"""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from lashdb.engine.base.errors import LashdbError, one_line
from lashdb.engine.base.locator import is_location

from . import discovery, doctor_copies, remedies
from .doctor import DoctorReport, FileReport, Finding

__all__ = ["APPLIED", "FixEntry", "LEFT", "SAFE_CHECKS", "WOULD_APPLY", "fix", "with_remedies"]

SAFE_CHECKS = ("execution_leases", "process_leases", "orphan_sidecar", doctor_copies.CHECK)
"""Checks whose remedy is safe without judgement (``doctor --fix`` applies them)."""
APPLIED = "applied"
WOULD_APPLY = "would apply"
LEFT = "left"
FAILED = "failed"


def _session_of(path: Any) -> Any:
    """The session a file report is about (a sidecar's owner), as a remedy names it; None for an entry
    that is no session (a URL store itself)."""
    if is_location(path):
        return path
    if not isinstance(path, (str, os.PathLike)):
        return None
    owner = discovery.sidecar_owner(Path(path))
    return owner[1] if owner is not None else Path(path)


def _command(session: Any, *args: str) -> str:
    words = list(args)
    if is_location(session):
        head = f"lashdb --store {shlex.quote(session.store)} "
        name = session.session_id
    else:
        head, name = "lashdb ", str(session)
    return head + " ".join(shlex.quote(w.replace("{SESSION}", name)) for w in words)


def _stale_effect(path: Any, subject: str | None, now_ms: int) -> tuple[str, str] | None:
    from . import effects

    for row in effects.stale_in_progress(path, now_ms=now_ms):
        if f"{row.scope_id} {row.replay_key}" == subject:
            return row.scope_id, row.replay_key
    return None


def remedy_for(report: FileReport, finding: Finding, now_ms: int) -> str | None:
    """The command that fixes ``finding`` of ``report``'s file, or None."""
    session = _session_of(report.path)
    check, subject = finding.check, finding.subject
    if check == "orphan_sidecar" and subject:
        return "rm -- " + shlex.quote(subject)
    if check == doctor_copies.CHECK and subject:
        return "rm -r -- " + shlex.quote(subject)
    if check == "session_sidecar" and subject:
        from .views import database_files

        return "rm -- " + " ".join(shlex.quote(str(f)) for f in database_files(Path(subject)))
    if session is None:
        return None
    if check == "execution_leases":
        return _command(session, "unlock", "{SESSION}", "--execution")
    if check == "process_leases" and subject:
        return _command(session, "unlock", "{SESSION}", "--process", subject)
    if check == "list_summary":
        return _command(session, "vacuum", "{SESSION}")  # rebuilds the head's list summary from the rows
    if check == "listing_columns":
        return _command(session, "vacuum", "{SESSION}")
    if check == "attachments" and subject:
        return _command(session, "attachments", "abandon", "{SESSION}", subject)
    if check == "stale_effects":
        found = _stale_effect(report.path, subject, now_ms)
        if found is not None:
            return _command(session, "effects", "resolve", "{SESSION}", "--scope", found[0], "--key", found[1],
                            "--as", "failed")
    return None


def with_remedies(report: DoctorReport) -> DoctorReport:
    """``report`` with each finding's ``remedy`` set (the file reports are updated in place)."""
    for file in report.files:
        out = []
        for finding in file.findings:
            try:
                remedy = remedy_for(file, finding, report.now_ms)
            except LashdbError:  # the file changed since the check; the finding stays, without a command
                remedy = None
            out.append(replace(finding, remedy=remedy))
        file.findings[:] = out
    return report


@dataclass(frozen=True)
class FixEntry:
    """One finding ``doctor --fix`` looked at: its command and what became of it."""

    file: str
    check: str
    subject: str | None
    command: str | None
    action: str
    """``applied``, ``would apply``, ``failed`` or ``left`` (needs a person)."""
    detail: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The documented JSON object."""
        return {"file": self.file, "check": self.check, "subject": self.subject, "command": self.command,
                "action": self.action, "detail": self.detail}


class _Refused(LashdbError):
    """A lease doctor saw expired was live again under its lock."""


def _apply(backend: Any, file: FileReport, finding: Finding, now_ms: int, dry_run: bool) -> str:
    if finding.check == doctor_copies.CHECK:
        return doctor_copies.remove(finding.subject or "", dry_run=dry_run)
    session = _session_of(file.path)
    if finding.check == "orphan_sidecar":
        path = Path(finding.subject or "")
        database = str(path)[: -len("-wal")]  # -wal and -shm are both four characters
        if os.path.lexists(database):
            return f"kept: {os.path.basename(database)} exists again"
        if not dry_run and path.exists():
            path.unlink()
        return f"{'would remove' if dry_run else 'removed'} {path.name}"
    if finding.check == "execution_leases":
        acts = remedies.release_execution_lease(session, now_ms, dry_run=dry_run)
    else:
        acts = remedies.unlock(backend, [session], now_ms=now_ms, process=finding.subject, dry_run=dry_run)
    refused = [a.reason for a in acts if a.action == remedies.REFUSED]
    if refused:  # re-claimed since the report: a live holder keeps it
        raise _Refused(refused[0])
    return "; ".join(f"{a.action} the {a.kind} lease of `{a.subject}` held by `{a.owner_id}`" for a in acts) \
        or "nothing held any more"


def fix(backend: Any, report: DoctorReport, *, dry_run: bool = False) -> list[FixEntry]:
    """Apply the safe remedies of ``report`` (whose findings carry remedies) and list the rest."""
    out = []
    for file in report.files:
        for finding in file.findings:
            name = getattr(file.path, "name", str(file.path))
            if finding.check not in SAFE_CHECKS:
                out.append(FixEntry(name, finding.check, finding.subject, finding.remedy, LEFT))
                continue
            try:
                detail = _apply(backend, file, finding, report.now_ms, dry_run)
                action = WOULD_APPLY if dry_run else APPLIED
            except (LashdbError, OSError) as exc:
                detail, action = one_line(exc), FAILED
            out.append(FixEntry(name, finding.check, finding.subject, finding.remedy, action, detail))
    return out
