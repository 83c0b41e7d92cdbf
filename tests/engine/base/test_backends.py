"""The opener registry: lazy "module:function" openers resolve on first use, the built-in backends
are imported by name on the first lookup, unknown names are a BackendError naming what is known."""

from __future__ import annotations

import subprocess
import sys

import pytest

from lashdb.engine.base import backends
from lashdb.engine.base.errors import BackendError


@pytest.fixture
def scratch():
    names = []
    yield names
    with backends._LOCK:
        for name in names:
            backends._OPENERS.pop(name, None)


def _fresh(code: str) -> str:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert (out.returncode, out.stderr) == (0, "")
    return out.stdout.strip()


def test_the_registry_loads_both_built_in_backends_on_first_lookup():
    names = backends.registered()
    assert names == sorted(names)
    assert {n for n in names if n.startswith("sqlite.")} and "postgres" in names, names
    assert set(backends.BUILTIN_PROVIDERS.values()) <= set(sys.modules)


def test_nothing_imports_a_backend_before_the_first_lookup_and_a_lookup_loads_only_its_own():
    # base names the providers as strings; the first lookup of a "sqlite." name imports that package
    # (and the opener's module) and not the PostgreSQL one, which registered() then loads without psycopg.
    code = (
        "import sys\n"
        "from lashdb.engine.base import backends\n"
        "before = {'lashdb.engine.sqlite', 'lashdb.engine.postgres'} & set(sys.modules)\n"
        "found = backends.opener('sqlite.classify')\n"
        "loaded = sorted(m for m in ('lashdb.engine.sqlite', 'lashdb.engine.postgres', 'apsw', 'psycopg') "
        "if m in sys.modules)\n"
        "names = backends.registered()\n"
        "print(sorted(before), found.__module__, loaded, 'postgres' in names, 'postgres.connect' in names, "
        "'psycopg' in sys.modules)\n"
    )
    assert _fresh(code) == ("[] lashdb.engine.sqlite.classify ['apsw', 'lashdb.engine.sqlite'] True True False")


def test_an_unknown_prefix_loads_every_built_in_before_refusing():
    code = (
        "from lashdb.engine.base import backends\n"
        "from lashdb.engine.base.errors import BackendError\n"
        "try:\n    backends.opener('other.thing')\n"
        "except BackendError as exc:\n    print('postgres.connect' in str(exc), 'sqlite.session' in str(exc))\n"
    )
    assert _fresh(code) == "True True"


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
    assert "lashdb.engine.base.backends.register" in caught.value.hint
