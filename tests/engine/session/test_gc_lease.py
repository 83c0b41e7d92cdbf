"""Issue 10 item 4: GC from outside the runtime skips a session whose execution lease is live, GC
runs in batches, and a head naming a missing checkpoint is damage (SPEC §6, amended 2026-12).

The race: the runtime writes a checkpoint outside a commit (``put_checkpoint``), then names it in
the head (``save_session_head_meta``). A GC in between used to delete the new checkpoint, and
``load_session()`` then quietly returned ``checkpoint=None``. Every step is driven explicitly
(injected clock, progress hooks, pipes between processes): no sleeps.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import console_script
from lashdb.cli.main import app
from lashdb.cli.output import iso_ms
from lashdb.engine import (
    GcAborted,
    GcPolicy,
    HydratedCheckpoint,
    MissingCheckpoint,
    SessionHeadMeta,
    SessionMeta,
    Store,
    StoreOptions,
)
from lashdb.engine.session.model import GcBusy
from runtime_support import CONFIG, LEASE_TTL, FakeClock, commit_for

SESSION = "s1"
HOUR_MS = 3_600_000
runner = CliRunner()


def checkpoint(generation: int) -> HydratedCheckpoint:
    return HydratedCheckpoint({"turn_index": generation}, tool_state={"generation": generation},
                              plugin_snapshot={"plugins": {"p": generation}}, plugin_snapshot_revision=generation,
                              execution_state=bytes([generation]) * 64)


def hashes(store: Store) -> set[str]:
    return set(store.blob_hashes())


def lengths(store: Store) -> dict[str, int]:
    return dict(store.read(lambda c: c.execute("SELECT hash, length(content) FROM blobs").fetchall()))


def name_in_head(store: Store, ref: str, revision: int = 1) -> None:
    store.save_session_head_meta(SessionHeadMeta(SESSION, revision, CONFIG, checkpoint_ref=ref))


def stored_refs(stored) -> set[str]:
    m = stored.manifest
    return {stored.checkpoint_ref, m.tool_state_ref, m.plugin_snapshot_ref, m.execution_state_ref}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def open_on(path: Path, clock: FakeClock, **policy) -> Store:
    return Store.open_with_options(path, StoreOptions(clock=clock, gc_policy=GcPolicy(**policy)))


# --- rule (a): the race, reproduced ------------------------------------------------------------------


def test_outside_gc_skips_a_checkpoint_written_outside_a_commit_while_the_lease_is_live(tmp_db, clock):
    runtime = open_on(tmp_db, clock)
    lease = runtime.try_claim_session_execution_lease(SESSION, "runner-1", LEASE_TTL)
    stored = runtime.put_checkpoint(checkpoint(1))  # not named by any head yet: unreachable
    with open_on(tmp_db, clock) as outside:
        report = outside.gc_unreachable()
        dry = outside.gc_unreachable(dry_run=True)
    busy = GcBusy(SESSION, "runner-1", lease.expires_at_epoch_ms)
    assert report.busy == busy and dry.busy == busy
    assert (report.deleted_blob_count, report.freed_bytes, report.batch_count) == (0, 0, 0)
    assert report.to_json()["busy"] == {"session_id": SESSION, "owner_id": "runner-1",
                                        "expires_at_epoch_ms": 1_000_000 + LEASE_TTL}
    assert stored_refs(stored) <= hashes(runtime)
    name_in_head(runtime, stored.checkpoint_ref)
    read = runtime.load_session()
    assert read.checkpoint_ref == stored.checkpoint_ref
    assert read.checkpoint.tool_state == {"generation": 1} and read.checkpoint.execution_state == b"\x01" * 64
    runtime.close()


def test_forced_gc_deletes_it_and_the_head_then_reads_as_damage_naming_the_hash(tmp_db, clock):
    runtime = open_on(tmp_db, clock)
    runtime.try_claim_session_execution_lease(SESSION, "runner-1", LEASE_TTL)
    stored = runtime.put_checkpoint(checkpoint(1))
    sizes = lengths(runtime)
    with open_on(tmp_db, clock) as outside:
        report = outside.gc_unreachable(force=True)
    assert report.busy is None and report.deleted_blob_count == 4
    assert report.freed_bytes == sum(sizes[h] for h in stored_refs(stored))
    assert hashes(runtime) == set()
    name_in_head(runtime, stored.checkpoint_ref)
    with pytest.raises(MissingCheckpoint) as err:
        runtime.load_session()
    assert err.value.blob_hash == stored.checkpoint_ref and stored.checkpoint_ref in str(err.value)
    runtime.close()


def test_the_store_holding_the_lease_collects_and_an_expired_or_released_lease_blocks_nothing(tmp_db, clock):
    runtime = open_on(tmp_db, clock)
    lease = runtime.try_claim_session_execution_lease(SESSION, "runner-1", LEASE_TTL)
    current = runtime.put_checkpoint(checkpoint(1))
    name_in_head(runtime, current.checkpoint_ref)
    runtime.put_blob(b"garbage one")
    own = runtime.gc_unreachable()  # the runtime's own GC runs under the lease it claimed
    assert own.busy is None and own.deleted_blob_count == 1 and own.retained_blob_count == 4
    outside = open_on(tmp_db, clock)
    runtime.put_blob(b"garbage two")
    assert outside.gc_unreachable().busy is not None
    # The same lease passed explicitly: GC under the runtime's fence from another store object.
    assert outside.gc_unreachable(lease=lease.fence()).deleted_blob_count == 1
    runtime.put_blob(b"garbage three")
    clock.now = lease.expires_at_epoch_ms  # live means expiry strictly after now: this is expired
    assert outside.gc_unreachable().deleted_blob_count == 1
    clock.now = 1_000_000
    runtime.release_session_execution_lease(lease.completion())
    lease2 = outside.try_claim_session_execution_lease(SESSION, "runner-2", LEASE_TTL)
    runtime.put_blob(b"garbage four")
    # runner-2's lease was claimed through `outside`: now the first store is the stranger.
    assert runtime.gc_unreachable().busy == GcBusy(SESSION, "runner-2", lease2.expires_at_epoch_ms)
    outside.release_session_execution_lease(lease2.completion())
    assert runtime.gc_unreachable().deleted_blob_count == 1
    assert hashes(runtime) == stored_refs(current)
    outside.close()
    runtime.close()


def test_auto_gc_after_a_commit_runs_under_the_committers_fence(tmp_db, clock):
    with open_on(tmp_db, clock) as claimer:
        lease = claimer.try_claim_session_execution_lease("root", "runner", LEASE_TTL)
    # The committing store never claimed the lease itself: auto-GC runs under the commit's fence.
    with open_on(tmp_db, clock, auto_run_every_commits=1) as store:
        garbage = store.put_blob(b"left over from an earlier turn")
        assert store.gc_unreachable().busy is not None  # without the fence it is an outsider
        result = store.commit_runtime_state(commit_for(checkpoint=checkpoint(2), session_execution_lease=lease.fence()))
        assert store.last_auto_gc_error is None
        assert garbage not in hashes(store)
        assert hashes(store) == {result.checkpoint_ref, result.manifest.tool_state_ref,
                                 result.manifest.plugin_snapshot_ref, result.manifest.execution_state_ref}
        assert store.load_session().checkpoint.tool_state == {"generation": 2}


# --- batches ----------------------------------------------------------------------------------------


def test_gc_runs_in_batches_and_the_dry_run_reports_what_they_would_delete(tmp_db, clock):
    with open_on(tmp_db, clock, batch_size=3) as store:
        head = store.put_checkpoint(checkpoint(1))
        name_in_head(store, head.checkpoint_ref)
        garbage = {store.put_blob(f"garbage {i}".encode()) for i in range(10)}
        sizes = lengths(store)
        before = hashes(store)
        dry = store.gc_unreachable(dry_run=True)
        assert hashes(store) == before
        progress = []
        report = store.gc_unreachable(progress=lambda *p: progress.append(p))
        # 3 + 3 + 3 + 1: the batch that deletes fewer than 3 is the last.
        assert report.to_json() == {"root_count": 1, "retained_blob_count": 4, "deleted_blob_count": 10,
                                    "freed_bytes": sum(sizes[h] for h in garbage), "dry_run": False,
                                    "missing_blob_count": 0, "batch_count": 4, "busy": None}
        assert dry.to_json() == dict(report.to_json(), dry_run=True)
        assert progress == [("mark", 1, 1), ("sweep", 3, 10), ("sweep", 6, 10), ("sweep", 9, 10),
                            ("sweep", 10, 10)]
        assert hashes(store) == stored_refs(head)
        # An exact multiple ends with a batch that finds nothing; the dry run counts it the same way.
        for i in range(6):
            store.put_blob(f"more {i}".encode())
        assert store.gc_unreachable(dry_run=True).batch_count == 3
        assert (store.gc_unreachable().batch_count, hashes(store)) == (3, stored_refs(head))


def test_each_batch_rereads_the_roots_and_releases_the_write_lock(tmp_db, clock):
    with open_on(tmp_db, clock, batch_size=2) as gc_store, open_on(tmp_db, clock) as runtime:
        old = runtime.put_checkpoint(checkpoint(1))
        name_in_head(runtime, old.checkpoint_ref)
        for i in range(6):
            runtime.put_blob(f"garbage {i}".encode())
        new = None

        def between_batches(phase: str, done: int, total: int) -> None:
            nonlocal new
            if phase == "sweep" and new is None:
                # Another connection writes between two batches (it would hit the busy timeout if
                # the GC held the write lock across batches), and moves the head to a new checkpoint.
                new = runtime.put_checkpoint(checkpoint(2))
                name_in_head(runtime, new.checkpoint_ref, 2)

        report = gc_store.gc_unreachable(progress=between_batches)
        assert report.busy is None
        # The later batches marked the new head's checkpoint, and collected the superseded one.
        assert hashes(runtime) == stored_refs(new)
        assert report.deleted_blob_count == 6 + 4
        assert runtime.load_session().checkpoint.tool_state == {"generation": 2}


def test_a_lease_claimed_mid_gc_stops_it_with_what_was_deleted_so_far(tmp_db, clock):
    with open_on(tmp_db, clock, batch_size=3) as gc_store, open_on(tmp_db, clock) as runtime:
        garbage = [runtime.put_blob(f"garbage {i}".encode()) for i in range(10)]
        claimed = []

        def claim_after_first_batch(phase: str, done: int, total: int) -> None:
            if phase == "sweep" and not claimed:
                claimed.append(runtime.try_claim_session_execution_lease(SESSION, "late-runner", LEASE_TTL))

        report = gc_store.gc_unreachable(progress=claim_after_first_batch)
        assert report.busy == GcBusy(SESSION, "late-runner", claimed[0].expires_at_epoch_ms)
        assert (report.batch_count, report.deleted_blob_count) == (1, 3)
        assert len(hashes(runtime)) == 7 and hashes(runtime) <= set(garbage)


def test_an_undecodable_live_manifest_aborts_the_first_batch_with_nothing_deleted(tmp_db, clock):
    with open_on(tmp_db, clock, batch_size=2) as store:
        bad = store.put_blob(b"not a checkpoint manifest")
        name_in_head(store, bad)
        for i in range(7):
            store.put_blob(f"garbage {i}".encode())
        before = lengths(store)
        with pytest.raises(GcAborted) as err:
            store.gc_unreachable()
        assert err.value.blob_hash == bad
        assert lengths(store) == before


def test_batch_size_must_be_a_positive_int(tmp_db, clock):
    with open_on(tmp_db, clock, batch_size=0) as store:
        store.put_blob(b"kept")
        with pytest.raises(ValueError, match="batch_size"):
            store.gc_unreachable()
        assert len(hashes(store)) == 1


# --- CLI --------------------------------------------------------------------------------------------


def make_session(root: Path, name: str = "s1") -> tuple[Path, str]:
    """A session file with a head checkpoint and one garbage blob; returns (path, garbage hash)."""
    root.mkdir(parents=True, exist_ok=True)
    path = root / f"{name}.db"
    with Store.open(path) as store:
        store.save_session_meta(SessionMeta(name, name, "unix:0", "m"))
        head = store.put_checkpoint(checkpoint(1))
        store.save_session_head_meta(SessionHeadMeta(name, 1, CONFIG, checkpoint_ref=head.checkpoint_ref))
        return path, store.put_blob(b"garbage for the cli")


def claim(path: Path, owner: str, ttl_ms: int = HOUR_MS):
    with Store.open(path) as store:
        return store.try_claim_session_execution_lease(path.stem, owner, ttl_ms)


def cli(root: Path, *args: str):
    result = runner.invoke(app, ["--root", str(root), *args])
    assert "Traceback" not in result.output, result.output
    return result


def test_cli_gc_skips_busy_sessions_exit_0_for_all_3_when_named_and_force_collects(tmp_path):
    root = tmp_path / "root"
    busy_path, busy_garbage = make_session(root, "s1")
    free_path, free_garbage = make_session(root, "s2")
    lease = claim(busy_path, "runner-7")
    until = iso_ms(lease.expires_at_epoch_ms)

    result = cli(root, "gc", "--all", "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    by_id = {s["session_id"]: s for s in doc["sessions"]}
    assert by_id["s1"]["outcome"] == "busy" and by_id["s2"]["outcome"] == "collected"
    assert by_id["s1"]["busy"] == {"session_id": "s1", "owner_id": "runner-7", "expires_at": until,
                                   "expires_at_epoch_ms": lease.expires_at_epoch_ms}
    assert (by_id["s1"]["deleted_blob_count"], by_id["s1"]["batch_count"], by_id["s1"]["root_count"]) == (0, 0, None)
    assert by_id["s2"]["busy"] is None and by_id["s2"]["deleted_blob_count"] == 1
    assert (doc["force"], doc["total"]["busy"], doc["total"]["collected"]) == (False, 1, 1)
    with Store.open_readonly(busy_path) as s1, Store.open_readonly(free_path) as s2:
        assert busy_garbage in hashes(s1) and free_garbage not in hashes(s2)

    plain = cli(root, "gc", "s1")
    assert plain.exit_code == 3
    assert f"busy: lease held by runner-7 until {until} (session s1 skipped; --force collects it anyway)" \
        in plain.stdout.splitlines()
    plain_all = cli(root, "gc", "--all")
    assert plain_all.exit_code == 0 and any(line.startswith("busy: lease held by runner-7 until ")
                                            for line in plain_all.stdout.splitlines())
    dry = cli(root, "gc", "s1", "--dry-run", "--json")
    assert dry.exit_code == 3 and json.loads(dry.stdout)["sessions"][0]["outcome"] == "busy"

    forced = cli(root, "gc", "s1", "--force", "--json")
    assert forced.exit_code == 0, forced.output
    entry = json.loads(forced.stdout)["sessions"][0]
    assert (entry["outcome"], entry["busy"], entry["deleted_blob_count"]) == ("collected", None, 1)
    with Store.open_readonly(busy_path) as s1:
        assert busy_garbage not in hashes(s1)
        assert s1.load_session().checkpoint.tool_state == {"generation": 1}


def test_doctor_and_blob_verify_report_a_head_naming_a_missing_checkpoint(tmp_path):
    root = tmp_path / "root"
    path, _garbage = make_session(root)
    with Store.open(path) as store:
        ref = store.load_session_head_meta().checkpoint_ref
        store.write(lambda c: c.execute("DELETE FROM blobs WHERE hash = ?", (ref,)))
    verify = cli(root, "blob", "verify", "s1", "--json")
    assert verify.exit_code == 1, verify.output
    (entry,) = json.loads(verify.stdout)["sessions"]
    assert entry["result"] == "damaged" and entry["failed"] == 0
    assert entry["problems"] == [f"the session head names checkpoint {ref}, which is missing from the blobs table"]
    doctor = cli(root, "doctor", str(path), "--json")
    assert doctor.exit_code == 1, doctor.output
    findings = [f for report in json.loads(doctor.stdout)["files"] for f in report["findings"]
                if f["check"] == "gc_roots"]
    assert len(findings) == 1 and findings[0]["severity"] == "error" and findings[0]["subject"] == ref
    assert ref in findings[0]["message"]


# --- cross-process ------------------------------------------------------------------------------------


def _hold_lease(path: str, ready_fd: int, release_fd: int) -> None:
    with Store.open(path) as store:
        lease = store.try_claim_session_execution_lease("s1", f"pid-{os.getpid()}", HOUR_MS)
        os.write(ready_fd, f"{lease.owner_id}\n".encode())
        os.read(release_fd, 1)  # hold it until the parent says so
        store.release_session_execution_lease(lease.completion())


@pytest.mark.skipif(sys.platform == "win32", reason="fork")
def test_lashdb_gc_skips_a_session_whose_lease_another_process_holds(tmp_path):
    root = tmp_path / "root"
    path, garbage = make_session(root)
    ready_r, ready_w = os.pipe()
    release_r, release_w = os.pipe()
    holder = mp.get_context("fork").Process(target=_hold_lease, args=(str(path), ready_w, release_r))
    holder.start()
    os.close(ready_w)
    os.close(release_r)
    try:
        owner = os.read(ready_r, 200).decode().strip()
        assert owner == f"pid-{holder.pid}"
        command = [console_script(), "--root", str(root), "gc", "--all", "--json"]
        busy = subprocess.run(command, capture_output=True, text=True, timeout=120)
        assert busy.returncode == 0, busy.stderr
        (entry,) = json.loads(busy.stdout)["sessions"]
        assert entry["outcome"] == "busy" and entry["busy"]["owner_id"] == owner
        named = subprocess.run([console_script(), "--root", str(root), "gc", "s1"], capture_output=True,
                               text=True, timeout=120)
        assert named.returncode == 3 and f"busy: lease held by {owner} until " in named.stdout
        with Store.open_readonly(path) as store:
            assert garbage in hashes(store)
    finally:
        os.write(release_w, b"x")
        os.close(release_w)
        holder.join()
        os.close(ready_r)
    assert holder.exitcode == 0
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and json.loads(done.stdout)["sessions"][0]["outcome"] == "collected"
    with Store.open_readonly(path) as store:
        assert garbage not in hashes(store)
