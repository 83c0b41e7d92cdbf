"""Read-only statements over one session's effect journal in a PostgreSQL store: the twin of
``sqlite/inspect_effects.py``.

Contract: :func:`open_effect_journal_reader` opens the store at a
:class:`~lashdb.engine.base.locator.SessionLocation` read-only (another schema is refused with the
cutover error, nothing is written) and returns the shared
:class:`~lashdb.engine.sqlbase.inspect_effects.EffectJournalReader` over ``lash_effect_replay``
scoped to ``session_id = location.session_id``, with the SQLite reader's attributes and
:meth:`rows`; a ``required`` column ``lash_effect_replay`` lacks (or a database without the table)
is :class:`NotALashDatabase`. The schema passed the cutover check, so ``schema_version`` is the
supported version, ``foreign`` False and ``damaged`` empty. :meth:`rows` runs in one ``REPEATABLE
READ READ ONLY`` transaction and orders by creation time; rows created in the same millisecond
follow by (scope id, replay key) bytewise, where a SQLite file follows its insertion order
(PostgreSQL keeps none). Driver failures come out typed.
"""

from __future__ import annotations

from dataclasses import replace

from lashdb.engine.base import kinds as names
from lashdb.engine.base.errors import NotALashDatabase
from lashdb.engine.base.locator import SessionLocation
from lashdb.engine.sqlbase.inspect_effects import TABLE, EffectJournalReader

from .connection import PgDatabase
from .inspect_deployment import DIALECT, PoolReading, table_columns

__all__ = ["PgEffectJournalReader", "open_effect_journal_reader"]

PG_TABLE = "lash_effect_replay"
SCOPE_COLUMN = "session_id"
_DIALECT = replace(DIALECT, tables={TABLE: PG_TABLE}, scope_column=SCOPE_COLUMN)


class PgEffectJournalReader(PoolReading, EffectJournalReader):
    """One session's effect journal in a PostgreSQL store, read-only: what it is, and its rows."""

    conn = None  # the SQLite reader's connection; a pool has no single one
    tiebreak = (_DIALECT.text("scope_id"), _DIALECT.text("replay_key"))

    def __init__(self, db: PgDatabase, location: SessionLocation, columns: frozenset[str]) -> None:
        super().__init__(_DIALECT.scoped(location.session_id), str(location), names.EFFECT_REPLAY,
                         names.EFFECT_REPLAY_VERSION, names.EFFECT_REPLAY_VERSION, False, columns, ())
        self.db = db
        self.session_id = location.session_id


def open_effect_journal_reader(location: SessionLocation, required: tuple[str, ...] = ()) -> PgEffectJournalReader:
    """Open ``location``'s store read-only as ``location.session_id``'s effect journal; refuse a missing
    ``required`` column."""
    db = PgDatabase.open(location.url, readonly=True)
    try:
        columns = table_columns(db, {TABLE: PG_TABLE}, SCOPE_COLUMN, str(location), names.EFFECT_REPLAY)[TABLE]
        for name in required:
            if name not in columns:
                raise NotALashDatabase(str(location), f"table {PG_TABLE} has no `{name}` column",
                                       expected=names.EFFECT_REPLAY)
    except BaseException:
        db.close()
        raise
    return PgEffectJournalReader(db, location, columns)

