"""`lashdb head dump`, `lashdb graph show` and `lashdb demo` through the Typer app (CliRunner)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import FIXTURES_DIR
from lashdb.cli.main import app
from lashdb.engine.ops.demo import build_demo

V38 = FIXTURES_DIR
runner = CliRunner()


def run(root, *args, **kwargs):
    return runner.invoke(app, ["--root", str(root), *args], **kwargs)


def one_error_line(result, code=3):
    assert result.exit_code == code, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lashdb: error: "), result.stderr
    assert "Traceback" not in result.output and result.stdout == ""
    return lines[0]


@pytest.fixture
def demo(tmp_path):
    return build_demo(tmp_path / "root")


# --- head dump --------------------------------------------------------------------------------------


def test_head_dump_is_pretty_json_with_or_without_flag(demo):
    first = demo.sessions[0]
    plain = run(demo.root, "head", "dump", first.session_id)
    as_json = run(demo.root, "head", "dump", first.session_id, "--json")
    assert plain.exit_code == as_json.exit_code == 0
    assert plain.stdout == as_json.stdout and plain.stdout.startswith("{\n  ")
    doc = json.loads(plain.stdout)
    assert set(doc) == {"path", "status", "foreign", "schema_version", "session_id", "head_revision", "head"}
    assert doc["head_revision"] == 3 and doc["session_id"] == first.session_id
    assert doc["head"]["leaf_node_id"] == first.leaf_node_id
    assert doc["head"]["checkpoint_ref"] == first.checkpoint_ref
    assert doc["head"]["agent_frames"] == [{"frame_id": "main", "agent": "default"}]
    # The first session's turns are runtime commits, which keep usage in usage_deltas rows only; the
    # sessions written with separate calls also carry the ledger in their head.
    assert "token_ledger" not in doc["head"]
    notes = json.loads(run(demo.root, "head", "dump", demo.sessions[1].session_id).stdout)
    assert [e["source"] for e in notes["head"]["token_ledger"]] == ["turn", "compaction"]


def test_head_dump_checkpoint(demo):
    first = demo.sessions[0]
    doc = json.loads(run(demo.root, "head", "dump", first.session_id, "--checkpoint").stdout)
    cp = doc["checkpoint"]
    assert set(cp) == {"ref", "present", "format", "manifest", "children", "error"}
    assert cp["ref"] == first.checkpoint_ref and cp["present"] is True and cp["format"] == "cbor"
    assert cp["manifest"]["plugin_snapshot_revision"] == 3
    assert cp["manifest"]["turn_state"]["turn_index"] == 3
    children = {c["role"]: c for c in cp["children"]}
    assert set(children) == {"tool_state", "plugin_snapshot", "execution_state"}
    assert set(children["tool_state"]) == {"role", "ref", "present", "kind", "compression", "stored_bytes",
                                           "logical_bytes"}
    plugin = children["plugin_snapshot"]
    assert plugin["compression"] == "Zlib" and plugin["logical_bytes"] > 4096 > plugin["stored_bytes"]


def test_head_dump_upstream_fixture(tmp_path):
    result = run(tmp_path, "head", "dump", str(V38 / "durable-core.db"), "--checkpoint")
    assert result.exit_code == 0
    assert result.stderr == "lashdb: warning: durable-core.db: foreign schema (session v38); shown read-only\n"
    doc = json.loads(result.stdout)
    assert doc["head_revision"] == 3 and doc["checkpoint"]["format"] == "msgpack"
    assert doc["checkpoint"]["manifest"]["turn_state"]["turn_index"] == 7


def test_head_dump_errors(demo, tmp_path):
    one_error_line(run(demo.root, "head", "dump", "nothing-here"))
    (tmp_path / "x.db").write_bytes(os.urandom(1000))
    assert "not a lash" in one_error_line(run(demo.root, "head", "dump", str(tmp_path / "x.db")))
    assert run(demo.root, "head", "dump").exit_code == 2


# --- graph show -------------------------------------------------------------------------------------


def test_graph_tree_table(demo):
    first = demo.sessions[0]
    result = run(demo.root, "graph", "show", first.session_id[:8])
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0] == f"{first.session_id}: tree, 8 node(s)"
    assert lines[1].split() == ["node", "kind", "role/type", "text", "time", "(UTC)"]
    assert lines[2].split()[:4] == ["n_af1b40", "*", "event", "User"]
    assert "tests/test_parser.py::test_nested_blocks" in lines[2] and lines[2].endswith("2026-05-28 09:00")
    assert len(lines) == 10


def test_graph_tree_with_tombstones_marks_and_indents(demo):
    lines = run(demo.root, "graph", "show", demo.sessions[0].session_id, "--tombstoned").stdout.splitlines()
    assert len(lines) == 12
    dead = [line for line in lines if " x " in line]
    assert len(dead) == 2 and all(line.startswith("  n_") for line in dead)
    assert "Could you paste the full traceback as text?" in dead[0]


def test_graph_json_active_path(demo):
    first = demo.sessions[0]
    result = run(demo.root, "graph", "show", first.session_id, "--active-path", "--json")
    doc = json.loads(result.stdout)
    assert set(doc) == {"path", "status", "foreign", "session_id", "mode", "leaf_node_id", "live_nodes",
                        "tombstoned_nodes", "shown", "omitted", "nodes"}
    assert doc["mode"] == "active_path" and doc["leaf_node_id"] == first.leaf_node_id
    assert doc["shown"] == 8 and doc["nodes"][-1]["node_id"] == first.leaf_node_id
    assert [n["role"] for n in doc["nodes"] if n["kind"] == "event"] == ["User", "Assistant"] * 3


def test_graph_leaf_limit_and_errors(demo):
    first = demo.sessions[0]
    path = json.loads(run(demo.root, "graph", "show", first.session_id, "--active-path", "--json").stdout)["nodes"]
    third = path[2]["node_id"]
    doc = json.loads(run(demo.root, "graph", "show", first.session_id, "--leaf", third[:9], "--json").stdout)
    assert [n["node_id"] for n in doc["nodes"]] == [n["node_id"] for n in path[:3]]
    doc = json.loads(run(demo.root, "graph", "show", first.session_id, "--limit", "3", "--json").stdout)
    assert doc["shown"] == 3 and doc["omitted"] == 5 and doc["mode"] == "tree"
    assert [n["node_id"] for n in doc["nodes"]] == [n["node_id"] for n in path[-3:]]
    table = run(demo.root, "graph", "show", first.session_id, "--limit", "3").stdout
    assert table.splitlines()[0].endswith("3 node(s) (5 older omitted; see --limit)")
    assert "ambiguous" in one_error_line(run(demo.root, "graph", "show", first.session_id, "--leaf", "n_"))
    assert "no graph node" in one_error_line(run(demo.root, "graph", "show", first.session_id, "--leaf", "qqqq"))
    assert run(demo.root, "graph", "show", first.session_id, "--limit", "-2").exit_code == 2


def test_graph_of_upstream_fixture(tmp_path):
    result = run(tmp_path, "graph", "show", str(V38 / "durable-core.db"), "--json")
    assert result.exit_code == 0 and result.stderr.startswith("lashdb: warning:")
    doc = json.loads(result.stdout)
    assert [n["kind"] for n in doc["nodes"]] == ["frame_open", "event", "plugin"]
    assert doc["nodes"][2]["plugin_type"] == "durable-read-plugin"


def test_graph_of_a_text_file(tmp_path):
    (tmp_path / "t.db").write_text("SQLite format 3? no.\n")
    assert "not a lash" in one_error_line(run(tmp_path, "graph", "show", str(tmp_path / "t.db")))


# --- demo -------------------------------------------------------------------------------------------


def test_demo_command_prints_what_to_try(tmp_path):
    target = tmp_path / "my demo"
    result = run(tmp_path, "demo", str(target), "--sessions", "2")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == f"Created 2 root session(s) and 1 child session in {target}."
    assert lines[1] == "Try next:"
    assert f"  lashdb --root '{target}' sessions list" in lines
    assert any(line.endswith("gc --all --dry-run") for line in lines)
    # Three sessions, plus the first one's effect journal, process registry and trigger store sidecars.
    assert len(list(target.glob("*.db"))) == 6
    assert sorted(p.name.split(".", 1)[1] for p in target.glob("*.db.*.db")) == [
        "db.effects.db", "db.processes.db", "db.triggers.db"]
    listed = json.loads(run(target, "sessions", "list", "--json").stdout)
    assert len(listed) == 3
    show = [line for line in lines if " sessions show " in line][0]
    prefix = show.split()[-1]
    assert run(target, "sessions", "show", prefix, "--json").exit_code == 0


def test_demo_json_and_default_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run(tmp_path, "demo", "--json")
    assert result.exit_code == 0
    doc = json.loads(result.stdout)
    assert doc["root"] == "lashdb-demo" and len(doc["sessions"]) == 5
    assert (tmp_path / "lashdb-demo").is_dir()


def test_demo_refuses_a_used_directory_and_zero_sessions(tmp_path):
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "a.txt").write_text("x")
    assert "not an empty directory" in one_error_line(run(tmp_path, "demo", str(tmp_path / "used")))
    assert run(tmp_path, "demo", str(tmp_path / "new"), "--sessions", "0").exit_code == 2
    assert not (tmp_path / "new").exists()


def test_help_lists_the_commands(tmp_path):
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for name in ("sessions", "head", "graph", "demo"):
        assert name in result.stdout
    assert "list" in runner.invoke(app, ["sessions", "--help"]).stdout
