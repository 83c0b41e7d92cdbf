"""The expected shape of each lash schema, read from its DDL, and how a file differs from it.

Contract: :func:`expected_shape` builds a kind's DDL in a private in-memory database and reads it
back, so the DDL text in :mod:`.kinds` stays the one definition of the schema;
:func:`schema_differences` compares a file's objects, columns, constraints, indexes and foreign
keys against it, reading only, and names each difference in an operator's sentence.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import apsw

from .kinds import SchemaKind


MISSING, UNEXPECTED, DIFFERS = "missing", "unexpected", "differs"
OBJECT_TYPES = ("table", "index", "view", "trigger")

_USER = "NOT LIKE 'sqlite\\_%' ESCAPE '\\'"  # SQLite's own objects (sqlite_sequence, autoindexes) aside
_OBJECTS_SQL = f"SELECT type, name FROM sqlite_master WHERE name {_USER} AND type IN {OBJECT_TYPES!r}"
_ALL_OBJECTS_SQL = "SELECT type, name FROM sqlite_master"
# Table-valued pragmas read every table's columns, indexes and foreign keys in one statement each.
_COLUMNS_SQL = ('SELECT m.name, p.name, p.type, p."notnull", p.dflt_value, p.pk FROM sqlite_master AS m '
                f"JOIN pragma_table_info(m.name) AS p WHERE m.type = 'table' AND m.name {_USER} "
                "ORDER BY m.name, p.cid")
_INDEXES_SQL = ('SELECT m.name, i.name, i."unique", i.origin, i.partial, c.name FROM sqlite_master AS m '
                "JOIN pragma_index_list(m.name) AS i JOIN pragma_index_info(i.name) AS c "
                f"WHERE m.type = 'table' AND m.name {_USER} ORDER BY m.name, i.name, c.seqno")
_FKS_SQL = ('SELECT m.name, f.id, f."table", f."from", f."to", f.on_update, f.on_delete, f."match" '
            "FROM sqlite_master AS m JOIN pragma_foreign_key_list(m.name) AS f "
            f"WHERE m.type = 'table' AND m.name {_USER} ORDER BY m.name, f.id, f.seq")


@dataclass(frozen=True)
class TableShape:
    """One table as SQLite reports it: columns in order, constraint indexes, named indexes, foreign keys."""

    columns: tuple[tuple[str, str, bool, str | None, int], ...]
    constraints: frozenset[tuple[str, tuple[str | None, ...]]]
    indexes: dict[str, tuple[tuple[str | None, ...], bool, bool]]
    foreign_keys: frozenset[tuple[tuple[str, ...], str, tuple[str | None, ...], str, str, str]]


@dataclass(frozen=True)
class SchemaShape:
    """A database's user objects (``(type, name)``) and the shape of each table."""

    objects: frozenset[tuple[str, str]]
    tables: dict[str, TableShape]


def read_shape(conn: apsw.Connection) -> SchemaShape:
    """The shape of the schema of an open database (reads only)."""
    objects = frozenset((t, n) for t, n in conn.execute(_OBJECTS_SQL))
    columns: dict[str, list] = {}
    for table, name, type_, notnull, default, pk in conn.execute(_COLUMNS_SQL):
        columns.setdefault(table, []).append((name, type_, bool(notnull), default, int(pk)))
    indexes: dict[str, dict[str, tuple]] = {}
    index_cols: dict[tuple[str, str], list] = {}
    for table, index, unique, origin, partial, col in conn.execute(_INDEXES_SQL):
        indexes.setdefault(table, {})[index] = (origin, bool(unique), bool(partial))
        index_cols.setdefault((table, index), []).append(col)
    fks: dict[str, dict[int, list]] = {}
    for table, fk_id, target, from_, to, on_update, on_delete, match in conn.execute(_FKS_SQL):
        fks.setdefault(table, {}).setdefault(fk_id, []).append((target, from_, to, on_update, on_delete, match))
    shapes = {}
    for table, cols in columns.items():
        constraints, named = set(), {}
        for index, (origin, unique, partial) in indexes.get(table, {}).items():
            cols_of = tuple(index_cols[(table, index)])
            if index.startswith("sqlite_autoindex_"):
                constraints.add((origin, cols_of))
            else:
                named[index] = (cols_of, unique, partial)
        keys = frozenset((tuple(r[1] for r in rows), rows[0][0], tuple(r[2] for r in rows), *rows[0][3:])
                         for rows in fks.get(table, {}).values())
        shapes[table] = TableShape(tuple(cols), frozenset(constraints), named, keys)
    return SchemaShape(objects, shapes)


@functools.cache
def expected_shape(kind: SchemaKind) -> SchemaShape:
    """The shape ``kind``'s DDL creates, read from a private in-memory database (so the DDL text
    stays the only definition of the schema)."""
    conn = apsw.Connection(":memory:")
    try:
        conn.execute(kind.ddl)
        return read_shape(conn)
    finally:
        conn.close()


@dataclass(frozen=True)
class SchemaDifference:
    """One way a database differs from its kind's schema; ``str()`` is the operator's sentence."""

    change: str  # MISSING, UNEXPECTED or DIFFERS
    what: str  # table, index, view, trigger, column, constraint, foreign key
    name: str  # the object (``table.column`` for a column)
    text: str

    def __str__(self) -> str:
        return self.text


def _column_text(col: tuple) -> str:
    _name, type_, notnull, default, pk = col
    return " ".join(filter(None, (type_ or "(no type)", "NOT NULL" if notnull else "",
                                  f"DEFAULT {default}" if default is not None else "", "PRIMARY KEY" if pk else "")))


def _constraint_text(constraint: tuple) -> str:
    origin, cols = constraint
    return f"{'PRIMARY KEY' if origin == 'pk' else 'UNIQUE'} ({', '.join(str(c) for c in cols)})"


def _fk_text(fk: tuple) -> str:
    from_, target, to, on_update, on_delete, _match = fk
    to_cols = ", ".join(str(c) for c in to if c is not None)
    return (f"FOREIGN KEY ({', '.join(from_)}) REFERENCES {target}" + (f" ({to_cols})" if to_cols else "")
            + (f" ON UPDATE {on_update}" if on_update != "NO ACTION" else "")
            + (f" ON DELETE {on_delete}" if on_delete != "NO ACTION" else ""))


def _index_text(table: str, index: tuple) -> str:
    cols, unique, partial = index
    return (f"{'UNIQUE ' if unique else ''}ON {table} ({', '.join(str(c) for c in cols)})"
            + (" WHERE …" if partial else ""))


def _table_differences(table: str, want: TableShape, got: TableShape) -> list[SchemaDifference]:
    out = []
    want_cols = {c[0]: c for c in want.columns}
    got_cols = {c[0]: c for c in got.columns}
    for name, col in want_cols.items():
        if name not in got_cols:
            out.append(SchemaDifference(MISSING, "column", f"{table}.{name}", f"table {table}: missing column {name}"))
        elif got_cols[name] != col:
            out.append(SchemaDifference(DIFFERS, "column", f"{table}.{name}",
                                        f"table {table}: column {name} is {_column_text(got_cols[name])}, "
                                        f"expected {_column_text(col)}"))
    for name in got_cols.keys() - want_cols.keys():
        out.append(SchemaDifference(UNEXPECTED, "column", f"{table}.{name}", f"table {table}: unexpected column {name}"))
    common = [n for n in got_cols if n in want_cols]
    if common != [n for n in want_cols if n in got_cols]:
        out.append(SchemaDifference(DIFFERS, "column", table, f"table {table}: columns in the order "
                                    f"{', '.join(common)}, expected {', '.join(n for n in want_cols if n in got_cols)}"))
    for c in sorted(want.constraints - got.constraints, key=str):
        out.append(SchemaDifference(MISSING, "constraint", table, f"table {table}: missing {_constraint_text(c)}"))
    for c in sorted(got.constraints - want.constraints, key=str):
        out.append(SchemaDifference(UNEXPECTED, "constraint", table, f"table {table}: unexpected {_constraint_text(c)}"))
    for fk in sorted(want.foreign_keys - got.foreign_keys, key=str):
        out.append(SchemaDifference(MISSING, "foreign key", table, f"table {table}: missing {_fk_text(fk)}"))
    for fk in sorted(got.foreign_keys - want.foreign_keys, key=str):
        out.append(SchemaDifference(UNEXPECTED, "foreign key", table, f"table {table}: unexpected {_fk_text(fk)}"))
    return out


def _object_differences(want: frozenset, got: frozenset, kind: SchemaKind) -> list[SchemaDifference]:
    out = []
    for what, name in sorted(want - got, key=lambda o: (OBJECT_TYPES.index(o[0]), o[1])):
        out.append(SchemaDifference(MISSING, what, name, f"missing {what} {name}"))
    for what, name in sorted(got - want, key=lambda o: (OBJECT_TYPES.index(o[0]), o[1])):
        out.append(SchemaDifference(UNEXPECTED, what, name, f"unexpected {what} {name} (not in the lash {kind.name} "
                                    "schema)"))
    return out


def object_differences(conn: apsw.Connection, kind: SchemaKind) -> list[SchemaDifference]:
    """The tables, indexes, views and triggers missing from or added to ``kind``'s schema: the cheap
    part of :func:`schema_differences` (one read of ``sqlite_master``), for listings."""
    return list(objects_differences(read_objects(conn), kind))


def read_objects(conn: apsw.Connection) -> frozenset[tuple[str, str]]:
    """The (type, name) of each table, index, view and trigger of the open database (SQLite's own aside)."""
    # What _OBJECTS_SQL selects, filtered here: its WHERE (a LIKE and an IN) cost 16 µs a file to
    # prepare, the plain read 6 µs, and `sessions list` reads the objects of every file.
    return frozenset((t, n) for t, n in conn.execute(_ALL_OBJECTS_SQL)
                     if t in OBJECT_TYPES and isinstance(n, str) and n[:7].lower() != "sqlite_")


@functools.lru_cache(maxsize=64)
def objects_differences(got: frozenset[tuple[str, str]], kind: SchemaKind) -> tuple[SchemaDifference, ...]:
    """:func:`object_differences` of a set :func:`read_objects` gave; remembered, because a listing
    meets the same few sets of objects in file after file."""
    return tuple(_object_differences(expected_shape(kind).objects, got, kind))


def schema_differences(conn: apsw.Connection, kind: SchemaKind) -> list[SchemaDifference]:
    """Every difference between the open database's schema and ``kind``'s (objects, columns,
    constraints, indexes, foreign keys); empty when they match. Reads only."""
    want, got = expected_shape(kind), read_shape(conn)
    out = _object_differences(want.objects, got.objects, kind)
    want_index = {i: (t, d) for t, shape in want.tables.items() for i, d in shape.indexes.items()}
    got_index = {i: (t, d) for t, shape in got.tables.items() for i, d in shape.indexes.items()}
    for table, shape in want.tables.items():
        if table in got.tables:
            out.extend(_table_differences(table, shape, got.tables[table]))
    for index, (table, definition) in want_index.items():
        if index in got_index and got_index[index] != (table, definition):
            out.append(SchemaDifference(DIFFERS, "index", index, f"index {index} is "
                                        f"{_index_text(*got_index[index])}, expected {_index_text(table, definition)}"))
    return out
