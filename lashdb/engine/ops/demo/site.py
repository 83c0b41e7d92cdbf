"""Where a demo is written: one :class:`~lashdb.engine.ops.backend.Backend` (a directory or a URL store).

Contract: :func:`open_site` opens the backend of a target with the demo's session store options
and refuses a target that is already used (a directory that exists and is not empty; a URL store
that holds any of the demo's session ids) before anything is written. A :class:`DemoSite` hands
out the writable stores on the clocks the demo passes, names what it wrote the way the target
does (a session file's ``Path`` and its sidecar files; a
:class:`~lashdb.engine.base.locator.SessionLocation` for a URL store, whose deployment stores are
scoped by the session id), and sets a file's mtime to its last write (a URL store has no files).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from lashdb.engine.base.errors import DatabaseError
from lashdb.engine.deployment.effects import EffectHost, EffectReplayOptions
from lashdb.engine.deployment.process_registry import ProcessRegistry
from lashdb.engine.deployment.triggers import TriggerStore
from lashdb.engine.session.store import StoreOptions

from ..backend import DirectoryBackend, open_backend, parse_target
from .summary import Where


class DemoSite:
    """The backend a demo is written through, and how it names and touches what it wrote."""

    def __init__(self, backend: Any) -> None:
        self.backend = backend
        self.factory = backend.factory()
        self.directory = backend.root if isinstance(backend, DirectoryBackend) else None

    @property
    def root(self) -> Path | str:
        """The directory, or the URL store without its password."""
        return self.directory if self.directory is not None else self.backend.target

    def where(self, session_id: str) -> Where:
        """The session's database file, or its location in the URL store."""
        if self.directory is not None:
            return self.backend.path_for_session(session_id)
        return self.backend.location(session_id)

    def sidecar(self, session_id: str, role: str) -> Where:
        """The ``role`` sidecar file of ``session_id``, or the scope (the session) its rows live under."""
        if self.directory is not None:
            return self.backend.sidecar_path(session_id, role)
        return self.backend.location(session_id)

    def touch(self, where: Where, last_write_ms: int) -> None:
        """Set a file's mtime to its last write (what ``sessions list`` sorts by); nothing for a URL store."""
        if isinstance(where, Path):
            os.utime(where, ns=(last_write_ms * 1_000_000, last_write_ms * 1_000_000))

    def process_registry(self, root_session_id: str, clock: Callable[[], int]) -> ProcessRegistry:
        """The process registry of ``root_session_id`` on ``clock``."""
        return self.backend.process_registry(root_session_id, clock=clock)

    def trigger_store(self, root_session_id: str, clock: Callable[[], int]) -> TriggerStore:
        """The trigger store of ``root_session_id`` on ``clock``."""
        return self.backend.trigger_store(root_session_id, clock=clock)

    def effect_journal(self, session_id: str, options: EffectReplayOptions, clock: Callable[[], int]) -> EffectHost:
        """The effect journal of ``session_id`` with ``options`` on ``clock``."""
        return self.backend.effect_journal(session_id, options, clock=clock)

    def close(self) -> None:
        """Release the backend (a URL store's connection pool)."""
        close = getattr(self.backend, "close", None)
        if close is not None:
            close()


def open_site(target: str | os.PathLike[str], options: StoreOptions, session_ids: Iterable[str]) -> DemoSite:
    """The site of ``target`` with session ``options``; DatabaseError when the target is already used."""
    typed = Path(target) if isinstance(target, os.PathLike) else parse_target(target)
    if isinstance(typed, Path):
        if typed.exists() and (not typed.is_dir() or any(typed.iterdir())):
            raise DatabaseError(str(typed), f"{typed}: exists and is not an empty directory",
                                hint="choose a new or empty directory for the demo")
        return DemoSite(DirectoryBackend(typed, options))
    site = DemoSite(open_backend(typed, options))
    try:
        site.backend.database()  # connects and creates the schema of a fresh database (the catalog only reads)
        catalog = site.backend.catalog()
        used = [sid for sid in session_ids if catalog.exists(sid)]
    except BaseException:
        site.close()
        raise
    if used:
        site.close()
        raise DatabaseError(site.backend.target, f"{site.backend.target}: already holds demo session(s) "
                            + ", ".join(used), hint="choose a new or empty database for the demo")
    return site


__all__ = ["DemoSite", "Where", "open_site"]
