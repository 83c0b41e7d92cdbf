"""SqliteEffectJournalReader: read-only rows of an effects file, a missing column read as NULL."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from lashdb.engine.base.errors import LashdbError, NotALashDatabase
from lashdb.engine.sqlite.deployment_backend import open_trigger_store
from lashdb.engine.sqlite.effect_journal import open_effect_journal
from lashdb.engine.sqlite.inspect_effects import open_effect_journal_reader

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "upstream-v38"


def test_upstream_file_missing_column_reads_as_none(tmp_path):
    path = shutil.copy(FIXTURES / "effects.db", tmp_path / "effects.db")
    before = Path(path).read_bytes()
    with open_effect_journal_reader(path) as r:
        assert (r.kind, r.schema_version, r.supported_version, r.foreign) == ("effect replay", 11, 1, True)
        rows = r.rows(("replay_key", "status", "no_such_column"))
        assert rows == [("durable-read-exec-replay", "completed", None)]
        assert r.rows(("replay_key",), status="in_progress") == []
    assert Path(path).read_bytes() == before
    with pytest.raises(NotALashDatabase) as info:
        open_effect_journal_reader(path, required=("no_such_column",))
    assert "no_such_column" in str(info.value)


def test_native_rows_in_creation_order_and_scope_filter(tmp_path):
    path = str(tmp_path / "x.effects.db")
    b = open_effect_journal(path)
    b.write(lambda r: r.insert("s", "k2", "h", "in_progress", "o", "t", 9, None, 200))
    b.write(lambda r: r.insert("s", "k1", "h", "in_progress", "o", "t", 9, None, 100))
    b.write(lambda r: r.insert("other", "k3", "h", "completed", "o", "t", 9, None, 50))
    b.write(lambda r: r.insert('{"session":"s"}', "k4", "h", "in_progress", "o", "t", 9, None, 300))
    b.close()
    with open_effect_journal_reader(path, required=("scope_id",)) as r:
        assert r.foreign is False
        assert r.rows(("replay_key",)) == [("k3",), ("k1",), ("k2",), ("k4",)]
        assert r.rows(("replay_key",), scope="s") == [("k1",), ("k2",), ("k4",)]  # structured scopes kept
        assert r.rows(("replay_key",), status="completed") == [("k3",)]
        with pytest.raises(ValueError):
            r.rows(("bad name; DROP",))


def test_refuses_other_kind_and_closed_is_typed(tmp_path):
    path = str(tmp_path / "t.db")
    open_trigger_store(path).close()
    with pytest.raises(NotALashDatabase):
        open_effect_journal_reader(path)
    ok = str(tmp_path / "e.db")
    open_effect_journal(ok).close()
    r = open_effect_journal_reader(ok)
    r.close()
    with pytest.raises(LashdbError) as info:
        r.rows(("replay_key",))
    assert getattr(info.value, "path", None) == ok
