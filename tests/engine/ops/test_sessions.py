"""``sessions list`` on the demo root: one row per session (every lash database with include_all),
the documented JSON keys, sorting and limits, unreadable rows, and the typed errors."""

from __future__ import annotations

import pytest
from conftest import snapshot_dir

from lashdb.engine.base.errors import LookupFailed
from lashdb.engine.ops import sessions
from lashdb.engine.ops.demo import build_demo


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    return build_demo(tmp_path_factory.mktemp("sessions") / "root")


def test_one_row_per_session_newest_first(demo):
    before = snapshot_dir(demo.root)
    rows = sessions.list_sessions(demo.root)
    assert snapshot_dir(demo.root) == before
    assert sorted(r.session_id for r in rows) == sorted(s.session_id for s in demo.sessions)
    assert [r.modified_ms for r in rows] == sorted((r.modified_ms for r in rows), reverse=True)
    by_id = {s.session_id: s for s in demo.sessions}
    for row in rows:
        want = by_id[row.session_id]
        assert (row.kind, row.status, row.session_name, row.head_revision, row.live_nodes, row.user_messages,
                row.first_user_message, row.parent_session_id) == (
            "session", "ok", want.name, want.head_revision, want.live_nodes, want.user_messages,
            want.first_user_message, want.parent_session_id)
        assert row.relation == ("child" if want.parent_session_id else "root")


def test_the_json_row(demo):
    first = demo.sessions[0]
    row = next(r for r in sessions.list_sessions(demo.root) if r.session_id == first.session_id)
    doc = row.to_json()
    assert list(doc) == ["path", "file", "kind", "status", "foreign", "schema_version", "session_id",
                         "session_name", "model", "cwd", "relation", "parent_session_id", "created_at",
                         "created_at_epoch_ms", "modified_at", "modified_at_epoch_ms", "head_revision",
                         "live_nodes", "tombstoned_nodes", "user_messages", "blobs", "blob_bytes", "size_bytes",
                         "first_user_message", "sidecars"]
    assert (doc["file"], doc["created_at_epoch_ms"], doc["modified_at_epoch_ms"]) == \
        (first.path.name, first.created_at_ms, first.modified_at_ms)
    assert doc["size_bytes"] == first.path.stat().st_size
    assert sorted(doc["sidecars"]) == ["effects", "processes", "triggers"]
    assert row.display_name == first.name


def test_include_all_adds_the_deployment_databases(demo):
    rows = sessions.list_sessions(demo.root, include_all=True)
    kinds = sorted(r.kind for r in rows)
    assert kinds == sorted(["session"] * len(demo.sessions) + ["effect replay", "process registry", "trigger store"])
    other = [r for r in rows if r.kind != "session"]
    assert all(r.status == "ok" and r.session_id is None and r.display_name == r.path.name for r in other)


def test_sorting_and_limits(demo):
    by_name = sessions.list_sessions(demo.root, sort="name")
    assert [r.display_name for r in by_name] == sorted((r.display_name for r in by_name), key=str.casefold)
    by_created = sessions.list_sessions(demo.root, sort="created", limit=2)
    assert len(by_created) == 2 and by_created[0].created_ms >= by_created[1].created_ms
    assert sessions.list_sessions(demo.root, limit=-3) == []
    with pytest.raises(LookupFailed) as caught:
        sessions.list_sessions(demo.root, sort="colour")
    assert str(caught.value) == "unknown sort key `colour`"
    assert caught.value.candidates == sessions.SORT_KEYS


def test_a_file_that_is_not_sqlite_is_an_unreadable_row(tmp_path):
    (tmp_path / "junk.db").write_bytes(b"this is not a database" * 100)
    rows = sessions.list_sessions(tmp_path, include_all=True)
    assert len(rows) == 1
    assert rows[0].kind == "unreadable" and rows[0].status.startswith("unreadable: ")
    assert rows[0].to_json()["kind"] == "unreadable"
