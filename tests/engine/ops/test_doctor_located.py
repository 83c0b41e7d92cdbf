"""``doctor`` of a PostgreSQL store (ops/doctor_located.py, issue 13): one entry for the store's schema,
one per session, each problem built on a real database and reported by the directory form's rules,
connection and permission problems as an exit-3 finding that never shows the password."""

from __future__ import annotations

import json

import psycopg
import pytest
from typer.testing import CliRunner

from lashdb.cli.main import app
from lashdb.engine import (
    AttachmentIntent,
    EffectCommand,
    EffectEnvelope,
    EffectReplayOptions,
    ExecutionScope,
    HydratedCheckpoint,
    RuntimeScope,
    SessionMeta,
    SessionRelation,
    SessionStoreCreateRequest,
    StoreOptions,
    open_backend,
)
from lashdb.engine.base.locator import SessionLocation
from lashdb.engine.deployment.process_model import ProcessRegistration
from lashdb.engine.ops import doctor
from lashdb.engine.ops.doctor_located import StoreTarget, run_located
from lashdb.engine.ops.url_store import UrlStore
from lashdb.engine.postgres import schema as pg_schema
from lashdb.engine.postgres.backend import PgBackend
from lashdb.engine.postgres.session_backend import close_readonly

from runtime_support import FakeClock, commit_for

NOW = 1_790_000_000_000
HOUR = 3_600_000
TS = "2026-01-01T00:00:00Z"
runner = CliRunner()


def with_password(url: str, password: str = "s3cret-pw") -> str:
    scheme, _, rest = url.partition("://")
    user, _, host = rest.rpartition("@")
    return f"{scheme}://{user or 'postgres'}:{password}@{host}"


@pytest.fixture(autouse=True)
def _close_shared_pools():
    yield
    close_readonly()  # each test's database is dropped after it; no pool may outlive it


def writer(url: str, clock: FakeClock) -> UrlStore:
    """The store with an injected clock for its session and deployment stores."""
    return UrlStore(PgBackend(url, StoreOptions(clock=clock), clock=clock), url)


def session(backend, sid: str, parent: str | None = None):
    store = backend.factory().create_store(SessionStoreCreateRequest(sid, "model-x"))
    if parent is not None:
        store.save_session_meta(SessionMeta(sid, sid, TS, "model-x", "/w", SessionRelation.child(parent)))
    lease = store.try_claim_session_execution_lease(sid, "runner-a", 60_000)
    store.commit_runtime_state(commit_for(sid, checkpoint=HydratedCheckpoint(turn_state={"turn_index": 0}))
                               .under_lease(lease).stamped("turn-1"))
    store.release_session_execution_lease(lease.completion())  # a released lease is healthy
    return store


def sql(url: str, statement: str, params: tuple = ()) -> list[tuple]:
    with psycopg.connect(url, autocommit=True) as conn:
        cur = conn.execute(statement, params)
        return cur.fetchall() if cur.description else []


def check(url: str, now_ms: int = NOW, paths=()) -> doctor.DoctorReport:
    with open_backend(url) as store:
        return store.doctor(list(paths), now_ms=now_ms)


def entries(report: doctor.DoctorReport) -> dict[str, doctor.FileReport]:
    return {f.path.name: f for f in report.files}


def findings(entry: doctor.FileReport, name: str) -> list[doctor.Finding]:
    return [f for f in entry.findings if f.check == name]


def test_a_healthy_store_has_one_entry_for_its_schema_and_one_per_session(pg_url):
    clock = FakeClock(NOW)
    with writer(pg_url, clock) as backend:
        session(backend, "root-1").close()
        session(backend, "child-1", parent="root-1").close()
    report = check(with_password(pg_url))
    assert report.ok and report.unusable is None
    store, *sessions = report.files
    assert isinstance(store.path, StoreTarget) and "s3cret-pw" not in str(store.path)
    assert (store.kind, store.schema_version, store.supported_version, store.checks) == (
        "postgres store", pg_schema.VERSION, pg_schema.VERSION, {"schema": "ok"})
    assert [s.path.name for s in sessions] == ["child-1", "root-1"]
    assert [str(s.path) for s in sessions] == [f"{store.path}#child-1", f"{store.path}#root-1"]
    child = sessions[0]
    assert isinstance(child.path, SessionLocation) and child.kind == "session" and child.db_bytes > 0
    assert child.checks == {"blob_envelopes": "ok", "gc_roots": "ok", "execution_leases": "ok",
                            "attachment_intents": "ok", "parent_session": "ok", "listing_columns": "ok"}
    assert report.counts() == {"checked": 3, "problem_files": 0, "errors": 0, "warnings": 0}
    named = check(pg_url, paths=["root"])  # a unique prefix names one session
    assert [f.kind for f in named.files] == ["postgres store", "session"] and named.files[1].path.name == "root-1"


def test_expired_execution_lease_and_old_attachment_intent_are_warnings(pg_url):
    clock = FakeClock(NOW - 2 * HOUR)
    with writer(pg_url, clock) as backend, session(backend, "s-1") as store:
        store.try_claim_session_execution_lease("s-1", "runner-b", 60_000)
        store.record_intent(AttachmentIntent("att-old", "s-1", "attachment://old.png", NOW - 3 * HOUR))
        store.record_intent(AttachmentIntent("att-new", "s-1", "attachment://new.png", NOW - 60_000))
    entry = entries(check(pg_url))["s-1"]
    (lease,) = findings(entry, "execution_leases")
    assert (lease.severity, lease.subject) == (doctor.WARNING, "s-1")
    assert lease.message.startswith("execution lease of `runner-b` on session `s-1` expired at ")
    assert lease.message.endswith("(1 h 59 min ago) and was never released")
    (intent,) = findings(entry, "attachments")
    assert (intent.severity, intent.subject) == (doctor.WARNING, "att-old")
    assert "attachment://old.png" in intent.message and intent.message.endswith("still uncommitted after 3 h")
    assert entry.checks["execution_leases"] == entry.checks["attachment_intents"] == "problems"
    assert not findings(entries(check(pg_url, now_ms=NOW - 2 * HOUR))["s-1"], "execution_leases")


def test_a_corrupted_blob_and_a_head_whose_checkpoint_is_missing_are_errors(pg_url):
    with writer(pg_url, FakeClock(NOW)) as backend:
        with session(backend, "s-1") as store:
            raw = store.put_blob(b"raw bytes")
        session(backend, "s-2").close()
    sql(pg_url, "UPDATE lash_blobs SET content = content || '\\xff'::bytea WHERE session_id = 's-1' AND hash = %s",
        (raw,))
    (head,), = sql(pg_url, "SELECT head_json FROM lash_sessions WHERE session_id = 's-2'")
    ref = json.loads(head)["checkpoint_ref"]
    sql(pg_url, "DELETE FROM lash_blobs WHERE session_id = 's-2' AND hash = %s", (ref,))
    got = entries(check(pg_url))
    (blob,) = findings(got["s-1"], "blobs")
    assert (blob.severity, blob.subject) == (doctor.ERROR, raw) and blob.message.startswith(f"blob {raw}: ")
    assert got["s-1"].checks["gc_roots"] == "ok"
    (missing,) = findings(got["s-2"], "gc_roots")
    assert (missing.severity, missing.subject) == (doctor.ERROR, ref)
    assert missing.message.startswith(f"the session head names checkpoint {ref}, which is missing from the blobs")
    assert got["s-2"].checks["blob_envelopes"] == "ok"


def test_a_child_whose_parent_row_is_gone_is_a_warning(pg_url):
    with writer(pg_url, FakeClock(NOW)) as backend:
        session(backend, "root-1").close()
        session(backend, "child-1", parent="root-1").close()
    sql(pg_url, "DELETE FROM lash_sessions WHERE session_id = 'root-1'")
    report = check(pg_url)
    (orphan,) = findings(entries(report)["child-1"], "parent_session")
    assert (orphan.severity, orphan.subject) == (doctor.WARNING, "root-1")
    assert orphan.message.startswith(f"child session `child-1` names parent session `root-1`, which is not in "
                                     f"{report.files[0].path} (deleted?)")


def test_expired_process_lease_and_stale_effect_of_a_session_scope(pg_url):
    clock = FakeClock(NOW - HOUR)
    with writer(pg_url, clock) as backend:
        session(backend, "root-1").close()
        with backend.process_registry("root-1") as registry:
            registry.register_process(ProcessRegistration.external("p-1"))
            registry.claim_process_lease("p-1", "owner-9", 60_000)
        with backend.effect_journal("root-1", EffectReplayOptions(lease_ttl_ms=60_000, owner_id="runner-7")) as host:
            scope = host.scoped(ExecutionScope.turn("root-1", "turn-a"))
            envelope = EffectEnvelope.effect(RuntimeScope.for_turn("root-1", "turn-a", 1, 0), "k1", "k1",
                                             EffectCommand.exec_code("py", "k1"))

            def die(_e, _c):
                clock.advance(60_001)  # the runner dies holding the lease past its expiry
                raise RuntimeError("died")

            with pytest.raises(RuntimeError):
                scope.execute_effect(envelope, die)
    entry = entries(check(pg_url))["root-1"]
    (lease,) = findings(entry, "process_leases")
    assert (lease.severity, lease.subject) == (doctor.WARNING, "p-1")
    assert lease.message.startswith("lease of process `p-1` held by `owner-9` expired at ")
    (effect,) = findings(entry, "stale_effects")
    assert (effect.severity, effect.subject) == (doctor.WARNING, "turn-a k1")
    assert "held by `runner-7` expired" in effect.message
    assert f"`lashdb --store {entry.path.store} effects replay root-1 --scope turn-a`" in effect.message
    assert entry.checks["process_leases"] == entry.checks["stale_effects"] == "problems"


def test_a_missing_table_is_a_schema_error_and_the_checks_reading_it_fail(pg_url):
    with writer(pg_url, FakeClock(NOW)) as backend:
        session(backend, "s-1").close()
    sql(pg_url, "DROP TABLE lash_artifact_refs")
    report = check(pg_url)
    store, entry = report.files
    (schema,) = findings(store, "schema")
    assert (schema.severity, schema.subject) == (doctor.ERROR, "lash_artifact_refs")
    assert schema.message.startswith(f"table lash_artifact_refs is missing from the lashdb schema v{pg_schema.VERSION}")
    (failed,) = findings(entry, "gc_roots")
    assert failed.severity == doctor.ERROR and failed.message.startswith("check failed: ")
    assert 'relation "lash_artifact_refs" does not exist' in failed.message and report.unusable is None
    assert entry.checks["blob_envelopes"] == "ok"  # each check reads in a snapshot of its own


def test_a_refused_schema_is_one_error_and_no_session_is_read(pg_url):
    with writer(pg_url, FakeClock(NOW)) as backend:
        session(backend, "s-1").close()
    sql(pg_url, "UPDATE lash_schema_versions SET version = 9 WHERE component = 'lashdb'")
    report = check(pg_url)
    (store,) = report.files
    (schema,) = store.findings
    assert (schema.check, schema.severity) == ("schema", doctor.ERROR) and "9" in schema.message
    assert report.unusable is None and not report.ok


def test_an_unreachable_store_is_a_connection_error_without_the_password(pg_url):
    url = "postgresql://lash:s3cret-pw@127.0.0.1:1/nowhere"
    with open_backend(url) as store:
        report = run_located(store, [], now_ms=NOW)
    (entry,) = report.files
    (finding,) = entry.findings
    assert (finding.check, finding.severity) == ("connection", doctor.ERROR)
    assert finding.message.startswith("cannot read the store postgresql://lash:***@127.0.0.1:1/nowhere: ")
    assert "127.0.0.1:1/nowhere" in finding.message and report.unusable is not None
    assert "s3cret-pw" not in json.dumps(report.to_json()) and entry.status == "unreadable"


def test_a_role_without_privileges_is_a_connection_error_naming_the_grant(pg_url):
    role = f"lashdb_doctor_{abs(hash(pg_url)) % 10**8}"
    with writer(pg_url, FakeClock(NOW)) as backend:
        session(backend, "s-1").close()
    sql(pg_url, f'CREATE ROLE "{role}" LOGIN')
    try:
        scheme, _, rest = pg_url.partition("://")
        url = f"{scheme}://{role}:pw@{rest.rpartition('@')[2]}"
        report = check(url)
        (finding,) = report.files[0].findings
        assert finding.check == "connection" and "permission denied" in finding.message
        assert finding.message.endswith("grant this role read access to the lash_* tables (doctor only reads)")
        assert report.unusable is not None and "pw@" not in json.dumps(report.to_json())
    finally:
        close_readonly()
        sql(pg_url, f'DROP ROLE "{role}"')


def test_cli_doctor_on_a_store_prints_the_report_and_picks_the_exit_code(pg_url):
    with writer(pg_url, FakeClock(NOW)) as backend:
        session(backend, "s-1").close()
    url = with_password(pg_url)
    result = runner.invoke(app, ["--store", url, "doctor", "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert set(doc) == {"ok", "paths", "checked_at", "checked_at_epoch_ms", "checked", "problem_files", "errors",
                        "warnings", "files"}
    assert (doc["ok"], doc["checked"], [f["kind"] for f in doc["files"]]) == (True, 2, ["postgres store", "session"])
    assert doc["files"][1]["path"] == f"{doc['files'][0]['path']}#s-1" and "s3cret-pw" not in result.stdout
    sql(pg_url, "UPDATE lash_blobs SET content = content || '\\xff'::bytea WHERE session_id = 's-1'")
    broken = runner.invoke(app, ["--store", url, "doctor", "--json"])
    assert broken.exit_code == 1 and json.loads(broken.stdout)["errors"] >= 1
    gone = runner.invoke(app, ["--store", "postgresql://u:pw@127.0.0.1:1/x", "doctor", "--json"])
    assert gone.exit_code == 3 and json.loads(gone.stdout)["files"][0]["findings"][0]["check"] == "connection"
