"""PostgreSQL-only faults (postgres.md §3, §4, §6): a connection killed mid-commit, hosts whose clocks
disagree by 30 s, and a batched GC racing two committers (the last also runs on SQLite, one body).

``lock_timeout`` and ``statement_timeout`` live in tests/engine/postgres/test_postgres_connection.py.
Nothing here sleeps: a test waits on server state (``pg_blocking_pids``) or on events.
"""

from __future__ import annotations

import hashlib
import queue
import threading
import time

import pytest

from lashdb.engine import (
    GcPolicy,
    GraphDelta,
    GraphNode,
    HeadRevisionConflict,
    HydratedCheckpoint,
    SessionStoreCreateRequest,
    Store,
    StoreOptions,
    TokenLedgerEntry,
    TokenUsage,
)
from lashdb.engine.base import timing
from lashdb.engine.base.codec import Descriptor
from lashdb.engine.base.errors import BackendUnavailable, ProcessRegistryError
from lashdb.engine.deployment.process_model import ProcessRegistration
from lashdb.engine.postgres.backend import PgBackend
from lashdb.engine.postgres.url import describe

from runtime_support import LEASE_TTL, commit_for

PASSWORD = "kill-test-s3cret"
DEADLINE_S = 10.0  # upper bound for waiting on server state; a healthy run needs milliseconds


def with_password(url: str) -> str:
    """``url`` with a password in its user part (trust auth ignores it; errors must never show it)."""
    scheme, _, rest = url.partition("://")
    user, _, host = rest.rpartition("@")
    return f"{scheme}://{user or 'postgres'}:{PASSWORD}@{host}"


def admin(url: str):
    import psycopg

    return psycopg.connect(url, autocommit=True)


def session_rows(conn, session_id: str) -> dict:
    """Every row the commit path writes, as exact values (counts, head, lease, blob hashes)."""
    def count(table: str) -> int:
        return conn.execute(f"SELECT count(*) FROM {table} WHERE session_id = %s", (session_id,)).fetchone()[0]

    return {
        "blobs": sorted(r[0] for r in conn.execute(
            "SELECT hash FROM lash_blobs WHERE session_id = %s", (session_id,))),
        "graph_nodes": count("lash_graph_nodes"),
        "usage_deltas": count("lash_usage_deltas"),
        "turn_commits": sorted(r[0] for r in conn.execute(
            "SELECT turn_id FROM lash_runtime_turn_commits WHERE session_id = %s", (session_id,))),
        "head": conn.execute("SELECT head_revision, head_json FROM lash_sessions WHERE session_id = %s",
                             (session_id,)).fetchone(),
        "lease": conn.execute("SELECT lease_owner_id, lease_token, lease_fencing_token, lease_expires_at_ms "
                              "FROM lash_session_execution_leases WHERE session_id = %s", (session_id,)).fetchone(),
    }


def wait_for_pid_blocked_by(watch, holder_pid: int) -> tuple[int, str, object]:
    """(pid, query, backend_xid) of the backend waiting on ``holder_pid``'s locks (polls server state)."""
    deadline = time.monotonic() + DEADLINE_S
    sql = "SELECT pid, query, backend_xid FROM pg_stat_activity WHERE %s = ANY(pg_blocking_pids(pid))"
    while time.monotonic() < deadline:
        if watch.execute(sql, (holder_pid,)).fetchone() is not None:
            # Read again: the statement's activity snapshot can predate the lock wait it then saw (the
            # backend's previous statement), and a blocked backend stays blocked, so this one is current.
            row = watch.execute(sql, (holder_pid,)).fetchone()
            if row is not None:
                return row
    raise AssertionError(f"no backend became blocked by pid {holder_pid} within {DEADLINE_S} s")


def turn_two(session_id: str, lease) -> object:
    """A turn that writes every kind of row: blobs, usage, graph, head, turn record, lease release."""
    node = GraphNode("n2", "t2", {"kind": "event", "event": {"role": "User", "id": "m2", "parts": [
        {"kind": "Text", "content": "second", "prune_state": "Intact", "id": "p2"}]}}, parent_node_id="n1")
    return commit_for(
        session_id, graph=GraphDelta.append([node], "n2"),
        checkpoint=HydratedCheckpoint({"turn": 2}, tool_state={"tools": ["grep"], "gen": 2},
                                      plugin_snapshot={"plugins": {"p": 2}}, plugin_snapshot_revision=2,
                                      execution_state=b"exec-state-turn-2"),
        usage_deltas=(TokenLedgerEntry("llm", "m", TokenUsage(11, 22, 3, 4)),),
        expected_head_revision=1,
    ).under_lease(lease).stamped("turn-2")


# --- 1. a committer killed mid-commit ---------------------------------------------------------------


def test_a_commit_killed_mid_transaction_leaves_no_partial_turn_and_retries_cleanly(pg_url):
    url = with_password(pg_url)
    sid = "killed"
    backend = PgBackend(url)
    watch = admin(pg_url)
    holder = admin(pg_url)
    try:
        store = backend.factory().create_store(SessionStoreCreateRequest(sid, "m"))
        first = store.try_claim_session_execution_lease(sid, "runner", LEASE_TTL)
        node = GraphNode("n1", "t1", {"kind": "event", "event": {"role": "User", "id": "m1", "parts": []}})
        assert store.commit_runtime_state(commit_for(sid, graph=GraphDelta.append([node], "n1"))
                                          .under_lease(first).stamped("turn-1")).head_revision == 1
        lease = store.try_claim_session_execution_lease(sid, "runner", LEASE_TTL)
        commit = turn_two(sid, lease)
        before = session_rows(watch, sid)
        assert (before["graph_nodes"], before["usage_deltas"], before["turn_commits"], before["head"][0]) == (
            1, 0, ["turn-1"], 1)
        assert before["lease"][1] == lease.lease_token

        # The holder takes the session row's update lock (not the advisory lock): the committer gets
        # through its checks and its first inserts, then blocks on its first UPDATE of that row.
        holder_pid = holder.execute("SELECT pg_backend_pid()").fetchone()[0]
        holder.execute("BEGIN")
        holder.execute("SELECT 1 FROM lash_sessions WHERE session_id = %s FOR NO KEY UPDATE", (sid,))
        outcome: queue.Queue = queue.Queue()

        def commit_in_thread() -> None:
            try:
                outcome.put(store.commit_runtime_state(commit))
            except Exception as exc:  # handed to the test
                outcome.put(exc)

        thread = threading.Thread(target=commit_in_thread)
        thread.start()
        pid, query, xid = wait_for_pid_blocked_by(watch, holder_pid)
        # Mid-commit: it already wrote blobs and usage (it has a transaction id) and now waits to
        # update the session row (the graph's live count, then the head).
        assert query.startswith("UPDATE lash_sessions SET") and xid is not None
        assert watch.execute("SELECT pg_terminate_backend(%s)", (pid,)).fetchone()[0] is True
        thread.join(DEADLINE_S)
        assert not thread.is_alive()
        holder.execute("ROLLBACK")

        error = outcome.get_nowait()
        assert isinstance(error, BackendUnavailable), repr(error)
        text = f"{error} {error.hint}"
        assert describe(pg_url) in text and PASSWORD not in text
        assert session_rows(watch, sid) == before  # nothing of turn 2 landed, the lease is untouched

        # The retry on a fresh store (another backend, another pool) commits the turn once.
        with PgBackend(url) as fresh_backend, fresh_backend.session_store(sid) as fresh:
            landed = fresh.commit_runtime_state(commit)
        assert landed.head_revision == 2
        after = session_rows(watch, sid)
        new_blobs = set(after["blobs"]) - set(before["blobs"])
        m = landed.manifest
        assert new_blobs == {landed.checkpoint_ref, m.tool_state_ref, m.plugin_snapshot_ref, m.execution_state_ref}
        assert (after["graph_nodes"], after["usage_deltas"], after["turn_commits"], after["head"][0]) == (
            2, 1, ["turn-1", "turn-2"], 2)
        assert after["lease"][1] is None  # released by the commit

        # A retry of the turn that did land (the first pool, whose dead connection was dropped)
        # returns the recorded result and writes nothing.
        replay = store.commit_runtime_state(commit)
        assert replay == landed
        assert session_rows(watch, sid) == after
        assert store.load_session().checkpoint.execution_state == b"exec-state-turn-2"
    finally:
        holder.close()
        watch.close()
        backend.close()


# --- 2. hosts with clocks 30 s apart ----------------------------------------------------------------


SKEW_MS = 30_000


class LocalClock:
    """This process's wall clock shifted by an offset: what ``time.time*`` says on a skewed host."""

    def __init__(self, monkeypatch) -> None:
        self.monkeypatch = monkeypatch
        self.real_ns = time.time_ns
        self.real = time.time

    def shift(self, offset_ms: int) -> None:
        real_ns, real = self.real_ns, self.real
        self.monkeypatch.setattr(time, "time_ns", lambda: real_ns() + offset_ms * 1_000_000)
        self.monkeypatch.setattr(time, "time", lambda: real() + offset_ms / 1000)


def db_now(conn) -> int:
    return int(conn.execute("SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint").fetchone()[0])


def wait_for_db_clock_past(conn, instant_ms: int) -> None:
    """Poll the database clock until it is past ``instant_ms`` (a 1 ms TTL: a wait of about 1 ms)."""
    deadline = time.monotonic() + DEADLINE_S
    while db_now(conn) <= instant_ms:
        assert time.monotonic() < deadline, "the database clock did not advance"


def test_hosts_with_skewed_clocks_agree_on_lease_expiry_by_the_database_clock(pg_url, monkeypatch):
    sid = "skewed"
    local = LocalClock(monkeypatch)
    watch = admin(pg_url)
    # Three "hosts": three backends (three pools); each acts while the local clock says its time.
    host_a, fast_host, slow_host = PgBackend(pg_url), PgBackend(pg_url), PgBackend(pg_url)
    try:
        a = host_a.session_store(sid)
        claimed_at = db_now(watch)
        lease = a.try_claim_session_execution_lease(sid, "host-a", 10_000)
        assert lease is not None and claimed_at <= lease.claimed_at_epoch_ms <= db_now(watch)
        assert lease.expires_at_epoch_ms == lease.claimed_at_epoch_ms + 10_000

        # A host 30 s fast: by its own clock the lease ran out 20 s ago; by the database's it is live.
        local.shift(+SKEW_MS)
        assert timing.wall_clock_ms() > lease.expires_at_epoch_ms + 19_000  # the skew is real here
        fast = fast_host.session_store(sid)
        assert fast.now_ms() < lease.expires_at_epoch_ms
        assert fast.try_claim_session_execution_lease(sid, "fast-host", 10_000) is None
        monkeypatch.undo()

        # Host A shortens the lease to 1 ms; once the database clock passes that expiry, a host 30 s
        # slow (whose clock says the lease has half a minute left) takes it over.
        short = a.renew_session_execution_lease(lease.fence(), 1)
        wait_for_db_clock_past(watch, short.expires_at_epoch_ms)
        local.shift(-SKEW_MS)
        assert timing.wall_clock_ms() < short.expires_at_epoch_ms - 29_000
        slow = slow_host.session_store(sid)
        taken = slow.try_claim_session_execution_lease(sid, "slow-host", 10_000)
        assert taken is not None and taken.owner_id == "slow-host"
        assert taken.fencing_token == lease.fencing_token + 1
        assert taken.claimed_at_epoch_ms > short.expires_at_epoch_ms
        monkeypatch.undo()

        # The process registry's leases follow the same clock.
        registry_a = host_a.process_registry("root")
        registry_a.register_process(ProcessRegistration.external("proc"))
        process_lease = registry_a.claim_process_lease("proc", "host-a", 10_000)
        local.shift(+SKEW_MS)
        with pytest.raises(ProcessRegistryError, match="already leased by `host-a`"):
            fast_host.process_registry("root").claim_process_lease("proc", "fast-host", 10_000)
        monkeypatch.undo()
        short_process = registry_a.renew_process_lease(process_lease, 1)
        wait_for_db_clock_past(watch, short_process.expires_at_epoch_ms)
        local.shift(-SKEW_MS)
        moved = slow_host.process_registry("root").claim_process_lease("proc", "slow-host", 10_000)
        assert (moved.owner_id, moved.fencing_token) == ("slow-host", process_lease.fencing_token + 1)
        monkeypatch.undo()
    finally:
        monkeypatch.undo()
        for backend in (host_a, fast_host, slow_host):
            backend.close()
        watch.close()


# --- 3. GC batches racing two committers --------------------------------------------------------------

ORPHANS = 60
BATCH = 3
TURNS = 8


@pytest.fixture(params=["postgres", "sqlite"])
def open_store(request, tmp_path):
    """``open() -> Store`` of one session, a new store object (and connection) per call."""
    options = StoreOptions(gc_policy=GcPolicy(batch_size=BATCH))
    if request.param == "postgres":
        backend = PgBackend(request.getfixturevalue("pg_url"), options)
        yield lambda: backend.session_store("racing")
        backend.close()
    else:
        yield lambda: Store.open_with_options(tmp_path / "racing.db", options)


def orphan_state(n: int) -> bytes:
    return f"orphaned execution state {n} ".encode() * 40


def reachable_now(store: Store) -> set[str]:
    """Every blob hash reachable from the head checkpoint and the artifact refs, from the rows."""
    head = store.load_session_head_meta()
    found = {blob_ref for _ref, blob_ref in store.list_artifact_refs()}
    if head is not None and head.checkpoint_ref is not None:
        checkpoint = store.get_checkpoint(head.checkpoint_ref)
        found |= {head.checkpoint_ref, checkpoint.tool_state_ref, checkpoint.plugin_snapshot_ref,
                  checkpoint.execution_state_ref} - {None}
    return found


def result_blobs(result) -> set[str]:
    """The blobs a commit's result names: its manifest and the manifest's children."""
    m = result.manifest
    return {result.checkpoint_ref, m.tool_state_ref, m.plugin_snapshot_ref, m.execution_state_ref} - {None}


def test_gc_batches_racing_two_committers_never_delete_a_live_blob(open_store):
    sid = "racing"
    setup = open_store()
    orphans = [setup.put_artifact_blob(Descriptor.execution_state_snapshot(), orphan_state(n))
               for n in range(ORPHANS)]
    assert len(set(setup.blob_hashes())) == ORPHANS
    lease = setup.try_claim_session_execution_lease(sid, "runtime", LEASE_TTL)
    fence = lease.fence()
    # GC from outside the runtime skips a session whose lease is live (SPEC §6): nothing deleted.
    with open_store() as other:
        outside = other.gc_unreachable()
    assert outside.busy is not None and outside.busy.owner_id == "runtime" and outside.deleted_blob_count == 0
    assert len(setup.blob_hashes()) == ORPHANS

    gc_started = threading.Event()
    committed = threading.Event()
    committers_done = threading.Event()
    written: list[set[str]] = [set(), set()]
    results: list[list] = [[], []]
    conflicts = [0, 0]
    reports = []
    failures: queue.Queue = queue.Queue()

    def committer(k: int) -> None:
        store = open_store()
        try:
            gc_started.wait(DEADLINE_S)
            for i in range(TURNS):
                while True:
                    head = store.load_session_head_meta()
                    revision = 0 if head is None else head.head_revision
                    prior = None if head is None else store.get_checkpoint(head.checkpoint_ref)
                    # Pass the head's tool state through by ref (live now; the revision CAS guards it),
                    # write a new plugin snapshot, and re-write the content of a blob that was
                    # unreachable when the GC started (the GC may be deleting it right now).
                    commit = commit_for(sid, checkpoint=HydratedCheckpoint(
                        {"writer": k, "turn": i},
                        tool_state_ref=None if prior is None else prior.tool_state_ref,
                        tool_state={"seed": k} if prior is None else None,
                        plugin_snapshot={"writer": k, "turn": i},
                        execution_state=orphan_state(k * TURNS + i)),
                        expected_head_revision=revision).with_session_execution_lease(fence)
                    try:
                        result = store.commit_runtime_state(commit)
                    except HeadRevisionConflict:
                        conflicts[k] += 1
                        continue
                    break
                results[k].append(result)
                committed.set()
                written[k] |= result_blobs(result)
                # Re-point an artifact ref: the module it named before becomes unreachable.
                written[k].add(store.put_module_artifact(f"module-{k}", f"module {k} v{i}".encode() * 20))
        except Exception as exc:  # handed to the test
            failures.put(exc)
        finally:
            store.close()

    def between_batches(phase: str, *_: int) -> None:
        # Outside the batch's transaction: let a commit land before the next batch, so one GC run
        # spans the committers' turns on both backends (a stale root set would then delete live blobs).
        if phase != "sweep":
            return
        gc_started.set()
        if not committers_done.is_set():
            committed.wait(DEADLINE_S)
            committed.clear()

    def collector() -> None:
        store = open_store()
        try:
            while True:
                done = committers_done.is_set()
                reports.append(store.gc_unreachable(lease=fence, progress=between_batches))
                gc_started.set()
                if done:
                    return
        except Exception as exc:  # handed to the test
            gc_started.set()
            failures.put(exc)
        finally:
            store.close()

    threads = [threading.Thread(target=committer, args=(k,)) for k in (0, 1)]
    gc_thread = threading.Thread(target=collector)
    gc_thread.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    committers_done.set()
    committed.set()  # wakes a collector waiting for a commit that will not come
    gc_thread.join()
    assert failures.empty(), failures.get_nowait()

    assert [len(r) for r in results] == [TURNS, TURNS]
    # Every batch re-read the roots under the session lock: none ever found a live blob gone.
    assert reports and all(r.missing_blob_count == 0 and r.busy is None for r in reports)
    assert all(r.batch_count >= 1 for r in reports)
    final = open_store()
    try:
        head = final.load_session_head_meta()
        assert head.head_revision == 2 * TURNS
        live = reachable_now(final)
        stored = set(final.blob_hashes())
        # The last GC ran after the last commit: exactly the live blobs remain, each loads and verifies.
        assert stored == live and len(live) == 4 + 2
        for blob_ref in live:
            content = final.get_blob(blob_ref)
            assert content is not None and hashlib.sha256(content).hexdigest() == blob_ref
        session = final.load_session()
        assert session.checkpoint.tool_state == {"seed": session.checkpoint.tool_state["seed"]}
        assert session.checkpoint.execution_state in {orphan_state(n) for n in range(2 * TURNS)}
        for k in (0, 1):
            assert final.get_module_artifact(f"module-{k}") == f"module {k} v{TURNS - 1}".encode() * 20
        # Everything ever written that is not live now is gone, and each went through a GC delete.
        ever = set(orphans) | written[0] | written[1]
        assert not (ever - live) & stored
        # Deletions: each dead blob once, plus at most one more for each orphan state a commit wrote
        # back after a batch had deleted it (the only content written twice).
        deleted = sum(r.deleted_blob_count for r in reports)
        assert len(ever - live) <= deleted <= len(ever - live) + 2 * TURNS
    finally:
        final.close()
        setup.close()
