"""The ``lashdb`` console script: the root Typer app and the single place errors become one line.

Contract: this module imports only typer (and the standard library) at module level, so
``lashdb --help``/``--version`` and shell completion stay fast; the engine, apsw and rich are
imported inside commands.
"""

from __future__ import annotations

import os
import sys
from typing import Annotated, Optional

import typer

from lashdb import __version__

app = typer.Typer(
    name="lashdb",
    help="Inspect and maintain lash session databases.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"lashdb {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[Optional[bool], typer.Option("--version", callback=_version, is_eager=True,
                                                    help="Show the version and exit.")] = None,
) -> None:
    """Inspect and maintain lash session databases."""


def main() -> None:
    """Entry point: run the app; any lashdb error becomes one ``lashdb: error:`` line."""
    try:
        app()
    except Exception as exc:  # noqa: BLE001 - the one place errors become a line and an exit code
        if os.environ.get("LASHDB_DEBUG"):
            raise
        sys.stderr.write(f"lashdb: error: {exc}\n")
        sys.exit(3)


if __name__ == "__main__":
    main()
