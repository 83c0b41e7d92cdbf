"""The four database kinds are compared by these names and versions above the seam; the SQLite
schema kinds must carry exactly them (SPEC §3.5)."""

from __future__ import annotations

from lashdb.engine.base import kinds


def test_names_and_versions_are_the_spec_ones():
    assert (kinds.SESSION, kinds.SESSION_VERSION) == ("session", 4)
    assert (kinds.PROCESS_REGISTRY, kinds.PROCESS_REGISTRY_VERSION) == ("process registry", 7)
    assert (kinds.TRIGGER_STORE, kinds.TRIGGER_STORE_VERSION) == ("trigger store", 1)
    assert (kinds.EFFECT_REPLAY, kinds.EFFECT_REPLAY_VERSION) == ("effect replay", 1)
    assert sorted(kinds.__all__) == kinds.__all__ and len(kinds.__all__) == 8
