"""``sessions show`` on the demo root: the documented JSON keys with the values the demo wrote, the
lease seen as live/expired/released at a given instant, and nothing changed on disk."""

from __future__ import annotations

import shutil

import apsw
import pytest
from conftest import snapshot_dir

from lashdb.engine import Store
from lashdb.engine.ops import show
from lashdb.engine.ops.demo import build_demo

LEASE_CLAIMED = 1_779_959_540_000


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    return build_demo(tmp_path_factory.mktemp("show") / "root")


def test_details_of_the_first_demo_session(demo):
    first = demo.sessions[0]
    before = snapshot_dir(demo.root)
    doc = show.session_details(first.path, now_ms=LEASE_CLAIMED).to_json()
    assert snapshot_dir(demo.root) == before
    assert list(doc) == ["path", "status", "foreign", "schema_version", "supported_schema_version", "meta",
                         "relation", "head", "user_messages", "token_ledger", "token_totals", "blobs",
                         "execution_lease", "queued_work", "attachments", "turn_commits", "sidecars", "files"]
    assert (doc["status"], doc["schema_version"], doc["supported_schema_version"]) == ("ok", 4, 4)
    assert doc["meta"]["session_name"] == first.name and doc["relation"] == {"kind": "root"}
    assert doc["head"] == {"revision": first.head_revision, "leaf_node_id": first.leaf_node_id,
                           "checkpoint_ref": first.checkpoint_ref, "live_nodes": first.live_nodes,
                           "tombstoned_nodes": first.tombstoned_nodes, "graph_node_count": first.live_nodes}
    assert doc["user_messages"] == first.user_messages
    totals = doc["token_totals"]
    for key in ("input_tokens", "output_tokens", "cached_input_tokens", "reasoning_tokens", "total_tokens"):
        assert totals[key] == sum(e[key] for e in doc["token_ledger"])
    assert totals["total_tokens"] == totals["input_tokens"] + totals["output_tokens"] + totals["reasoning_tokens"]
    assert doc["turn_commits"]["count"] == first.turns
    assert set(doc["sidecars"]) == {"effects", "processes", "triggers"}
    assert doc["files"]["modified_at_epoch_ms"] == first.modified_at_ms


def test_blob_stats_add_up_and_match_the_store(demo):
    first = demo.sessions[0]
    blobs = show.session_details(first.path, now_ms=LEASE_CLAIMED).blobs.to_json()
    with Store.open_readonly(first.path) as store:
        count, stored = store.read(lambda c: c.execute(
            "SELECT count(*), sum(length(content)) FROM blobs").fetchone())
    assert (blobs["count"], blobs["stored_bytes"]) == (count, stored)
    assert sum(k["count"] for k in blobs["by_kind"].values()) == count
    assert sum(k["stored_bytes"] for k in blobs["by_kind"].values()) == stored
    assert sum(blobs["by_format"].values()) == count
    assert blobs["compressed_share"] == round(blobs["compressed_count"] / count, 4)
    assert blobs["undecodable_count"] == 0 and blobs["artifact_refs"] == len(first.artifact_refs)


def test_the_lease_state_depends_on_the_instant(demo):
    path = demo.sessions[0].path
    live = show.session_details(path, now_ms=LEASE_CLAIMED).execution_lease
    assert (live.state, live.owner_id) == ("live", "lash@demo-laptop:pid4711")
    assert live.to_json()["expires_in_ms"] == live.expires_ms - LEASE_CLAIMED > 0
    expired = show.session_details(path, now_ms=live.expires_ms).execution_lease
    assert expired.state == "expired" and expired.to_json()["expires_in_ms"] == 0


def test_a_released_lease_shows_no_times(demo, tmp_path):
    copy = tmp_path / "released.db"
    shutil.copy(demo.sessions[0].path, copy)
    conn = apsw.Connection(str(copy))
    conn.execute("UPDATE session_execution_leases SET lease_token = NULL, lease_owner_id = NULL")
    conn.close()
    lease = show.session_details(copy, now_ms=LEASE_CLAIMED).execution_lease.to_json()
    assert lease == {"state": "released", "owner_id": None, "fencing_token": 4, "claimed_at": None,
                     "claimed_at_epoch_ms": None, "expires_at": None, "expires_at_epoch_ms": None,
                     "expires_in_ms": None}


def test_a_session_without_a_lease_row_has_none(demo):
    child = demo.child_sessions[0]
    details = show.session_details(child.path, now_ms=LEASE_CLAIMED)
    assert details.to_json()["relation"]["parent_session_id"] == child.parent_session_id
    assert details.head.revision == child.head_revision
