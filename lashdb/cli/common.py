"""Options shared by every command, the global state, and the error → exit-code rule.

Contract: options are declared once here and reused; commands read the global state (root,
recursive, quiet) from :func:`state`, and reach storage only through ``state().backend``: the
:func:`lashdb.engine.ops.backend.open_backend` of ``--root``, opened once, on first use. :func:`exit_code` is the single mapping from a lashdb error to
the documented exit code (CLI.md): 1 the command ran and found problems (GC aborted, the operator
said no), 2 malformed input (``UsageError``), 3 the target is unusable; 141 when stdout's reader
went away. :func:`error_line` is the one formatter of an error line; commands raise and never write
it themselves (``main`` does, or :func:`report_failures` for per-session failures). Only typer and
the standard library are imported at module level.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Annotated, Callable, Iterable, Optional

import typer

if TYPE_CHECKING:
    from lashdb.engine.ops.backend import Backend

EXIT_OK = 0
EXIT_PROBLEMS = 1
EXIT_USAGE = 2
EXIT_UNUSABLE = 3
EXIT_BROKEN_PIPE = 141
"""The reader of stdout went away (``lashdb … | head``): 128 + SIGPIPE, what a shell reports for
a process a broken pipe killed (git exits so), so it is never mistaken for "found problems"."""

def _completion_state(ctx: Any) -> State:
    """The global options as typed on the command line being completed (the root callback does not
    run during completion), made the global state so the helpers below read the same store."""
    params = ctx.find_root().params
    new = State(store_target(params.get("store"), params.get("root_dir")), bool(params.get("recursive")), True)
    set_state(new)
    return new


def complete_session(ctx: Any, incomplete: str) -> list[str]:
    """Shell completion of SESSION: the store's session ids, short forms first (nothing on error)."""
    from lashdb.engine.errors import LashdbError
    from lashdb.engine.ops import complete

    try:
        st = _completion_state(ctx)
        return complete.session_candidates(st.backend, incomplete, recursive=st.recursive)
    except LashdbError:
        return []


def complete_blob(ctx: Any, incomplete: str) -> list[str]:
    """Shell completion of HASH: blob hashes of ``--session`` (or the newest sessions), short forms first."""
    from lashdb.engine.errors import LashdbError
    from lashdb.engine.ops import complete

    try:
        st = _completion_state(ctx)
        session = ctx.params.get("session")
        target = resolve(session) if session else None
        return complete.blob_candidates(st.backend, incomplete, target, recursive=st.recursive)
    except LashdbError:
        return []


def _completion_store(ctx: Any, role: str) -> Any:
    from lashdb.engine.ops import complete

    st = _completion_state(ctx)
    session, db = ctx.params.get("session"), ctx.params.get("db")
    if session is None and db is None:
        return complete.deployment_file(st.backend, role, recursive=st.recursive)
    return sidecar_store(session, db, role)


def complete_process(ctx: Any, incomplete: str) -> list[str]:
    """Shell completion of a process ID from SESSION's (or the root's only) process registry."""
    from lashdb.engine.errors import LashdbError
    from lashdb.engine.ops import complete

    try:
        where = _completion_store(ctx, "processes")
        return complete.process_candidates(state().backend, where, incomplete, now_ms())
    except LashdbError:
        return []


def complete_scope(ctx: Any, incomplete: str) -> list[str]:
    """Shell completion of ``--scope`` from SESSION's (or the root's only) effect journal."""
    from lashdb.engine.errors import LashdbError
    from lashdb.engine.ops import complete

    try:
        return complete.scope_candidates(_completion_store(ctx, "effects"), incomplete)
    except LashdbError:
        return []


JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document instead of a table.")]
SessionArgs = Annotated[Optional[list[str]], typer.Argument(
    metavar="[SESSION]...", help="Session: path, file name, session id or unique prefix (4+ chars).",
    show_default=False, autocompletion=complete_session)]
SessionOpt = Annotated[Optional[list[str]], typer.Option(
    "--session", "-s", metavar="SESSION", help="Session to act on (repeatable); same forms as SESSION.", show_default=False,
    autocompletion=complete_session)]
AllOpt = Annotated[bool, typer.Option("--all", help="Act on every session under the root.")]
YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]
DryRunOpt = Annotated[bool, typer.Option("--dry-run", help="Report what would happen; change nothing.")]


def store_target(store: str | None, root: Path | None, env: dict[str, str] | None = None) -> Path | str:
    """The store a run works on: ``--store``, else ``--root``, else ``$LASHDB_STORE``, else the default
    root; a URL stays a string, a directory becomes a Path. ``--store`` with ``--root`` is exit 2."""
    if store is not None and root is not None:
        from lashdb.engine.errors import UsageError

        raise UsageError("give --store or --root, not both", hint="--store takes a directory or a URL")
    env = os.environ if env is None else env
    chosen = store if store is not None else (root if root is not None else env.get("LASHDB_STORE") or None)
    if chosen is None:
        from lashdb.engine.ops.discovery import default_root

        return default_root(env)
    if isinstance(chosen, str):
        from lashdb.engine.ops.backend import parse_target

        return parse_target(chosen)
    return chosen


@dataclass
class State:
    """Global options, set by the root callback. ``root`` is the store target: a directory Path, or a URL."""

    root: Path | str
    recursive: bool = False
    quiet: bool = False
    pager: bool = True
    _backend: Backend | None = None

    @property
    def backend(self) -> Backend:
        """The store ``root`` names, opened on first use (opening touches nothing)."""
        if self._backend is None:
            from lashdb.engine.ops.backend import open_backend

            self._backend = open_backend(self.root)
        return self._backend


_state: State | None = None


def set_state(new: State) -> None:
    global _state
    _state = new


def state() -> State:
    """The global options (defaults when the root callback did not run, e.g. in direct calls)."""
    global _state
    if _state is None:
        from lashdb.engine.ops.discovery import default_root

        _state = State(default_root())
    return _state


def install_lock_wait_notice(quiet: bool) -> None:
    """Say on stderr, once per wait, that a write has waited a second for another writer's lock, who
    holds it and how long it will wait (``lashdb: waiting for …``); not with ``--quiet``."""
    from lashdb.engine import set_lock_wait_hook

    set_lock_wait_hook(None if quiet else _say_waiting)


def _say_waiting(wait: Any) -> None:
    from .output import safe

    sys.stderr.write(safe(f"lashdb: {wait.describe()}") + "\n")
    sys.stderr.flush()


def paged(command: Callable[..., Any]) -> Callable[..., Any]:
    """``command`` with its output through the pager on a terminal (``lashdb.cli.pager``; not with
    ``--no-pager``). For commands that only print: never one that prompts."""
    import functools

    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> Any:
        from .pager import paging

        with paging(state().pager):
            return command(*args, **kwargs)

    return run


def show_progress(json: bool) -> bool:
    """Progress bars are for humans: not with ``--json`` or ``--quiet``."""
    return not json and not state().quiet


def session_targets(args: list[str] | None, opts: list[str] | None) -> list[str]:
    """SESSION arguments and ``--session`` options, in the order given, duplicates removed."""
    seen: list[str] = []
    for item in (args or []) + (opts or []):
        if item not in seen:
            seen.append(item)
    return seen


def resolve(query: str) -> Path:
    """Resolve one SESSION against the root (raises LookupFailed / DatabaseError)."""
    st = state()
    return st.backend.resolve(query, recursive=st.recursive)


Unreadable = list[tuple[Path, str]]
"""Files the walk found and could not read: (path, the OS's reason)."""


def session_paths(args: list[str] | None, opts: list[str] | None, all_: bool) -> tuple[list[Path], Unreadable]:
    """What a multi-session command acts on: each SESSION/``--session`` resolved, plus with ``--all``
    every session database under root and every ``*.db`` that SQLite finds damaged (it may be a
    session; not one named as a sidecar), so no broken session is skipped silently; duplicates
    removed; nothing named → exit 2. Second: the files ``--all`` found and could not read (not acted
    on; named on stderr here, the command reports them in its JSON and exit code)."""
    targets = session_targets(args, opts)
    if not targets and not all_:
        from lashdb.engine.errors import UsageError

        raise UsageError("name a SESSION (or --session ID), or pass --all")
    paths = [resolve(t) for t in targets]
    unreadable: Unreadable = []
    if all_:
        from lashdb.engine.ops.discovery import is_sidecar_name, unreadable_reason
        from lashdb.engine.ops.verify import is_damage

        st = state()
        for f in st.backend.discover(recursive=st.recursive):
            if f.unreadable:
                unreadable.append((f.path, unreadable_reason(f.error)))
            elif f.is_session or (f.error is not None and is_damage(f.error) and not is_sidecar_name(f.path)):
                paths.append(f.path)
        warn_unreadable(unreadable, "; skipped")
    unique: dict[str, Path] = {}
    for path in paths:
        unique.setdefault(os.path.realpath(path) if isinstance(path, os.PathLike) else str(path), path)
    return list(unique.values()), unreadable


def warn_unreadable(unreadable: Unreadable, note: str = "") -> None:
    """Name on stderr, one line each, every file the walk found and could not read, with the reason."""
    from . import output

    for path, reason in unreadable:
        output.warn(f"{path}: unreadable: {reason}{note}")


def unreadable_json(unreadable: Unreadable) -> list[dict]:
    """The ``unreadable`` entries of a JSON document: path, file, status ``unreadable``, reason."""
    return [{"path": str(p), "file": p.name, "status": "unreadable", "reason": r} for p, r in unreadable]


def exit_code(exc: BaseException) -> int:
    """The documented exit code for a lashdb error."""
    from lashdb.engine.errors import (Cancelled, CompactionFailed, GcAborted, LeaseLive, SessionNotMigrated,
                                      UsageError)

    if isinstance(exc, (GcAborted, CompactionFailed, Cancelled, SessionNotMigrated, LeaseLive)):
        return EXIT_PROBLEMS
    if isinstance(exc, UsageError):
        return EXIT_USAGE
    return EXIT_UNUSABLE


def error_line(exc: BaseException, message: str | None = None) -> str:
    """``lashdb: error: <message>`` with the error's hint, on one line, through ``output.safe`` (the
    message names sessions and files); ``message`` replaces the error's own text."""
    from .output import safe

    message = " ".join((str(exc) if message is None else message).split()) or type(exc).__name__
    hint = getattr(exc, "hint", "")
    return f"lashdb: error: {safe(message)}" + (f" ({safe(hint)})" if hint else "")


def report_failures(failures: Iterable[tuple[BaseException, str | None]], *, code: int = EXIT_OK,
                    show: Callable[[], None] | None = None) -> None:
    """Report each failure, exit with the worst code: one :func:`error_line` per (error, message) on
    stderr, then ``show()`` (the command's document), then exit with the largest of ``code`` and the
    failures' :func:`exit_code` (no exit when that is 0). For commands that act on many sessions and
    go on past one that fails."""
    failures = list(failures)
    for exc, message in failures:
        sys.stderr.write(error_line(exc, message) + "\n")
    if show is not None:
        show()
    worst = max([code] + [exit_code(exc) for exc, _message in failures])
    if worst:
        raise typer.Exit(worst)


def require_yes(yes: bool, what: str) -> None:
    """Ask on a terminal; refuse (exit 2) without ``--yes`` when stdin is not interactive; a "no" ends
    the command with ``lashdb: cancelled; nothing done`` on stderr and exit 0 (the operator's choice,
    not a failure)."""
    if yes:
        return
    from lashdb.engine.errors import UsageError

    if not sys.stdin.isatty():
        raise UsageError(f"refusing to {what} without --yes (stdin is not a terminal)")
    from .output import safe

    if not typer.confirm(f"{safe(what)}?", default=False, err=True):
        sys.stderr.write("lashdb: cancelled; nothing done\n")
        raise typer.Exit(EXIT_OK)


def debug() -> bool:
    """Tracebacks on request: ``LASHDB_DEBUG=1``."""
    return os.environ.get("LASHDB_DEBUG", "") not in ("", "0")


# --- deployment-scoped stores (process registry, trigger store, effect journal) --------------------

DbOpt = Annotated[Optional[Path], typer.Option(
    "--db", metavar="PATH", help="Read this store file instead of a session's sidecar.", show_default=False)]
StoreSessionArg = Annotated[Optional[str], typer.Argument(
    metavar="SESSION", help="Session whose sidecar to read: path, file name, session id or unique prefix.",
    show_default=False, autocompletion=complete_session)]


def sidecar_store(session: str | None, db: Path | None, role: str) -> Path:
    """The store file a sidecar command reads: ``--db PATH``, SESSION's ``role`` sidecar, or the only one under root.

    ``role`` is a deployment store role of ``ops.backend.ROLE_KINDS``: ``processes``, ``triggers``
    or ``effects``. Raises a lashdb error naming the file (exit 3), or exits 2 when both SESSION
    and ``--db`` are given. Only reads.
    """
    from lashdb.engine.errors import UsageError

    if session is not None and db is not None:
        raise UsageError("give SESSION or --db PATH, not both")
    st = state()
    if db is not None:
        return st.backend.require_kind(db, role)
    if session is not None:
        return st.backend.deployment_store(role, resolve(session), query=session)
    return st.backend.deployment_store(role, recursive=st.recursive,
                                       on_unreadable=lambda found: warn_unreadable(found, "; not searched"))


@contextlib.contextmanager
def open_inspector(session: str | None, db: Path | None, role: str) -> Iterator[tuple[Path, Any]]:
    """The store file :func:`sidecar_store` names for ``role`` (``processes`` or ``triggers``) and its
    read-only inspector, closed when the block ends."""
    path = sidecar_store(session, db, role)
    with state().backend.inspector(role, path) as inspector:
        yield path, inspector


def now_ms() -> int:
    """The store clock (epoch ms) lease states and ages are judged against."""
    return state().backend.now_ms()
