"""Options shared by every command, the global state, and the error → exit-code rule.

Contract: options are declared once here and reused; commands read the global state (root,
recursive, quiet) from :func:`state`. :func:`exit_code` is the single mapping from a lashdb error to
the documented exit code (CLI.md): 1 the command ran and found problems (GC aborted), 3 the target
is unusable. Only typer and the standard library are imported at module level.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Optional

import typer

EXIT_OK = 0
EXIT_PROBLEMS = 1
EXIT_USAGE = 2
EXIT_UNUSABLE = 3

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document instead of a table.")]
SessionArgs = Annotated[Optional[list[str]], typer.Argument(
    metavar="[SESSION]...", help="Session: path, file name, session id or unique prefix (4+ chars).",
    show_default=False)]
SessionOpt = Annotated[Optional[list[str]], typer.Option(
    "--session", "-s", help="Session to act on (repeatable); same forms as SESSION.", show_default=False)]
AllOpt = Annotated[bool, typer.Option("--all", help="Act on every session under the root.")]
YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]
DryRunOpt = Annotated[bool, typer.Option("--dry-run", help="Report what would happen; change nothing.")]


@dataclass
class State:
    """Global options, set by the root callback."""

    root: Path
    recursive: bool = False
    quiet: bool = False


_state: State | None = None


def set_state(new: State) -> None:
    global _state
    _state = new


def state() -> State:
    """The global options (defaults when the root callback did not run, e.g. in direct calls)."""
    global _state
    if _state is None:
        from lashdb.engine.discovery import default_root

        _state = State(default_root())
    return _state


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
    from lashdb.engine.discovery import resolve_session

    st = state()
    return resolve_session(st.root, query, recursive=st.recursive)


def exit_code(exc: BaseException) -> int:
    """The documented exit code for a lashdb error."""
    from lashdb.engine.errors import GcAborted

    if isinstance(exc, GcAborted):
        return EXIT_PROBLEMS
    return EXIT_UNUSABLE


def error_line(exc: BaseException) -> str:
    """``lashdb: error: <message>`` with the error's hint, on one line."""
    message = " ".join(str(exc).split()) or type(exc).__name__
    hint = getattr(exc, "hint", "")
    return f"lashdb: error: {message}" + (f" ({hint})" if hint else "")


def fail(message: str, code: int = EXIT_UNUSABLE) -> typer.Exit:
    """Print one error line and return the Exit to raise."""
    sys.stderr.write(f"lashdb: error: {message}\n")
    return typer.Exit(code)


def require_yes(yes: bool, what: str) -> None:
    """Ask on a terminal; refuse (exit 2) without ``--yes`` when stdin is not interactive."""
    if yes:
        return
    if not sys.stdin.isatty():
        raise fail(f"refusing to {what} without --yes (stdin is not a terminal)", EXIT_USAGE)
    if not typer.confirm(f"{what}?", default=False, err=True):
        raise fail("cancelled", EXIT_PROBLEMS)


def debug() -> bool:
    """Tracebacks on request: ``LASHDB_DEBUG=1``."""
    return os.environ.get("LASHDB_DEBUG", "") not in ("", "0")
