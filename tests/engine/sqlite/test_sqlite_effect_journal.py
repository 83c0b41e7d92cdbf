"""SqliteEffectJournalRows on a real effects schema: the lease guard decides each "matched" bool."""

from __future__ import annotations

import pytest

from lashdb.engine.base.errors import NotALashDatabase
from lashdb.engine.sqlite.deployment_backend import SqliteDeploymentBackend, open_deployment
from lashdb.engine.sqlite.effect_journal import SqliteEffectJournalRows, open_effect_journal
from lashdb.engine.sqlite.kinds import PROCESS_REGISTRY


@pytest.fixture
def journal():
    backend = open_effect_journal(None)
    yield backend
    backend.close()


GUARD = ("scope", "key", "hash", "owner", "tok")


def test_open_in_memory_hands_out_journal_rows(journal):
    assert isinstance(journal, SqliteDeploymentBackend)
    assert journal.path is None
    assert journal.read(lambda rows: type(rows)) is SqliteEffectJournalRows


def test_insert_then_get(journal):
    assert journal.read(lambda r: r.get("scope", "key")) is None
    journal.write(lambda r: r.insert("scope", "key", "hash", "in_progress", "owner", "tok", 500, None, 100))
    assert journal.read(lambda r: r.get("scope", "key")) == ("hash", "in_progress", None, None, 500, None)
    assert journal.read(lambda r: r.get("other", "key")) is None


def test_renew_finalize_release_need_the_whole_guard(journal):
    journal.write(lambda r: r.insert("scope", "key", "hash", "in_progress", "owner", "tok", 500, 50, 100))
    for wrong in (("scope", "key", "other", "owner", "tok"), ("scope", "key", "hash", "x", "tok"),
                  ("scope", "key", "hash", "owner", "x")):
        assert journal.write(lambda r: r.renew(*wrong, 900, 200)) is False
    assert journal.write(lambda r: r.renew(*GUARD, 500, 500)) is False  # expired at now
    assert journal.write(lambda r: r.renew(*GUARD, 900, 200)) is True
    assert journal.read(lambda r: r.get("scope", "key")) == ("hash", "in_progress", None, None, 900, 50)
    assert journal.write(lambda r: r.release(*GUARD, 300)) is True
    assert journal.read(lambda r: r.get("scope", "key")) == ("hash", "in_progress", None, None, 0, 50)
    assert journal.write(lambda r: r.release(*GUARD, 300)) is False  # the lease is gone


def test_claim_then_finalize(journal):
    journal.write(lambda r: r.insert("scope", "key", "hash", "in_progress", "old", "t0", 100, None, 10))
    journal.write(lambda r: r.claim("scope", "key", "owner", "tok", 800, 70, 200))
    assert journal.read(lambda r: r.get("scope", "key")) == ("hash", "in_progress", None, None, 800, 70)
    assert journal.write(lambda r: r.finalize(*GUARD, "completed", '{"ok":1}', None, 300)) is True
    assert journal.read(lambda r: r.get("scope", "key")) == ("hash", "completed", '{"ok":1}', None, 0, 70)
    # finalized: status is no longer in_progress, so the guard cannot match again
    assert journal.write(lambda r: r.finalize(*GUARD, "failed", None, '{"e":1}', 400)) is False
    assert journal.read(lambda r: r.conn.execute(
        "SELECT lease_owner_id, lease_token, updated_at_ms FROM runtime_effect_replay").fetchall()) == [
        (None, None, 300)]


def test_open_file_refuses_another_kind(tmp_path):
    path = tmp_path / "processes.db"
    open_deployment(PROCESS_REGISTRY, path).close()
    before = path.read_bytes()
    with pytest.raises(NotALashDatabase) as info:
        open_effect_journal(str(path))
    assert str(path) in str(info.value)
    assert path.read_bytes() == before


def test_open_file_creates_and_reopens(tmp_path):
    path = str(tmp_path / "e.effects.db")
    backend = open_effect_journal(path)
    backend.write(lambda r: r.insert("s", "k", "h", "in_progress", "o", "t", 5, None, 1))
    backend.close()
    again = open_effect_journal(path)
    assert again.path == path
    assert again.read(lambda r: r.get("s", "k")) == ("h", "in_progress", None, None, 5, None)
    again.close()
