"""The lock-wait hook: installed once per process, told of a wait, never failing the write it reports."""

from __future__ import annotations

import pytest

from lashdb.engine.base import lockwait
from lashdb.engine.base.lockwait import LockWait, set_lock_wait_hook


@pytest.fixture(autouse=True)
def no_hook():
    old = set_lock_wait_hook(None)
    yield
    set_lock_wait_hook(old)


WAIT = LockWait("/r/a.db", "another process", 15_000, 1_004)


def test_without_a_hook_nothing_is_wanted_and_notify_is_a_no_op():
    assert not lockwait.wanted()
    lockwait.notify(WAIT)


def test_the_hook_hears_each_wait_and_installing_returns_the_one_replaced():
    heard = []
    assert set_lock_wait_hook(heard.append) is None
    assert lockwait.wanted()
    lockwait.notify(WAIT)
    assert heard == [WAIT]
    assert set_lock_wait_hook(None) == heard.append
    lockwait.notify(WAIT)
    assert heard == [WAIT] and not lockwait.wanted()


def test_a_failing_hook_does_not_fail_the_wait():
    def broken(wait):
        raise BrokenPipeError("stderr went away")

    set_lock_wait_hook(broken)
    lockwait.notify(WAIT)  # no exception: the write it reports on goes on


def test_describe_names_what_who_and_how_long():
    assert WAIT.describe() == ("waiting for the write lock on /r/a.db, held by another process "
                               "(waited 1.0 s; waiting up to 15 s in all)")
    assert LockWait("x", "y", 0, 1500).describe().endswith("(waited 1.5 s; waiting with no limit)")
    assert LockWait("x", "y", 1500, 1000).describe().endswith("waiting up to 1.5 s in all)")
