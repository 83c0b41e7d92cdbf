"""Read-only statements over one session's effect journal in a PostgreSQL store: the twin of
``sqlite/inspect_effects.py``.

Contract: :func:`open_effect_journal_reader` opens the store at a
:class:`~lashdb.engine.base.locator.SessionLocation` read-only (another schema is refused with the
cutover error, nothing is written) and returns a reader scoped to ``session_id =
location.session_id`` with the SQLite reader's attributes and :meth:`rows`; a ``required`` column
``lash_effect_replay`` lacks (or a database without the table) is :class:`NotALashDatabase`. The schema passed the cutover check, so
``schema_version`` is the supported version, ``foreign`` False and ``damaged`` empty. :meth:`rows`
runs in one ``REPEATABLE READ READ ONLY`` transaction and orders by creation time; rows created in
the same millisecond follow by (scope id, replay key) bytewise, where a SQLite file follows its
insertion order (PostgreSQL keeps none). Driver failures come out typed; identifiers are checked
against the table's own columns, values are bound.
"""

from __future__ import annotations

from lashdb.engine.base import kinds as names
from lashdb.engine.base.errors import NotALashDatabase
from lashdb.engine.base.locator import SessionLocation

from .connection import PgDatabase
from .inspect_deployment import table_columns

__all__ = ["PgEffectJournalReader", "open_effect_journal_reader"]

TABLE = "runtime_effect_replay"
PG_TABLE = "lash_effect_replay"
SCOPE_COLUMN = "session_id"


class PgEffectJournalReader:
    """One session's effect journal in a PostgreSQL store, read-only: what it is, and its rows."""

    conn = None  # the SQLite reader's connection; a pool has no single one

    def __init__(self, db: PgDatabase, location: SessionLocation, columns: frozenset[str]) -> None:
        self.db = db
        self.session_id = location.session_id
        self.path = str(location)
        self.kind = names.EFFECT_REPLAY
        self.schema_version = names.EFFECT_REPLAY_VERSION
        self.supported_version = names.EFFECT_REPLAY_VERSION
        self.foreign = False
        self.columns = columns
        self.damaged: tuple[str, ...] = ()

    def rows(self, wanted: tuple[str, ...], scope: str | None = None, status: str | None = None) -> list[tuple]:
        """``wanted`` columns of each row in creation order (NULL where a column is missing).

        ``scope`` keeps the rows of that scope id and every structured (JSON object) scope id, which
        the caller matches itself; ``status`` keeps the rows of that status.
        """
        clauses, params = [f"{SCOPE_COLUMN} = %s"], [self.session_id]
        if scope is not None:
            clauses.append("(scope_id = %s OR left(scope_id, 1) = '{')")
            params.append(scope)
        if status is not None:
            clauses.append("status = %s")
            params.append(status)
        select = ", ".join(c if c in self.columns else f"NULL AS {_identifier(c)}" for c in wanted)
        sql = (f"SELECT {select} FROM {PG_TABLE} WHERE {' AND '.join(clauses)} "
               'ORDER BY created_at_ms, scope_id COLLATE "C", replay_key COLLATE "C"')
        return self.db.read(lambda conn: [tuple(r) for r in conn.execute(sql, params)])

    def close(self) -> None:
        """Close the read-only pool."""
        self.db.close()

    def __enter__(self) -> PgEffectJournalReader:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _identifier(name: str) -> str:
    if not name.isidentifier():
        raise ValueError(f"not a column name: {name!r}")
    return name


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
