"""The read side of an effect journal, written once for every SQL backend.

Contract: :meth:`EffectJournalReader.rows` reads the asked-for columns of ``runtime_effect_replay``
(its SQLite name; the :class:`~.dialect.Dialect` maps it and confines the statement to the
reader's scope) in creation order, a column the table lacks reading as NULL, rows created in the
same millisecond following the backend's :attr:`~EffectJournalReader.tiebreak`. Identifiers are
checked against the table's own columns; caller values are bound. The reader decides nothing about
what a row means. A backend subclass opens the store, discovers :attr:`columns` and implements
``_execute`` and ``close`` (:mod:`.reader`).
"""

from __future__ import annotations

from .dialect import Dialect, where_clause
from .reader import StoreReader

__all__ = ["TABLE", "EffectJournalReader"]

TABLE = "runtime_effect_replay"


class EffectJournalReader(StoreReader):
    """One effect journal opened read-only: what it is, and its rows."""

    tiebreak: tuple[str, ...] = ("rowid",)  # after created_at_ms: SQLite's insertion order

    def __init__(self, dialect: Dialect, path: str, kind: str, schema_version: int, supported_version: int,
                 foreign: bool, columns: frozenset[str], damaged: tuple[str, ...]) -> None:
        super().__init__(dialect, path, schema_version, supported_version, foreign, columns, damaged)
        self.kind = kind

    def rows(self, wanted: tuple[str, ...], scope: str | None = None, status: str | None = None) -> list[tuple]:
        """``wanted`` columns of each row in creation order (NULL where a column is missing).

        ``scope`` keeps the rows of that scope id and every structured (JSON object) scope id, which
        the caller matches itself; ``status`` keeps the rows of that status.
        """
        p = self.dialect.placeholder
        clauses, params = self.dialect.scope()
        if scope is not None:
            clauses.append(f"(scope_id = {p} OR substr(scope_id, 1, 1) = '{{')")
            params.append(scope)
        if status is not None:
            clauses.append(f"status = {p}")
            params.append(status)
        # Identifiers are checked against the table's own columns; caller values are bound.
        select = ", ".join(c if c in self.columns else f"NULL AS {_identifier(c)}" for c in wanted)
        order = (("created_at_ms",) if "created_at_ms" in self.columns else ()) + self.tiebreak
        sql = (f"SELECT {select} FROM {self.dialect.table(TABLE)}{where_clause(clauses)} "
               f"ORDER BY {', '.join(order)}")
        return self._execute(sql, tuple(params))


def _identifier(name: str) -> str:
    if not name.isidentifier():
        raise ValueError(f"not a column name: {name!r}")
    return name
