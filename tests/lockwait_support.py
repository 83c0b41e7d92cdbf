"""Another process holding a store's write lock until the test tells it to let go (issue 14's
lock-wait notice): on SQLite ``BEGIN IMMEDIATE`` on the file, on PostgreSQL the scope's advisory lock.

The holder prints ``held <detail>`` once it holds the lock (``detail``: its PostgreSQL backend pid,
or ``-``), then waits for one line on its stdin, commits and exits. Nothing here sleeps: the test
reads the waiting command's stderr until the notice appears, then calls :meth:`Holder.release`.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator

_SCRIPT = r"""
import sys
kind, where, scope = sys.argv[1:4]
if kind == "sqlite":
    import apsw
    conn = apsw.Connection(where)
    conn.execute("BEGIN IMMEDIATE")
    detail = "-"
else:
    import psycopg
    from lashdb.engine.postgres.connection import advisory_key
    conn = psycopg.connect(where)
    conn.execute("SELECT pg_advisory_xact_lock(%s)", (advisory_key(scope),))
    detail = str(conn.execute("SELECT pg_backend_pid()").fetchone()[0])
print("held", detail, flush=True)
sys.stdin.readline()
conn.execute("COMMIT") if kind == "sqlite" else conn.commit()
print("released", flush=True)
"""


class Holder:
    """A running holder: ``detail`` is what it printed (its PostgreSQL backend pid, or ``-``)."""

    def __init__(self, proc: subprocess.Popen, detail: str) -> None:
        self.proc = proc
        self.detail = detail

    def release(self) -> None:
        """Tell the holder to commit, and wait until it has."""
        if self.proc.poll() is None:
            self.proc.stdin.write("go\n")
            self.proc.stdin.flush()
            assert self.proc.stdout.readline().strip() == "released"
        self.proc.wait()


@contextlib.contextmanager
def holding(kind: str, where: str, scope: str = "") -> Iterator[Holder]:
    """A process holding the write lock of ``where`` (a file, or a database URL and a ``scope``)."""
    proc = subprocess.Popen([sys.executable, "-c", _SCRIPT, kind, str(where), scope], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    try:
        first = proc.stdout.readline().split()
        assert first[:1] == ["held"], f"the lock holder did not start: {first}"
        holder = Holder(proc, first[1])
        yield holder
        holder.release()
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        for stream in (proc.stdin, proc.stdout):
            stream.close()


def read_until(stream, needle: str) -> list[str]:
    """Lines of ``stream`` up to and including the first containing ``needle`` (all of them at EOF)."""
    lines = []
    for line in iter(stream.readline, ""):
        lines.append(line)
        if needle in line:
            break
    return lines
