"""Dialect: how one backend spells the shared statements (placeholder, tables, scope, text order, flags)."""

from __future__ import annotations

from lashdb.engine.postgres.inspect_deployment import DIALECT as PG
from lashdb.engine.sqlbase.dialect import Dialect, where_clause
from lashdb.engine.sqlite.inspect_deployment import DIALECT as SQLITE


def test_where_clause_joins_conditions_or_is_empty():
    assert where_clause([]) == ""
    assert where_clause(["a = ?"]) == " WHERE a = ?"
    assert where_clause(["a = ?", "b = ?"]) == " WHERE a = ? AND b = ?"


def test_the_sqlite_dialect_spells_nothing_extra():
    assert SQLITE == Dialect()
    assert SQLITE.table("processes") == "processes"
    assert SQLITE.scope() == ([], []) and SQLITE.scope("e.") == ([], [])
    assert SQLITE.text("process_id") == "process_id"
    assert SQLITE.key_order("occurrence_id", "subscription_id") == ""  # the file's row order stands
    assert (SQLITE.flag(True), SQLITE.flag(False)) == (1, 0)


def test_the_postgres_dialect_maps_tables_scopes_and_orders_bytewise():
    assert PG.scope_value is None
    root = PG.scoped("root-1")
    assert PG.scope_value is None and root.scope_value == "root-1"  # scoped() copies, never mutates
    assert root.table("processes") == "lash_processes"
    assert root.table("trigger_deliveries") == "lash_trigger_deliveries"
    assert root.scope() == (["root_session_id = %s"], ["root-1"])
    assert root.scope("e.") == (["e.root_session_id = %s"], ["root-1"])
    assert root.text("scope_id") == 'scope_id COLLATE "C"'
    assert root.key_order("occurrence_id", "subscription_id") == \
        ' ORDER BY occurrence_id COLLATE "C", subscription_id COLLATE "C"'
    assert (root.flag(True), root.flag(False)) == (True, False)
    assert root.placeholder == "%s"
