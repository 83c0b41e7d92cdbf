"""One object per store target: where every store and read-side operation comes from (postgres.md §1).

Contract:
- :func:`open_backend` turns a target into a :class:`Backend`: a directory path (``str`` or
  ``PathLike``) gives a :class:`DirectoryBackend` (one SQLite file per session, SPEC §7, with its
  sidecars); a ``postgresql://`` / ``postgres://`` URL gives the backend registered as
  ``"postgres"`` in :mod:`lashdb.engine.base.backends` — while none is registered (or its driver
  is not installed) a :class:`BackendError` saying to ``pip install 'lashdb[postgres]'``; any other
  target is a :class:`UsageError` naming it. A URL's password is never put in a message.
- Opening is cheap and touches nothing: a directory is checked when a command first reads it
  (``RootUnusable`` then, as before), so ``--root`` can name a directory ``demo`` will create.
- A backend hands out the writable stores by session id (``factory``, ``session_store``,
  ``process_registry``, ``trigger_store``, ``effect_journal``: the same classes and errors on
  every backend) and the read-side operations the CLI uses (resolve a SESSION, discover, the
  deployment store of a role, inspectors, the clock). Heavy modules are imported on first use.
"""

from __future__ import annotations

import os
from pathlib import Path
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from lashdb.engine.base import backends, urls
from lashdb.engine.base.errors import BackendError, UsageError
from lashdb.engine.base.timing import wall_clock_ms

from . import inspectors

if TYPE_CHECKING:
    from lashdb.engine.deployment.effects import EffectHost, EffectReplayOptions
    from lashdb.engine.deployment.process_registry import ProcessRegistry
    from lashdb.engine.deployment.triggers import TriggerStore
    from lashdb.engine.session.factory import SessionStoreFactory
    from lashdb.engine.session.store import Store, StoreOptions

    from .discovery import Found

__all__ = ["Backend", "DirectoryBackend", "POSTGRES_SCHEMES", "ROLE_KINDS", "open_backend", "parse_target", "redact_target", "typable_target",
           "wall_clock_ms"]

POSTGRES_SCHEMES = urls.POSTGRES_SCHEMES
POSTGRES_EXTRA = "pip install 'lashdb[postgres]'"

ROLE_KINDS = inspectors.ROLE_KINDS


@runtime_checkable
class Backend(Protocol):
    """A whole store: every session, its sidecars' deployment stores, and how the CLI reads them."""

    target: str
    """What was opened, fit to print (a URL without its password)."""

    def factory(self) -> SessionStoreFactory:
        """The session store factory (create, open, delete per session id)."""
        ...

    def session_store(self, session_id: str) -> Store:
        """The writable store of ``session_id`` (created empty when absent; meta is the factory's job)."""
        ...

    def process_registry(self, root_session_id: str, *, clock: Callable[[], int] | None = None) -> ProcessRegistry:
        """The process registry shared by ``root_session_id`` and its children (on ``clock`` when given)."""
        ...

    def trigger_store(self, root_session_id: str, *, clock: Callable[[], int] | None = None) -> TriggerStore:
        """The trigger store shared by ``root_session_id`` and its children (on ``clock`` when given)."""
        ...

    def effect_journal(self, session_id: str, options: EffectReplayOptions | None = None, *,
                       clock: Callable[[], int] | None = None) -> EffectHost:
        """The effect replay journal of ``session_id`` (with ``options``, on ``clock`` when given)."""
        ...

    def now_ms(self) -> int:
        """The store clock (epoch ms) that lease states are judged against."""
        ...

    def resolve(self, query: str, *, recursive: bool = False) -> Path:
        """One SESSION (id, unique 4+ prefix, file name or path) → the session it names; LookupFailed else."""
        ...

    def discover(self, *, recursive: bool = False) -> list[Found]:
        """Every database of the store, classified, unreadable ones with their error."""
        ...

    def deployment_store(self, role: str, session: Path | None = None, *, query: str | None = None,
                         recursive: bool = False, on_unreadable: Callable[[list[tuple[Path, str]]], None] | None = None) -> Path:
        """The ``role`` store (processes, triggers, effects) of a resolved session, or the only one;
        ``on_unreadable`` hears of the entries a search could not read before the choice is made."""
        ...

    def require_kind(self, path: Path, role: str) -> Path:
        """``path`` (``--db PATH``) when it is a ``role`` store at any version; else the error naming it."""
        ...

    def inspector(self, role: str, where: Path) -> Any:
        """A read-only inspector of the ``role`` store at ``where`` (processes or triggers)."""
        ...

    def list_sessions(self, **options: Any) -> list[Any]:
        """``sessions list``: one summary per session (options of ``ops.inspect.list_sessions``)."""
        ...

    def session_details(self, session: Path) -> Any:
        """``sessions show``: everything about one resolved session."""
        ...

    def doctor(self, paths: list[Path] | None = None, *, now_ms: int, recursive: bool = False,
               progress: Any = None) -> Any:
        """``doctor``: check the named databases, or the whole store (a missing root raises);
        ``progress(done, total)`` hears of each database checked where the store can tell."""
        ...


# The one redaction rule (base.urls), under the name the CLI and tests know.
redact_target = urls.redact
# A URL to print in a command the reader types back in: the password left out, not starred.
typable_target = urls.without_password


def parse_target(text: str) -> Path | str:
    """A typed store target: a ``scheme://`` URL stays the string, anything else is a directory Path."""
    return text if urls.scheme(text) else Path(text).expanduser()


def open_backend(target: str | os.PathLike[str], options: StoreOptions | None = None) -> Backend:
    """The backend for ``target``: a directory (SQLite files) or a ``postgresql://`` URL; ``options``
    are every session store's (its clock, when set, is the session stores' clock)."""
    if isinstance(target, os.PathLike):
        return DirectoryBackend(Path(target), options)
    if not isinstance(target, str):
        raise UsageError(f"cannot open a store from {type(target).__name__} {target!r}",
                         hint="give a directory path or a postgresql:// URL")
    if not target:
        raise UsageError("empty store target", hint="give a directory path or a postgresql:// URL")
    scheme = urls.scheme(target)
    if scheme is None:
        return DirectoryBackend(Path(target).expanduser(), options)
    shown = redact_target(target)
    if scheme not in POSTGRES_SCHEMES:
        raise UsageError(f"{shown}: not a store target (`{scheme}://` is not a known backend)",
                         hint="give a directory path or a postgresql:// URL")
    if "postgres" not in backends.registered():
        raise BackendError(f"{shown}: the PostgreSQL backend is not installed", hint=POSTGRES_EXTRA)
    try:
        opener = backends.opener("postgres")
    except ImportError as exc:  # the extra's driver (psycopg) is missing
        raise BackendError(f"{shown}: the PostgreSQL backend cannot be loaded ({exc.name or 'driver'} "
                           "is not installed)", hint=POSTGRES_EXTRA) from None
    from .url_store import UrlStore

    return UrlStore(opener(target) if options is None else opener(target, options), target)


class DirectoryBackend:
    """A sessions root directory: one SQLite database per session (SPEC §7) and its sidecar files."""

    def __init__(self, root: str | os.PathLike[str], options: Any = None) -> None:
        self.root = Path(root)
        self.options = options
        self.target = str(self.root)

    def __repr__(self) -> str:
        return f"DirectoryBackend({self.target!r})"

    def close(self) -> None:
        """Nothing to release: every store it handed out is closed by its own holder."""

    def __enter__(self) -> DirectoryBackend:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- writable stores by id ---------------------------------------------------------------------

    def factory(self) -> SessionStoreFactory:
        """The session store factory over this root."""
        from lashdb.engine.session.factory import SessionStoreFactory

        return SessionStoreFactory(self.root, self.options)

    def path_for_session(self, session_id: str) -> Path:
        """Where ``session_id``'s database lives (SPEC §7)."""
        return self.factory().path_for_session(session_id)

    def sidecar_path(self, session_id: str, role: str) -> Path:
        """Where ``session_id``'s ``role`` sidecar lives (``<file>.db.processes.db`` …)."""
        from .discovery import SIDECAR_SUFFIXES

        return Path(os.fspath(self.path_for_session(session_id)) + SIDECAR_SUFFIXES[role])

    def session_store(self, session_id: str) -> Store:
        """The writable store of ``session_id`` (the file is created when absent)."""
        from lashdb.engine.session.store import Store, StoreOptions

        self.root.mkdir(parents=True, exist_ok=True)
        return Store.open_with_options(self.path_for_session(session_id), self.options or StoreOptions())

    def process_registry(self, root_session_id: str, *, clock: Callable[[], int] | None = None) -> ProcessRegistry:
        """The process registry sidecar of the root session ``root_session_id`` (on ``clock`` when given)."""
        from lashdb.engine.deployment.process_registry import ProcessRegistry

        self.root.mkdir(parents=True, exist_ok=True)
        return ProcessRegistry.open(self.sidecar_path(root_session_id, "processes"), clock=clock)

    def trigger_store(self, root_session_id: str, *, clock: Callable[[], int] | None = None) -> TriggerStore:
        """The trigger store sidecar of the root session ``root_session_id`` (on ``clock`` when given)."""
        from lashdb.engine.deployment.triggers import TriggerStore

        self.root.mkdir(parents=True, exist_ok=True)
        return TriggerStore.open(self.sidecar_path(root_session_id, "triggers"), clock=clock)

    def effect_journal(self, session_id: str, options: EffectReplayOptions | None = None, *,
                       clock: Callable[[], int] | None = None) -> EffectHost:
        """The effect replay sidecar of ``session_id`` (with ``options``, on ``clock`` when given)."""
        from lashdb.engine.deployment.effects import EffectHost

        self.root.mkdir(parents=True, exist_ok=True)
        return EffectHost.open(self.sidecar_path(session_id, "effects"), options, clock=clock)

    def transfer(self, *, readonly: bool = False) -> Any:
        """``lashdb migrate``'s rows port over this root (:class:`~lashdb.engine.ops.ports.SessionTransfer`)."""
        return backends.open_with("sqlite.transfer", self.root, readonly=readonly)

    # --- read side -----------------------------------------------------------------------------------

    def now_ms(self) -> int:
        """The wall clock: files on one host share it."""
        return wall_clock_ms()

    def resolve(self, query: str, *, recursive: bool = False) -> Path:
        """Resolve SESSION against the root (raises LookupFailed / DatabaseError)."""
        from .discovery import resolve_session

        return resolve_session(self.root, query, recursive=recursive)

    def discover(self, *, recursive: bool = False) -> list[Found]:
        """Every ``*.db`` under the root, classified (see :func:`discovery.discover`)."""
        from .discovery import discover

        return discover(self.root, recursive=recursive)

    def examine(self, path: Path) -> Found:
        """Classify one file read-only."""
        from .discovery import examine

        return examine(path)

    def deployment_store(self, role: str, session: Path | None = None, *, query: str | None = None,
                         recursive: bool = False, on_unreadable: Callable[[list[tuple[Path, str]]], None] | None = None) -> Path:
        """The ``role`` store file of a resolved SESSION, or the only one under the root.

        A SESSION (``session`` resolved from what was typed, ``query``) that names the store file itself is that file; a session without the sidecar, a
        file of another kind, none or several under the root raise a lashdb error naming them.
        ``on_unreadable`` is called (when searching the root) with the files that could not be read.
        """
        from lashdb.engine.base.errors import LookupFailed

        from . import discovery

        name = ROLE_KINDS[role]
        if session is not None:
            found = discovery.examine(session)
            if found.is_lash and found.kind_name == name:
                return session  # SESSION named the store file itself
            if not found.is_session:
                return self.require_kind(session, role)  # raises: not a session and not the store
            sidecar = discovery.sidecars_of(session).get(role)
            if sidecar is None:
                raise LookupFailed(str(session) if query is None else query, f"{session}: this session has no {name} "
                                   f"(no {session.name}{discovery.SIDECAR_SUFFIXES[role]} beside it)",
                                   hint=f"name the {name} file with --db PATH")
            return self.require_kind(sidecar, role)
        found_all = self.discover(recursive=recursive)
        unreadable = [(f.path, discovery.unreadable_reason(f.error)) for f in found_all if f.unreadable]
        candidates = [f.path for f in found_all if f.is_lash and f.kind_name == name]
        if on_unreadable is not None:
            on_unreadable(unreadable)
        if len(candidates) == 1:
            return candidates[0]
        if not candidates:
            raise LookupFailed("", f"no {name} under {self.root}",
                               hint="name a SESSION or --db PATH (`lashdb demo DIR` writes one)")
        shown = [str(p.relative_to(self.root)) if p.is_relative_to(self.root) else str(p) for p in candidates]
        raise LookupFailed("", f"{len(candidates)} {name} files under {self.root}: " + ", ".join(shown),
                           [str(p) for p in candidates], hint="name a SESSION or --db PATH")

    def require_kind(self, path: Path, role: str) -> Path:
        """``path`` when it is a ``role`` database (any schema version); else the error naming it."""
        from lashdb.engine.base.errors import NotALashDatabase

        from . import discovery

        found = discovery.examine(path)
        name = ROLE_KINDS[role]
        hint = f"name a {name} file (a session's *.db{discovery.SIDECAR_SUFFIXES[role]} sidecar)"
        if found.error is not None:
            if not isinstance(found.error, NotALashDatabase):
                raise found.error
            err = NotALashDatabase(path, found.error.reason, expected=name)
        elif not found.is_lash or found.kind_name != name:
            err = NotALashDatabase(path, f"its tables identify {found.kind_name}", expected=name)
            if found.is_session:
                hint = f"pass a session as SESSION (without --db) to read its {name} sidecar"
        else:
            return path
        err.hint = hint
        raise err

    def inspector(self, role: str, where: Path) -> Any:
        """A read-only inspector of the ``role`` store file ``where`` (``processes`` or ``triggers``)."""
        return inspectors.open_inspector(role, where)

    def list_sessions(self, **options: Any) -> list[Any]:
        """Summaries of the sessions under the root (options of :func:`ops.inspect.list_sessions`)."""
        from .inspect import list_sessions

        return list_sessions(self.root, **options)

    def session_details(self, session: Path) -> Any:
        """:func:`ops.inspect.session_details` of one resolved session."""
        from .inspect import session_details

        return session_details(session)

    def doctor(self, paths: list[Path] | None = None, *, now_ms: int, recursive: bool = False,
               progress: Any = None) -> Any:
        """:func:`ops.doctor.run` over ``paths``, or over the root (RootUnusable when it is not a directory).
        A name without a slash that is no file is a SESSION as every command takes it: a file name under
        the root, a session id or a unique prefix (LookupFailed when none matches)."""
        from . import doctor, doctor_copies
        from .discovery import require_root, resolve_session

        # The stale private copies are listed before the first open (which would sweep them unseen).
        with doctor_copies.kept() as copies:
            if not paths:
                require_root(self.root)  # a missing root is exit 3, not "0 files checked"
            else:
                # A name with a slash is a path: it stays one, and run() says it does not exist.
                paths = [p if os.path.lexists(p) or os.sep in os.fspath(p)
                         else resolve_session(self.root, os.fspath(p), recursive=recursive) for p in paths]
            report = doctor.run(paths or [self.root], now_ms=now_ms, recursive=recursive, progress=progress)
        whole = not paths or any(os.path.isdir(p) for p in paths)
        return doctor_copies.with_copies(report, copies) if whole else report
