"""Fixtures shared by the whole suite: the upstream fixture directory, a fresh database path, and
"nothing changed on disk" snapshots.

- ``fixtures_dir``: ``tests/fixtures/upstream-v38``, the four upstream databases vendored into the
  repository (see ``tests/fixtures/README.md``); never write there.
- ``tmp_db``: a path inside ``tmp_path`` where no file exists yet.
- ``snapshot_dir(path)`` / ``file_sha256(path)``: plain helpers, also importable as
  ``from conftest import snapshot_dir, file_sha256``; compare two snapshots to prove a directory
  gained, lost and changed no file.
- ``console_script()``: the path of the installed ``lashdb`` script, for tests that run it.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
from pathlib import Path

import pytest

FIXTURES_DIR = Path(__file__).resolve().parent / "fixtures" / "upstream-v38"


def console_script() -> str:
    """The installed ``lashdb`` console script: on PATH, else beside this interpreter."""
    return shutil.which("lashdb") or str(Path(sys.executable).parent / "lashdb")


def file_sha256(path: str | os.PathLike[str]) -> str:
    """Lowercase hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def snapshot_dir(path: str | os.PathLike[str]) -> dict[str, str]:
    """``{relative file name: SHA-256}`` of every regular file under ``path`` (recursively)."""
    root = Path(path)
    return {p.relative_to(root).as_posix(): file_sha256(p)
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="session", autouse=True)
def private_tmpdir() -> Path:
    """A ``$TMPDIR`` of the run's own (this process and the processes it starts): read-only looks
    keep their private copies there, and ``doctor`` of a root reports the stale ones it finds, so a
    copy left by some other run on this machine must not show up in this run's reports. Like
    ``/tmp`` it is world-writable and sticky (tests run commands as an unprivileged user too)."""
    import tempfile

    tmp = Path(tempfile.mkdtemp(prefix="lashdb-tests-tmp-"))
    tmp.chmod(0o1777)
    mp = pytest.MonkeyPatch()
    mp.setenv("TMPDIR", str(tmp))
    mp.setattr(tempfile, "tempdir", str(tmp))
    yield tmp
    mp.undo()
    shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    """The vendored upstream v38 fixture directory (never written to)."""
    assert FIXTURES_DIR.is_dir(), f"vendored upstream fixtures missing at {FIXTURES_DIR}"
    return FIXTURES_DIR


@pytest.fixture
def tmp_db(tmp_path: Path) -> Path:
    """A not-yet-existing database path in a fresh temporary directory."""
    return tmp_path / "session.db"


@pytest.fixture(name="snapshot_dir")
def snapshot_dir_fixture():
    """The :func:`snapshot_dir` helper, for tests that prefer fixtures to imports."""
    return snapshot_dir


@pytest.fixture(name="file_sha256")
def file_sha256_fixture():
    """The :func:`file_sha256` helper, for tests that prefer fixtures to imports."""
    return file_sha256


# --- PostgreSQL (postgres.md §6) ---------------------------------------------------------------


@pytest.fixture(scope="session")
def pg_server():
    """Admin URL of a real PostgreSQL server; skip (fail under CI) when there is none."""
    import pg_support

    with pg_support.server() as (url, how):
        if url is None:
            if os.environ.get("CI"):
                pytest.fail(f"CI is set but {how}")
            pytest.skip(how)
        try:
            import psycopg  # noqa: F401
        except ImportError:
            message = "psycopg is not installed: pip install -e '.[test,postgres]'"
            if os.environ.get("CI"):
                pytest.fail(message)
            pytest.skip(message)
        yield url


@pytest.fixture
def pg_url(pg_server):
    """URL of a fresh, empty database of its own for this test."""
    import pg_support

    with pg_support.fresh_database(pg_server) as url:
        yield url


@pytest.fixture(scope="session")
def pg_contract_db(pg_server):
    """One database for the whole run's dual-backend contract tests (each test takes a schema in it)."""
    import pg_support

    with pg_support.fresh_database(pg_server) as url:
        yield url


@pytest.fixture(params=["sqlite", "postgres"])
def store_on(request, tmp_path):
    """A ``backend_support.StoreOn`` factory for the test's backend (ids ``[sqlite]``/``[postgres]``);
    on PostgreSQL the test's stores share a fresh, empty schema of their own."""
    import backend_support

    if request.param == "sqlite":
        factory = backend_support.StoreOn("sqlite", tmp_path, None)
        try:
            yield factory
        finally:
            factory.close_all()
        return
    with backend_support.fresh_schema(request.getfixturevalue("pg_contract_db")) as url:
        factory = backend_support.StoreOn("postgres", tmp_path, url)
        try:
            yield factory
        finally:
            factory.close_all()
