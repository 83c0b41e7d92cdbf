"""Stale private copies as a ``doctor`` finding (issue 14).

Contract:
- A read-only look at a database whose ``-wal`` has no ``-shm`` reads a private copy made in the
  backend's copy directory; a process killed meanwhile leaves its copy behind (as big as the
  database and its WAL). Outside ``doctor`` the next process's first read-only open removes such
  copies unseen; :func:`kept` lists them before ``doctor`` opens anything and keeps this process's
  opens from sweeping them, so that the report shows them and ``doctor --fix`` removes them.
- :func:`with_copies` adds one entry per copy to a report (kind ``stale private copy``, check
  ``stale_private_copies``, a ``warning`` whose subject is the copy's directory). The copies are of
  this machine and user, not of one root: a doctor of a whole root (or of a directory) lists them, a
  doctor of named files does not.
- Removing one (:func:`remove`) judges it stale again first; a dry run removes nothing.
"""

from __future__ import annotations

import os
from contextlib import AbstractContextManager
from dataclasses import replace
from pathlib import Path

from . import ports
from .doctor import WARNING, DoctorReport, FileReport, Finding

CHECK = "stale_private_copies"
KIND = "stale private copy"


def kept() -> AbstractContextManager[list[str]]:
    """The stale private copies as they are now; inside the block nothing in this process sweeps them."""
    return ports.stale_private_copies_kept()


def _size(path: Path) -> int:
    total = 0
    for entry in path.iterdir() if path.is_dir() else ():
        try:
            total += entry.stat().st_size
        except OSError:
            continue  # removed meanwhile: nothing to count
    return total


def copy_report(path: str) -> FileReport:
    """The report entry of one stale copy directory (named ``PID-START-…`` by its dead owner)."""
    where = Path(path)
    size = _size(where)
    pid = where.name.split("-", 1)[0]
    return FileReport(where, KIND, db_bytes=size, checks={CHECK: "problems"},
                      findings=[Finding(CHECK, WARNING, f"{where.name} ({size} bytes) is the private copy of a "
                                f"read-only look by process {pid}, which is gone; delete it", str(where))])


def with_copies(report: DoctorReport, copies: list[str]) -> DoctorReport:
    """``report`` with an entry for each of ``copies`` still there."""
    extra = tuple(copy_report(c) for c in copies if os.path.lexists(c))
    return replace(report, files=report.files + extra) if extra else report


def remove(path: str, *, dry_run: bool = False) -> str:
    """Remove the stale copy ``path`` (refused unless its owner is gone); what was done, for the fix list."""
    done = ports.remove_stale_private_copy(path, dry_run=dry_run)
    return f"{done} {os.path.basename(path)}" if done != "already gone" else f"{os.path.basename(path)}: already gone"
