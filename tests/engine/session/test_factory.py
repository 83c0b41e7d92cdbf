"""The session store factory (SPEC §7; runtime-contract §7.2 and §7.5 factory cases)."""

from __future__ import annotations

import hashlib
import os
import time

import pytest

from lashdb.engine.session.factory import (
    SessionStoreCreateRequest,
    SessionStoreFactory,
    delete_database_files,
    safe_session_file_name,
)
from lashdb.engine.session.model import SessionMeta, SessionRelation


def digest16(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()[:16]


# --- names --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("session_id, name", [
    ("abc", "abc-ba7816bf8f01cfea.db"),                       # SPEC §7 example
    ("../../etc/passwd", f"etc_passwd-{digest16('../../etc/passwd')}.db"),
    ("chat/alpha", f"chat_alpha-{digest16('chat/alpha')}.db"),
    ("Keep-this_one9", f"Keep-this_one9-{digest16('Keep-this_one9')}.db"),
    ("", f"session-{digest16('')}.db"),
    ("___", f"session-{digest16('___')}.db"),
    ("///", f"session-{digest16('///')}.db"),
    ("..", f"session-{digest16('..')}.db"),
    ("héllo wörld", f"h_llo_w_rld-{digest16('héllo wörld')}.db"),
    ("a" * 100, f"{'a' * 80}-{digest16('a' * 100)}.db"),
])
def test_file_names(tmp_path, session_id, name):
    assert safe_session_file_name(session_id) == name
    assert SessionStoreFactory(tmp_path).path_for_session(session_id) == tmp_path / name


def test_cut_to_80_after_trimming():
    long_id = "_" * 5 + "x" * 90 + "/"
    assert safe_session_file_name(long_id) == f"{'x' * 80}-{digest16(long_id)}.db"


@pytest.mark.parametrize("session_id", ["../weird/session", "../../etc/passwd", "/abs/path", "a\\..\\b",
                                        "..\\..\\x", "nul\x00byte", "\n"])
def test_paths_never_leave_root(tmp_path, session_id):
    factory = SessionStoreFactory(tmp_path)
    path = factory.path_for_session(session_id)
    assert path == factory.path_for_session(session_id)  # stable
    assert path.parent == tmp_path and path.suffix == ".db"
    assert "/" not in path.name and "\\" not in path.name and ".." not in path.name
    assert os.path.realpath(path).startswith(os.path.realpath(tmp_path) + os.sep)


# --- create / open / delete ---------------------------------------------------------------------------


def test_create_seeds_meta_and_reopen_shows_it(tmp_path):
    root = tmp_path / "nested" / "sessions"
    factory = SessionStoreFactory(root)
    assert factory.durability_tier == "durable"
    request = SessionStoreCreateRequest("explicit", "model-x", SessionRelation.child("parent"))
    before = int(time.time())
    with factory.create_store(request) as store:
        assert store.durability_tier == "durable"
        meta = store.load_session_meta()
    after = int(time.time())
    assert (meta.session_id, meta.session_name, meta.model, meta.cwd) == ("explicit", "explicit", "model-x",
                                                                          os.getcwd())
    assert meta.relation.to_json() == {"kind": "child", "parent_session_id": "parent"}
    assert meta.created_at.startswith("unix:") and before <= int(meta.created_at[5:]) <= after
    assert sorted(os.listdir(root)) == [safe_session_file_name("explicit")]
    with factory.open_existing_store(request) as store:
        assert store.load_session_meta() == meta


def test_created_at_uses_the_store_clock(tmp_path):
    from lashdb.engine.session.store import StoreOptions
    factory = SessionStoreFactory(tmp_path, StoreOptions(clock=lambda: 1_700_000_123_456))
    with factory.create_store(SessionStoreCreateRequest("s", "m")) as store:
        assert store.load_session_meta().created_at == "unix:1700000123"


def test_create_again_keeps_custom_meta(tmp_path):
    factory = SessionStoreFactory(tmp_path)
    first = SessionStoreCreateRequest("chat/alpha", "first-model", SessionRelation.child("parent"))
    with factory.create_store(first) as store:
        seeded = store.load_session_meta()
        store.save_session_meta(SessionMeta(seeded.session_id, "Renamed", "original", "preserved-model",
                                            seeded.cwd, seeded.relation))
    with factory.create_store(SessionStoreCreateRequest("chat/alpha", "second-model")) as store:
        meta = store.load_session_meta()
    assert (meta.session_name, meta.model, meta.created_at) == ("Renamed", "preserved-model", "original")
    assert meta.relation.to_json() == {"kind": "child", "parent_session_id": "parent"}


def test_open_existing_store_is_none_when_missing(tmp_path):
    factory = SessionStoreFactory(tmp_path / "root")
    assert factory.open_existing_store(SessionStoreCreateRequest("nobody", "m")) is None
    assert not (tmp_path / "root").exists()  # looking does not create anything


def test_delete_removes_db_wal_and_shm_and_is_idempotent(tmp_path):
    factory = SessionStoreFactory(tmp_path)
    db = factory.path_for_session("victim")
    for suffix in ("", "-wal", "-shm"):
        (tmp_path / (db.name + suffix)).write_bytes(b"fake")
    (tmp_path / "other.db").write_bytes(b"keep")
    removed = factory.delete_session("victim")
    assert sorted(p.name for p in removed) == sorted([db.name, db.name + "-shm", db.name + "-wal"])
    assert factory.delete_session("victim") == []
    assert sorted(os.listdir(tmp_path)) == ["other.db"]


def test_delete_then_recreate_seeds_fresh_meta(tmp_path):
    factory = SessionStoreFactory(tmp_path)
    request = SessionStoreCreateRequest("s1", "model-a")
    with factory.create_store(request) as store:
        store.save_session_meta(SessionMeta("s1", "custom", "unix:1", "custom-model"))
        store.put_blob(b"data")
    factory.delete_session("s1")
    assert factory.open_existing_store(request) is None
    with factory.create_store(SessionStoreCreateRequest("s1", "model-b")) as store:
        meta = store.load_session_meta()
        assert (meta.session_name, meta.model) == ("s1", "model-b")
        assert store.blob_count_and_size() == (0, 0)


def test_delete_database_files_only_touches_the_three_names(tmp_path):
    db = tmp_path / "x.db"
    (tmp_path / "x.db-wal").write_bytes(b"w")
    (tmp_path / "x.db.effects.db").write_bytes(b"sidecar db of its own")
    assert delete_database_files(db) == [tmp_path / "x.db-wal"]
    assert sorted(os.listdir(tmp_path)) == ["x.db.effects.db"]
