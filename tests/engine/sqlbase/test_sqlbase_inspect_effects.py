"""EffectJournalReader: the shared effect-journal statement, scoped, column-tolerant, in creation order."""

from __future__ import annotations

import sqlite3

import pytest

from lashdb.engine.sqlbase.dialect import Dialect
from lashdb.engine.sqlbase.inspect_effects import EffectJournalReader

SCOPED = Dialect(tables={"runtime_effect_replay": "lash_effect_replay"}, scope_column="session_id",
                 collation=" COLLATE BINARY", orders_by_key=True)


class _Reader(EffectJournalReader):
    tiebreak = ("scope_id COLLATE BINARY", "replay_key COLLATE BINARY")

    def __init__(self, conn, dialect, columns, tiebreak=None):
        super().__init__(dialect, ":memory:", "effect journal", 1, 1, False, columns, ())
        if tiebreak is not None:
            self.tiebreak = tiebreak
        self.conn = conn
        self.closed = False

    def close(self):
        self.closed = True
        self.conn.close()

    def _execute(self, sql, params):
        return [tuple(r) for r in self.conn.execute(sql, params)]


def _journal():
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE lash_effect_replay (session_id TEXT, scope_id TEXT, replay_key TEXT, "
                 "status TEXT, created_at_ms INTEGER)")
    rows = [("s1", "b", "k2", "done", 5), ("s1", "a", "k9", "done", 5), ("s1", '{"frame":1}', "k1", "pending", 1),
            ("s1", "c", "k3", "pending", 9), ("s2", "a", "k0", "done", 0)]
    conn.executemany("INSERT INTO lash_effect_replay VALUES (?, ?, ?, ?, ?)", rows)
    return conn, frozenset({"scope_id", "replay_key", "status", "created_at_ms"})


def test_rows_are_scoped_in_creation_order_then_tiebreak_and_a_missing_column_is_null():
    conn, columns = _journal()
    with _Reader(conn, SCOPED.scoped("s1"), columns) as r:
        assert r.rows(("replay_key", "outcome_json")) == [("k1", None), ("k9", None), ("k2", None), ("k3", None)]
        assert r.rows(("replay_key",), scope="a") == [("k1",), ("k9",)]  # JSON scope ids kept for the caller
        assert r.rows(("replay_key",), scope="a", status="done") == [("k9",)]
    assert r.closed


def test_without_created_at_only_the_tiebreak_orders_and_a_bad_name_is_refused():
    conn, _ = _journal()
    r = _Reader(conn, SCOPED.scoped("s1"), frozenset({"scope_id", "replay_key"}))
    try:
        assert r.rows(("scope_id",)) == [("a",), ("b",), ("c",), ('{"frame":1}',)]
        with pytest.raises(ValueError, match="not a column name"):
            r.rows(("replay_key", "x; DROP TABLE lash_effect_replay"))
    finally:
        r.close()


def test_the_default_dialect_reads_a_file_table_unscoped_in_rowid_order():
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE runtime_effect_replay (scope_id TEXT, replay_key TEXT, created_at_ms INTEGER)")
    conn.executemany("INSERT INTO runtime_effect_replay VALUES (?, ?, ?)", [("b", "k2", 5), ("a", "k1", 5)])
    r = _Reader(conn, Dialect(), frozenset({"scope_id", "replay_key", "created_at_ms"}),
                tiebreak=EffectJournalReader.tiebreak)
    try:
        assert r.rows(("replay_key",)) == [("k2",), ("k1",)]  # inserted first, read first
    finally:
        r.close()
