"""The writable connection's busy handler: SQLite's wait, one notice naming the holder, the same
total timeout; the holder is another process that lets go when the hook has heard of the wait."""

from __future__ import annotations

import pytest

from lashdb.engine.base.errors import DatabaseBusy
from lashdb.engine.base.lockwait import set_lock_wait_hook
from lashdb.engine.base.timing import iso_ms, wall_clock_ms
from lashdb.engine.ops.demo import build_demo
from lashdb.engine.sqlite import busy, connection
from lockwait_support import holding


@pytest.fixture
def heard():
    got = []
    old = set_lock_wait_hook(got.append)
    yield got
    set_lock_wait_hook(old)


def _table(path):
    conn = connection.open_write(path)
    conn.execute("CREATE TABLE t(a)")
    return conn


def test_a_write_waits_tells_the_hook_once_and_succeeds_when_the_holder_lets_go(tmp_path, heard):
    path = str(tmp_path / "a.db")
    conn = _table(path)
    with holding("sqlite", path) as holder:
        def release_on_notice(wait):
            heard.append(wait)
            holder.release()

        set_lock_wait_hook(release_on_notice)
        with connection.write_transaction(conn, path):
            conn.execute("INSERT INTO t VALUES (1)")
    [wait] = heard
    assert (wait.what, wait.holder, wait.timeout_ms) == (path, "another process", connection.BUSY_TIMEOUT_MS)
    assert wait.waited_ms >= 1000
    assert conn.execute("SELECT a FROM t").fetchall() == [(1,)]


def test_the_whole_wait_is_the_timeout_then_database_busy_with_one_notice(tmp_path, heard):
    path = str(tmp_path / "a.db")
    conn = _table(path)
    conn.set_busy_handler(busy.BusyWait(path, 1_300, connection.lock_holder))
    with holding("sqlite", path):
        with pytest.raises(DatabaseBusy) as caught, connection.write_transaction(conn, path):
            conn.execute("INSERT INTO t VALUES (1)")
    assert path in str(caught.value)
    assert [(w.what, w.timeout_ms) for w in heard] == [(path, 1_300)]
    with connection.write_transaction(conn, path):  # a later wait starts its own clock
        conn.execute("INSERT INTO t VALUES (2)")


def test_a_wait_shorter_than_a_second_tells_nobody(tmp_path, heard):
    path = str(tmp_path / "a.db")
    conn = _table(path)
    conn.set_busy_handler(busy.BusyWait(path, 200, connection.lock_holder))
    with holding("sqlite", path):
        with pytest.raises(DatabaseBusy), connection.write_transaction(conn, path):
            conn.execute("INSERT INTO t VALUES (1)")
    assert heard == []


def test_the_holder_of_a_session_under_a_live_lease_is_named_with_the_lease(tmp_path):
    summary = build_demo(tmp_path / "root", clock=wall_clock_ms)
    leased = summary.root_sessions[-1]  # the demo's runtime still holds this one's lease
    with holding("sqlite", str(leased.path)):
        said = connection.lock_holder(str(leased.path))
    assert said.startswith(f"another process (session `{leased.session_id}` is leased to "
                           "`lash@demo-laptop:pid5120` until ")
    expires = said.rsplit(" until ", 1)[1].rstrip(")")
    assert expires > iso_ms(wall_clock_ms())
    assert connection.lock_holder(str(summary.root_sessions[0].path)) == "another process"  # its lease expired
    assert connection.lock_holder(str(tmp_path / "missing.db")) == "another process"


def test_the_wait_polls_every_few_ms_not_in_sqlites_steps_up_to_100_ms(monkeypatch):
    now, slept = [100.0], []
    monkeypatch.setattr(busy.time, "monotonic", lambda: now[0])
    monkeypatch.setattr(busy.time, "sleep", lambda s: (slept.append(s), now.__setitem__(0, now[0] + s)))
    wait = busy.BusyWait("x.db", 15_000, connection.lock_holder)
    calls = 0
    while wait(calls):
        calls += 1
    # 1 ms between tries at first (a writer behind a ~15 ms GC batch gets in as it ends), never
    # more than POLL_MAX_MS, and it gives up once the 15 s have passed.
    assert slept[:100] == [0.001] * 100 and slept[100] == 0.002 and max(slept) == busy.POLL_MAX_MS / 1000
    assert sum(slept) == pytest.approx(15.0, abs=0.01)
    assert wait(0) is True  # a new wait starts its own clock
