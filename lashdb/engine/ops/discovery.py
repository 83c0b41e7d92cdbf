"""Finding databases under a sessions root and resolving what an operator typed (CLI.md).

Contract: discovery only reads — :func:`walk` lists the ``*.db`` entries under a root, every
command that looks at a root goes through it, and it yields each entry it cannot use too (a
symlink loop, a dangling symlink, permission denied, a FIFO, socket or directory, a directory below
the root it cannot list) with the OS's reason, so every command reports them the same way.
A root that is missing or not a directory raises :class:`RootUnusable`. :func:`discover` classifies
each readable file by its tables (SPEC §3.5) through a read-only open and groups a session's
sidecars (``<file>.db.effects.db``, ``.processes.db``, ``.triggers.db``, …) with it. A file that
cannot be read is reported with its error, never skipped silently here. Resolution turns a SESSION
argument into exactly one database path or raises :class:`LookupFailed` listing the candidates.
"""

from __future__ import annotations

from lashdb.engine.base.locator import LocatedClassification, SessionLocation, is_location

import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from lashdb.engine.base import files
from lashdb.engine.base.files import SCOPED_ROLES, SIDECAR_SUFFIXES, file_type, os_reason
from lashdb.engine.base.errors import (
    DatabaseError,
    FileUnreadable,
    LashdbError,
    LookupFailed,
    NotARegularFile,
    RootUnusable,
)
from .ports import Classification, classify, read_meta

# Sidecar naming lives in base.files (completion reads it without this module); kept here by name.
is_sidecar_name = files.is_sidecar_name
MIN_PREFIX = 4


def default_root(env: Mapping[str, str] | None = None) -> Path:
    """``$LASHDB_ROOT``, else ``$LASH_HOME/sessions``, else ``~/.lash/sessions``."""
    env = os.environ if env is None else env
    if env.get("LASHDB_ROOT"):
        return Path(env["LASHDB_ROOT"]).expanduser()
    if env.get("LASH_HOME"):
        return Path(env["LASH_HOME"]).expanduser() / "sessions"
    return Path("~/.lash/sessions").expanduser()


@dataclass(frozen=True)
class Found:
    """One ``*.db`` file under root: its classification, or why it could not be read."""

    path: Path
    classification: Classification | None
    error: LashdbError | None = None
    sidecars: dict[str, Path] = field(default_factory=dict)

    @property
    def kind_name(self) -> str:
        if self.error is not None:
            return "unreadable"
        return self.classification.kind_name if self.classification else "not lash"

    @property
    def unreadable(self) -> bool:
        """True when the file itself (or its ``-wal``/``-shm``) cannot be read or is not a regular file,
        as opposed to a readable file that is not SQLite or not lash."""
        return is_unreadable(self.error)

    @property
    def is_session(self) -> bool:
        return self.classification is not None and self.classification.kind is not None \
            and self.classification.kind.name == "session"

    @property
    def is_lash(self) -> bool:
        return self.classification is not None and self.classification.kind is not None


def is_unreadable(error: BaseException | None) -> bool:
    """True for the errors of a file that cannot be read at all or is not a regular file."""
    return isinstance(error, (FileUnreadable, NotARegularFile))


def unreadable_reason(error: LashdbError) -> str:
    """The reason an unreadable file's error carries (``symlink loop``, ``Permission denied``, …)."""
    return getattr(error, "reason", None) or " ".join(str(error).split())


@dataclass(frozen=True)
class Entry:
    """One ``*.db`` entry :func:`walk` found: a regular file (``error`` None) or why it cannot be used."""

    path: Path
    error: FileUnreadable | NotARegularFile | None = None


def require_root(root: str | os.PathLike[str]) -> Path:
    """``root`` as a Path when it is a directory; else :class:`RootUnusable` naming it (exit 3)."""
    root = Path(root)
    try:
        st = os.stat(root)
    except FileNotFoundError:
        raise RootUnusable(root, "does not exist") from None
    except OSError as exc:
        raise RootUnusable(root, f"cannot be read ({os_reason(exc)})") from exc
    if not stat.S_ISDIR(st.st_mode):
        raise RootUnusable(root, f"is not a directory (it is {file_type(st.st_mode)})")
    return root


def _entry(path: Path, dirent: os.DirEntry) -> Entry | None:
    # d_type answers for plain files and directories without a system call; a symlink is followed.
    try:
        if not dirent.is_symlink():
            if dirent.is_file(follow_symlinks=False):
                return Entry(path)
            if dirent.is_dir(follow_symlinks=False):
                return Entry(path, NotARegularFile(path, "a directory"))
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        if os.path.islink(path):
            return Entry(path, FileUnreadable(path, "dangling symlink"))
        return None  # removed since the directory was read: nothing is there to report
    except OSError as exc:
        return Entry(path, FileUnreadable(path, os_reason(exc)))
    if stat.S_ISREG(mode):
        return Entry(path)
    return Entry(path, NotARegularFile(path, file_type(mode)))


def walk(root: str | os.PathLike[str], *, recursive: bool = False,
         listings: dict[Path, frozenset[str]] | None = None) -> list[Entry]:
    """Every ``*.db`` entry under root, sorted by path: the regular files (a symlink to one counts)
    and, with the OS's reason, every one that cannot be used; with ``recursive`` also below root,
    where a directory that cannot be listed is an entry too. Each directory's names go into
    ``listings`` when given. Raises :class:`RootUnusable` for a root that is not a directory."""
    root = require_root(root)
    out: list[Entry] = []
    pending = [root]
    while pending:
        directory = pending.pop()
        try:
            with os.scandir(directory) as it:
                dirents = list(it)
        except OSError as exc:
            if directory == root:
                raise RootUnusable(root, f"cannot be listed ({os_reason(exc)})") from exc
            out.append(Entry(directory, FileUnreadable(directory, f"directory cannot be listed: {os_reason(exc)}")))
            continue
        if listings is not None:
            listings[directory] = frozenset(d.name for d in dirents)
        for d in dirents:
            path = directory / d.name
            entry = _entry(path, d) if d.name.endswith(".db") else None
            if entry is not None:
                out.append(entry)
            if recursive:
                try:
                    if d.is_dir(follow_symlinks=False):
                        pending.append(path)
                except OSError:
                    pass  # cannot tell: it was reported above if it is a *.db entry
    out.sort(key=lambda e: e.path)
    return out


def sidecars_of(db: Path | SessionLocation) -> dict[str, Path | SessionLocation]:
    """The sidecar files that exist beside a session database, by role; for a located session, the
    roles whose deployment store holds rows scoped by it (each named by the session's location)."""
    if is_location(db):
        from .ports import catalog

        cat = catalog(db)
        return {role: db for role in SCOPED_ROLES if cat.scope_rows(role, db.session_id)}
    out = {}
    for role, suffix in SIDECAR_SUFFIXES.items():
        candidate = Path(os.fspath(db) + suffix)
        if candidate.exists():
            out[role] = candidate
    return out


def examine(path: Path | SessionLocation) -> Found:
    """Classify one file read-only (a session gets its sidecars); an unreadable file carries its error.
    A located session is a supported session when its row exists, else carries :class:`LookupFailed`."""
    if is_location(path):
        from .ports import catalog

        if not catalog(path).exists(path.session_id):
            return Found(path, None, LookupFailed(path.session_id, f"{path}: no such session",
                                                  hint="list sessions with `lashdb sessions list`"))
        return Found(path, LocatedClassification(str(path)), None, sidecars_of(path))
    try:
        found = Found(path, classify(path))
    except LashdbError as exc:
        return Found(path, None, exc)
    return Found(path, found.classification, None, sidecars_of(path)) if found.is_session else found


def discover(root: str | os.PathLike[str], *, recursive: bool = False) -> list[Found]:
    """Every ``*.db`` entry under root, classified, with sidecars grouped onto their session; an entry
    the walk cannot use carries its error (see :attr:`Found.unreadable`)."""
    return [examine(e.path) if e.error is None else Found(e.path, None, e.error)
            for e in walk(root, recursive=recursive)]


def _ids_of(path: Path) -> tuple[str | None, str | None]:
    # Local import: the store pulls in apsw and the codec, which plain discovery does not need.
    # read_meta reads the id of foreign schemas too (v38's meta has no session_name).
    from lashdb.engine.session.store import Store

    try:
        with Store.open_readonly(path) as store:
            meta = store.read(read_meta)
    except LashdbError:
        return None, None  # unreadable: it cannot match by id; `doctor` reports it
    if meta is None:
        return None, None
    return meta.session_id, meta.relation.parent_session_id


def session_relations(root: str | os.PathLike[str], *,
                      recursive: bool = False) -> dict[Path, tuple[str | None, str | None]]:
    """Map every session database under root to (its stored session id, its parent's id if it is a child)."""
    return {item.path: _ids_of(item.path) for item in discover(root, recursive=recursive) if item.is_session}


def session_ids(root: str | os.PathLike[str], *, recursive: bool = False) -> dict[Path, str | None]:
    """Map every session database under root (foreign schemas too) to its stored session id."""
    return _ids(discover(root, recursive=recursive))


def _ids(found: list[Found]) -> dict[Path, str | None]:
    return {f.path: _ids_of(f.path)[0] for f in found if f.is_session}


def children_of(root: str | os.PathLike[str] | SessionLocation, session_id: str, *,
                recursive: bool = False) -> list[tuple[str | None, Path | SessionLocation]]:
    """The child sessions under root (or in a located session's store) whose relation names
    ``session_id`` as parent: (id, path or location)."""
    if is_location(root):
        from .ports import catalog

        return [(sid, root.with_session(sid)) for sid in catalog(root).children(session_id)]
    return [(sid, path) for path, (sid, parent) in session_relations(root, recursive=recursive).items()
            if parent == session_id]


def sidecar_owner(path: Path) -> tuple[str, Path] | None:
    """For a file named as a session's sidecar: (its role, the session database it belongs to)."""
    name = os.fspath(path)
    for role, suffix in SIDECAR_SUFFIXES.items():
        if name.endswith(".db" + suffix):
            return role, Path(name[: -len(suffix)])
    return None


def _same_id(query: str, session_id: str, paths: list[Path]) -> LookupFailed:
    """Several files hold the same session id: only a path names one of them."""
    return LookupFailed(query, f"session id `{session_id}` is stored in {len(paths)} databases: "
                        + ", ".join(str(p) for p in paths), [str(p) for p in paths],
                        hint="pass the path of the one you mean")


def resolve_session(root: str | os.PathLike[str], query: str, *, recursive: bool = False) -> Path:
    """Resolve SESSION: an existing path, a file name under root, a session id, or a unique prefix."""
    root = Path(root)
    if not query:
        raise LookupFailed(query, "empty session name", hint="name a session id, file name or path")
    try:
        direct = Path(query).expanduser()
    except RuntimeError:  # `~user` of an unknown user: take it as typed
        direct = Path(query)
    if os.path.lexists(direct):
        if direct.is_dir():
            raise DatabaseError(str(direct), f"{direct}: is a directory, not a session database",
                                hint="name a session database file, or pass it as --root")
        return direct
    for name in (query, query + ".db"):
        if "/" in name or name in (".", ".."):
            break
        candidate = root / name
        # lexists, not is_file: a FIFO or a symlink loop named here is this file, refused by its open.
        if os.path.lexists(candidate) and not candidate.is_dir():
            return candidate
    found = discover(root, recursive=recursive)
    sessions = _ids(found)
    by_id = [p for p, sid in sessions.items() if sid == query]
    if len(by_id) == 1:
        return by_id[0]
    if len(by_id) > 1:
        raise _same_id(query, query, sorted(by_id))
    if len(query) >= MIN_PREFIX:
        matches = sorted({p for p, sid in sessions.items()
                          if (sid and sid.startswith(query)) or p.name.startswith(query)})
        if len(matches) == 1:
            return matches[0]
        ids = {sessions[p] for p in matches}
        if len(matches) > 1 and len(ids) == 1 and None not in ids:
            raise _same_id(query, ids.pop(), matches)  # typing more of the id cannot tell them apart
        if len(matches) > 1:
            shown = [f"{p.name} ({sessions[p] or '?'})" for p in matches]
            raise LookupFailed(query, f"`{query}` matches {len(matches)} sessions: " + ", ".join(shown[:10]),
                               shown, hint="type more of the id")
    unreadable = [f for f in found if f.unreadable]
    skipped = "" if not unreadable else (
        f"; {len(unreadable)} file(s) there cannot be read: "
        + ", ".join(f"{f.path.name} ({unreadable_reason(f.error)})" for f in unreadable[:3])
        + (", …" if len(unreadable) > 3 else ""))
    raise LookupFailed(query, f"no session `{query}` under {root}{skipped}", [],
                       hint="list sessions with `lashdb sessions list` (prefixes need 4+ characters)")
