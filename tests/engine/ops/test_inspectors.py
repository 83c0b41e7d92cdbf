"""ops.inspectors: the deployment roles and the one place their inspectors are opened."""

from __future__ import annotations

import pytest

from lashdb.engine.base.errors import NotALashDatabase, UsageError
from lashdb.engine.ops import backend, inspectors
from lashdb.engine.ops.demo import build_demo


def test_roles_and_the_backend_alias_are_one_table():
    assert inspectors.ROLE_KINDS == {"processes": "process registry", "triggers": "trigger store",
                                     "effects": "effect replay"}
    assert backend.ROLE_KINDS is inspectors.ROLE_KINDS


def test_open_inspector_reads_the_demo_sidecars_and_refuses_other_roles(tmp_path):
    summary = build_demo(tmp_path / "root")
    registry = next(p for s in summary.root_sessions for r, p in s.sidecars.items() if r == "processes")
    with inspectors.open_inspector("processes", registry) as inspector:
        assert inspector.info.kind == "process registry"
    with pytest.raises(NotALashDatabase):
        inspectors.open_inspector("triggers", registry)
    with pytest.raises(UsageError, match="no inspector for 'effects'"):
        inspectors.open_inspector("effects", registry)
