"""How one SQL backend spells a statement the backends share.

Contract: a :class:`Dialect` turns the shared readers' statements into one backend's text without
changing what they select. Tables are named by their SQLite names and mapped by :meth:`table`;
:meth:`scope` gives the predicate (and its bound value) that confines every statement to what one
SQLite file holds (nothing on SQLite, ``root_session_id = %s`` or ``session_id = %s`` on
PostgreSQL); :meth:`text` orders text bytewise (SQLite's BINARY, ``COLLATE "C"`` on PostgreSQL);
:meth:`key_order` orders by key the statements SQLite leaves in insertion order, where the backend
keeps none; :meth:`flag` encodes a boolean as the column stores it. Identifiers come from the
callers' fixed lists; values are always bound.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

__all__ = ["Dialect", "where_clause"]


def where_clause(clauses: list[str]) -> str:
    """`` WHERE a AND b`` for the given conditions, or nothing when there are none."""
    return " WHERE " + " AND ".join(clauses) if clauses else ""


@dataclass(frozen=True)
class Dialect:
    """One backend's spelling of the shared statements (see the module contract)."""

    placeholder: str = "?"
    tables: Mapping[str, str] = field(default_factory=dict)
    scope_column: str | None = None
    scope_value: Any = None
    collation: str = ""
    orders_by_key: bool = False  # the backend keeps no insertion order, so unordered reads go by key
    native_bool: bool = False  # the column is a real BOOLEAN, not SQLite's INTEGER 0/1

    def scoped(self, value: Any) -> Dialect:
        """This dialect with every statement confined to ``scope_column = value``."""
        return replace(self, scope_value=value)

    def table(self, name: str) -> str:
        """The backend's table for SQLite table ``name``."""
        return self.tables.get(name, name)

    def scope(self, alias: str = "") -> tuple[list[str], list[Any]]:
        """(clauses, params) confining a statement on ``alias`` (``"e."`` or ``""``) to the scope."""
        if self.scope_column is None:
            return [], []
        return [f"{alias}{self.scope_column} = {self.placeholder}"], [self.scope_value]

    def text(self, column: str) -> str:
        """``column`` as an ordering term comparing text bytewise."""
        return column + self.collation

    def key_order(self, *columns: str) -> str:
        """`` ORDER BY`` the text key ``columns`` where the backend keeps no insertion order; nothing
        on SQLite, whose unordered reads come in insertion order."""
        if not self.orders_by_key:
            return ""
        return " ORDER BY " + ", ".join(self.text(c) for c in columns)

    def flag(self, value: bool) -> Any:
        """``value`` as the backend's boolean column stores it (SQLite: ``1``/``0``)."""
        return bool(value) if self.native_bool else (1 if value else 0)
