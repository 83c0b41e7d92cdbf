"""`build_demo` through its site: into a directory and into a PostgreSQL store, the same rows (issue 13)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from lashdb.engine.base.errors import DatabaseError
from lashdb.engine.base.locator import SessionLocation
from lashdb.engine.ops.backend import DirectoryBackend, open_backend, redact_target
from lashdb.engine.ops.demo import build_demo
from lashdb.engine.session.store import Store

SESSIONS = 2  # two root sessions (one with the runtime's rows, one with the live lease) plus the child


@pytest.fixture(autouse=True)
def _close_shared_readonly_pools():
    # The refusal check reads through the process's shared read-only pool (postgres.session_backend);
    # its threads would make later tests' workers fork a threaded process.
    yield
    from lashdb.engine.postgres.session_backend import close_readonly

    close_readonly()


def _with_password(url: str) -> str:
    # The demo must never print the password; give the URL one so the tests can tell.
    return url.replace("postgresql://postgres@", "postgresql://postgres:s3cret@", 1)


def _session_rows(where: Path | SessionLocation) -> dict:
    with Store.open_readonly(where) as store:
        head = store.load_session_head()
        assert head is not None
        return {"head_revision": head.head_revision, "nodes": len(store.load_session_graph().nodes),
                "checkpoint_ref": head.checkpoint_ref, "blobs": sorted(store.blob_hashes()),
                "artifacts": store.list_artifact_refs(), "ledger": len(store.load_token_ledger())}


def _deployment_rows(backend, root_session_id: str) -> dict:
    # Through the engine's stores: the same classes on both backends.
    with backend.process_registry(root_session_id) as registry, backend.trigger_store(root_session_id) as triggers:
        processes = sorted((p.id, p.registration_hash, len(registry.events_after(p.id)))
                           for p in registry.list_processes())
        subscriptions = sorted(s.handle for s in triggers.list_subscriptions())
    return {"processes": processes, "subscriptions": subscriptions}


def _file_counts(root: Path, summary) -> dict:
    first = summary.sessions[0]

    def count(path: Path, *tables: str) -> int:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
            return sum(conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables)

    return {"processes": count(first.sidecars["processes"], "processes"),
            "triggers": count(first.sidecars["triggers"], "trigger_subscriptions", "trigger_occurrences"),
            "effects": count(first.sidecars["effects"], "runtime_effect_replay")}


def _url_counts(backend, summary) -> dict:
    catalog = backend.catalog()
    sid = summary.sessions[0].session_id
    return {role: catalog.scope_rows(role, sid) for role in ("processes", "triggers", "effects")}


def test_demo_builds_the_same_rows_into_a_directory_and_a_postgres_store(tmp_path, pg_url):
    url = _with_password(pg_url)
    on_disk = build_demo(tmp_path / "demo", SESSIONS)
    in_pg = build_demo(url, SESSIONS)

    assert [s.session_id for s in in_pg.sessions] == [s.session_id for s in on_disk.sessions]
    assert len(in_pg.sessions) == SESSIONS + 1
    shown = redact_target(url)
    assert "s3cret" not in json.dumps(in_pg.to_json()) and in_pg.root == shown
    for disk, pg in zip(on_disk.sessions, in_pg.sessions):
        assert isinstance(disk.path, Path) and pg.path == SessionLocation("postgres", url, pg.session_id)
        assert str(pg.path) == f"{shown}#{pg.session_id}"
        expected = _session_rows(disk.path)
        assert _session_rows(pg.path) == expected
        assert expected["blobs"] and expected["head_revision"] == disk.head_revision == pg.head_revision
        assert expected["nodes"] == disk.live_nodes == pg.live_nodes  # the graph as loaded: live nodes
    # The summaries agree on everything but where things were written.
    disk_json, pg_json = on_disk.to_json(), in_pg.to_json()
    for doc in (disk_json, pg_json):
        doc.pop("root")
        for s in doc["sessions"]:
            s.pop("path"), s.pop("sidecars")
        doc["deployment"].pop("registry"), doc["deployment"].pop("trigger_store"), doc["runtime"].pop("effects")
    assert pg_json == disk_json
    first = in_pg.sessions[0]
    assert {k: str(v) for k, v in first.sidecars.items()} == {
        role: f"{shown}#{first.session_id}" for role in ("effects", "processes", "triggers")}

    directory = DirectoryBackend(tmp_path / "demo")
    with open_backend(url) as store:
        counts = _url_counts(store, in_pg)
        assert counts == _file_counts(tmp_path / "demo", on_disk)
        assert counts["processes"] == len(set(in_pg.deployment.processes.values()))
        assert counts["effects"] > 0
        rows = _deployment_rows(store, first.session_id)
    assert rows == _deployment_rows(directory, first.session_id)
    assert sorted(rows["subscriptions"]) == sorted(in_pg.deployment.subscriptions)


def test_demo_refuses_a_store_that_holds_its_sessions(pg_url):
    build_demo(pg_url, 1)
    with pytest.raises(DatabaseError, match="already holds demo session") as caught:
        build_demo(_with_password(pg_url), 1)
    assert "s3cret" not in str(caught.value) and caught.value.hint == "choose a new or empty database for the demo"
