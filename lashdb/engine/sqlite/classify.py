"""What a database file is and whether the cutover rule accepts it, decided without writing (SPEC §3.5).

Contract:
- :func:`needs_schema` is the no-migration cutover rule, read-only: ``True`` for an empty
  database, ``False`` for the kind's complete schema at its supported ``user_version``; anything
  else is refused, naming the file: another version (:class:`SchemaVersionError`), objects that are
  not this kind's or none of them (:class:`UnrecognisedSchema`: someone else's file), or objects
  missing or altered (:class:`SchemaDamaged`: never repaired silently, since recreating a dropped
  table would hide the rows it held).
- :func:`classify` decides a file's kind by its tables, never by its name, and never writes.
- :func:`check_openable` applies the rule to an existing file read-only, so a foreign, other-kind
  or non-lash file is refused before anything (journal mode included) is written.
- :func:`claimed_kind` and :func:`damage` explain, reading only, why a file is refused.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

import apsw

from .connection import open_readonly, query_one, translate
from .kinds import KINDS, SchemaKind, kind_of_tables
from .shape import OBJECT_TYPES, UNEXPECTED, expected_shape, read_shape, schema_differences
from lashdb.engine.base.errors import (
    LashdbError,
    NotALashDatabase,
    SchemaDamaged,
    SchemaVersionError,
    UnrecognisedSchema,
)

REFUSALS = (NotALashDatabase, SchemaVersionError, SchemaDamaged)
"""What opening a file for a kind refuses it with (SPEC §3.5 and the damage rule); the file is unchanged."""


def user_version(conn: apsw.Connection) -> int:
    """Return the database's ``PRAGMA user_version``."""
    return int(query_one(conn, "PRAGMA user_version")[0])


def has_user_objects(conn: apsw.Connection) -> bool:
    """True when the database holds any table, index, trigger or view not owned by SQLite."""
    row = query_one(
        conn,
        "SELECT count(*) FROM sqlite_master WHERE name NOT LIKE 'sqlite\\_%' ESCAPE '\\' "
        "AND type IN ('table', 'index', 'trigger', 'view')",
    )
    return bool(row[0])


def table_names(conn: apsw.Connection) -> set[str]:
    """Names of the user tables in the database."""
    return {row[0] for row in conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'")}


def needs_schema(conn: apsw.Connection, kind: SchemaKind, path: str | None = None) -> bool:
    """The cutover rule (SPEC §3.5, issue 10), read-only: ``True`` for an empty database (create the
    schema), ``False`` for ``kind``'s complete schema; else raises, naming the file: another kind
    (:class:`NotALashDatabase`), another version (:class:`SchemaVersionError`), the right version
    with objects not in ``kind``'s schema or none of them (:class:`UnrecognisedSchema`), or a subset
    of them, altered ones, or a second singleton row (:class:`SchemaDamaged`)."""
    found = user_version(conn)
    tables = table_names(conn)
    other = kind_of_tables(tables)
    if other is not None and other is not kind:
        raise NotALashDatabase(path or ":memory:", f"its tables identify {other.name}", expected=kind.name)
    if found == kind.version:
        differences = schema_differences(conn, kind)
        if not differences:
            stray = singleton_problems(conn, kind)
            if stray:
                raise SchemaDamaged(path, kind.name, [text for _table, text in stray])
            return False
        unexpected = [d for d in differences if d.change == UNEXPECTED and d.what in OBJECT_TYPES]
        if unexpected:
            raise UnrecognisedSchema(kind.name, kind.version,
                                     "it holds objects that are not in that schema: "
                                     + ", ".join(f"{d.what} {d.name}" for d in unexpected),
                                     path, tuple(d.name for d in unexpected))
        if not has_user_objects(conn):
            raise UnrecognisedSchema(kind.name, kind.version, f"it holds none of the {kind.name} tables", path)
        raise SchemaDamaged(path, kind.name, [str(d) for d in differences])
    if found == 0 and not has_user_objects(conn):
        return True
    raise SchemaVersionError(kind.name, kind.version, found, path)


def claimed_kind(conn: apsw.Connection) -> SchemaKind | None:
    """The kind a file that classification calls not lash still belongs to: its ``user_version`` is
    that kind's and every one of its (at least one) objects is in that kind's schema, i.e. a lash file
    that lost a table that identifies it. ``None`` otherwise. Reads only."""
    found = user_version(conn)
    objects = read_shape(conn).objects
    for kind in KINDS:
        if found == kind.version and objects and objects <= expected_shape(kind).objects:
            return kind
    return None


def damage(conn: apsw.Connection, found: Classification) -> tuple[str, ...]:
    """For a file of a lash kind at its supported version, every schema difference and stray singleton
    row (what makes writes refuse it); ``()`` for a sound or foreign file. Reads only."""
    if not found.supported:
        return ()
    return (tuple(str(d) for d in schema_differences(conn, found.kind))
            + tuple(text for _table, text in singleton_problems(conn, found.kind)))


def singleton_problems(conn: apsw.Connection, kind: SchemaKind) -> list[tuple[str, str]]:
    """``(table, sentence)`` for each singleton table holding more than one row or a row other than
    ``singleton = 1`` (possible only in a table recreated without its CHECK); readers see only that row."""
    out = []
    for table in kind.singleton_tables:
        if query_one(conn, "SELECT 1 FROM pragma_table_info(?) WHERE name = 'singleton'", (table,)) is None:
            continue  # a missing table or column is a schema difference, reported as such
        # The table name is one of the kind's own constants, never input.
        rows, stray = query_one(conn, f"SELECT count(*), count(*) FILTER (WHERE singleton IS NOT 1) FROM {table}")
        if rows > 1:
            out.append((table, f"table {table} holds {rows} rows; it may hold one (singleton = 1), and lash "
                               "reads only that one"))
        elif stray:
            out.append((table, f"table {table} holds a row with singleton other than 1, which lash never reads"))
    return out


@dataclass(frozen=True)
class Classification:
    """What a file is: its kind (``None`` if not lash), its version and whether that is supported."""

    path: str
    kind: SchemaKind | None
    user_version: int
    tables: frozenset[str]

    @property
    def kind_name(self) -> str:
        return self.kind.name if self.kind else "not lash"

    @property
    def supported(self) -> bool:
        return self.kind is not None and self.user_version == self.kind.version

    @property
    def foreign(self) -> bool:
        return self.kind is not None and self.user_version != self.kind.version

    def require(self, kind: SchemaKind) -> None:
        """Raise unless this file is ``kind`` at its supported version."""
        if self.kind is not kind:
            raise NotALashDatabase(self.path, f"its tables identify {self.kind_name}", expected=kind.name)
        if self.foreign:
            raise SchemaVersionError(kind.name, kind.version, self.user_version, self.path)


def classify_connection(conn: apsw.Connection, path: str) -> Classification:
    """Classify an open database by its tables and ``user_version``."""
    tables = table_names(conn)
    return Classification(path, kind_of_tables(tables), user_version(conn), frozenset(tables))


def classify(path: str | os.PathLike[str]) -> Classification:
    """Classify a file read-only; raises a :class:`LashdbError` if it cannot be read as SQLite."""
    path = os.fspath(path)
    conn = open_readonly(path)
    try:
        return classify_connection(conn, path)
    except apsw.Error as exc:
        raise translate(exc, path) from exc
    finally:
        conn.close()


# How often the read-only pre-check re-reads a file that changed while it was being read.
_PRECHECK_ATTEMPTS = 5


def _file_state(path: str) -> tuple[int, int, int, int, bool]:
    st = os.stat(path)
    return st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns, os.path.exists(path + "-wal")


def _fingerprint(conn: apsw.Connection, path: str) -> tuple[int, int, int, int] | None:
    # Which file, and which schema in it: SQLite bumps the schema cookie on every schema change.
    try:
        st = os.stat(path)
    except OSError:
        return None  # gone or replaced: nothing to compare with
    return st.st_dev, st.st_ino, int(query_one(conn, "PRAGMA schema_version")[0]), user_version(conn)


def _refusal(path: str, kind: SchemaKind) -> tuple[LashdbError | None, tuple[int, int, int, int] | None]:
    # The error the cutover rule would raise for this file, read without writing; else None and, when
    # the schema is complete and did not change during the read, its fingerprint.
    conn = open_readonly(path)
    try:
        before = _fingerprint(conn, path)
        if needs_schema(conn, kind, path) or before is None:
            return None, None
        return None, before if _fingerprint(conn, path) == before else None
    except REFUSALS as exc:
        return exc, None
    except apsw.Error as exc:
        raise translate(exc, path) from exc
    finally:
        conn.close()


def check_openable(path: str | os.PathLike[str], kind: SchemaKind) -> tuple[int, int, int, int] | None:
    """Raise, writing nothing, if the existing file at ``path`` would be refused as ``kind`` (SPEC §3.5);
    return the fingerprint of a complete schema (for :func:`ensure_schema`), else ``None``."""
    path = os.fspath(path)
    seen = None
    for attempt in range(_PRECHECK_ATTEMPTS):
        try:
            before = _file_state(path)
        except FileNotFoundError:
            return None  # absent: the writable open creates it
        try:
            refusal, verified = _refusal(path, kind)
        except (LashdbError, OSError):
            # Not readable as SQLite read-only (e.g. not a database): the writable open reports
            # it, and SQLite writes nothing to a file it cannot parse.
            return None
        if refusal is None:
            return verified
        try:
            after = _file_state(path)
        except FileNotFoundError:
            return None
        if before == after:
            # An immutable read of a file another opener is creating and checkpointing can be torn
            # (page 1 new, the rest old) inside one tick of the file system's clock, where the state
            # looks unchanged: refuse only what two reads in a row agree on.
            key = (type(refusal), str(refusal), after)
            if key == seen:
                raise refusal
            seen = key
        time.sleep(0.002 * (1 << attempt))
    # Still changing: leave the decision to ensure_schema, which holds the write lock.
    return None
