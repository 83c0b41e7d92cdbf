"""The session store factory: one database per session under a root directory (SPEC §7).

Contract: ``path_for_session`` maps any session id to a file directly inside root (never outside
it); ``create_store`` creates root and the database and seeds session meta only when none exists;
``open_existing_store`` returns ``None`` for a missing file; ``delete_session`` removes the database
and its ``-wal``/``-shm``, treating missing files as already gone. Every store is durable.
:func:`request_meta` and :func:`seed_meta` are the meta rule itself, shared with the factories of
other backends (a PostgreSQL store seeds meta exactly as a file does).
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from lashdb.engine.base import values
from lashdb.engine.base.errors import DatabaseError
from .model import SessionMeta, SessionRelation
from .store import DURABLE, Store, StoreOptions

_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


def safe_session_file_name(session_id: str) -> str:
    """``<safe>-<16 hex of SHA-256(id)>.db``: a file name that cannot leave its directory."""
    safe = _UNSAFE.sub("_", session_id).strip("_") or "session"
    digest = hashlib.sha256(session_id.encode("utf-8", "surrogatepass")).hexdigest()
    return f"{safe[:80]}-{digest[:16]}.db"


@dataclass(frozen=True)
class SessionStoreCreateRequest:
    """What the runtime asks for: the session id, its model, and how it relates to others."""

    session_id: str
    model: str
    relation: SessionRelation = field(default_factory=SessionRelation)


class SessionStoreFactory:
    """Creates, opens and deletes per-session stores under ``root``."""

    durability_tier = DURABLE

    def __init__(self, root: str | os.PathLike[str], options: StoreOptions | None = None) -> None:
        self.root = Path(root)
        self.options = options or StoreOptions()

    def path_for_session(self, session_id: str) -> Path:
        """Where the database of ``session_id`` lives."""
        return self.root / safe_session_file_name(session_id)

    def create_store(self, request: SessionStoreCreateRequest) -> Store:
        """Open (creating if needed) the session's store, seeding meta if it has none.

        The meta is checked (:mod:`values`) before any directory or file is created, so an id that
        cannot be stored leaves nothing behind.
        """
        meta = request_meta(request)
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DatabaseError(str(self.root), f"{self.root}: cannot create sessions directory ({exc.strerror})",
                                hint="check the directory's permissions") from exc
        return seed_meta(Store.open_with_options(self.path_for_session(request.session_id), self.options), meta)

    def open_existing_store(self, request: SessionStoreCreateRequest) -> Store | None:
        """The session's store if its database exists, else ``None``."""
        if not self.path_for_session(request.session_id).exists():
            return None
        return self.create_store(request)

    def delete_session(self, session_id: str) -> list[Path]:
        """Remove the database and its ``-wal``/``-shm``; return the files that were removed."""
        db = self.path_for_session(session_id)
        return delete_database_files(db)


def request_meta(request: SessionStoreCreateRequest) -> SessionMeta:
    """The meta a new session of ``request`` gets (checked, so an unstorable id fails before anything is made)."""
    try:
        cwd: str | None = os.getcwd()
    except OSError:
        cwd = None  # the working directory was removed; meta allows no cwd
    if cwd is not None and not values.is_text(cwd):
        cwd = None  # a directory name that is not UTF-8 cannot be stored; the cwd is informational
    meta = SessionMeta(request.session_id, request.session_id, "unix:0", request.model, cwd, request.relation)
    values.check_session_meta(meta, "request")
    return meta


def seed_meta(store: Store, meta: SessionMeta) -> Store:
    """``store`` with ``meta`` saved (stamped with the store clock) unless it has meta; closed on failure."""
    try:
        if store.load_session_meta() is None:
            store.save_session_meta(dataclasses.replace(meta, created_at=f"unix:{store.now_ms() // 1000}"))
    except BaseException:
        store.close()
        raise
    return store


def delete_database_files(db: str | os.PathLike[str]) -> list[Path]:
    """Remove a database file and its SQLite sidecars; missing files are not an error."""
    removed = []
    for name in (os.fspath(db), os.fspath(db) + "-wal", os.fspath(db) + "-shm"):
        try:
            os.remove(name)
            removed.append(Path(name))
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise DatabaseError(name, f"{name}: cannot remove ({exc.strerror})",
                                hint="check the directory's permissions") from exc
    return removed
