"""Typed errors: upstream's display texts exactly, the named thing as an attribute, advice in ``hint``.
(Pickling of every class is covered in test_error_pickle.py; these are messages and hierarchy.)"""

from __future__ import annotations

import pickle
from types import SimpleNamespace

import pytest

from lashdb.engine.base import errors as E


def test_the_root_carries_a_hint_and_one_line():
    exc = E.LashdbError("bad\n   thing", hint="do this")
    assert exc.hint == "do this" and E.LashdbError("x").hint == ""
    assert E.one_line(exc) == "bad thing"
    assert E.one_line(ValueError()) == "ValueError"


@pytest.mark.parametrize("exc, text", [
    (E.SessionBindingMismatch("s1", "s2"),
     "store is already bound to session `s1` and cannot be reused for `s2`"),
    (E.HeadRevisionConflict(None, 3), "store head revision conflict: expected None, actual 3"),
    (E.HeadRevisionConflict(2, 3), "store head revision conflict: expected Some(2), actual 3"),
    (E.RuntimeTurnCommitConflict("s", "t"),
     "runtime turn `t` for session `s` was already committed with a different commit hash"),
    (E.QueuedWorkClaimExpired("s", "c"), "queued work claim `c` for session `s` is missing or expired"),
    (E.SessionExecutionLeaseExpired("s"), "session execution lease for session `s` is missing or expired"),
    (E.UnsupportedRecordSchemaVersion("checkpoint", 9, 1),
     "checkpoint schema_version 9 is not supported by this binary (expected 1)"),
    (E.UnsupportedReadScope("x"), "store does not support read scope 'x'"),
    (E.GcAborted("ab", "bad cbor"), "store backend error: gc: live checkpoint manifest `ab` could not be decoded (bad cbor)"),
])
def test_runtime_contract_texts_are_upstreams(exc, text):
    assert str(exc) == text
    assert isinstance(exc, E.StoreError)


def test_store_errors_keep_their_fields_and_class_hints():
    exc = E.HeadRevisionConflict(2, 3)
    assert (exc.expected, exc.actual) == (2, 3)
    assert exc.hint.startswith("reload the session head")
    assert E.SessionExecutionLeaseExpired("s").session_id == "s"


def test_backend_errors_name_the_file_or_the_memory_database():
    full = E.DiskFull("/d/s.db")
    assert str(full) == "store backend error: database or disk is full: /d/s.db"
    assert full.hint == "free space on /d and retry; the transaction was rolled back"
    assert "in-memory" in E.DiskFull(None).hint and str(E.DiskFull(None)).endswith("the in-memory database")
    corrupt = E.DatabaseCorrupt("/d/s.db")
    assert str(corrupt) == "store backend error: /d/s.db is damaged: database disk image is malformed"
    assert "lashdb doctor /d/s.db" in corrupt.hint
    assert str(E.DatabaseIOError(None)) == "store backend error: the in-memory database: disk I/O error"
    assert "mounted read-only" in E.DatabaseReadOnly("/d/s.db").hint
    assert str(E.StoreClosed("/d/s.db")) == "/d/s.db: the store is closed"
    assert isinstance(E.StatementTimeout("slow"), E.DatabaseBusy)


def test_driver_message_prefers_the_drivers_cause():
    exc = E.BackendError("wrapped")
    assert exc.driver_message == "wrapped"
    try:
        try:
            raise OSError("driver says no")
        except OSError as cause:
            raise E.BackendError("wrapped") from cause
    except E.BackendError as caught:
        assert caught.driver_message == "driver says no"


def test_file_and_blob_errors():
    missing = E.DatabaseNotFound("/d/s.db")
    assert (str(missing), missing.path) == ("/d/s.db: no such database file", "/d/s.db")
    assert str(E.BlobNotFound("ab", "s.db")) == "blob ab in s.db: not found"
    assert str(E.BlobDecodeError(None, "bad")) == "blob (unhashed): cannot decode: bad"
    limit = E.DecompressionLimitExceeded("ab", 1024)
    assert str(limit) == "blob ab: cannot decode: content inflates past the 1024-byte decompression limit"
    assert isinstance(limit, E.BlobDecodeError) and limit.limit == 1024
    assert str(E.ChecksumMismatch("aa", "bb")) == "blob aa: content hashes to bb"


def test_usage_errors():
    long = "x" * 100
    exc = E.InvalidBlobHash(long, "not hex")
    assert str(exc) == f"`{'x' * 40}…` is not a blob hash: not hex" and exc.query == long
    assert isinstance(exc, E.UsageError)
    unstorable = E.UnstorableValue("a.b[0]", "NaN")
    assert isinstance(unstorable, ValueError) and str(unstorable) == "a.b[0]: cannot be stored: NaN"
    extra = E.MissingExtra("postgres", "a PostgreSQL target")
    assert extra.hint == "pip install 'lashdb[postgres]'"
    assert E.LookupFailed("q", "two match", ["a", "b"]).candidates == ("a", "b")


def test_compaction_failed_reads_the_report_and_unavailable_pickles():
    report = SimpleNamespace(removed_node_count=3, compact_error="disk full")
    exc = E.CompactionFailed("/d/s.db", report, hint="free space")
    assert str(exc) == "/d/s.db: removed 3 tombstoned node(s); not compacted: disk full"
    busy = pickle.loads(pickle.dumps(E.BackendUnavailable("db:5432/x", "refused")))
    assert str(busy) == "store backend error: db:5432/x: the database server is unavailable: refused"
    assert busy.where == "db:5432/x"
