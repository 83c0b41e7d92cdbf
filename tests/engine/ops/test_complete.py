"""Completion candidates: short forms first, real ids from file names, hashes within a budget, never an error."""

from __future__ import annotations

import itertools

import pytest

from lashdb.engine.ops import complete
from lashdb.engine.ops.backend import open_backend
from lashdb.engine.ops.demo import build_demo
from lashdb.engine.ops.effects import list_effects
from lashdb.engine.ops.verify import list_blobs


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    return build_demo(tmp_path_factory.mktemp("complete") / "root")


def test_short_first_gives_unique_prefixes_then_whole_ids():
    ids = ["abcdef0123", "abcdef0199", "ffff000011"]
    assert complete.short_first(ids, "", 4) == [
        "abcdef012", "abcdef019", "ffff", "abcdef0123", "abcdef0199", "ffff000011"]
    assert complete.short_first(ids, "abcdef019", 4) == ["abcdef019", "abcdef0199"]
    assert complete.short_first(ids, "zz", 4) == []
    assert complete.short_first(["same", "same"], "", 8) == ["same"]  # no duplicates, no longer form


def test_session_ids_come_from_file_names_and_match_the_stored_ids(demo):
    backend = open_backend(demo.root)
    stored = {s.session_id for s in demo.sessions}
    assert set(complete.session_ids(backend)) == stored
    got = complete.session_candidates(backend, "")
    assert got[:len(stored)] == [i[:8] for i in complete.session_ids(backend)]  # short forms first
    assert set(got[len(stored):]) == stored
    one = sorted(stored)[0]
    assert complete.session_candidates(backend, one[:10]) == [one]


def test_a_missing_root_completes_nothing(tmp_path):
    assert complete.session_candidates(open_backend(tmp_path / "none"), "") == []
    assert complete.blob_candidates(open_backend(tmp_path / "none"), "") == []
    assert complete.deployment_file(open_backend(tmp_path / "none"), "effects") is None


def test_blob_candidates_of_one_session_and_of_the_root(demo):
    backend = open_backend(demo.root)
    path = demo.sessions[0].path
    stored = sorted(row.to_json()["hash"] for row in list_blobs(path).rows)
    mine = complete.blob_candidates(backend, "", path)
    short, whole = mine[:len(stored)], mine[len(stored):]
    assert stored and whole == stored
    assert all(w.startswith(s) and 12 <= len(s) < 64 for s, w in zip(short, whole))
    assert complete.blob_candidates(backend, stored[0][:20].upper(), path) == [stored[0]]
    assert set(stored) <= set(complete.blob_candidates(backend, ""))
    assert complete.blob_candidates(backend, "not-hex", path) == []


def test_blob_candidates_stop_at_the_budget(demo):
    backend = open_backend(demo.root)
    ticks = itertools.count()
    # Each read takes "one second" on this clock: the first session is read, then the budget is spent.
    first = complete.blob_candidates(backend, "", clock=lambda: float(next(ticks)), budget_s=0.5)
    assert first and set(first) < set(complete.blob_candidates(backend, ""))


def test_deployment_candidates(demo):
    backend = open_backend(demo.root)
    effects = complete.deployment_file(backend, "effects")
    scopes = list(dict.fromkeys(r.scope_id for r in list_effects(effects)))
    assert complete.scope_candidates(effects, "") == scopes and scopes
    assert complete.scope_candidates(effects, scopes[0]) == [s for s in scopes if s.startswith(scopes[0])]
    registry = complete.deployment_file(backend, "processes")
    ids = complete.process_candidates(backend, registry, "", backend.now_ms())
    with backend.inspector("processes", registry) as inspector:
        stored = {p.process_id for p in inspector.list_processes(now_ms=backend.now_ms())}
    assert stored and stored <= set(ids) and all(any(s.startswith(i) for s in stored) for i in ids)
    assert complete.process_candidates(backend, None, "", 0) == []
