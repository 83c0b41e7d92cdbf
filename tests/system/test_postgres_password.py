"""A wrong password is one line naming host and database, exit 3, and never shows either password.

Needs a server that checks passwords: a throwaway cluster with scram auth from the local PostgreSQL
binaries (skipped without them, failed under CI as every PostgreSQL test is).
"""

from __future__ import annotations

import json
import os
import subprocess

import pytest

import pg_support
from conftest import console_script


@pytest.fixture(scope="module")
def scram_server():
    try:
        cluster = pg_support.ThrowawayCluster()
        url = cluster.start(password="right-pw-123")
    except Exception as exc:  # no binaries, or they cannot run here
        if os.environ.get("CI"):
            pytest.fail(f"CI is set but a scram cluster could not start: {exc}")
        pytest.skip(f"no throwaway PostgreSQL cluster: {exc}")
    try:
        yield url
    finally:
        cluster.stop()


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([console_script(), *args], capture_output=True, text=True, check=False,
                          env={**os.environ, "PGPASSWORD": ""})


def test_a_wrong_password_is_exit_3_with_one_line_and_no_password(scram_server):
    role, rest = scram_server.removeprefix("postgresql://").split("@", 1)
    wrong = f"postgresql://{role}:wrong-pw-456@{rest}"
    result = run("--store", wrong, "sessions", "list")
    assert result.returncode == 3 and result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lashdb: error: ") and "password authentication failed" in lines[0]
    host_db = rest.split("/")[0] + "/postgres"
    assert host_db in lines[0] and "wrong-pw-456" not in result.stderr and "right-pw-123" not in result.stderr


def test_the_right_password_opens_the_store(scram_server):
    role, rest = scram_server.removeprefix("postgresql://").split("@", 1)
    right = f"postgresql://{role}:right-pw-123@{rest}"
    built = run("--store", right, "demo", "--json")
    assert built.returncode == 0, built.stderr
    listed = run("--store", right, "sessions", "list", "--json")
    assert listed.returncode == 0 and "right-pw-123" not in listed.stdout + listed.stderr
    assert len(json.loads(listed.stdout)) == 5
