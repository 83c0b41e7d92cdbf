"""Store targets that are URLs: recognising them and showing them without a password (postgres.md §1).

Contract:
- :func:`scheme` is a target's URL scheme (lower case) or ``None`` for a path; :func:`is_postgres_url`
  is true for ``postgresql://`` and ``postgres://``.
- :func:`redact` returns the target fit to print: any password (in the user part or as a
  ``password=`` option) replaced by ``***``; an unparseable URL shows only its scheme, since a
  password may hide anywhere in it. :func:`describe` gives ``host:port/db`` for messages. Neither
  ever returns the password.
- Pure text handling: no driver is imported, so the CLI and ``ops`` may use it.
"""

from __future__ import annotations

import functools

import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

POSTGRES_SCHEMES = ("postgresql", "postgres")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")


def scheme(target: object) -> str | None:
    """The URL scheme of ``target`` in lower case, or ``None`` when it is not a ``scheme://`` string."""
    if not isinstance(target, str):
        return None
    match = _SCHEME.match(target)
    return match.group(1).lower() if match else None


def is_postgres_url(target: object) -> bool:
    """True when ``target`` is a string naming a PostgreSQL URL."""
    return scheme(target) in POSTGRES_SCHEMES


@functools.lru_cache(maxsize=64)  # a listing redacts its store URL once per row
def redact(target: str) -> str:
    """``target`` with a URL's password (user part or ``?password=``) replaced by ``***``."""
    try:
        parts = urlsplit(target)
    except ValueError:
        found = scheme(target)
        return f"{found}://…" if found else "…"
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hostport = netloc.rpartition("@")
        user, colon, _password = userinfo.partition(":")
        netloc = f"{user}:***@{hostport}" if colon else f"{user}@{hostport}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(k.lower() == "password" for k, _ in pairs):
            query = urlencode([(k, "***" if k.lower() == "password" else v) for k, v in pairs], safe="*")
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def without_password(target: str) -> str:
    """``target`` with a URL's password (user part or ``?password=``) left out: a URL to print for
    typing back in (libpq then takes the password from ``PGPASSWORD`` or ``~/.pgpass``)."""
    try:
        parts = urlsplit(target)
    except ValueError:
        return redact(target)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hostport = netloc.rpartition("@")
        netloc = f"{userinfo.partition(':')[0]}@{hostport}"
    query = urlencode([(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
                       if k.lower() != "password"], safe="*") if parts.query else ""
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def describe(url: str) -> str:
    """``host:port/database`` of ``url`` for messages (libpq defaults shown as ``default``)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or "default host"
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "postgresql://(unparseable URL)"
    db = parts.path.lstrip("/") or "default database"
    return f"{host}{port}/{db}"
