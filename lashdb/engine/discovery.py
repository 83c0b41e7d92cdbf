"""Finding databases under a sessions root and resolving what an operator typed (CLI.md).

Contract: discovery only reads — it lists ``*.db`` files, classifies each by its tables
(SPEC §3.5) through a read-only open, and groups a session's sidecars (``<file>.db.effects.db``,
``.processes.db``, ``.triggers.db``, …) with it. A file that cannot be read is reported with its
error, never skipped silently here (lists may choose to hide it). Resolution turns a SESSION
argument into exactly one database path or raises :class:`LookupFailed` listing the candidates.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from .errors import DatabaseError, LashdbError, LookupFailed
from .schema import Classification, classify

SIDECAR_SUFFIXES: dict[str, str] = {
    "effects": ".effects.db",
    "processes": ".processes.db",
    "triggers": ".triggers.db",
    "artifacts": ".artifacts.db",
    "process-env": ".process-env.db",
    "host": ".host.json",
}
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
    def is_session(self) -> bool:
        return self.classification is not None and self.classification.kind is not None \
            and self.classification.kind.name == "session"

    @property
    def is_lash(self) -> bool:
        return self.classification is not None and self.classification.kind is not None


def _db_files(root: Path, recursive: bool) -> Iterator[Path]:
    if not root.is_dir():
        return
    walker = root.rglob("*.db") if recursive else root.glob("*.db")
    for path in sorted(walker):
        if path.is_file():
            yield path


def sidecars_of(db: Path) -> dict[str, Path]:
    """The sidecar files that exist beside a session database, by role."""
    out = {}
    for role, suffix in SIDECAR_SUFFIXES.items():
        candidate = Path(os.fspath(db) + suffix)
        if candidate.exists():
            out[role] = candidate
    return out


def examine(path: Path) -> Found:
    """Classify one file read-only (a session gets its sidecars); an unreadable file carries its error."""
    try:
        found = Found(path, classify(path))
    except LashdbError as exc:
        return Found(path, None, exc)
    return Found(path, found.classification, None, sidecars_of(path)) if found.is_session else found


def discover(root: str | os.PathLike[str], *, recursive: bool = False) -> list[Found]:
    """Every ``*.db`` under root, classified, with sidecars grouped onto their session."""
    root = Path(root)
    return [examine(p) for p in _db_files(root, recursive)]


def is_sidecar_name(path: Path) -> bool:
    """True when the file name marks it as another database's sidecar."""
    name = path.name
    return any(name.endswith(".db" + suffix) for suffix in SIDECAR_SUFFIXES.values())


def _ids_of(path: Path) -> tuple[str | None, str | None]:
    # Local import: the store pulls in apsw and the codec, which plain discovery does not need.
    # inspect.read_meta reads the id of foreign schemas too (v38's meta has no session_name).
    from .inspect import read_meta
    from .store import Store

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
    return {path: ids[0] for path, ids in session_relations(root, recursive=recursive).items()}


def children_of(root: str | os.PathLike[str], session_id: str, *,
                recursive: bool = False) -> list[tuple[str | None, Path]]:
    """The child sessions under root whose relation names ``session_id`` as parent: (id, path)."""
    return [(sid, path) for path, (sid, parent) in session_relations(root, recursive=recursive).items()
            if parent == session_id]


def sidecar_owner(path: Path) -> tuple[str, Path] | None:
    """For a file named as a session's sidecar: (its role, the session database it belongs to)."""
    name = os.fspath(path)
    for role, suffix in SIDECAR_SUFFIXES.items():
        if name.endswith(".db" + suffix):
            return role, Path(name[: -len(suffix)])
    return None


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
        try:
            if candidate.is_file():
                return candidate
        except OSError:  # e.g. a name too long for the file system: no such file
            break
    sessions = session_ids(root, recursive=recursive)
    by_id = [p for p, sid in sessions.items() if sid == query]
    if len(by_id) == 1:
        return by_id[0]
    if len(by_id) > 1:
        raise LookupFailed(query, f"session id `{query}` is stored in {len(by_id)} databases",
                           [str(p) for p in by_id], hint="name the database file instead")
    if len(query) >= MIN_PREFIX:
        matches = sorted({p for p, sid in sessions.items()
                          if (sid and sid.startswith(query)) or p.name.startswith(query)})
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            shown = [f"{p.name} ({sessions[p] or '?'})" for p in matches]
            raise LookupFailed(query, f"`{query}` matches {len(matches)} sessions: " + ", ".join(shown[:10]),
                               shown, hint="type more of the id")
    raise LookupFailed(query, f"no session `{query}` under {root}", [],
                       hint="list sessions with `lashdb sessions list` (prefixes need 4+ characters)")
