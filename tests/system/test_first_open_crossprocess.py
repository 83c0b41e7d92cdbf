"""Eight processes opening one brand-new store at once (SPEC §2, postgres.md §2 and §6): a new
SQLite file or an empty PostgreSQL database. Every opener succeeds and the store ends up with one
schema, the same as a store opened alone — one test body over both backends.

The openers start together behind a Barrier and report through a queue; nothing sleeps.
"""

from __future__ import annotations

import multiprocessing as mp

import pytest

from crossprocess_support import BACKENDS, Target
from lashdb.engine.postgres import schema as pg_schema
from lashdb.engine.sqlite import connection
from lashdb.engine.sqlite import schema as sqlite_schema
from runtime_support import TABLES as SQLITE_SESSION_TABLES

CTX = mp.get_context("spawn")
OPENERS = 8
# What one schema is, by backend: SQLite's user_version and session tables; PostgreSQL's version
# row and lash_* tables.
EXPECTED = {"sqlite": (4, set(SQLITE_SESSION_TABLES)),
            "postgres": ({"lashdb": pg_schema.VERSION}, set(pg_schema.TABLES))}


@pytest.fixture(params=BACKENDS)
def stores(request, tmp_path):
    """``(fresh, reference)``: the store the openers race on and one opened alone, both not yet created."""
    if request.param == "sqlite":
        yield Target("sqlite", str(tmp_path / "fresh.db")), Target("sqlite", str(tmp_path / "reference.db"))
        return
    import pg_support

    url = request.getfixturevalue("pg_url")
    with pg_support.fresh_database(request.getfixturevalue("pg_server")) as reference:
        yield Target("postgres", url), Target("postgres", reference)


def _schema(target: Target) -> dict:
    """The store's schema as its backend describes it: version, table names and full definition."""
    if target.kind == "sqlite":
        conn = connection.open_readonly(target.where)
        try:
            tables = sqlite_schema.table_names(conn)
            assert sqlite_schema.kind_of_tables(tables) is sqlite_schema.SESSION
            return {"version": conn.execute("PRAGMA user_version").fetchall()[0][0], "tables": set(tables),
                    "definition": conn.execute(
                        "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY name").fetchall()}
        finally:
            conn.close()
    import psycopg

    with psycopg.connect(target.where) as conn:
        return {
            "version": dict(conn.execute("SELECT component, version FROM lash_schema_versions").fetchall()),
            "tables": {r[0] for r in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'").fetchall()},
            "definition": (
                conn.execute("SELECT table_name, column_name, data_type, is_nullable, column_default "
                             "FROM information_schema.columns WHERE table_schema = 'public' "
                             "ORDER BY table_name, column_name").fetchall(),
                conn.execute("SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' "
                             "ORDER BY indexname").fetchall()),
        }


def _open_and_write(target: Target, index: int, gate, results) -> None:
    try:
        gate.wait(timeout=60)
        with target.session() as store:
            ref = store.put_blob(f"opener {index}".encode())
        results.put((index, "ok", ref))
    except BaseException as exc:  # reported to the parent, which asserts on it
        results.put((index, f"{type(exc).__name__}: {exc}", None))


def test_eight_first_openers_in_eight_processes_all_succeed_with_one_schema(stores):
    fresh, reference = stores
    gate, results = CTX.Barrier(OPENERS), CTX.Queue()
    workers = [CTX.Process(target=_open_and_write, args=(fresh, i, gate, results)) for i in range(OPENERS)]
    for worker in workers:
        worker.start()
    outcomes = [results.get(timeout=120) for _ in workers]
    for worker in workers:
        worker.join(timeout=60)
    assert {i: outcome for i, outcome, _ in outcomes} == {i: "ok" for i in range(OPENERS)}
    assert [w.exitcode for w in workers] == [0] * OPENERS

    reference.session().close()
    found = _schema(fresh)
    assert (found["version"], found["tables"]) == EXPECTED[fresh.kind]
    assert found == _schema(reference)  # one schema, created once
    assert fresh.rows("blobs", "count(*)") == [(OPENERS,)]
    with fresh.session() as store:  # every opener's write landed
        assert {i: store.get_blob(ref) for i, _, ref in outcomes} == {i: f"opener {i}".encode() for i in range(OPENERS)}
