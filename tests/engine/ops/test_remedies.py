"""Remedies on both store kinds (issue 14): before/after state, dry runs change nothing, live leases
refused, fencing tokens kept, foreign schemas refused untouched."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

from lashdb.engine.base.errors import LeaseLive, LookupFailed, SchemaVersionError
from lashdb.engine.ops import effects, remedies
from lashdb.engine.ops.backend import open_backend
from lashdb.engine.ops.demo import build_demo
from lashdb.engine.session.store import Store

CLOCK = 1_796_000_000_000
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "upstream-v38"
SCOPE, KEY = "turn-4", "tool:call_b1d1c403:attempt:1"


@pytest.fixture(params=["directory", "postgres"])
def demo(request, tmp_path):
    target = tmp_path / "root" if request.param == "directory" else request.getfixturevalue("pg_url")
    summary = build_demo(target, clock=lambda: CLOCK)
    backend = open_backend(target)
    first, newest = summary.root_sessions[0], summary.root_sessions[-1]
    yield backend, backend.resolve(first.session_id), backend.resolve(newest.session_id)
    backend.close()


def lease_row(target, sid):
    with Store.open_readonly(target) as store:
        return store.snapshot(lambda tx: tx.leases.get(sid))


def files(backend) -> dict[str, str]:
    """Name → SHA-256 of every file of a directory store (nothing for a URL store: its rows are the state)."""
    root = getattr(backend, "root", None)
    return {} if root is None else {p.name: digest(p) for p in sorted(root.iterdir())}


def state(backend, target):
    """Every row a remedy could change, read-only: the lease, the process leases, effects, intents; and
    on a directory every file's bytes."""
    hashes = files(backend)
    sid = target.session_id if hasattr(target, "session_id") else None
    with Store.open_readonly(target) as store:
        sid = sid or store.load_session_meta().session_id
    where = remedies.discovery.sidecars_of(target)
    with backend.inspector("processes", where["processes"]) as insp:
        leases = sorted((l.process_id, l.owner_id, l.fencing_token, l.state) for l in insp.leases(now_ms=CLOCK))
    return (hashes, lease_row(target, sid), leases, [r.to_json() for r in effects.list_effects(where["effects"])],
            [a.to_json(CLOCK) for a in remedies.list_attachments(target)])


def test_unlock_releases_expired_leases_and_keeps_fencing_tokens(demo):
    backend, first, newest = demo
    before = state(backend, first)
    dry = remedies.unlock(backend, [first], now_ms=CLOCK, dry_run=True)
    assert state(backend, first) == before
    acts = remedies.unlock(backend, [first], now_ms=CLOCK)
    assert [(a.kind, a.action) for a in acts] == [(a.kind, a.action.replace("would release", "released"))
                                                  for a in dry]
    execution = [a for a in acts if a.kind == "execution"]
    assert [(a.state, a.action, a.owner_id) for a in execution] == [("expired", "released",
                                                                     "lash@demo-laptop:pid4711")]
    owner, token, fencing, _claimed, _expires = lease_row(first, execution[0].subject)
    assert (owner, token, fencing) == (None, None, execution[0].fencing_token)  # released, token kept
    released = {a.subject: a for a in acts if a.kind == "process" and a.action == "released"}
    refused = {a.subject: a for a in acts if a.kind == "process" and a.action == "refused"}
    assert len(released) == 1 and len(refused) == 1
    assert "worker-2" in next(iter(refused.values())).reason
    # The next holder of the released process lease gets a higher fencing token than the dead one.
    pid, dead = next(iter(released.items()))
    with remedies._registry(backend, remedies.discovery.sidecars_of(first)["processes"], CLOCK) as registry:
        assert registry.claim_process_lease(pid, "worker-9", 1000).fencing_token == dead.fencing_token + 1
    # Nothing expired is left: a second run releases nothing.
    assert [a.action for a in remedies.unlock(backend, [first], now_ms=CLOCK)] == ["refused", "refused"]


def test_live_execution_lease_refused_unless_forced(demo):
    backend, _first, newest = demo
    [act] = [a for a in remedies.unlock(backend, [newest], now_ms=CLOCK) if a.kind == "execution"]
    assert (act.state, act.action, act.owner_id) == ("live", "refused", "lash@demo-laptop:pid5120")
    assert "lash@demo-laptop:pid5120" in act.reason and "until" in act.reason
    assert lease_row(newest, act.subject)[0] == "lash@demo-laptop:pid5120"
    [forced] = [a for a in remedies.unlock(backend, [newest], now_ms=CLOCK, force=True) if a.kind == "execution"]
    assert forced.action == "released"
    assert lease_row(newest, act.subject)[:3] == (None, None, act.fencing_token)


def test_effects_resolve_records_the_error_a_replay_reports(demo):
    backend, first, _newest = demo
    where = remedies.discovery.sidecars_of(first)["effects"]
    [row] = [r for r in effects.list_effects(where, scope=SCOPE) if r.replay_key == KEY]
    with pytest.raises(LeaseLive, match="lash@demo-laptop:pid4711"):
        remedies.resolve_effect(backend, first, SCOPE, KEY, now_ms=row.lease_expires_at_ms - 1)
    before = state(backend, first)
    dry = remedies.resolve_effect(backend, first, SCOPE, KEY, now_ms=CLOCK, dry_run=True)
    assert dry.action == "would resolve" and state(backend, first) == before
    done = remedies.resolve_effect(backend, first, SCOPE, KEY, now_ms=CLOCK, reason="worker lost")
    assert done.error == {"code": remedies.EFFECT_RESOLVED_CODE, "message": "worker lost"}
    [after] = [r for r in effects.list_effects(where, scope=SCOPE) if r.replay_key == KEY]
    assert (after.status, after.error, after.lease_owner_id) == ("failed", done.error, None)
    step = effects.replay_step_for(after, CLOCK)
    assert (step.action, step.error_code) == ("replay_error", remedies.EFFECT_RESOLVED_CODE)
    with pytest.raises(Exception, match="not in progress"):
        remedies.resolve_effect(backend, first, SCOPE, KEY, now_ms=CLOCK)
    with pytest.raises(LookupFailed):
        remedies.resolve_effect(backend, first, SCOPE, "no-such-key", now_ms=CLOCK)


def test_attachments_abandon(demo):
    backend, first, _newest = demo
    [intent] = remedies.list_attachments(first)
    aid = intent.entry.attachment_id
    before = state(backend, first)
    assert [a.action for a in remedies.abandon_attachments(first, [aid], now_ms=CLOCK, dry_run=True)] == \
        ["would abandon"]
    assert state(backend, first) == before
    # Younger than the cutoff: nothing; an unknown id: refused, nothing dropped.
    assert remedies.abandon_attachments(first, now_ms=CLOCK, older_than_ms=CLOCK, dry_run=True) == []
    with pytest.raises(LookupFailed):
        remedies.abandon_attachments(first, [aid, "att_nope"], now_ms=CLOCK)
    assert len(remedies.list_attachments(first)) == 1
    done = remedies.abandon_attachments(first, now_ms=CLOCK, older_than_ms=3_600_000)
    assert [(a.entry.attachment_id, a.action) for a in done] == [(aid, "abandoned")]
    assert remedies.list_attachments(first) == []


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_foreign_schema_refused_untouched(tmp_path):
    session = tmp_path / "upstream.db"
    shutil.copy(FIXTURES / "durable-core.db", session)
    before = digest(session)
    backend = open_backend(tmp_path)
    for call in (lambda: remedies.unlock(backend, [session], now_ms=CLOCK, dry_run=True),
                 lambda: remedies.unlock(backend, [session], now_ms=CLOCK, force=True),
                 lambda: remedies.abandon_attachments(session, now_ms=CLOCK, older_than_ms=0)):
        with pytest.raises(SchemaVersionError):
            call()
    assert digest(session) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["upstream.db"]


def test_foreign_registry_refused_untouched(tmp_path):
    summary = build_demo(tmp_path, 1, clock=lambda: CLOCK)
    backend = open_backend(tmp_path)
    session = Path(summary.root_sessions[0].path)
    registry = Path(str(session) + ".processes.db")
    shutil.copy(FIXTURES / "processes.db", registry)
    before = digest(registry)
    with pytest.raises(SchemaVersionError):
        remedies.unlock(backend, [session], now_ms=CLOCK, process="anything")
    assert digest(registry) == before


def test_foreign_effect_journal_refused_untouched(tmp_path):
    summary = build_demo(tmp_path, 1, clock=lambda: CLOCK)
    backend = open_backend(tmp_path)
    session = Path(summary.root_sessions[0].path)
    journal = Path(str(session) + ".effects.db")
    shutil.copy(FIXTURES / "effects.db", journal)
    for side in ("-wal", "-shm"):
        Path(str(journal) + side).unlink(missing_ok=True)
    before = digest(journal)
    for dry_run in (True, False):
        with pytest.raises(SchemaVersionError):
            remedies.resolve_effect(backend, session, SCOPE, KEY, now_ms=CLOCK, dry_run=dry_run)
    assert digest(journal) == before
    assert not Path(str(journal) + "-wal").exists()
