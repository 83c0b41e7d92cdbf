"""A real PostgreSQL server for the tests (postgres.md §6): never a mock.

Where the server comes from, in order:
1. ``LASHDB_TEST_PG_URL`` (a URL to a database the tests may CREATE/DROP databases from), as CI
   sets it to the machine's server;
2. else a throwaway cluster started from the local PostgreSQL binaries (``initdb``/``pg_ctl``,
   found on PATH or under /usr/lib/postgresql/*/bin) in a temporary directory, run as an
   unprivileged user when the tests run as root, stopped at the end of the session;
3. else the PostgreSQL tests are skipped with the reason — unless ``CI`` is set, where a missing
   server fails the run.
Each test gets its own database, created and dropped around it.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import urllib.parse
import uuid
from collections.abc import Iterator

ENV = "LASHDB_TEST_PG_URL"


def _binary(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ThrowawayCluster:
    """A private PostgreSQL cluster in a temporary directory (trust auth on 127.0.0.1)."""

    def __init__(self) -> None:
        self.initdb = _binary("initdb")
        self.pg_ctl = _binary("pg_ctl")
        if not (self.initdb and self.pg_ctl):
            raise RuntimeError("no initdb/pg_ctl found on PATH or under /usr/lib/postgresql/*/bin")
        self.user = None
        if os.geteuid() == 0:
            # PostgreSQL refuses to run as root: run it as an unprivileged system user.
            for name in ("postgres", "nobody"):
                try:
                    self.user = pwd.getpwnam(name)
                    break
                except KeyError:
                    continue
            if self.user is None:
                raise RuntimeError("running as root and no unprivileged user (postgres/nobody) to run the server")
        self.dir = tempfile.mkdtemp(prefix="lashdb-pg-")
        os.chmod(self.dir, 0o755)
        if self.user is not None:
            os.chown(self.dir, self.user.pw_uid, self.user.pw_gid)
        self.data = os.path.join(self.dir, "data")
        self.port = _free_port()

    def _run(self, *args: str) -> None:
        cmd = list(args)
        if self.user is not None:
            cmd = ["runuser", "-u", self.user.pw_name, "--"] + cmd
        out = subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=self.dir)
        if out.returncode != 0:
            raise RuntimeError(f"{' '.join(args[:2])} failed: {out.stderr.strip() or out.stdout.strip()}")

    def start(self, password: str | None = None) -> str:
        """Initialise and start the cluster (with ``password``: scram auth for its one role); its admin URL."""
        role = self.user.pw_name if self.user else pwd.getpwuid(os.geteuid()).pw_name
        auth = ["-A", "trust"]
        if password is not None:
            pwfile = os.path.join(self.dir, "pw")
            with open(pwfile, "w") as f:
                f.write(password + "\n")
            if self.user is not None:
                os.chown(pwfile, self.user.pw_uid, self.user.pw_gid)
            auth = ["-A", "scram-sha-256", "--pwfile", pwfile]
        self._run(self.initdb, "-D", self.data, *auth, "-U", role, "--no-sync", "-E", "UTF8")
        self._run(self.pg_ctl, "-D", self.data, "-l", os.path.join(self.dir, "log"), "-w", "-o",
                  f"-c listen_addresses=127.0.0.1 -c port={self.port} -c unix_socket_directories={self.dir} "
                  "-c fsync=off -c max_connections=200", "start")
        return f"postgresql://{role}@127.0.0.1:{self.port}/postgres"

    def stop(self) -> None:
        """Stop the server and remove its directory."""
        with contextlib.suppress(RuntimeError):
            self._run(self.pg_ctl, "-D", self.data, "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.dir, ignore_errors=True)


@contextlib.contextmanager
def server() -> Iterator[tuple[str | None, str]]:
    """``(admin URL or None, how it was found / why there is none)``."""
    url = os.environ.get(ENV)
    if url:
        yield url, f"${ENV}"
        return
    try:
        cluster = ThrowawayCluster()
        admin = cluster.start()
    except Exception as exc:  # any failure to start means "no server": the caller skips or fails
        yield None, f"no PostgreSQL: ${ENV} is not set and a throwaway cluster could not start ({exc})"
        return
    try:
        yield admin, "a throwaway cluster"
    finally:
        cluster.stop()


def with_database(url: str, dbname: str) -> str:
    """``url`` pointing at database ``dbname`` instead."""
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, "/" + dbname, parts.query, ""))


@contextlib.contextmanager
def fresh_database(admin_url: str) -> Iterator[str]:
    """A new empty database on the server (dropped afterwards, even with connections left open)."""
    import psycopg

    name = f"lashdb_t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield with_database(admin_url, name)
    finally:
        # The run's shared read-only pools (CLI commands in this process) would reconnect to it.
        from lashdb.engine.postgres.session_backend import close_readonly

        close_readonly()
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# Deployment backends parametrised over SQLite and PostgreSQL (tests/engine/postgres/test_postgres_*.py).
DEPLOYMENT_KINDS = ("sqlite-memory", "sqlite-file", "postgres")


def deployment_opener(request, tmp_path, concern: str):
    """``open(root) -> DeploymentBackend`` of ``concern`` for ``request.param``: one SQLite database
    per root (in memory or a file under ``tmp_path``), or one root's scope in a fresh PostgreSQL
    database (the ``pg_url`` fixture; skipped when there is no server)."""
    from lashdb.engine.base import backends

    kind = request.param
    if kind == "postgres":
        url = request.getfixturevalue("pg_url")
        return lambda root: backends.open_with(f"postgres.{concern}", url, root)
    if kind == "sqlite-file":
        return lambda root: backends.open_with(f"sqlite.{concern}", str(tmp_path / f"{root}.{concern}.db"))
    return lambda root: backends.open_with(f"sqlite.{concern}", None)
