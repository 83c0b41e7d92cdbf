"""Issue 13: a `lashdb migrate` killed half-way (SIGKILL) and rerun ends with every session copied
exactly once (postgres.md §5: one destination transaction per session, reruns resume).

Synchronisation, not sleeps: the test holds the PostgreSQL advisory lock of every session but the
first (the lock every writer of a session takes), so the migration copies the first session,
reports it on stderr, and then waits on the second; the test kills it as soon as it has read that
report, while it is stuck half-way.
"""

from __future__ import annotations

import os
import signal
import subprocess

import psycopg

from conftest import console_script
from lashdb.engine.ops import migrate as ops
from lashdb.engine.ops.backend import open_backend
from lashdb.engine.ops.demo import build_demo
from lashdb.engine.postgres.connection import advisory_key


def test_sigkilled_migrate_then_rerun_copies_every_session_exactly_once(tmp_path, pg_url):
    root = tmp_path / "demo"
    build_demo(root, 3)  # three root sessions and a child
    source = open_backend(str(root)).transfer(readonly=True)
    order = [sid for sid, _where, _refusal in source.sessions()]
    assert len(order) == 4
    open_backend(pg_url).transfer().close()  # create the schema before anyone waits on a lock

    blocker = psycopg.connect(pg_url, autocommit=True)
    try:
        for sid in order[1:]:
            blocker.execute("SELECT pg_advisory_lock(%s)", (advisory_key(sid),))
        proc = subprocess.Popen([console_script(), "migrate", str(root), pg_url, "--yes"],
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            first = proc.stderr.readline()
            assert first.startswith(f"[1/4] copied {order[0]}"), first + proc.stderr.read()
            os.kill(proc.pid, signal.SIGKILL)
        finally:
            proc.wait(timeout=60)
            proc.stdout.close()
            proc.stderr.close()
        assert proc.returncode == -signal.SIGKILL
        assert [r[0] for r in blocker.execute("SELECT session_id FROM lash_sessions").fetchall()] == [order[0]]
    finally:
        blocker.close()  # releases the session locks

    report = ops.migrate_stores(open_backend(str(root)), open_backend(pg_url))
    assert [(r.session_id, r.status) for r in report.sessions] == \
        [(order[0], "skipped")] + [(sid, "copied") for sid in order[1:]]

    with psycopg.connect(pg_url) as conn:
        ids = [r[0] for r in conn.execute("SELECT session_id FROM lash_sessions ORDER BY session_id")]
        assert sorted(ids) == sorted(order)  # each exactly once (and nothing else)
        for sid in order:
            records = ops.without_list_summary(source.export(sid))  # the copy leaves the summary behind
            head = records["session_head"][0]
            assert conn.execute("SELECT head_revision, head_json FROM lash_sessions WHERE session_id = %s",
                                (sid,)).fetchone() == (head["head_revision"], head["head_json"])
            nodes = conn.execute("SELECT count(*) FROM lash_graph_nodes WHERE session_id = %s", (sid,)).fetchone()[0]
            blobs = conn.execute("SELECT count(*) FROM lash_blobs WHERE session_id = %s", (sid,)).fetchone()[0]
            assert (nodes, blobs) == (len(records["graph_nodes"]), len(records["blobs"]))
    source.close()
