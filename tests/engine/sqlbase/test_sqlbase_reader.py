"""StoreReader: the schema facts a shared reader reports, and closing on leaving a ``with`` block."""

from __future__ import annotations

import pytest

from lashdb.engine.sqlbase.dialect import Dialect
from lashdb.engine.sqlbase.reader import StoreReader


class _Counting(StoreReader):
    closes = 0

    def close(self):
        self.closes += 1


def test_the_reader_keeps_its_facts_and_closes_once_on_leaving_with():
    cols = frozenset({"a"})
    with _Counting(Dialect(), "store.db", 24, 38, True, cols, ("index missing",)) as r:
        assert (r.path, r.schema_version, r.supported_version, r.foreign) == ("store.db", 24, 38, True)
        assert r.columns is cols and r.damaged == ("index missing",) and r.dialect == Dialect()
        assert r.closes == 0
    assert r.closes == 1


def test_a_backend_must_supply_the_runner_and_close():
    bare = StoreReader(Dialect(), "x", 1, 1, False, frozenset(), ())
    with pytest.raises(NotImplementedError):
        bare._execute("SELECT 1", ())
    with pytest.raises(NotImplementedError):
        bare.close()
