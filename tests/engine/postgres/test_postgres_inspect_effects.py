"""The PostgreSQL effect journal reader (postgres/inspect_effects.py) against the SQLite file reader: the
same rows, written through the effect journal's backend port on a SQLite file and on a session's scope
in PostgreSQL, read back as the same values."""

from __future__ import annotations

import psycopg
import pytest

from lashdb.engine.base import backends
from lashdb.engine.base.errors import NotALashDatabase, SchemaVersionError
from lashdb.engine.base.locator import SessionLocation

T0 = 1_700_000_000_000
SID = "session-a"
COLUMNS = ("scope_id", "replay_key", "status", "envelope_hash", "lease_owner_id", "lease_token",
           "lease_expires_at_ms", "due_at_ms", "created_at_ms", "updated_at_ms", "outcome_json", "error_json")
STRUCTURED = '{"session_id":"session-a","turn":2}'


def build(backend, base: int = T0) -> None:
    """Five rows in four scopes (one a JSON object), created out of key order: completed, failed, in progress."""
    rows = [("turn", "k2", "completed", '{"ok":1}', None), ("turn", "k1", "failed", None, '{"e":"x"}'),
            ("other", "k1", "in_progress", None, None), (STRUCTURED, "k3", "completed", '{"ok":2}', None),
            ("turn", "a0", "in_progress", None, None)]
    for i, (scope, key, status, outcome, error) in enumerate(rows):
        now = base + 10 * i
        backend.write(lambda r: r.insert(scope, key, f"hash-{key}", "in_progress", "owner", f"tok-{i}",
                                         now + 100, now + 5 if i % 2 else None, now))
        if status != "in_progress":
            backend.write(lambda r: r.finalize(scope, key, f"hash-{key}", "owner", f"tok-{i}", status, outcome,
                                               error, now + 1))


def views(reader) -> dict:
    return {
        "info": (reader.kind, reader.schema_version, reader.supported_version, reader.foreign,
                 sorted(reader.columns), reader.damaged),
        "all": reader.rows(COLUMNS),
        "scope": reader.rows(COLUMNS, "turn"),
        "status": reader.rows(COLUMNS, status="completed"),
        "both": reader.rows(("replay_key", "status"), "other", "in_progress"),
        "missing column": reader.rows(("replay_key", "not_a_column")),
        "none": reader.rows(COLUMNS, "nobody", "completed"),
    }


def test_every_reader_method_returns_the_same_values_on_both_backends(tmp_path, pg_url):
    other = backends.open_with("postgres.effect_journal", pg_url, "session-b")  # never seen by SID's reader
    try:
        build(other, T0 - 1000)
    finally:
        other.close()
    path = tmp_path / f"{SID}.effects.db"
    location = SessionLocation("postgres", pg_url, SID)
    seen = {}
    for name, backend, target in (("sqlite", backends.open_with("sqlite.effect_journal", str(path)), path),
                                  ("postgres", backends.open_with("postgres.effect_journal", pg_url, SID), location)):
        try:
            build(backend)
        finally:
            backend.close()
        with backends.open_with(f"{name}.effect_journal_reader", target, ("scope_id", "replay_key")) as reader:
            seen[name] = (reader.path, views(reader))
    assert seen["postgres"][0] == str(location)
    pg, lite = seen["postgres"][1], seen["sqlite"][1]
    for key in lite:
        assert pg[key] == lite[key], key
        assert repr(pg[key]) == repr(lite[key]), key  # same types too
    assert [r[:3] for r in lite["all"]] == [("turn", "k2", "completed"), ("turn", "k1", "failed"),
                                            ("other", "k1", "in_progress"), (STRUCTURED, "k3", "completed"),
                                            ("turn", "a0", "in_progress")]
    assert [r[1] for r in lite["scope"]] == ["k2", "k1", "k3", "a0"]  # the structured scope is kept for the caller
    assert lite["both"] == [("k1", "in_progress")] and lite["missing column"][0] == ("k2", None)
    assert lite["all"][0][4:] == (None, None, 0, None, T0, T0 + 1, '{"ok":1}', None)


def test_a_missing_required_column_and_another_schema_are_refused(pg_url):
    location = SessionLocation("postgres", pg_url, SID)
    with pytest.raises(NotALashDatabase, match="the store has no table lash_effect_replay"):
        backends.open_with("postgres.effect_journal_reader", location)  # a database lashdb never wrote to
    backends.open_with("postgres.effect_journal", pg_url, SID).close()
    with pytest.raises(NotALashDatabase, match="no `not_a_column` column"):
        backends.open_with("postgres.effect_journal_reader", location, ("scope_id", "not_a_column"))
    with psycopg.connect(pg_url) as conn:
        conn.execute("UPDATE lash_schema_versions SET version = 99 WHERE component = 'lashdb'")
    with pytest.raises(SchemaVersionError):
        backends.open_with("postgres.effect_journal_reader", location)
