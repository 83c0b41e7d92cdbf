"""The rows of ``sessions list`` (ops.list_rows): the JSON object, a URL store's rows built from its
catalog, and the module staying light enough that a URL listing never loads the SQLite store."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from lashdb.engine.base.errors import BackendError, LookupFailed
from lashdb.engine.base.listing import ListingFilter
from lashdb.engine.base.locator import SessionLocation
from lashdb.engine.ops import list_rows
from lashdb.engine.ops.list_rows import SessionSummary, located_summaries
from lashdb.engine.session.model import stored_message_text

URL = "postgresql://lash:secret@db.example/lash"
USER_NODE = json.dumps({"node_id": "n1", "timestamp": "2026-05-31T09:00:20+00:00", "kind": "event",
                        "event": {"Conversation": {"role": "User", "parts": [
                            {"kind": "Text", "content": "Deploy it"}, {"kind": "Image", "ref": "x"},
                            {"kind": "Text", "content": "please"}]}}})


def catalog_row(sid: str, **over) -> tuple:
    """A catalog listing row in postgres/catalog.py's column order."""
    row = {"sid": sid, "name": "Release", "model": "gpt-5", "cwd": "/src", "created": "unix:1780218000",
           "relation": '{"kind":"root"}', "blobs": 7, "blob_bytes": 3468, "live": 6, "dead": 1, "users": 3,
           "first": USER_NODE, "head": "{}", "revision": 2, "head_sid": sid, "version": 2,
           "created_ms": 1_796_487_446_000, "modified_ms": 1_796_487_446_143, "size": 5242,
           "processes": False, "triggers": True, "effects": False, **over}
    return tuple(row.values())


class FakeStore:
    """A URL store's listing side: a catalog answering with fixed rows, and locations."""

    def __init__(self, rows: list[tuple]) -> None:
        self.rows = rows
        self.asked: list[dict] = []

    def catalog(self):
        store = self

        class Catalog:
            def listing(self, **kwargs):
                store.asked.append(kwargs)
                return store.rows

        return Catalog()

    def location(self, sid: str) -> SessionLocation:
        return SessionLocation("postgres", URL, sid)


def test_a_catalog_row_becomes_the_documented_json_object():
    store = FakeStore([catalog_row("s1"), catalog_row("s2", relation='{"kind":"child","parent_session_id":"s1"}',
                                                      created="2026-06-01T00:00:00.5Z", head=None, first=None,
                                                      triggers=False)])
    rows = located_summaries(store, sort="created", limit=5)
    assert store.asked == [{"sort": "created", "limit": 5, "session_ids": None, "filters": ListingFilter()}]
    first, second = (r.to_json() for r in rows)
    assert first == {
        "path": "postgresql://lash:***@db.example/lash#s1", "file": "s1", "kind": "session", "status": "ok",
        "foreign": False, "schema_version": 4, "session_id": "s1", "session_name": "Release", "model": "gpt-5",
        "cwd": "/src", "relation": "root", "parent_session_id": None,
        "created_at": "2026-05-31T09:00:00Z", "created_at_epoch_ms": 1_780_218_000_000,
        "modified_at": "2026-12-05T16:17:26.143Z", "modified_at_epoch_ms": 1_796_487_446_143,
        "head_revision": 2, "live_nodes": 6, "tombstoned_nodes": 1, "user_messages": 3, "blobs": 7,
        "blob_bytes": 3468, "size_bytes": 5242, "first_user_message": "Deploy it\n\n[Image attached]\n\nplease",
        "sidecars": {"triggers": "postgresql://lash:***@db.example/lash#s1"},
    }
    assert (second["relation"], second["parent_session_id"]) == ("child", "s1")
    assert (second["created_at"], second["created_at_epoch_ms"]) == ("2026-06-01T00:00:00.500Z", 1_780_272_000_500)
    assert (second["head_revision"], second["first_user_message"], second["sidecars"]) == (None, "", {})


def test_an_unparsable_created_text_falls_back_to_the_rows_creation_time():
    [row] = located_summaries(FakeStore([catalog_row("s1", created=None)]))
    assert row.created_ms == 1_796_487_446_000


def test_a_head_revision_that_is_not_a_number_is_a_backend_error_naming_it():
    with pytest.raises(BackendError, match="head_revision 'two'"):
        located_summaries(FakeStore([catalog_row("s1", revision="two")]))


def test_unknown_sort_and_a_status_no_located_row_has():
    with pytest.raises(LookupFailed, match="unknown sort key `colour`"):
        located_summaries(FakeStore([]), sort="colour")
    store = FakeStore([catalog_row("s1")])
    assert located_summaries(store, filters=ListingFilter(status="foreign")) == [] and store.asked == []


def test_a_summary_is_a_plain_record_that_pickles():
    import pickle

    row = SessionSummary(path=Path("/tmp/a.db"), kind="session", status="ok", session_id="a")
    assert pickle.loads(pickle.dumps(row)) == row and row.display_name == "a"
    assert not hasattr(row, "__dict__")  # slots: a listing builds one per session


@pytest.mark.parametrize("node, text", [
    (None, ""),
    (USER_NODE, "Deploy it\n\n[Image attached]\n\nplease"),
    ('{"kind":"event","event":{"Conversation":{"role":"User","parts":[{"kind":"Text","content":"hi"}]}}}', "hi"),
    ('{"kind":"plugin","plugin_type":"x","body":{}}', ""),
    ('[1, 2]', ""),
    ('{"kind":"event","event":{"Conversation":{"parts":[{"kind":"Text","content":NaN}]}}}', ""),  # Python's reader
    ('{"kind":"event","event":{"Conversation":{"parts":[{"kind":"Text","content":"big %d"}]}},"n":%d}'
     % (2**70, 2**70), "big %d" % 2**70),
])
def test_stored_message_text(node, text):
    assert stored_message_text(node) == text


def test_stored_message_text_of_invalid_json_is_a_value_error():
    with pytest.raises(ValueError):
        stored_message_text("{not json")


def test_the_module_does_not_load_the_sqlite_store():
    code = ("import sys, lashdb.engine.ops.list_rows, lashdb.engine.ops.url_store, lashdb.engine.postgres.backend;"
            "print(sorted(m for m in ('apsw', 'lashdb.engine.session.store', 'lashdb.engine.ops.sessions') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
    assert list_rows.SORT_KEYS == ("modified", "created", "size", "name")
