"""The PostgreSQL store's foundation on a real server: locks, snapshots, typed errors."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from lashdb.engine.base.errors import (
    BackendUnavailable,
    DatabaseBusy,
    MissingExtra,
    StatementTimeout,
)
from lashdb.engine.postgres.connection import PgDatabase, PgSettings, advisory_key
from lashdb.engine.postgres.url import describe


def test_advisory_keys_are_stable_signed_64_bit_and_distinct_per_scope():
    assert advisory_key("s1") == advisory_key("s1")
    assert advisory_key("s1") != advisory_key("s2")
    assert -(2 ** 63) <= advisory_key("s1") < 2 ** 63


def test_without_the_driver_a_url_is_one_error_naming_the_extra():
    code = textwrap.dedent("""
        import sys
        sys.modules['psycopg'] = None
        sys.modules['psycopg_pool'] = None
        import lashdb.engine
        from lashdb.engine.postgres.connection import PgDatabase
        try:
            PgDatabase.open('postgresql://x@127.0.0.1:1/db')
        except Exception as exc:
            print(type(exc).__name__, '|', exc, '|', exc.hint)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    name, message, hint = (part.strip() for part in out.stdout.split("|"))
    assert name == MissingExtra.__name__
    assert "lashdb[postgres]" in message and hint == "pip install 'lashdb[postgres]'"


def test_importing_the_engine_never_imports_psycopg():
    code = "import sys, lashdb.engine, lashdb.engine.postgres; print('psycopg' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"

def test_a_failed_write_rolls_back(pg_url):
    db = PgDatabase.open(pg_url)
    try:
        def fail(conn):
            conn.execute("INSERT INTO lash_artifact_refs VALUES ('s', 'a', 'b')")
            raise RuntimeError("boom")
        with pytest.raises(RuntimeError):
            db.write("s", fail)
        assert db.read(lambda c: c.execute("SELECT count(*) FROM lash_artifact_refs").fetchone()[0]) == 0
    finally:
        db.close()


def test_reads_are_read_only_snapshots(pg_url):
    db = PgDatabase.open(pg_url)
    try:
        with pytest.raises(Exception) as caught:
            db.read(lambda c: c.execute("INSERT INTO lash_artifact_refs VALUES ('s', 'a', 'b')"))
        assert "read-only" in str(caught.value)
        assert db.read(lambda c: c.execute("SHOW transaction_isolation").fetchone()[0]) == "repeatable read"
    finally:
        db.close()


def test_a_session_lock_held_past_lock_timeout_is_the_typed_busy_error(pg_url):
    import psycopg

    db = PgDatabase.open(pg_url, settings=PgSettings(lock_timeout_ms=200))
    holder = psycopg.connect(pg_url)
    try:
        holder.execute("SELECT pg_advisory_xact_lock(%s)", (advisory_key("s1"),))
        with pytest.raises(DatabaseBusy) as caught:
            db.write("s1", lambda c: None)
        assert describe(pg_url) in str(caught.value)
        # another session's writer does not wait on s1's lock
        assert db.write("s2", lambda c: 7) == 7
    finally:
        holder.rollback()
        holder.close()
        db.close()


def test_a_statement_over_statement_timeout_is_a_typed_error(pg_url):
    db = PgDatabase.open(pg_url, settings=PgSettings(statement_timeout_ms=100))
    try:
        with pytest.raises(StatementTimeout):
            db.read(lambda c: c.execute("SELECT pg_sleep(10)"))
        assert db.read(lambda c: 1) == 1  # the pool recovered
    finally:
        db.close()


def test_a_killed_connection_is_unavailable_naming_host_and_db_never_the_password(pg_url):
    secret = pg_url.replace("://", "://", 1)
    parts = secret.split("://", 1)
    user, _, rest = parts[1].partition("@")
    with_password = f"{parts[0]}://{user.split(':')[0]}:hunter2secret@{rest}"
    db = PgDatabase.open(with_password)
    try:
        with pytest.raises(BackendUnavailable) as caught:
            db.write("s", lambda c: c.execute("SELECT pg_terminate_backend(pg_backend_pid())"))
        text = f"{caught.value} {caught.value.hint}"
        assert describe(pg_url) in text and "hunter2secret" not in text
        assert db.read(lambda c: 1) == 1  # the pool replaced the dead connection
    finally:
        db.close()


def test_a_server_that_is_not_there_is_unavailable_not_a_traceback():
    with pytest.raises(BackendUnavailable) as caught:
        PgDatabase.open("postgresql://nobody:pw123@127.0.0.1:1/nowhere",
                        settings=PgSettings(connect_timeout_s=2))
    assert "127.0.0.1:1/nowhere" in str(caught.value) and "pw123" not in str(caught.value)


# --- the lock-wait notice (issue 14): the holder is another process that lets go when told ---------


def _count_write(db, scope="s"):
    return db.write(scope, lambda c: c.execute("SELECT count(*) FROM lash_artifact_refs").fetchone()[0])


def test_a_write_waiting_on_the_advisory_lock_names_the_holding_backend_then_goes_on(pg_url):
    from lashdb.engine.base.lockwait import set_lock_wait_hook
    from lockwait_support import holding

    db = PgDatabase.open(pg_url)
    heard = []
    try:
        with holding("postgres", pg_url, "s") as holder:
            def release_on_notice(wait):
                heard.append(wait)
                holder.release()

            old = set_lock_wait_hook(release_on_notice)
            try:
                # After the wait, the transaction runs under the configured lock_timeout again.
                assert db.write("s", lambda c: c.execute("SHOW lock_timeout").fetchone()[0]) == "10s"
            finally:
                set_lock_wait_hook(old)
    finally:
        db.close()
    [wait] = heard
    assert wait.what == f"`s` in {db.display}"
    assert wait.holder.startswith(f"PostgreSQL backend pid {holder.detail} from ")
    assert (wait.timeout_ms, wait.waited_ms >= 1000) == (10_000, True)


def test_the_whole_wait_stays_lock_timeout_with_one_notice(pg_url):
    from lashdb.engine.base.lockwait import set_lock_wait_hook
    from lockwait_support import holding

    heard = []
    old = set_lock_wait_hook(heard.append)
    try:
        for timeout, notices in ((1_300, 1), (800, 0)):
            db = PgDatabase.open(pg_url, settings=PgSettings(lock_timeout_ms=timeout))
            try:
                with holding("postgres", pg_url, "s"), pytest.raises(DatabaseBusy):
                    _count_write(db)
                assert [w.timeout_ms for w in heard] == [1_300] * notices
                heard.clear()
                # The configured lock_timeout is back for the rest of the transaction and the next.
                assert db.write("s", lambda c: c.execute("SHOW lock_timeout").fetchone()[0]) == f"{timeout}ms"
            finally:
                db.close()
    finally:
        set_lock_wait_hook(old)
