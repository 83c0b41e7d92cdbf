"""The SQLite schema kinds carry the base names/versions, and a file's kind is decided by its tables."""

from __future__ import annotations

import pytest

from lashdb.engine.base import kinds as names
from lashdb.engine.sqlite import kinds


def test_kinds_carry_the_base_names_and_versions():
    assert [(k.name, k.version) for k in kinds.KINDS] == [
        (names.SESSION, 4), (names.PROCESS_REGISTRY, 7), (names.TRIGGER_STORE, 1), (names.EFFECT_REPLAY, 1)]
    assert kinds.SESSION.singleton_tables == ("session_head", "session_meta")
    for kind in kinds.KINDS:
        for table in kind.marker_tables:
            assert f"CREATE TABLE IF NOT EXISTS {table} (" in kind.ddl


@pytest.mark.parametrize("tables, expected", [
    ({"blobs", "session_head", "session_meta", "graph_nodes"}, kinds.SESSION),
    ({"processes", "process_events"}, kinds.PROCESS_REGISTRY),
    ({"trigger_subscriptions"}, kinds.TRIGGER_STORE),
    ({"runtime_effect_replay", "other"}, kinds.EFFECT_REPLAY),
    ({"blobs", "session_head"}, None),  # session_meta missing: not a session file
    (set(), None),
    ({"users"}, None),
])
def test_kind_of_tables(tables, expected):
    assert kinds.kind_of_tables(tables) is expected


def test_schema_kind_is_frozen():
    with pytest.raises(AttributeError):
        kinds.SESSION.version = 5
