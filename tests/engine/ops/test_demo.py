"""lashdb.demo.build_demo: what it writes, read back through the engine's public API."""

from __future__ import annotations

from pathlib import Path

import pytest

from lashdb.engine.ops.demo import COMPRESSION_THRESHOLD, DEMO_NOW_MS, build_demo
from lashdb.engine import DatabaseError, ProcessRegistryInspector, SessionStoreFactory, Store, TriggerStoreInspector
from lashdb.engine.session.factory import safe_session_file_name


@pytest.fixture
def demo(tmp_path):
    return build_demo(tmp_path / "root")


def test_layout_four_roots_and_one_child(demo):
    assert len(demo.sessions) == 5
    assert len(demo.root_sessions) == 4 and len(demo.child_sessions) == 1
    files = sorted(p.name for p in demo.root.iterdir())
    first = safe_session_file_name(demo.sessions[0].session_id)
    assert files == sorted([safe_session_file_name(s.session_id) for s in demo.sessions]
                           + [first + ".effects.db", first + ".processes.db", first + ".triggers.db"])
    assert [s.name for s in demo.root_sessions] == [
        "Fix the flaky parser test", "Release notes for 0.4", "Investigate slow start-up", "Plan the storage cut-over"]
    child = demo.child_sessions[0]
    assert child.parent_session_id == demo.sessions[0].session_id
    assert child.path == SessionStoreFactory(demo.root).path_for_session(child.session_id)


def test_meta_relation_and_times(demo):
    first = demo.sessions[0]
    with Store.open_readonly(first.path) as store:
        meta = store.load_session_meta()
    assert meta.session_name == "Fix the flaky parser test"
    assert meta.model == "claude-sonnet-4-5"
    assert meta.cwd == "/home/demo/src/lashlang"
    assert meta.created_at == f"unix:{(DEMO_NOW_MS - 4 * 86_400_000) // 1000}"
    assert meta.relation.kind == "root"
    with Store.open_readonly(demo.child_sessions[0].path) as store:
        child_meta = store.load_session_meta()
    assert child_meta.relation.kind == "child"
    assert child_meta.relation.parent_session_id == first.session_id
    assert child_meta.relation.caused_by["kind"] == "tool_call"
    # The database's mtime is the session's last activity.
    assert first.path.stat().st_mtime_ns // 1_000_000 == first.modified_at_ms == 1_779_959_540_000


def test_graph_head_tombstones_and_image(demo):
    first = demo.sessions[0]
    with Store.open_readonly(first.path) as store:
        head = store.load_session_head_meta()
        graph = store.load_session_graph()
        path = store.load_active_path()
        info = store.load_picker_info()
    assert head.head_revision == first.head_revision == 3
    assert head.leaf_node_id == first.leaf_node_id == path.nodes[-1].node_id
    assert head.graph_node_count == len(graph.nodes) == first.live_nodes == 8
    assert first.tombstoned_nodes == 2
    assert [n.role for n in graph.user_messages()] == ["User"] * 3
    assert graph.user_messages()[1].text == "Here is the failure from CI:\n\n[Image attached]"
    assert info.user_message_count == 3
    assert info.first_user_message.startswith("tests/test_parser.py::test_nested_blocks fails")
    assert {n.kind for n in graph.nodes} == {"event", "plugin"}
    assert "Could you paste the full traceback as text?" not in [n.text for n in graph.nodes]


def test_a_fork_in_the_release_notes_session(demo):
    notes = demo.sessions[1]
    with Store.open_readonly(notes.path) as store:
        graph = store.load_session_graph()
    parents = [n.parent_node_id for n in graph.nodes if n.role == "User" and n.parent_node_id]
    assert len(parents) == 2 and parents[0] == parents[1]  # draft and edited message share a parent
    assert notes.user_messages == 3


def test_checkpoints_on_both_sides_of_the_threshold_and_garbage(demo):
    first = demo.sessions[0]
    with Store.open_readonly(first.path) as store:
        checkpoint = store.get_checkpoint(first.checkpoint_ref)
        plugin = store.get_blob_envelope(checkpoint.plugin_snapshot_ref)
        tool = store.get_blob_envelope(checkpoint.tool_state_ref)
        report = store.gc_unreachable(dry_run=True)
        assert store.list_artifact_refs()[0][0] == "lashlang:module/demo_main@1"
    assert checkpoint.turn_state["turn_index"] == 3
    assert plugin.compression == "Zlib" and tool.compression == "None"
    assert len(plugin.stored_content) < COMPRESSION_THRESHOLD
    assert report.root_count == 2 and report.deleted_blob_count == 7 and report.freed_bytes == 3474
    slow = demo.sessions[2]
    with Store.open_readonly(slow.path) as store:
        tool_env = store.get_blob_envelope(store.get_checkpoint(slow.checkpoint_ref).tool_state_ref)
        assert store.gc_unreachable(dry_run=True).deleted_blob_count == 8
    assert tool_env.compression == "Zlib"


def test_usage_ledger_drops_the_zero_row(demo):
    with Store.open_readonly(demo.sessions[0].path) as store:
        deltas = store.load_usage_deltas()
        ledger = store.load_token_ledger()
    assert len(deltas) == 5
    assert [(e.source, e.model) for e in ledger] == [("turn", "claude-sonnet-4-5"),
                                                      ("compaction", "claude-haiku-4-5")]
    assert ledger[0].usage.input_tokens == 1545 + 2745 + 3945
    # The cache-only row (total 0) is dropped before the merge, so its 512 are not counted.
    assert ledger[0].usage.cached_input_tokens == 0 + 800 + 1600


def test_deterministic_bytes(tmp_path):
    a = build_demo(tmp_path / "a")
    b = build_demo(tmp_path / "b")
    for x, y in zip(a.sessions, b.sessions):
        assert x.path.name == y.path.name
        assert x.path.read_bytes() == y.path.read_bytes()
        assert {k: p.read_bytes() for k, p in x.sidecars.items()} == {k: p.read_bytes() for k, p in y.sidecars.items()}


def test_clock_moves_every_timestamp(tmp_path):
    later = DEMO_NOW_MS + 86_400_000
    summary = build_demo(tmp_path / "r", 1, clock=lambda: later)
    assert summary.sessions[0].created_at_ms == later - 86_400_000
    assert len(summary.sessions) == 2


def test_more_sessions_than_scripts(tmp_path):
    summary = build_demo(tmp_path / "r", 6)
    assert [s.name for s in summary.root_sessions][4:] == ["Fix the flaky parser test (2)",
                                                           "Release notes for 0.4 (2)"]
    assert len({s.session_id for s in summary.sessions}) == 7


def test_refuses_non_empty_directory_and_zero_sessions(tmp_path):
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "keep.txt").write_text("mine")
    with pytest.raises(DatabaseError, match="not an empty directory"):
        build_demo(tmp_path / "busy")
    assert sorted(p.name for p in (tmp_path / "busy").iterdir()) == ["keep.txt"]
    with pytest.raises(DatabaseError, match="at least one session"):
        build_demo(tmp_path / "none", 0)
    assert not (tmp_path / "none").exists()


def test_empty_existing_directory_is_fine(tmp_path):
    (tmp_path / "empty").mkdir()
    assert len(build_demo(tmp_path / "empty", 1).sessions) == 2


def test_summary_json(demo):
    doc = demo.to_json()
    assert doc["root"] == str(demo.root)
    first = doc["sessions"][0]
    assert set(first) == {"session_id", "name", "path", "model", "parent_session_id", "turns", "user_messages",
                          "live_nodes", "tombstoned_nodes", "head_revision", "leaf_node_id", "checkpoint_ref",
                          "first_user_message", "created_at_epoch_ms", "modified_at_epoch_ms", "artifact_refs",
                          "sidecars"}
    assert first["artifact_refs"] == ["lashlang:module/demo_main@1"]
    assert Path(first["path"]).is_file()


# --- deployment stores beside the first session ------------------------------------------------------

HOUR = 3_600_000


def test_process_registry_beside_the_first_session(demo):
    first, child = demo.sessions[0], demo.child_sessions[0]
    deployment = demo.deployment
    assert first.sidecars == {"effects": Path(f"{first.path}.effects.db"),
                              "processes": Path(f"{first.path}.processes.db"),
                              "triggers": Path(f"{first.path}.triggers.db")}
    assert (deployment.registry, deployment.trigger_store) == (first.sidecars["processes"], first.sidecars["triggers"])
    assert all(not s.sidecars for s in demo.sessions[1:])
    ids = deployment.processes
    with ProcessRegistryInspector.open(deployment.registry) as registry:
        assert registry.info.foreign is False and registry.info.unavailable == ()
        by_id = {p.process_id: p for p in registry.list_processes(now_ms=DEMO_NOW_MS)}
        assert set(by_id) == set(ids.values()) and len(by_id) == 8
        status = {name: by_id[pid].status for name, pid in ids.items()}
        assert status == {"test_stress_run": "completed", "bisect": "running", "ci_watch": "running",
                          "pr_review": "running", "ci_summary_101": "completed", "fuzz_1": "completed",
                          "fuzz_2": "failed", "ci_summary_102": "completed"}
        ci = by_id[ids["ci_watch"]]
        assert (ci.lease.state, ci.lease.owner_id, ci.lease.fencing_token) == ("live", "worker-2", 2)
        assert (ci.lease.claimed_at_ms, ci.lease.expires_at_ms) == (DEMO_NOW_MS - 120_000, DEMO_NOW_MS + 58 * 60_000)
        assert (ci.grant_count, ci.event_count) == (2, 2)
        assert ci.external_ref == "github-actions:demo/lashlang@fix/flaky-parser"
        assert ci.originator_scope_id == ci.wake_target_scope_id == f"session:{first.session_id}/frame:main"
        bisect = by_id[ids["bisect"]]
        assert (bisect.lease.state, bisect.lease.owner_id, bisect.originator_scope_id) == \
            ("expired", "worker-3", f"session:{child.session_id}/frame:main")
        assert by_id[ids["test_stress_run"]].lease.state == "released"
        review = by_id[ids["pr_review"]]
        assert (review.waiting, review.wait_signal, review.input_type, review.lease) == \
            (True, "approved", "external", None)
        detail = registry.show_process(ids["ci_watch"], now_ms=DEMO_NOW_MS)
        assert [(e.event_type, e.wake_input, e.acked) for e in detail.events] == [
            ("ci.run", "CI run 101 failed: test_nested_blocks", True), ("ci.run", "CI run 102 passed", False)]
        assert detail.unacked_wake_sequences == (2,)
        fuzz = registry.show_process(ids["fuzz_2"], now_ms=DEMO_NOW_MS)
        assert fuzz.await_output["code"] == "fuzz_crash" and fuzz.caused_by["type"] == "trigger_occurrence"
        # What doctor should report: the dead bisect worker, and nothing else.
        assert [lease.process_id for lease in registry.expired_leases(now_ms=DEMO_NOW_MS)] == [ids["bisect"]]
        assert [(s.process_id, s.reasons) for s in registry.stuck_processes(now_ms=DEMO_NOW_MS)] == \
            [(ids["bisect"], ("lease_expired",))]


@pytest.mark.parametrize("sessions", [1, 4])
def test_trigger_store_beside_the_first_session(tmp_path, sessions):
    demo = build_demo(tmp_path / "root", sessions)
    deployment = demo.deployment
    assert deployment.subscriptions == {"trigger:1": "Re-run bisect on push", "trigger:2": "Summarise finished CI runs",
                                        "trigger:3": "Fuzz the parser every 6 hours"}
    with TriggerStoreInspector.open(deployment.trigger_store) as store:
        subs = store.list_subscriptions()
        assert [(s.handle, s.enabled, s.delivery_count) for s in subs] == [
            ("trigger:1", False, 0), ("trigger:2", True, 2), ("trigger:3", True, 2)]
        assert subs[2].registrant_scope_id == "host"
        occurrences = store.list_occurrences()
        assert [o.occurrence_id for o in occurrences] == list(reversed(deployment.occurrences))
        assert [(o.idempotency_key, o.occurred_at_ms, o.delivery_count) for o in occurrences] == [
            ("git:push:7e1d2c9", DEMO_NOW_MS - 2 * HOUR, 0),
            ("github-actions:run:102", DEMO_NOW_MS - 3 * HOUR, 1),
            ("cron:2026-06-01T03", DEMO_NOW_MS - 6 * HOUR, 1),
            ("cron:2026-05-31T21", DEMO_NOW_MS - 12 * HOUR, 1),
            ("github-actions:run:101", DEMO_NOW_MS - 20 * HOUR, 1)]
        delivered = {d.process_id for d in store.deliveries()}
    # Every delivery's process was started in the registry.
    assert delivered == {pid for name, pid in deployment.processes.items() if pid.startswith("process:trigger:")}
    assert set(deployment.to_json()) == {"session_id", "registry", "trigger_store", "processes", "subscriptions",
                                         "occurrences"}
    assert demo.to_json()["deployment"]["registry"] == str(deployment.registry)
