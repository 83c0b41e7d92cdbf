"""The ``lashdb`` console script: the root Typer app and the single place errors become one line.

Contract: this package imports only typer (and the standard library) at module level, so
``lashdb --help``/``--version`` and shell completion stay fast; the engine, apsw and rich are
imported inside commands. Every lashdb error raised by a command becomes one
``lashdb: error: …`` line on stderr and its documented exit code (:func:`common.exit_code`);
``LASHDB_DEBUG=1`` shows the traceback instead. A reader of stdout that goes away (``| head``) ends
the command quietly with exit 141 (:data:`common.EXIT_BROKEN_PIPE`): no traceback, no error line.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from typer.core import TyperGroup

from lashdb import __version__

from . import common
from .commands import blob, demo, doctor, effects, graph, head, maintenance, migrate, processes, sessions, triggers


def _tolerant_streams() -> None:
    """Let file names that are not UTF-8 (surrogate-escaped by Python) print as escapes."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            # A stream that cannot be reconfigured (already in use) keeps its strict handler.
            with contextlib.suppress(ValueError, OSError):
                reconfigure(errors="backslashreplace")


def _broken_pipe(exc: BaseException) -> bool:
    """True for the error a write raises once the reading end of its pipe is closed."""
    return isinstance(exc, OSError) and exc.errno == errno.EPIPE


def _silence_stdout() -> None:
    """Point stdout's descriptor at /dev/null, so what is still buffered flushes nowhere at exit
    instead of raising again during interpreter shutdown (the Python docs' recipe for SIGPIPE)."""
    with contextlib.suppress(OSError, ValueError):  # no descriptor (an in-memory stream): nothing to flush
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, sys.stdout.fileno())
        finally:
            os.close(devnull)


class LashdbGroup(TyperGroup):
    """Root command group and the one error edge: a lashdb error raised anywhere in a run (parsing,
    the root callback, a command) becomes one :func:`common.error_line` on stderr and its
    :func:`common.exit_code`; ``LASHDB_DEBUG=1`` lets it through with its traceback."""

    def main(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().main(*args, **kwargs)
        except Exception as exc:
            from lashdb.engine.errors import LashdbError

            if not isinstance(exc, LashdbError) or common.debug():
                raise
            sys.stderr.write(common.error_line(exc) + "\n")
            code = common.exit_code(exc)
        if not kwargs.get("standalone_mode", True):
            return code  # click's contract: without standalone mode, main returns the exit code
        sys.exit(code)

    def invoke(self, ctx: Any) -> Any:
        _tolerant_streams()
        try:
            return super().invoke(ctx)
        except OSError as exc:
            if not _broken_pipe(exc):
                raise
            # Caught here, inside click's main: click would answer a broken pipe with exit 1, which
            # means "found problems" here.
            _silence_stdout()
            raise typer.Exit(common.EXIT_BROKEN_PIPE) from None


def _version(value: bool) -> None:
    if value:
        typer.echo(f"lashdb {__version__}")
        raise typer.Exit()


def root(
    root_dir: Annotated[Optional[Path], typer.Option(
        "--root", help="Sessions directory [default: $LASHDB_ROOT, $LASH_HOME/sessions or ~/.lash/sessions].",
        show_default=False)] = None,
    store: Annotated[Optional[str], typer.Option(
        "--store", metavar="TARGET", help="Store: a sessions directory or a postgresql:// URL "
        "[default: $LASHDB_STORE, else --root's default].", show_default=False)] = None,
    recursive: Annotated[bool, typer.Option("--recursive", help="Look for databases below the root too.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars or hints on stderr.")] = False,
    no_pager: Annotated[bool, typer.Option("--no-pager", help="Do not page output on a terminal "
                                           "[pager: $LASHDB_PAGER, $PAGER, less -FRX].")] = False,
    version: Annotated[Optional[bool], typer.Option("--version", callback=_version, is_eager=True,
                                                    help="Show the version and exit.")] = None,
) -> None:
    """Inspect and maintain lash session databases."""
    common.set_state(common.State(common.store_target(store, root_dir), recursive, quiet, pager=not no_pager))


MODULES = (sessions, head, graph, blob, maintenance, doctor, effects, processes, triggers, demo, migrate)

# Top-level command → the module that registers it. main() builds only that module's commands:
# Typer turns every command's signature into a click parser on each run, 30–40 ms for the whole
# tree, paid before any command starts. A test keeps this table equal to what MODULES register.
COMMAND_MODULES = {
    "sessions": sessions, "head": head, "graph": graph, "node": graph, "blob": blob, "gc": maintenance,
    "vacuum": maintenance, "doctor": doctor, "effects": effects, "processes": processes,
    "triggers": triggers, "demo": demo, "migrate": migrate,
}


def build_app(modules: tuple = MODULES) -> typer.Typer:
    """The root app with the commands of ``modules`` (default: all of them)."""
    new = typer.Typer(
        name="lashdb",
        cls=LashdbGroup,
        help="Inspect and maintain lash session databases.",
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        rich_markup_mode=None,
    )
    new.callback()(root)
    for module in modules:
        module.register(new)
    return new


app = build_app()

_ROOT_FLAGS = {"--recursive", "--quiet", "-q", "--no-pager"}


def _command_name(args: list[str]) -> str | None:
    """The top-level command ``args`` run, past the root options; ``None`` when unsure."""
    i = 0
    while i < len(args):
        arg = args[i]
        if arg in ("--root", "--store"):
            i += 2
        elif arg in _ROOT_FLAGS or arg.startswith(("--root=", "--store=")):
            i += 1
        elif arg.startswith("-"):
            return None  # --help, --version or a mistake: the whole app answers
        else:
            return arg
    return None


def app_for(args: list[str]) -> typer.Typer:
    """The app that runs ``args``: one command's module when the command is known, else all."""
    if any(k.startswith("_LASHDB_COMPLETE") for k in os.environ):
        return app  # completion walks the whole tree
    module = COMMAND_MODULES.get(_command_name(args) or "")
    return app if module is None else build_app((module,))


def main() -> None:
    """Console-script entry point."""
    stdout = sys.stdout
    try:
        try:
            _run(sys.argv[1:])
        finally:
            if sys.stdout is not stdout:
                # Typer met a broken pipe outside a command (e.g. root --help) and swapped in a
                # wrapper that hides it, to exit 1; that is the same broken pipe.
                sys.stdout = stdout
                raise BrokenPipeError(errno.EPIPE, "stdout's reader went away")
            # Inside the try: output still buffered when the reader is gone breaks here.
            stdout.flush()
    except OSError as exc:
        if not _broken_pipe(exc):
            raise
        _silence_stdout()
        sys.exit(common.EXIT_BROKEN_PIPE)


def _run(args: list[str]) -> None:
    if args == ["--version"]:
        # Answered before Typer builds every command's parser (~25 ms of signature inspection), so
        # `lashdb --version` costs little more than importing typer; the output is _version()'s.
        sys.stdout.write(f"lashdb {__version__}\n")
        return
    app_for(args)()  # LashdbGroup.main turns a lashdb error into its line and exit code


if __name__ == "__main__":
    main()
