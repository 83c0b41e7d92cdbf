"""Meta, head and usage rows decoded over a real SessionTx; undecodable rows are BackendError, never absent."""

from __future__ import annotations

import pytest

from lashdb.engine.base.errors import BackendError
from lashdb.engine.session import records
from lashdb.engine.session.model import (
    SessionHeadMeta,
    SessionMeta,
    SessionRelation,
    TokenLedgerEntry,
    TokenUsage,
)
from lashdb.engine.session.store import Store


@pytest.fixture
def store():
    with Store.memory() as s:
        yield s


def test_meta_is_absent_then_round_trips(store):
    assert store._read(records.load_meta) is None
    meta = SessionMeta("s1", "name", "2026-01-01T00:00:00Z", "m", "/cwd", SessionRelation.child("p", {"by": 1}))
    store._write(lambda tx: records.save_meta(tx, meta))
    assert store._read(records.load_meta) == meta
    row = store.read(lambda c: c.execute("SELECT session_id, relation_json FROM session_meta").fetchall())
    assert row == [("s1", '{"kind":"child","parent_session_id":"p","caused_by":{"by":1}}')]


def test_head_row_round_trips_and_the_column_revision_wins(store):
    head = SessionHeadMeta("root", 3, {"model": "m"}, ("f",), "f", "ab" * 32, "n1", 2,
                           (TokenLedgerEntry("turn", "m", TokenUsage(1, 2, 3, 4)),))
    store._write(lambda tx: records.save_head_row(tx, head))
    assert store._read(records.load_head_meta) == head
    store.write(lambda c: c.execute("UPDATE session_head SET head_revision = 9"))
    assert store._read(records.load_head_meta).head_revision == 9


def test_an_undecodable_head_is_a_backend_error():
    assert records.decode_head('{"session_id": "root", "head_revision": 1, "config": {}, "agent_frames": []}',
                               4).head_revision == 4
    with pytest.raises(BackendError, match="^store backend error: decode session head: "):
        records.decode_head("{not json", 1)
    with pytest.raises(BackendError, match="decode session head"):
        records.decode_head("[1, 2]", 1)


def test_usage_rows_append_in_order(store):
    entries = [TokenLedgerEntry("turn", "m1", TokenUsage(1, 2, 3, 4)),
               TokenLedgerEntry("tool", "m2", TokenUsage(5, 6, 7, 8))]
    store._write(lambda tx: records.insert_usage(tx, entries))
    store._write(lambda tx: records.insert_usage(tx, entries[:1]))
    assert store._read(records.load_usage) == [*entries, entries[0]]


def test_a_usage_row_with_non_integer_counters_is_a_backend_error(store):
    store.write(lambda c: c.execute("INSERT INTO usage_deltas (seq, source, model, input_tokens, output_tokens, "
                                    "cached_input_tokens, reasoning_tokens) VALUES (7, 's', 'm', 'x', 0, 0, 0)"))
    with pytest.raises(BackendError) as caught:
        store._read(records.load_usage)
    assert str(caught.value) == "store backend error: usage_deltas row 7 cannot be read: non-integer counters"
