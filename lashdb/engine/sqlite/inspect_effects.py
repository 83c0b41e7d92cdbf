"""Read-only SQL over an effects file, tolerant of the columns a foreign (newer upstream) file lacks.

Contract: :func:`open_effect_journal_reader` opens the file read-only (nothing on disk changes,
journal mode included) and refuses, with :class:`NotALashDatabase`, a file whose tables are not an
effect journal or whose ``runtime_effect_replay`` lacks a required column. The reader is the
shared :class:`~lashdb.engine.sqlbase.inspect_effects.EffectJournalReader` on the file's own
table, unscoped, rows of one millisecond in insertion (rowid) order. Driver failures come out as
typed lashdb errors naming the file; the reader decides nothing about what a row means.
"""

from __future__ import annotations

import os

import apsw

from lashdb.engine.base.errors import NotALashDatabase
from lashdb.engine.sqlbase.inspect_effects import TABLE, EffectJournalReader

from .connection import columns as table_columns
from .inspect_deployment import DIALECT, FileReading, open_classified
from .schema import EFFECT_REPLAY, Classification, damage


class SqliteEffectJournalReader(FileReading, EffectJournalReader):
    """One effects file opened read-only: what it is, and its rows."""

    def __init__(self, conn: apsw.Connection, path: str, schema_version: int, foreign: bool,
                 columns: frozenset[str], damaged: tuple[str, ...]) -> None:
        super().__init__(DIALECT, path, EFFECT_REPLAY.name, schema_version, EFFECT_REPLAY.version, foreign,
                         columns, damaged)
        self.conn = conn


def open_effect_journal_reader(path: str | os.PathLike[str],
                               required: tuple[str, ...] = ()) -> SqliteEffectJournalReader:
    """Open the effects file at ``path`` read-only; refuse another kind or a missing ``required`` column."""
    path = os.fspath(path)

    def read(conn: apsw.Connection, found: Classification) -> tuple[frozenset[str], tuple[str, ...]]:
        if found.kind is not EFFECT_REPLAY:
            raise NotALashDatabase(path, f"its tables identify {found.kind_name}", expected=EFFECT_REPLAY.name)
        columns = table_columns(conn, TABLE)
        for name in required:
            if name not in columns:
                raise NotALashDatabase(path, f"table {TABLE} has no `{name}` column", expected=EFFECT_REPLAY.name)
        return columns, damage(conn, found)

    conn, found, (columns, damaged) = open_classified(path, read)
    return SqliteEffectJournalReader(conn, path, found.user_version, found.foreign, columns, damaged)
