"""The backend's names for the pure URL rules: recognition, redaction, description (no server needed)."""

from __future__ import annotations

from lashdb.engine.base import urls
from lashdb.engine.postgres.url import describe, is_url, redact


def test_the_backend_names_are_the_base_rules():
    assert (is_url, redact, describe) == (urls.is_postgres_url, urls.redact, urls.describe)


def test_urls_are_recognised_and_never_show_a_password():
    assert is_url("postgresql://u@h/db") and is_url("POSTGRES://h/db")
    assert not is_url("/var/lib/lash") and not is_url("sqlite:///x") and not is_url(None)
    url = "postgresql://alice:s3cr3t@db.example:6543/lash?password=s3cr3t&sslmode=require"
    assert redact(url) == "postgresql://alice:***@db.example:6543/lash?password=***&sslmode=require"
    assert describe(url) == "db.example:6543/lash"
    assert "s3cr3t" not in redact(url) + describe(url)
    assert describe("postgresql:///lash") == "default host/lash"
