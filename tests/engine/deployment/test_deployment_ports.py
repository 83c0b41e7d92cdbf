"""The deployment seam (deployment/ports.py): the SQLite and PostgreSQL backends implement every
Protocol method with the parameter names the rules call them by, so a rule written once runs on both."""

from __future__ import annotations

import inspect

import pytest

from lashdb.engine.deployment import ports
from lashdb.engine.sqlite.deployment_backend import SqliteDeploymentBackend
from lashdb.engine.sqlite.effect_journal import SqliteEffectJournalRows
from lashdb.engine.sqlite.registry import SqliteRegistryRows
from lashdb.engine.sqlite.triggers import SqliteTriggerRows
from lashdb.engine.postgres.deployment_backend import PgDeploymentBackend
from lashdb.engine.postgres.effect_journal import PgEffectJournalRows
from lashdb.engine.postgres.registry import PgRegistryRows
from lashdb.engine.postgres.triggers import PgTriggerRows


def protocol_members(protocol: type) -> dict[str, object]:
    """The methods and properties a Protocol declares (its own body, not typing's machinery)."""
    return {name: value for name, value in vars(protocol).items()
            if not name.startswith("_") and (callable(value) or isinstance(value, property))}


def seam_gaps(protocol: type, implementation: type) -> list[str]:
    """Every declared member the implementation lacks, or declares with other parameter names."""
    gaps = []
    for name, declared in protocol_members(protocol).items():
        actual = inspect.getattr_static(implementation, name, None)
        if actual is None:
            gaps.append(f"{implementation.__name__}.{name} is missing")
        elif isinstance(declared, property):
            if not isinstance(actual, property):
                gaps.append(f"{implementation.__name__}.{name} is not a property")
        else:
            want = list(inspect.signature(declared).parameters)
            got = list(inspect.signature(getattr(implementation, name)).parameters)
            if got != want:
                gaps.append(f"{implementation.__name__}.{name}{tuple(got)} != {protocol.__name__}.{name}{tuple(want)}")
    return gaps


SEAM = [
    (ports.DeploymentBackend, SqliteDeploymentBackend), (ports.DeploymentBackend, PgDeploymentBackend),
    (ports.TriggerRows, SqliteTriggerRows), (ports.TriggerRows, PgTriggerRows),
    (ports.RegistryRows, SqliteRegistryRows), (ports.RegistryRows, PgRegistryRows),
    (ports.EffectJournalRows, SqliteEffectJournalRows), (ports.EffectJournalRows, PgEffectJournalRows),
]


@pytest.mark.parametrize("protocol, implementation", SEAM, ids=lambda c: c.__name__)
def test_backends_implement_every_deployment_protocol_method_with_its_parameter_names(protocol, implementation):
    assert protocol_members(protocol), f"{protocol.__name__} declares nothing to check"
    assert seam_gaps(protocol, implementation) == []


def test_every_deployment_protocol_is_covered_by_both_backends():
    declared = {c for c in vars(ports).values()
                if isinstance(c, type) and c.__module__ == ports.__name__ and getattr(c, "_is_protocol", False)}
    assert {p for p, _ in SEAM} == declared
    assert all(sum(p is q for q, _ in SEAM) == 2 for p in declared)
