"""Read-only SQL over an effects file, tolerant of the columns a foreign (newer upstream) file lacks.

Contract: :func:`open_effect_journal_reader` opens the file read-only (nothing on disk changes,
journal mode included) and refuses, with :class:`NotALashDatabase`, a file whose tables are not an
effect journal or whose ``runtime_effect_replay`` lacks a required column. :meth:`rows` reads the
asked-for columns in creation order, a missing column reading as NULL. Driver failures come out
as typed lashdb errors naming the file; the reader decides nothing about what a row means.
"""

from __future__ import annotations

import os

import apsw

from lashdb.engine.base.errors import NotALashDatabase

from .connection import columns as table_columns
from .connection import open_readonly, translate, translated, where_clause
from .schema import EFFECT_REPLAY, classify_connection, damage

TABLE = "runtime_effect_replay"


class SqliteEffectJournalReader:
    """One effects file opened read-only: what it is, and its rows."""

    def __init__(self, conn: apsw.Connection, path: str, schema_version: int, foreign: bool,
                 columns: frozenset[str], damaged: tuple[str, ...]) -> None:
        self.conn = conn
        self.path = path
        self.kind = EFFECT_REPLAY.name
        self.schema_version = schema_version
        self.supported_version = EFFECT_REPLAY.version
        self.foreign = foreign
        self.columns = columns
        self.damaged = damaged

    def rows(self, wanted: tuple[str, ...], scope: str | None = None, status: str | None = None) -> list[tuple]:
        """``wanted`` columns of each row in creation order (NULL where a column is missing).

        ``scope`` keeps the rows of that scope id and every structured (JSON object) scope id, which
        the caller matches itself; ``status`` keeps the rows of that status.
        """
        clauses, params = [], []
        if scope is not None:
            clauses.append("(scope_id = ? OR substr(scope_id, 1, 1) = '{')")
            params.append(scope)
        if status is not None:
            clauses.append("status = ?")
            params.append(status)
        where = where_clause(clauses)
        # Identifiers are checked against the table's own columns; caller values are bound.
        select = ", ".join(c if c in self.columns else f"NULL AS {_identifier(c)}" for c in wanted)
        order = "created_at_ms, rowid" if "created_at_ms" in self.columns else "rowid"
        sql = f"SELECT {select} FROM {TABLE} {where} ORDER BY {order}"
        with translated(self.path):
            return list(self.conn.execute(sql, tuple(params)))

    def close(self) -> None:
        """Close the read-only connection."""
        self.conn.close()

    def __enter__(self) -> SqliteEffectJournalReader:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _identifier(name: str) -> str:
    if not name.isidentifier():
        raise ValueError(f"not a column name: {name!r}")
    return name


def open_effect_journal_reader(path: str | os.PathLike[str],
                               required: tuple[str, ...] = ()) -> SqliteEffectJournalReader:
    """Open the effects file at ``path`` read-only; refuse another kind or a missing ``required`` column."""
    path = os.fspath(path)
    conn = open_readonly(path)
    try:
        found = classify_connection(conn, path)
        if found.kind is not EFFECT_REPLAY:
            raise NotALashDatabase(path, f"its tables identify {found.kind_name}", expected=EFFECT_REPLAY.name)
        columns = table_columns(conn, TABLE)
        damaged = damage(conn, found)
        for name in required:
            if name not in columns:
                raise NotALashDatabase(path, f"table {TABLE} has no `{name}` column", expected=EFFECT_REPLAY.name)
    except apsw.Error as exc:
        conn.close()
        raise translate(exc, path) from exc
    except BaseException:
        conn.close()
        raise
    return SqliteEffectJournalReader(conn, path, found.user_version, found.foreign, columns, damaged)
