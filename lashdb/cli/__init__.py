"""lashdb.cli: the Typer command line. Only typer is imported at module level (start-up speed).

Contract: this package's own ``__init__`` imports nothing: :func:`entry`, the console script, answers
``lashdb --version`` with the standard library alone (a closed stdout ends it with exit 141 and
nothing on stderr, as every command) and hands every other command line to :func:`.main.main`.
"""


def entry() -> None:
    """Console-script entry point: ``--version`` here, everything else by :func:`lashdb.cli.main.main`."""
    import sys

    if sys.argv[1:] == ["--version"]:
        from lashdb import __version__

        try:
            sys.stdout.write(f"lashdb {__version__}\n")
            sys.stdout.flush()
        except BrokenPipeError:
            import os

            # As main._silence_stdout: what is still buffered flushes nowhere at exit.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            os.close(devnull)
            sys.exit(141)  # common.EXIT_BROKEN_PIPE (tests/cli/test_output.py holds the two equal)
        return
    from .main import main as run

    run()
