"""The ``lashdb`` console script: the root Typer app and the single place errors become one line.

Contract: this package imports only typer (and the standard library) at module level, so
``lashdb --help``/``--version`` and shell completion stay fast; the engine, apsw and rich are
imported inside commands. Every lashdb error raised by a command becomes one
``lashdb: error: …`` line on stderr and its documented exit code (:func:`common.exit_code`);
``LASHDB_DEBUG=1`` shows the traceback instead.
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from typer.core import TyperGroup

from lashdb import __version__

from . import blob, common, demo, doctor, effects, graph, head, maintenance, processes, sessions, triggers


def _tolerant_streams() -> None:
    """Let file names that are not UTF-8 (surrogate-escaped by Python) print as escapes."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            # A stream that cannot be reconfigured (already in use) keeps its strict handler.
            with contextlib.suppress(ValueError, OSError):
                reconfigure(errors="backslashreplace")


class LashdbGroup(TyperGroup):
    """Root command group: turns lashdb errors into one line and an exit code, for every command."""

    def invoke(self, ctx: Any) -> Any:
        _tolerant_streams()
        try:
            return super().invoke(ctx)
        except Exception as exc:
            from lashdb.engine.errors import LashdbError

            if not isinstance(exc, LashdbError) or common.debug():
                raise
            sys.stderr.write(common.error_line(exc) + "\n")
            raise typer.Exit(common.exit_code(exc)) from None


app = typer.Typer(
    name="lashdb",
    cls=LashdbGroup,
    help="Inspect and maintain lash session databases.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"lashdb {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    root_dir: Annotated[Optional[Path], typer.Option(
        "--root", help="Sessions directory [default: $LASHDB_ROOT, $LASH_HOME/sessions or ~/.lash/sessions].",
        show_default=False)] = None,
    recursive: Annotated[bool, typer.Option("--recursive", help="Look for databases below the root too.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars or hints on stderr.")] = False,
    version: Annotated[Optional[bool], typer.Option("--version", callback=_version, is_eager=True,
                                                    help="Show the version and exit.")] = None,
) -> None:
    """Inspect and maintain lash session databases."""
    if root_dir is None:
        from lashdb.engine.discovery import default_root

        root_dir = default_root()
    common.set_state(common.State(root_dir, recursive, quiet))


for _module in (sessions, head, graph, blob, maintenance, doctor, effects, processes, triggers, demo):
    _module.register(app)


def main() -> None:
    """Console-script entry point."""
    if sys.argv[1:] == ["--version"]:
        # Answered before Typer builds every command's parser (~25 ms of signature inspection), so
        # `lashdb --version` costs little more than importing typer; the output is _version()'s.
        sys.stdout.write(f"lashdb {__version__}\n")
        return
    try:
        app()
    except Exception as exc:  # noqa: BLE001 - errors raised outside a command (e.g. in a callback)
        from lashdb.engine.errors import LashdbError

        if not isinstance(exc, LashdbError) or common.debug():
            raise
        sys.stderr.write(common.error_line(exc) + "\n")
        sys.exit(common.exit_code(exc))


if __name__ == "__main__":
    main()
