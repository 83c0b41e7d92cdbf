"""The attachment write-ahead manifest (runtime contract §5, §7.3)."""

from __future__ import annotations

import logging

import pytest

from lashdb.engine import AttachmentIntent, AttachmentManifestEntry, BackendError
from runtime_support import LEASE_TTL, FakeClock, commit_for, open_file


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(5_000)


@pytest.fixture
def store(store_on, clock):
    """A store on the test's backend (``[sqlite]``/``[postgres]``), on the injected clock."""
    return store_on.open(clock=clock)


def intent(attachment_id: str, at: int = 100, session_id: str = "root", uri: str | None = None) -> AttachmentIntent:
    return AttachmentIntent(attachment_id, session_id, uri or f"file:///blobs/{attachment_id}", at)


_COLUMNS = "attachment_id, session_id, canonical_uri, intent_at_ms, committed_at_ms"


@pytest.fixture
def rows(store_on):
    """``rows(store)``: every stored manifest row, by attachment id, on either backend."""
    return lambda store: store_on.sql(
        store, f"SELECT {_COLUMNS} FROM attachment_manifest ORDER BY attachment_id",
        f"SELECT {_COLUMNS} FROM lash_attachment_manifest ORDER BY attachment_id COLLATE \"C\"")


def test_orphan_sweep_lifecycle(store, clock, rows):
    for name in ("runtime-commit", "manual-commit", "orphan"):
        store.record_intent(intent(name))
    assert [e.attachment_id for e in store.list_uncommitted(200)] == ["manual-commit", "orphan", "runtime-commit"]
    store.commit_refs("root", ["manual-commit"])
    lease = store.try_claim_session_execution_lease("root", "runner", LEASE_TTL)
    store.commit_runtime_state(commit_for().under_lease(lease).with_committed_attachments(["runtime-commit"]))
    assert store.list_uncommitted(200) == [
        AttachmentManifestEntry("orphan", "root", "file:///blobs/orphan", 100, None)]
    assert dict((r[0], r[4]) for r in rows(store)) == {
        "manual-commit": clock.now, "orphan": None, "runtime-commit": clock.now}
    store.forget("orphan")
    assert store.list_uncommitted(200) == []


def test_duplicate_intent_keeps_the_first_row_and_warns_only_on_conflict(store, caplog, rows):
    """A second intent keeps the first row; only one conflicting in session or URI is logged, at warning (W15)."""
    store.record_intent(intent("a", 100))
    with caplog.at_level(logging.WARNING, logger="lashdb.engine.attachments"):
        store.record_intent(intent("a", 300))  # same session and URI: a harmless retry
        assert caplog.records == []
        store.record_intent(intent("a", 400, session_id="other", uri="file:///elsewhere"))
    assert rows(store) == [("a", "root", "file:///blobs/a", 100, None)]
    assert len(caplog.records) == 1 and caplog.records[0].levelno == logging.WARNING
    assert "'a'" in caplog.records[0].getMessage() and "file:///elsewhere" in caplog.records[0].getMessage()


def test_commit_refs_stamps_once_only_own_session_and_warns_on_unknown_ids(store, clock, caplog, rows):
    """Commit stamps only the session's own rows, once; ids that matched no row are logged, at warning (W15)."""
    store.record_intent(intent("mine"))
    store.record_intent(intent("theirs", session_id="other"))
    store.commit_refs("root", [])  # no-op
    with caplog.at_level(logging.WARNING, logger="lashdb.engine.attachments"):
        store.commit_refs("root", ["mine", "theirs", "ghost"])
    first_stamp = clock.now
    assert dict((r[0], r[4]) for r in rows(store)) == {"mine": first_stamp, "theirs": None}
    assert len(caplog.records) == 1
    assert "'theirs'" in caplog.records[0].getMessage() and "'ghost'" in caplog.records[0].getMessage()
    clock.advance(1_000)
    store.commit_refs("root", ["mine"])
    assert rows(store)[0][4] == first_stamp  # an earlier stamp is kept
    assert len(rows(store)) == 2  # no row is ever created by a stamp


def test_commit_stamps_only_rows_of_the_committing_session(store, clock, rows):
    store.record_intent(intent("mine"))
    store.record_intent(intent("theirs", session_id="other"))
    lease = store.try_claim_session_execution_lease("root", "runner", LEASE_TTL)
    store.commit_runtime_state(commit_for().under_lease(lease).with_committed_attachments(["mine", "theirs"]))
    assert dict((r[0], r[4]) for r in rows(store)) == {"mine": clock.now, "theirs": None}


def test_list_is_inclusive_ordered_and_spans_sessions(store):
    store.record_intent(intent("late", 300))
    store.record_intent(intent("b-tie", 200, session_id="other"))
    store.record_intent(intent("a-tie", 200))
    store.record_intent(intent("early", 100))
    assert [e.attachment_id for e in store.list_uncommitted(200)] == ["early", "a-tie", "b-tie"]
    assert store.list_uncommitted_older_than(99) == []
    assert [e.session_id for e in store.list_uncommitted(1_000)] == ["root", "root", "other", "root"]


def test_forget_of_an_absent_row_is_a_no_op(store, rows):
    store.forget("never-recorded")
    assert rows(store) == []


def test_invalid_values_are_refused(store, rows):
    with pytest.raises(ValueError):
        store.list_uncommitted(-1)
    with pytest.raises(ValueError):
        store.record_intent(intent("neg", -5))
    assert rows(store) == []


def test_unreadable_rows_raise(tmp_path, clock):
    # SQLite only: PostgreSQL's column types cannot hold a row of the wrong types.
    with open_file(tmp_path / "attachments.db", clock) as store:
        store.write(lambda c: c.execute("INSERT INTO attachment_manifest VALUES ('bad', 'root', X'00', 5, NULL)"))
        with pytest.raises(BackendError, match="bad"):
            store.list_uncommitted(1 << 62)


def test_intents_survive_reopen(store_on, clock):
    with store_on.open(clock=clock) as store:
        store.record_intent(intent("kept"))
    with store_on.open(clock=clock) as store:
        assert [e.attachment_id for e in store.list_uncommitted(100)] == ["kept"]
