"""asyncio entry points of the deployment stores (lashdb.engine.deployment.aio): each opens the right
store behind the right facade, on a file or in memory, with the given clock, and closes it."""

from __future__ import annotations

import asyncio

import apsw
import pytest

from lashdb.engine.base.aio import AsyncFacade
from lashdb.engine.deployment.aio import (
    memory_effect_host,
    memory_process_registry,
    memory_trigger_store,
    open_effect_host,
    open_process_registry,
    open_trigger_store,
)
from lashdb.engine.deployment.effects import AsyncEffectHost, EffectHost
from lashdb.engine.deployment.process_model import ProcessRegistration
from lashdb.engine.deployment.process_registry import AsyncProcessRegistry, ProcessRegistry
from lashdb.engine.deployment.triggers import TriggerStore
from lashdb.engine.errors import NotALashDatabase


def _user_version(path) -> int:
    conn = apsw.Connection(str(path), flags=apsw.SQLITE_OPEN_READONLY)
    try:
        return conn.execute("PRAGMA user_version").fetchone()[0]
    finally:
        conn.close()


def test_each_entry_point_opens_its_store_behind_its_facade(tmp_path):
    async def main():
        opened = [
            (await open_process_registry(tmp_path / "processes.db", clock=lambda: 1_234), AsyncProcessRegistry,
             ProcessRegistry, str(tmp_path / "processes.db")),
            (await memory_process_registry(), AsyncProcessRegistry, ProcessRegistry, None),
            (await open_trigger_store(tmp_path / "triggers.db"), AsyncFacade, TriggerStore,
             str(tmp_path / "triggers.db")),
            (await memory_trigger_store(), AsyncFacade, TriggerStore, None),
            (await open_effect_host(tmp_path / "effects.db"), AsyncEffectHost, EffectHost,
             str(tmp_path / "effects.db")),
            (await open_effect_host(), AsyncEffectHost, EffectHost, None),
            (await memory_effect_host(), AsyncEffectHost, EffectHost, None),
        ]
        shapes = [(type(f) is facade, type(f.sync) is store, f.sync.path == path)
                  for f, facade, store, path in opened]
        record = await opened[0][0].register_process(ProcessRegistration.external("job-1"))
        for facade, *_ in opened:
            await facade.close()
        return shapes, record, [f.closed for f, *_ in opened]

    shapes, record, closed = asyncio.run(main())
    assert shapes == [(True, True, True)] * 7
    assert (record.created_at_ms, record.updated_at_ms) == (1_234, 1_234)  # the clock reached the store
    assert closed == [True] * 7
    assert sorted(p.name for p in tmp_path.glob("*.db")) == ["effects.db", "processes.db", "triggers.db"]
    with ProcessRegistry.open(tmp_path / "processes.db") as reopened:
        assert reopened.get_process("job-1") == record
    assert _user_version(tmp_path / "effects.db") == 1


def test_a_refused_file_raises_from_the_awaited_open(tmp_path):
    async def main():
        await open_effect_host(tmp_path / "processes.db")

    with ProcessRegistry.open(tmp_path / "processes.db"):
        pass
    with pytest.raises(NotALashDatabase):
        asyncio.run(main())
