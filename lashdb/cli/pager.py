"""The pager: a reading command's output on a terminal goes through one, as git's does.

Contract: only when stdout is a terminal and ``--no-pager`` was not given; the command is
``$LASHDB_PAGER``, else ``$PAGER``, else ``less -FRX`` (``LESS=FRX`` is set for it when unset, as git
sets it: quit when the output fits one screen, keep colour, leave the screen as it was). An empty
command or ``cat`` means no pager; so does a pager that is not installed. While it runs, stdout's
descriptor feeds it, so everything the command writes (text or bytes) is paged and the terminal's
width and colour are decided as for the terminal (:func:`active`, :func:`terminal_width`); stderr
(errors, warnings, progress) stays on the terminal. :func:`stop` waits for the pager, so the shell's
prompt comes back when the operator leaves it.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping

DEFAULT = "less -FRX"

_proc: subprocess.Popen | None = None
_saved_fd: int | None = None
_width: int | None = None


def command(env: Mapping[str, str]) -> str | None:
    """The pager command ``env`` asks for (``$LASHDB_PAGER``, ``$PAGER``, ``less -FRX``); None for none."""
    for name in ("LASHDB_PAGER", "PAGER"):
        if name in env:
            value = env[name].strip()
            break
    else:
        value = DEFAULT
    return None if value in ("", "cat") else value


def active() -> bool:
    """True while a pager reads this process's stdout."""
    return _proc is not None


def terminal_width() -> int | None:
    """The width of the terminal the pager shows on (taken before stdout became its pipe); None without one."""
    return _width if _proc is not None else None


def start() -> None:
    """Start the pager when stdout is a terminal and a pager is configured and installed; else nothing."""
    global _proc, _saved_fd, _width
    if _proc is not None or not sys.stdout.isatty():
        return
    cmd = command(os.environ)
    try:
        program = shlex.split(cmd)[0] if cmd else None
    except ValueError:  # unbalanced quotes: the shell would refuse it too
        program = None
    if program is None or shutil.which(program) is None:
        return
    width = shutil.get_terminal_size((80, 24)).columns
    sys.stdout.flush()
    env = dict(os.environ)
    env.setdefault("LESS", "FRX")
    env.setdefault("LV", "-c")
    proc = subprocess.Popen(cmd, shell=True, stdin=subprocess.PIPE, env=env)
    _saved_fd = os.dup(1)
    os.dup2(proc.stdin.fileno(), 1)
    proc.stdin.close()
    _proc, _width = proc, width


def stop() -> None:
    """Hand stdout back to the terminal and wait for the pager to end."""
    global _proc, _saved_fd
    if _proc is None:
        return
    try:
        sys.stdout.flush()
    except OSError:
        # The operator left the pager before the end: what is still buffered goes nowhere, never to
        # the terminal the pager gave back.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, _saved_fd)
        os.close(devnull)
    os.dup2(_saved_fd, 1)
    os.close(_saved_fd)
    proc, _proc, _saved_fd = _proc, None, None
    with contextlib.suppress(KeyboardInterrupt):
        proc.wait()


@contextlib.contextmanager
def paging(enabled: bool) -> Iterator[None]:
    """Page what the block writes (see :func:`start`) when ``enabled``; the pager ends with the block."""
    if enabled:
        start()
    try:
        yield
    finally:
        stop()
