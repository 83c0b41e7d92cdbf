"""What build_demo reports it wrote (ops.demo.summary), as JSON."""

from __future__ import annotations

from pathlib import Path

import pytest

from lashdb.engine.ops.demo import build_demo


@pytest.fixture
def demo(tmp_path):
    return build_demo(tmp_path / "root")


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
