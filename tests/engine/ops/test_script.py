"""The demo's fixed script and deterministic clock (ops.demo.script): same now, same bytes; a later now moves every timestamp."""

from __future__ import annotations

from lashdb.engine.ops.demo import DEMO_NOW_MS, build_demo


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
