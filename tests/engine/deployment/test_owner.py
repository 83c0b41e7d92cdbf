"""StoreOwner lifecycle through the two deployment stores: open/create through the registered backend,
memory stores, the injectable clock, refusal of another kind's file untouched, close."""

from __future__ import annotations

import time

import pytest
from conftest import file_sha256

from lashdb.engine.base.errors import NotALashDatabase, ProcessRegistryError
from lashdb.engine.deployment.owner import StoreOwner
from lashdb.engine.deployment.process_registry import ProcessRegistry
from lashdb.engine.deployment.triggers import TriggerStore
from lashdb.engine.session.store import Store


@pytest.mark.parametrize("cls, backend, version", [
    (ProcessRegistry, "sqlite.process_registry", 7), (TriggerStore, "sqlite.trigger_store", 1)])
def test_open_creates_the_kinds_schema_and_memory_has_no_path(tmp_path, cls, backend, version):
    assert issubclass(cls, StoreOwner) and cls.BACKEND == backend
    with cls.open(tmp_path / "d.db", clock=lambda: 42.9) as store:
        assert store.path == str(tmp_path / "d.db")
        assert store.now_ms() == 42
        assert store._conn.execute("PRAGMA user_version").fetchall() == [(version,)]
    with cls.memory() as store:
        assert store.path is None
        assert store._conn.execute("PRAGMA user_version").fetchall() == [(version,)]


def test_the_default_clock_is_the_wall_clock(tmp_path):
    with ProcessRegistry.memory() as store:
        before = time.time_ns() // 1_000_000
        assert before <= store.now_ms() <= time.time_ns() // 1_000_000


def test_another_kinds_file_is_refused_untouched(tmp_path):
    path = tmp_path / "s.db"
    Store.open(path).close()
    before = file_sha256(path)
    with pytest.raises(NotALashDatabase) as caught:
        ProcessRegistry.open(path)
    assert str(caught.value) == f"{path}: not a lash process registry database (its tables identify session)"
    assert caught.value.expected == "process registry"
    assert file_sha256(path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.db"]


def test_the_refusal_hint_names_the_expected_kind(tmp_path):
    path = tmp_path / "s.db"
    Store.open(path).close()
    with pytest.raises(NotALashDatabase) as caught:
        ProcessRegistry.open(path)
    assert "session database" not in caught.value.hint


def test_a_closed_store_refuses_work_with_a_typed_error(tmp_path):
    store = ProcessRegistry.open(tmp_path / "p.db")
    store.close()
    with pytest.raises(ProcessRegistryError):
        store.list_processes()


def test_a_closed_store_error_names_the_file(tmp_path):
    store = ProcessRegistry.open(tmp_path / "p.db")
    store.close()
    with pytest.raises(ProcessRegistryError) as caught:
        store.list_processes()
    assert str(tmp_path / "p.db") in str(caught.value)
