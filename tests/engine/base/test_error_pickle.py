"""lashdb errors cross process boundaries (``fork_map`` workers) by pickle: each must come back with
the same type, message, hint and fields, not a message its constructor repeats."""

from __future__ import annotations

import pickle

import pytest

from lashdb.engine import errors as E


CASES = [
    E.DatabaseNotFound("/x/y.db"),
    E.NotALashDatabase("/x/y.db", "its tables identify a trigger store", expected="session"),
    E.FileUnreadable("/x/y.db", "symlink loop"),
    E.DiskFull("/x/y.db"),
    E.DatabaseCorrupt("/x/y.db"),
    E.SchemaVersionError("session", 4, 38, "/x/y.db"),
    E.MissingCheckpoint("ab" * 32, "/x/y.db"),
    E.UnstorableValue("commit.checkpoint.tool_state[0]", "nesting deeper than 256"),
    E.StoreClosed("/x/y.db"),
]


@pytest.mark.parametrize("exc", CASES, ids=lambda e: type(e).__name__)
def test_errors_survive_pickle(exc):
    back = pickle.loads(pickle.dumps(exc))
    assert type(back) is type(exc)
    assert str(back) == str(exc)
    assert back.hint == exc.hint
    assert back.__dict__ == exc.__dict__
    assert back.args == exc.args
