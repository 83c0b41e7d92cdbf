"""``lashdb.engine.open_backend``: a directory gives the SQLite directory backend; a Postgres URL
without the extra is one typed error naming the extra (never the password); anything else is a
usage error naming the target."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from lashdb.engine import (
    BackendError,
    LashdbError,
    ProcessRegistryInspector,
    SessionStoreCreateRequest,
    SessionStoreFactory,
    Store,
    TriggerStoreInspector,
    open_backend,
    safe_session_file_name,
)
from lashdb.engine.base import backends
from lashdb.engine.errors import UsageError
from lashdb.engine.ops.backend import Backend, DirectoryBackend, redact_target


def test_a_directory_str_or_pathlike_is_a_directory_backend(tmp_path):
    for target in (tmp_path, str(tmp_path)):
        backend = open_backend(target)
        assert isinstance(backend, DirectoryBackend) and isinstance(backend, Backend)
        assert backend.root == tmp_path and backend.target == str(tmp_path)


def test_opening_touches_nothing(tmp_path):
    missing = tmp_path / "not-yet"
    backend = open_backend(missing)
    assert not missing.exists()
    assert backend.path_for_session("abc") == missing / "abc-ba7816bf8f01cfea.db"


def test_the_directory_backend_hands_out_every_store_by_id(tmp_path):
    backend = open_backend(tmp_path / "root")
    factory = backend.factory()
    assert isinstance(factory, SessionStoreFactory) and factory.root == tmp_path / "root"
    with factory.create_store(SessionStoreCreateRequest("root-1", "m")) as created:
        assert created.load_session_meta().session_id == "root-1"
    with backend.session_store("root-1") as store:
        assert isinstance(store, Store) and store.load_session_meta().session_id == "root-1"
    db = tmp_path / "root" / safe_session_file_name("root-1")
    with backend.process_registry("root-1") as registry:
        assert registry.path == str(db) + ".processes.db"
    with backend.trigger_store("root-1") as triggers:
        assert triggers.path == str(db) + ".triggers.db"
    host = backend.effect_journal("root-1")
    try:
        assert Path(str(db) + ".effects.db").exists()
    finally:
        host.close()
    # and the read side finds them again, as the CLI does
    assert backend.resolve("root-1") == db
    found = {f.path.name: f.kind_name for f in backend.discover()}
    assert found[db.name] == "session" and found[db.name + ".processes.db"] == "process registry"
    assert backend.deployment_store("processes", db) == Path(str(db) + ".processes.db")
    assert backend.deployment_store("triggers") == Path(str(db) + ".triggers.db")
    with backend.inspector("processes", backend.deployment_store("processes", db)) as inspector:
        assert isinstance(inspector, ProcessRegistryInspector) and inspector.list_processes() == []
    with backend.inspector("triggers", Path(str(db) + ".triggers.db")) as inspector:
        assert isinstance(inspector, TriggerStoreInspector) and inspector.list_subscriptions() == []
    assert [s.session_id for s in backend.list_sessions()] == ["root-1"]


@pytest.mark.parametrize("url", [
    "postgresql://lash:s3cret-pw@db.example:5432/lash",
    "postgres://lash:s3cret-pw@db.example/lash?sslmode=require",
    "postgresql://lash@db.example/lash?password=s3cret-pw",
])
def test_a_postgres_url_without_the_extra_is_one_typed_error_without_the_password(url, monkeypatch):
    # As in an install without the PostgreSQL backend: nothing answers "postgres" once the built-in
    # providers are loaded (they are loaded once; a removed opener is not put back).
    backends.registered()
    monkeypatch.delitem(backends._OPENERS, "postgres", raising=False)
    assert "postgres" not in backends.registered()
    with pytest.raises(BackendError) as caught:
        open_backend(url)
    text = f"{caught.value} {caught.value.hint}"
    assert "pip install 'lashdb[postgres]'" == caught.value.hint
    assert "PostgreSQL backend" in str(caught.value) and "db.example" in str(caught.value)
    assert "s3cret-pw" not in text and "\n" not in text


def test_a_registered_postgres_opener_answers_the_url(monkeypatch):
    seen = []
    monkeypatch.setitem(backends._OPENERS, "postgres", lambda target: seen.append(target) or "pg-backend")
    backend = open_backend("postgresql://u:p@h/db")
    assert backend.inner == "pg-backend" and seen == ["postgresql://u:p@h/db"]
    assert backend.target == "postgresql://u:***@h/db"


def test_a_postgres_opener_whose_driver_is_missing_names_the_extra(monkeypatch):
    monkeypatch.setitem(backends._OPENERS, "postgres", "lashdb_no_such_module_for_test:open")
    with pytest.raises(BackendError) as caught:
        open_backend("postgresql://u:topsecret@h/db")
    assert caught.value.hint == "pip install 'lashdb[postgres]'" and "topsecret" not in str(caught.value)


@pytest.mark.parametrize("target", ["mysql://root:hunter2@h/db", "http://example.com/x", "", 42, None])
def test_anything_else_is_a_usage_error_naming_the_target(target):
    with pytest.raises(UsageError) as caught:
        open_backend(target)
    assert isinstance(caught.value, LashdbError) and "hunter2" not in str(caught.value)
    if isinstance(target, str) and target:
        assert redact_target(target) in str(caught.value)


def test_redact_target():
    assert redact_target("postgresql://u:pw@h:5/db?x=1") == "postgresql://u:***@h:5/db?x=1"
    assert redact_target("postgresql://u@h/db") == "postgresql://u@h/db"
    assert "pw" not in redact_target("postgres://h/db?password=pw&sslmode=require")


def test_importing_the_engine_and_opening_a_directory_never_import_psycopg(tmp_path):
    code = ("import sys, lashdb.engine as e; e.open_backend(sys.argv[1]).discover(); "
            "assert not [m for m in sys.modules if m.startswith('psycopg')]; print('ok')")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, check=False)
    assert (out.returncode, out.stdout.strip()) == (0, "ok"), out.stderr
