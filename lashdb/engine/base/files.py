"""File-name and OS-error helpers every layer shares (pure: no database, no driver).

Contract: a database's sidecar is its path with a suffix appended (``-wal``, ``-shm``,
``.effects.db``…); OS errors and file modes are described in the words lashdb's messages use.
"""

from __future__ import annotations

import errno
import os
import stat

__all__ = ["SCOPED_ROLES", "SIDECAR_ENDINGS", "SIDECAR_SUFFIXES", "file_type", "is_sidecar_name", "os_reason", "sidecar"]

SIDECAR_SUFFIXES: dict[str, str] = {
    "effects": ".effects.db",
    "processes": ".processes.db",
    "triggers": ".triggers.db",
    "artifacts": ".artifacts.db",
    "process-env": ".process-env.db",
    "host": ".host.json",
}
"""A session database's sidecar role → the suffix appended to its file name (SPEC §7)."""
SIDECAR_ENDINGS: tuple[str, ...] = tuple(".db" + suffix for suffix in SIDECAR_SUFFIXES.values())
"""How a sidecar's file name ends (``.db.effects.db``…): ``name.endswith(SIDECAR_ENDINGS)``."""
SCOPED_ROLES = ("processes", "triggers", "effects")
"""The sidecar roles a URL store keeps as rows scoped by a session id (the others have no twin there)."""


def is_sidecar_name(path: str | os.PathLike[str]) -> bool:
    """True when the file name marks it as another database's sidecar (``x.db.effects.db``…)."""
    return os.path.basename(path).endswith(SIDECAR_ENDINGS)


def sidecar(path: str | os.PathLike[str], suffix: str) -> str:
    """Return ``path`` with ``suffix`` appended to the file name (``-wal``, ``-shm``, …)."""
    return os.fspath(path) + suffix


def os_reason(exc: OSError) -> str:
    """An OS error's reason as lashdb reports it: ``symlink loop`` for ELOOP, else the OS's own words."""
    if exc.errno == errno.ELOOP:
        return "symlink loop"
    return exc.strerror or str(exc)


_FILE_TYPES = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"),
               (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"))


def file_type(mode: int) -> str:
    """What a file of ``mode`` is, for messages: ``a regular file``, ``a FIFO``, ``a directory``, …"""
    if stat.S_ISREG(mode):
        return "a regular file"
    return next((name for test, name in _FILE_TYPES if test(mode)), "a special file")
