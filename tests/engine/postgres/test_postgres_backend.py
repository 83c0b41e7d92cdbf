"""``open_backend("postgresql://…")`` on a real server (postgres.md §1, §3): a PgBackend whose stores
share one pool, survive each other's close, read the database clock unless one is injected, and
never show the password; a foreign schema and a wrong scheme are typed errors."""

from __future__ import annotations

import pytest

from lashdb.engine import (
    EffectCommand,
    EffectEnvelope,
    EffectHost,
    ExecutionScope,
    LashdbError,
    ProcessRegistry,
    RuntimeScope,
    SessionStoreCreateRequest,
    Store,
    StoreOptions,
    TriggerStore,
    open_backend,
)
from lashdb.engine.base.errors import LookupFailed, UnrecognisedSchema, UsageError
from lashdb.engine.deployment.process_model import ProcessListFilter, ProcessRegistration
from lashdb.engine.ops.backend import Backend
from lashdb.engine.postgres.backend import PgBackend, PgSessionStoreFactory
from lashdb.engine.postgres.connection import PgSettings

from runtime_support import LEASE_TTL, commit_for
from test_postgres_triggers import draft


def with_password(url: str, password: str = "s3cret-pw") -> str:
    """``url`` with a password in its user part (trust auth ignores it)."""
    scheme, _, rest = url.partition("://")
    user, _, host = rest.rpartition("@")
    return f"{scheme}://{user or 'postgres'}:{password}@{host}"


def test_a_postgres_url_opens_a_pg_backend_that_touches_nothing_until_asked(pg_url):
    backend = open_backend(pg_url)
    try:
        assert isinstance(backend.inner, PgBackend) and isinstance(backend, Backend)
        assert backend._db is None  # no pool, no schema until a store is asked for
        assert isinstance(backend.factory(), PgSessionStoreFactory)
    finally:
        backend.close()


def test_a_session_created_through_the_factory_reopens_through_another_backend(pg_url):
    first = open_backend(pg_url)
    try:
        request = SessionStoreCreateRequest("root-1", "model-x")
        assert first.factory().open_existing_store(request) is None
        with first.factory().create_store(request) as store:
            assert isinstance(store, Store) and store.load_session_meta().model == "model-x"
            lease = store.try_claim_session_execution_lease("root-1", "runner", LEASE_TTL)
            head = store.commit_runtime_state(commit_for("root-1").under_lease(lease).stamped("turn-1")).head_revision
            assert head == 1
    finally:
        first.close()
    second = open_backend(pg_url)
    try:
        with second.factory().open_existing_store(SessionStoreCreateRequest("root-1", "other")) as again:
            assert again.load_session_head_meta().head_revision == 1
            assert again.load_session_meta().model == "model-x"  # meta is seeded once, never overwritten
        with second.session_store("root-1") as plain:
            assert plain.load_session_head_meta().head_revision == 1
    finally:
        second.close()


def test_every_store_shares_one_pool_and_closing_one_leaves_the_others_usable(pg_url):
    with open_backend(pg_url) as backend:
        store = backend.factory().create_store(SessionStoreCreateRequest("root-1", "m"))
        registry = backend.process_registry("root-1")
        triggers = backend.trigger_store("root-1")
        host = backend.effect_journal("root-1")
        assert isinstance(registry, ProcessRegistry) and isinstance(triggers, TriggerStore)
        assert isinstance(host, EffectHost)
        db = backend.database()
        assert store._backend.db is db and registry._backend.db is db and triggers._backend.db is db
        assert host._shared.backend.db is db

        registry.register_process(ProcessRegistration.external("p"))
        registry.close()
        assert triggers.register_subscription(draft("s", "x")).handle == "trigger:1"
        triggers.close()
        envelope = EffectEnvelope.effect(RuntimeScope.for_turn("root-1", "turn", 1, 0), "k", "k",
                                         EffectCommand.exec_code("code", "print(1)"))
        result = {"type": "exec_code", "result": {"Ok": {
            "observations": [], "observation_truncation": [], "tool_calls": [], "images": [],
            "printed_images": [], "error": None, "duration_ms": 0, "terminal_finish": "done"}}}
        controller = host.scoped(ExecutionScope.turn("root-1", "turn"))
        assert controller.execute_effect(envelope, lambda env, cancelled: result) == result
        host.close()
        store.close()
        # Everything closed above shared the pool: a fresh store of each kind still works.
        with backend.process_registry("root-1") as again:
            assert [r.id for r in again.list_processes(ProcessListFilter())] == ["p"]
        with backend.session_store("root-1") as again:
            assert again.load_session_meta().session_id == "root-1"
        with backend.effect_journal("root-1") as again:
            assert again.scoped(ExecutionScope.turn("root-1", "turn")).execute_effect(envelope, None) == result
        survivor = backend.session_store("root-1")
    with pytest.raises(LashdbError):  # the backend's close closed the pool under every store
        survivor.load_session_meta()


def test_stores_read_the_database_clock_unless_one_is_injected(pg_url, monkeypatch):
    import lashdb.engine.session.store as store_module
    from lashdb.engine.deployment import owner

    monkeypatch.setattr(store_module, "wall_clock_ms", lambda: 0)  # so the wall clock would show
    monkeypatch.setattr(owner, "wall_clock_ms", lambda: 0)
    with open_backend(pg_url) as backend:
        db_now = backend.now_ms()
        assert db_now > 1_700_000_000_000
        with backend.session_store("s") as store:
            assert store.now_ms() >= db_now
        with backend.process_registry("s") as registry:
            assert registry.now_ms() >= db_now
    with PgBackend(pg_url, StoreOptions(clock=lambda: 42), clock=lambda: 7) as injected:
        with injected.session_store("s") as store:
            assert store.now_ms() == 42
        with injected.trigger_store("s") as triggers:
            assert triggers.now_ms() == 7


def test_the_clock_read_inside_a_write_uses_that_writes_connection(pg_url):
    # One connection in the pool: a clock reading that borrowed a second one would time out.
    with PgBackend(pg_url, settings=PgSettings(pool_max=1, connect_timeout_s=2)) as backend:
        with backend.factory().create_store(SessionStoreCreateRequest("s", "m")) as store:
            lease = store.try_claim_session_execution_lease("s", "runner", LEASE_TTL)
            assert lease is not None and lease.expires_at_epoch_ms > backend.now_ms()
            assert store.commit_runtime_state(commit_for("s").under_lease(lease).stamped("t")).head_revision == 1
        with backend.process_registry("s") as registry:
            registry.register_process(ProcessRegistration.external("p"))
            assert registry.claim_process_lease("p", "owner", 60_000).fencing_token == 1


@pytest.mark.parametrize("query", [False, True])
def test_the_target_never_shows_the_password(pg_url, query):
    url = pg_url + "?password=s3cret-pw" if query else with_password(pg_url)
    with open_backend(url) as backend:
        assert "s3cret-pw" not in backend.target and "s3cret-pw" not in repr(backend)
        assert "***" in backend.target
        with backend.session_store("s") as store:
            assert "s3cret-pw" not in str(store.path)
        backend.factory().create_store(SessionStoreCreateRequest("s", "m")).close()
        rows = backend.list_sessions()
        assert [str(r.path) for r in rows] == [backend.target + "#s"] and "s3cret-pw" not in repr(rows)
        with pytest.raises(LookupFailed) as caught:
            backend.resolve("nope-nope")
        assert "s3cret-pw" not in str(caught.value) and backend.target in str(caught.value)


def test_a_foreign_schema_and_a_wrong_scheme_are_typed_errors(pg_url):
    import psycopg

    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE lash_sessions (session_id TEXT PRIMARY KEY)")
    with open_backend(pg_url) as backend:
        with pytest.raises(UnrecognisedSchema):
            backend.session_store("s")
        with pytest.raises(UnrecognisedSchema):
            backend.process_registry("s")
    with pytest.raises(UsageError) as caught:
        open_backend("mysql://root:hunter2@h/db")
    assert "hunter2" not in str(caught.value)
    backend = open_backend(pg_url)
    backend.close()
    with pytest.raises(UsageError):
        backend.session_store("s")
