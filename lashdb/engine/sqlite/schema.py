"""Opening a lash database file for writing as its kind, and every schema name in one place (SPEC §3).

Contract:
- :func:`open_for_kind` is how every store opens its file for writing: it checks an existing file
  read-only first (:func:`check_openable`), so a foreign, other-kind or non-lash file is refused
  before anything (journal mode included) is written and before any sidecar is created.
- :func:`ensure_schema` runs inside one ``BEGIN IMMEDIATE`` and applies :func:`needs_schema`: an
  empty database (version 0, no user objects) is created and stamped; one at the supported
  ``user_version`` whose schema matches exactly is used as it is; anything else is refused,
  changing nothing.

The schema's parts live beside this module, by role, and are re-exported here so ``schema.X``
keeps working: :mod:`.kinds` (the DDL, kinds, versions, marker tables), :mod:`.shape` (the
expected shape derived from the DDL, and differences from it), :mod:`.classify` (the read-only
cutover rule and classification). Import order runs kinds -> shape -> classify -> schema.
"""

from __future__ import annotations

import os

import apsw

from .classify import (
    REFUSALS,
    Classification,
    _file_state,
    _fingerprint,
    _PRECHECK_ATTEMPTS,
    _refusal,
    check_openable,
    claimed_kind,
    classify,
    classify_connection,
    damage,
    has_user_objects,
    needs_schema,
    singleton_problems,
    table_names,
    user_version,
)
from .connection import open_write, write_transaction
from .kinds import (
    EFFECT_REPLAY,
    EFFECT_REPLAY_DDL,
    KINDS,
    PROCESS_REGISTRY,
    PROCESS_REGISTRY_DDL,
    SESSION,
    SESSION_DDL,
    TRIGGER_STORE,
    TRIGGER_STORE_DDL,
    SchemaKind,
    kind_of_tables,
)
from .shape import (
    _COLUMNS_SQL,
    _FKS_SQL,
    _INDEXES_SQL,
    _OBJECTS_SQL,
    _USER,
    DIFFERS,
    MISSING,
    OBJECT_TYPES,
    UNEXPECTED,
    SchemaDifference,
    SchemaShape,
    TableShape,
    _column_text,
    _constraint_text,
    _fk_text,
    _index_text,
    _object_differences,
    _table_differences,
    expected_shape,
    object_differences,
    read_shape,
    schema_differences,
)


def ensure_schema(conn: apsw.Connection, kind: SchemaKind, path: str | None = None, *,
                  verified: tuple[int, int, int, int] | None = None) -> None:
    """Confirm ``kind``'s complete schema, or create it in an empty database; refuse anything else unchanged.

    ``verified`` is what :func:`check_openable` returned for ``path``: when the file and its schema
    are still the ones it found complete, the full comparison is not repeated."""
    with write_transaction(conn, path):
        if verified is not None and path is not None and _fingerprint(conn, path) == verified:
            # The file the read-only pre-check found complete, its schema unchanged since.
            return
        if needs_schema(conn, kind, path):
            conn.execute(kind.ddl)
            # PRAGMA takes no bound parameters; the version is our own integer constant.
            conn.execute(f"PRAGMA user_version = {int(kind.version)}")


def open_for_kind(path: str | os.PathLike[str], kind: SchemaKind) -> apsw.Connection:
    """Open ``path`` writable as ``kind`` (created if absent); a file the cutover refuses is refused before any write."""
    path = os.fspath(path)
    verified = check_openable(path, kind) if os.path.lexists(path) and not os.path.isdir(path) else None
    conn = open_write(path)
    try:
        ensure_schema(conn, kind, path, verified=verified)
    except BaseException:
        conn.close()
        raise
    return conn


__all__ = [
    "Classification", "EFFECT_REPLAY", "KINDS", "PROCESS_REGISTRY", "REFUSALS", "SESSION",
    "SchemaDifference", "SchemaKind", "SchemaShape", "TRIGGER_STORE", "TableShape", "check_openable",
    "claimed_kind", "classify", "classify_connection", "damage", "ensure_schema", "expected_shape", "has_user_objects",
    "kind_of_tables", "needs_schema", "object_differences", "open_for_kind", "read_shape", "schema_differences",
    "singleton_problems", "table_names", "user_version",
]


# Names outside __all__ the one-module schema had, importable from here as before.
_REEXPORTS = (
    _COLUMNS_SQL, _FKS_SQL, _INDEXES_SQL, _OBJECTS_SQL, _USER, DIFFERS, EFFECT_REPLAY_DDL, MISSING,
    OBJECT_TYPES, PROCESS_REGISTRY_DDL, SESSION_DDL, TRIGGER_STORE_DDL, UNEXPECTED, _column_text,
    _constraint_text, _file_state, _fk_text, _index_text, _object_differences, _PRECHECK_ATTEMPTS,
    _refusal, _table_differences,
)
