"""base.urls: store targets that are URLs, recognised and printed without their password."""

import pytest

from lashdb.engine.base.urls import describe, is_postgres_url, redact, scheme


def test_scheme_and_postgres_recognition():
    assert scheme("PostgreSQL://h/db") == "postgresql" and scheme("/var/lib/lash") is None
    assert scheme(None) is None and scheme("relative/dir") is None
    assert is_postgres_url("postgres://h/db") and is_postgres_url("postgresql://u@h/db")
    assert not is_postgres_url("sqlite:///x.db") and not is_postgres_url("/tmp/x")


@pytest.mark.parametrize("url, shown", [
    ("postgresql://u:pw@h:5/db?x=1", "postgresql://u:***@h:5/db?x=1"),
    ("postgresql://u@h/db", "postgresql://u@h/db"),
    ("postgres://h/db?password=pw&sslmode=require", "postgres://h/db?password=***&sslmode=require"),
    ("postgresql://a:b:c@h/db", "postgresql://a:***@h/db"),  # a colon inside the password
    ("postgresql://u:p%40ss@h/db", "postgresql://u:***@h/db"),
])
def test_redact_never_shows_the_password(url, shown):
    assert redact(url) == shown


def test_an_unparseable_url_shows_only_its_scheme():
    assert redact("postgresql://u:secret@[::1/db") == "postgresql://…"
    assert describe("postgresql://u:secret@[::1/db") == "postgresql://(unparseable URL)"


def test_describe_names_host_port_and_database_only():
    assert describe("postgresql://alice:s3cr3t@db.example:6543/lash") == "db.example:6543/lash"
    assert describe("postgresql:///lash") == "default host/lash"
    assert describe("postgresql://h") == "h/default database"
