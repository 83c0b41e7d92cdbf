"""SqliteAttachmentRows: insert-if-absent reports whether it inserted; stamping and listing are scoped."""

from __future__ import annotations

import pytest

from lashdb.engine.sqlite.attachments import SqliteAttachmentRows
from lashdb.engine.sqlite.connection import open_memory
from lashdb.engine.sqlite.kinds import SESSION
from lashdb.engine.sqlite.schema import ensure_schema


@pytest.fixture
def rows():
    conn = open_memory()
    ensure_schema(conn, SESSION)
    yield SqliteAttachmentRows(conn)
    conn.close()


def _all(rows):
    return rows.conn.execute("SELECT attachment_id, session_id, canonical_uri, intent_at_ms, committed_at_ms "
                             "FROM attachment_manifest ORDER BY attachment_id").fetchall()


def test_insert_if_absent_keeps_the_first_row(rows):
    assert rows.insert_if_absent("a1", "s", "file:///one", 10) is True
    assert rows.insert_if_absent("a1", "other", "file:///two", 20) is False
    assert _all(rows) == [("a1", "s", "file:///one", 10, None)]
    assert rows.location("a1") == ("s", "file:///one")
    assert rows.location("nope") is None


def test_unknown_ids_are_distinct_and_scoped_to_the_session(rows):
    rows.insert_if_absent("a1", "s", "u1", 1)
    rows.insert_if_absent("a2", "other", "u2", 1)
    assert sorted(rows.unknown_ids("s", ["a1", "a2", "a3", "a3"])) == ["a2", "a3"]
    assert rows.unknown_ids("s", []) == []


def test_stamp_marks_only_the_sessions_unstamped_rows(rows):
    rows.insert_if_absent("a1", "s", "u1", 1)
    rows.insert_if_absent("a2", "s", "u2", 2)
    rows.insert_if_absent("b1", "other", "u3", 3)
    rows.stamp("s", ["a1", "b1"], 100)
    rows.stamp("s", ["a1"], 200)  # already stamped: unchanged
    assert [(r[0], r[4]) for r in _all(rows)] == [("a1", 100), ("a2", None), ("b1", None)]


def test_uncommitted_lists_old_intents_oldest_first_and_delete_removes(rows):
    rows.insert_if_absent("z", "s", "u1", 5)
    rows.insert_if_absent("a", "s", "u2", 5)
    rows.insert_if_absent("m", "s", "u3", 1)
    rows.insert_if_absent("late", "s", "u4", 50)
    rows.insert_if_absent("done", "s", "u5", 1)
    rows.stamp("s", ["done"], 9)
    assert rows.uncommitted(5) == [("m", "s", "u3", 1), ("a", "s", "u2", 5), ("z", "s", "u1", 5)]
    rows.delete("m")
    rows.delete("absent")
    assert [r[0] for r in rows.uncommitted(100)] == ["a", "z", "late"]
