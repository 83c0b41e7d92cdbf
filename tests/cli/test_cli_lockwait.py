"""A command waiting on another process's write lock says so on stderr after a second: who holds it
and how long it will wait, then finishes once the holder lets go (issue 14), on both store kinds.

The holder is a second process (tests/lockwait_support.py) that lets go only when the test has read
the notice from the waiting command's stderr: nothing sleeps, nothing is timed."""

from __future__ import annotations

import json
import subprocess

import pytest

from conftest import console_script
from lashdb.engine.base.timing import wall_clock_ms
from lashdb.engine.ops.demo import build_demo
from lockwait_support import holding, read_until


@pytest.fixture(params=["directory", "postgres"])
def demo(request, tmp_path):
    target = tmp_path / "root" if request.param == "directory" else request.getfixturevalue("pg_url")
    summary = build_demo(target, clock=wall_clock_ms)
    return request.param, ["--root" if request.param == "directory" else "--store", str(target)], summary


def _lashdb(*args: str) -> subprocess.Popen:
    return subprocess.Popen([console_script(), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_gc_waiting_on_a_lock_names_the_holder_and_the_wait_then_succeeds(demo):
    kind, args, summary = demo
    session = summary.root_sessions[0]  # the newest one is under a live lease, which gc skips
    where = str(session.path) if kind == "directory" else args[1]
    with holding("sqlite" if kind == "directory" else "postgres", where, session.session_id) as holder:
        command = _lashdb(*args, "gc", session.session_id[:8], "--json")
        seen = read_until(command.stderr, "lashdb: waiting for")
        assert command.poll() is None, seen  # still waiting: the holder has not let go
        holder.release()
        out, rest = command.communicate()
    notice = seen[-1].rstrip("\n")
    assert notice.startswith("lashdb: waiting for the write lock on ")
    if kind == "directory":
        assert f"on {session.path}, held by another process (waited " in notice
        assert notice.endswith("; waiting up to 15 s in all)")
    else:
        assert f"on `{session.session_id}` in {args[1]}, held by PostgreSQL backend pid {holder.detail} from " in notice
        assert notice.endswith("; waiting up to 10 s in all)")
    assert command.returncode == 0, (out, rest)
    assert [line for line in seen[:-1] + rest.splitlines() if "waiting for" in line] == []  # said once
    [row] = json.loads(out)["sessions"]
    assert (row["session_id"], row["outcome"]) == (session.session_id, "collected")


def test_the_notice_is_installed_unless_quiet(tmp_path):
    from typer.testing import CliRunner

    from lashdb.cli.main import app
    from lashdb.engine.base import lockwait

    runner = CliRunner()
    try:
        assert runner.invoke(app, ["-q", "--root", str(tmp_path), "sessions", "list"]).exit_code == 0
        assert not lockwait.wanted()
        assert runner.invoke(app, ["--root", str(tmp_path), "sessions", "list"]).exit_code == 0
        assert lockwait.wanted()
    finally:
        lockwait.set_lock_wait_hook(None)
