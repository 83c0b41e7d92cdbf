"""The ops read seam (ops/ports.py): the SQLite readers implement every Protocol member with the
parameter names ops calls them by (no PostgreSQL reader exists yet; ops.BACKEND names the one used)."""

from __future__ import annotations

import inspect

import pytest

from lashdb.engine.postgres.catalog import PgCatalog

from lashdb.engine.ops import ports
from lashdb.engine.sqlite.classify import Classification
from lashdb.engine.sqlite.health import SqliteHealth
from lashdb.engine.sqlite.inspect_session import SessionFile, SqliteSessionReader
from lashdb.engine.sqlite.kinds import SchemaKind
from lashdb.engine.sqlite.transfer import SqliteTransfer


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
    (ports.SchemaKindInfo, SchemaKind), (ports.Classification, Classification),
    (ports.SessionReader, SqliteSessionReader), (ports.SessionFile, SessionFile), (ports.Health, SqliteHealth),
    # Store-wide lookups exist only for URL stores (a directory is walked): the PostgreSQL catalog.
    (ports.StoreCatalog, PgCatalog),
    (ports.SessionTransfer, SqliteTransfer),
]


@pytest.mark.parametrize("protocol, implementation", SEAM, ids=lambda c: c.__name__)
def test_the_sqlite_readers_implement_every_ops_protocol_member_with_its_parameter_names(protocol, implementation):
    assert seam_gaps(protocol, implementation) == []


def test_every_ops_protocol_has_its_sqlite_implementation_and_ops_uses_sqlite():
    declared = {c for c in vars(ports).values()
                if isinstance(c, type) and c.__module__ == ports.__name__ and getattr(c, "_is_protocol", False)}
    assert {p for p, _ in SEAM} == declared
    assert ports.BACKEND == "sqlite"
