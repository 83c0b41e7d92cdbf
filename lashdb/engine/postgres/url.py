"""PostgreSQL targets: recognising a URL and showing it without its password (postgres.md §1).

Contract:
- :func:`is_url` is true for ``postgresql://`` and ``postgres://`` targets (case-insensitive scheme).
- :func:`redact` returns the URL with any password (in the authority or as a ``password=`` query
  option) replaced by ``***``; :func:`describe` gives ``host:port/db`` for messages. Neither ever
  returns the password, whatever the URL's shape; an unparseable URL is described as
  ``postgresql://(unparseable URL)``.
- No driver import: usable before psycopg is known to be installed.
"""

from __future__ import annotations

import urllib.parse

SCHEMES = ("postgresql", "postgres")


def is_url(target: object) -> bool:
    """True when ``target`` is a string naming a PostgreSQL URL."""
    if not isinstance(target, str):
        return False
    scheme, sep, _ = target.partition("://")
    return bool(sep) and scheme.lower() in SCHEMES


def redact(url: str) -> str:
    """``url`` with its password replaced by ``***`` (the authority and any ``password=`` option)."""
    try:
        parts = urllib.parse.urlsplit(url)
        netloc = parts.netloc
        if "@" in netloc:
            userinfo, _, hostport = netloc.rpartition("@")
            user, sep, _ = userinfo.partition(":")
            netloc = f"{user}{':***' if sep else ''}@{hostport}"
        query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
        query = [(k, "***" if k.lower() == "password" else v) for k, v in query]
        return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path,
                                        urllib.parse.urlencode(query, safe="*"), ""))
    except ValueError:
        return "postgresql://(unparseable URL)"


def describe(url: str) -> str:
    """``host:port/database`` of ``url`` for messages (libpq defaults shown as ``default``)."""
    try:
        parts = urllib.parse.urlsplit(url)
        host = parts.hostname or "default host"
        port = f":{parts.port}" if parts.port else ""
        db = parts.path.lstrip("/") or "default database"
        return f"{host}{port}/{db}"
    except ValueError:
        return "postgresql://(unparseable URL)"
