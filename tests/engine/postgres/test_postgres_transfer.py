"""postgres/transfer.py: one session's rows out and in as neutral records (postgres.md §5).

The neutral form matches the SQLite transfer's exactly (so hashes and rows verify on both sides);
an import is one transaction under the session's lock and refuses a session already there; remove
deletes every row of the session and of its sidecars and nothing of another session; a read-only
transfer of an empty database lists nothing and creates no table.
"""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from lashdb.engine.base.errors import BackendError
from lashdb.engine.ops.demo import build_demo
from lashdb.engine.postgres.transfer import PgTransfer, open_transfer
from lashdb.engine.sqlite.transfer import SqliteTransfer


@pytest.fixture
def records(tmp_path: Path) -> dict:
    build_demo(tmp_path / "demo", 1)
    src = SqliteTransfer(tmp_path / "demo", readonly=True)
    return {sid: src.export(sid) for sid, _w, _r in src.sessions()}


def sorted_items(row: dict) -> list:
    return sorted(row.items())


def test_import_export_is_the_same_neutral_form(records, pg_url):
    dst = open_transfer(pg_url)
    try:
        for sid, recs in records.items():
            dst.import_session(sid, recs)
        assert [s for s, _w, _r in dst.sessions()] == sorted(records)
        for sid, recs in records.items():
            got = dst.export(sid)
            for table, rows in recs.items():
                assert sorted(map(repr, map(sorted_items, got[table]))) == \
                    sorted(map(repr, map(sorted_items, rows))), table
        sid = next(iter(records))
        with pytest.raises(BackendError, match="already there"):
            dst.import_session(sid, records[sid])
        parent = max(records, key=lambda s: len(records[s]))
        dst.remove(parent)
        assert dst.export(parent) is None
        with psycopg.connect(pg_url) as conn:
            assert conn.execute("SELECT count(*) FROM lash_processes").fetchone()[0] == 0
            assert conn.execute("SELECT count(*) FROM lash_effect_replay").fetchone()[0] == 0
            others = [s for s in records if s != parent]
            assert conn.execute("SELECT count(*) FROM lash_sessions").fetchone()[0] == len(others)
    finally:
        dst.close()


def test_readonly_transfer_of_an_empty_database_creates_nothing(pg_url):
    src = open_transfer(pg_url, readonly=True)
    try:
        assert isinstance(src, PgTransfer)
        assert src.sessions() == []
    finally:
        src.close()
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT count(*) FROM pg_tables WHERE tablename LIKE 'lash%'").fetchone()[0] == 0


def test_pg_transfer_has_every_member_of_the_port_with_its_parameter_names():
    import inspect

    from lashdb.engine.ops.ports import SessionTransfer

    for name, declared in vars(SessionTransfer).items():
        if name.startswith("_") or not callable(declared):
            continue
        assert list(inspect.signature(getattr(PgTransfer, name)).parameters) == \
            list(inspect.signature(declared).parameters), name
