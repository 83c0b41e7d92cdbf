"""SqliteSessionReader / SessionFile on the upstream v38 fixture (a copy) and a native session."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from lashdb.engine.base.errors import LashdbError
from lashdb.engine.sqlite.inspect_session import SqliteSessionReader, open_session_file
from lashdb.engine.sqlite.session_backend import open_session

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "upstream-v38"


def test_v38_reads_degrade_per_column(tmp_path):
    path = shutil.copy(FIXTURES / "durable-core.db", tmp_path / "durable-core.db")
    before = Path(path).read_bytes()
    f = open_session_file(path)
    try:
        r = f.reader
        with f.snapshot():
            assert f.classify().user_version == 38
            assert r.meta().session_id == "durable-read-fixture" and r.meta().session_name is None
            head = r.head_row()
            assert (head["head_revision"], head["session_id"]) == (3, "durable-read-fixture")
            assert r.node_counts() == (3, 0)
            assert r.user_messages()[0] == 1
            # v38's cache_read_input_tokens / reasoning_output_tokens are read under the native names
            assert r.usage_rows() == [("durable-read-turn", "durable-read-model", 21, 12, 5, 2)]
            assert r.v4_summary() is None  # not v4
            assert r.artifact_count() == 1
            assert r.lease_row(None)[:4] == ("durable-read-fixture", "durable-read-session-owner",
                                             "durable-read-retained-session-lease", 2)
            assert r.queued_work_counts(0) == (1, 0, 1, 1)  # no claim_expires_at_ms column: unclaimed is ready
            assert r.attachment_counts() == (1, 0, None)
            assert r.turn_commit_stats() == (3, 1700000000000)
            assert r.graph_shape() == (True, True)
            assert [row[0] for row in r.graph_rows(True)] == [1, 2, 3]
            node = r.graph_rows(True)[2][1]
            assert r.graph_row(node)[1] == node and r.graph_row("absent") is None
            assert r.node_ids_with_prefix("n_", 10) == sorted(x[1] for x in r.graph_rows(True) if x[1].startswith("n_"))
            assert r.has_blob_table() and len(r.blob_contents()) == 6
            assert r.raw_blob_row("absent") is None
    finally:
        f.close()
    assert Path(path).read_bytes() == before


def test_native_session_and_missing_tables(tmp_path):
    path = tmp_path / "s.db"
    b = open_session(path)
    b.write(lambda tx: tx.rows.save_meta("s", "n", "2024", "m", None, '{"kind":"root"}'))
    b.write(lambda tx: tx.rows.record_turn_commit("s", "t", "h", "{}", 99))
    b.close()
    f = open_session_file(path)
    try:
        r = f.reader
        with f.snapshot():
            summary = r.v4_summary()
            assert summary[:2] == ("s", "n") and summary[-1] == 4
            assert r.turn_commit_stats() == (1, 99)
            assert r.expired_leases(10**13) == [] and r.old_attachment_intents(10**13) == []
            assert r.schema_damage(str(path)) == []
            assert r.blob_contents() == [] and list(r.raw_blob_rows()) == []
    finally:
        f.close()
    # An empty database lacks every table: each reader answers None / 0 / [] rather than failing.
    from lashdb.engine.sqlite.connection import open_memory
    empty = SqliteSessionReader(open_memory())
    assert (empty.meta(), empty.head_row(), empty.node_counts(), empty.user_messages()) == (None, None, (0, 0), (0, None))
    assert (empty.usage_rows(), empty.blob_contents(), empty.artifact_count(), empty.lease_row("s")) == ([], None, 0, None)
    assert (empty.queued_work_counts(0), empty.attachment_counts(), empty.turn_commit_stats()) == (None, None, None)
    assert (empty.expired_leases(0), empty.old_attachment_intents(0), empty.graph_shape()) == (None, None, (False, False))


def test_unreadable_file_is_typed(tmp_path):
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"nope" * 2000)
    with pytest.raises(LashdbError) as info:
        f = open_session_file(junk)
        try:
            f.classify()
        finally:
            f.close()
    assert str(junk) in str(info.value)


def test_list_read_of_a_checked_open(tmp_path):
    """``checked`` opens skip the opener's checks; list_read gives the summary and the damage, or the typed
    error an unchecked open of a non-SQLite file gives."""
    from lashdb.engine.base.errors import NotALashDatabase

    path = tmp_path / "s.db"
    b = open_session(path)
    b.write(lambda tx: tx.rows.save_meta("s", "n", "2024", "m", None, '{"kind":"root"}'))
    b.close()
    for side in ("-wal", "-shm"):
        Path(f"{path}{side}").unlink(missing_ok=True)
    f = open_session_file(path, checked=True)
    try:
        row, damage = f.list_read()
        assert row == f.reader.v4_summary() and row[:2] == ("s", "n") and damage == []
        f.connection.execute("SELECT 1").fetchall()
    finally:
        f.close()
    import apsw

    conn = apsw.Connection(str(path))
    conn.execute("DROP INDEX idx_queued_work_ready; CREATE TABLE extra (x)")
    conn.close()
    f = open_session_file(path, checked=True)
    try:
        row, damage = f.list_read()
        assert row[:2] == ("s", "n")
        assert damage == [("missing", "index", "idx_queued_work_ready"), ("unexpected", "table", "extra")]
    finally:
        f.close()
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"nope" * 2000)
    f = open_session_file(junk, checked=True)  # nothing is read yet
    try:
        with pytest.raises(NotALashDatabase) as info:
            f.list_read()
        assert str(junk) in str(info.value)
    finally:
        f.close()
