"""The deployment commands (effects, processes, triggers), blob cat and doctor on both stores: the demo
built into a directory and into PostgreSQL (the same deterministic content) gives the same JSON
documents apart from paths and the database's write times, and the same exit codes (issue 13)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from lashdb.cli.main import app
from lashdb.engine.ops.demo import build_demo

runner = CliRunner()
CLOCK = 1_796_000_000_000  # the demo's clock, so both stores hold the same times
VOLATILE = {"path", "file", "db", "store", "sidecars", "cwd", "size_bytes", "db_bytes", "wal_bytes", "shm_bytes",
            "modified_at", "modified_at_epoch_ms", "schema_version", "supported_version", "kind", "hint", "now",
            "now_epoch_ms"}


def strip(doc):
    """``doc`` without the values that name the store."""
    if isinstance(doc, dict):
        return {k: strip(v) for k, v in doc.items() if k not in VOLATILE}
    if isinstance(doc, list):
        return [strip(v) for v in doc]
    return doc


def demo_args(target) -> tuple[list[str], object]:
    summary = build_demo(target, clock=lambda: CLOCK)
    option = "--root" if not isinstance(target, str) else "--store"
    return [option, str(target)], summary


@pytest.fixture(scope="module")
def directory(tmp_path_factory):
    return demo_args(tmp_path_factory.mktemp("demo") / "root")


@pytest.fixture
def postgres(pg_url):
    return demo_args(pg_url)


def commands(summary) -> dict[str, tuple[str, ...]]:
    first = summary.root_sessions[0].session_id
    runtime = summary.runtime
    scope = runtime.effect_scopes[-1] if runtime and runtime.effect_scopes else "turn-2"
    return {
        "effects-list": ("effects", "list", first, "--json"),
        "effects-replay": ("effects", "replay", first, "--scope", scope, "--json"),
        "processes-list": ("processes", "list", first, "--json"),
        "triggers-list": ("triggers", "list", first, "--json"),
        "triggers-occurrences": ("triggers", "occurrences", first, "--json"),
    }


NAMES = ("effects-list", "effects-replay", "processes-list", "triggers-list", "triggers-occurrences")


@pytest.mark.parametrize("name", NAMES)
def test_each_deployment_command_gives_the_directory_document(name, directory, postgres):
    (dir_args, dir_summary), (pg_args, pg_summary) = directory, postgres
    assert [s.session_id for s in pg_summary.sessions] == [s.session_id for s in dir_summary.sessions]
    command = commands(dir_summary)[name]
    want = runner.invoke(app, [*dir_args, *command])
    got = runner.invoke(app, [*pg_args, *command])
    assert (got.exit_code, want.exit_code) == (want.exit_code, want.exit_code), got.output
    assert strip(json.loads(got.stdout)) == strip(json.loads(want.stdout))


def test_processes_show_and_blob_cat_match(directory, postgres):
    (dir_args, dir_summary), (pg_args, _) = directory, postgres
    first = dir_summary.root_sessions[0].session_id
    listed = json.loads(runner.invoke(app, [*pg_args, "processes", "list", first, "--json"]).stdout)
    process_id = listed[0]["process_id"]
    shown = [runner.invoke(app, [*args, "processes", "show", process_id, first, "--json"])
             for args in (dir_args, pg_args)]
    assert [r.exit_code for r in shown] == [0, 0], shown[1].output
    assert strip(json.loads(shown[1].stdout)) == strip(json.loads(shown[0].stdout))
    blobs = json.loads(runner.invoke(app, [*pg_args, "blob", "ls", first, "--json"]).stdout)
    blob_hash = blobs[0]["hash"]
    cats = [runner.invoke(app, [*args, "blob", "cat", blob_hash, "--session", first]) for args in (dir_args, pg_args)]
    assert [r.exit_code for r in cats] == [0, 0] and cats[1].stdout_bytes == cats[0].stdout_bytes


def test_doctor_finds_the_same_problems_on_both(directory, postgres):
    (dir_args, _), (pg_args, _) = directory, postgres
    found = []
    for args in (dir_args, pg_args):
        result = runner.invoke(app, [*args, "doctor", "--json"])
        doc = json.loads(result.stdout)
        files = doc["files"] if isinstance(doc, dict) else doc
        found.append((result.exit_code, sorted((f["check"], f["severity"]) for entry in files
                                               for f in entry.get("findings", []))))
    assert found[1] == found[0] and found[0][1], found
