"""The opener registry: lazy "module:function" openers resolve on first use, unknown names are a
BackendError naming what is known."""

from __future__ import annotations

import pytest

import lashdb.engine
from lashdb.engine.base import backends
from lashdb.engine.base.errors import BackendError


@pytest.fixture
def scratch():
    names = []
    yield names
    with backends._LOCK:
        for name in names:
            backends._OPENERS.pop(name, None)


def test_the_composition_root_registers_the_sqlite_openers():
    assert lashdb.engine.__name__ == "lashdb.engine"  # importing it registered the built-in backends
    names = backends.registered()
    assert names == sorted(names)
    assert {n for n in names if n.startswith("sqlite.")}, names


def test_a_callable_opener_receives_the_arguments(scratch):
    scratch.append("test.echo")
    backends.register("test.echo", lambda *a, **k: (a, k))
    assert backends.open_with("test.echo", 1, x=2) == ((1,), {"x": 2})
    assert "test.echo" in backends.registered()


def test_a_lazy_opener_is_imported_once_and_then_cached(scratch):
    scratch.append("test.lazy")
    backends.register("test.lazy", "lashdb.engine.base.ints:to_i64")
    assert isinstance(backends._OPENERS["test.lazy"], str)
    assert backends.open_with("test.lazy", 2**64 - 1) == -1
    from lashdb.engine.base.ints import to_i64
    assert backends._OPENERS["test.lazy"] is to_i64
    assert backends.opener("test.lazy") is to_i64


def test_registering_again_replaces_the_opener(scratch):
    scratch.append("test.twice")
    backends.register("test.twice", lambda: 1)
    backends.register("test.twice", lambda: 2)
    assert backends.open_with("test.twice") == 2


def test_an_unknown_name_is_a_backend_error_listing_the_known_ones():
    with pytest.raises(BackendError) as caught:
        backends.opener("nope.nothing")
    text = str(caught.value)
    assert text.startswith("store backend error: no storage backend is registered as 'nope.nothing' (known: ")
    assert backends.registered()[0] in text
    assert "import lashdb.engine" in caught.value.hint
