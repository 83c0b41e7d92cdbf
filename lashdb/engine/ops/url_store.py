"""A store addressed by URL (``postgresql://…``) as the CLI sees it: the read side over the backend's ports.

Contract:
- :class:`UrlStore` wraps the backend object registered for the URL's scheme (``postgres``: the
  writable stores, the clock) and adds what ``ops`` does on a directory, answered from the
  backend's read-only catalog (:class:`~.ports.StoreCatalog`) and read-only session stores: a
  SESSION resolves to a :class:`~lashdb.engine.base.locator.SessionLocation`, which every
  ``ops`` function takes where it takes a session file's path.
- Resolving a SESSION: the exact id (primary key), else a unique prefix of 4+ characters (the
  prefix index); several matches list up to ten. A path or file name means nothing here.
- Nothing here writes: the catalog and the session stores come from the backend's read-only
  database (``default_transaction_read_only``), so a role granted only ``SELECT`` can look.
- Deployment stores are scoped by a session id (processes and triggers by the root session,
  effects by the session) instead of sidecar files; ``--db PATH`` names a file and is refused.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lashdb.engine.base.errors import LookupFailed, UsageError
from lashdb.engine.base.locator import LocatedClassification, SessionLocation
from lashdb.engine.base.urls import redact, scheme

from . import discovery
from .inspectors import ROLE_KINDS, open_inspector
from .ports import StoreCatalog, catalog

MIN_PREFIX = discovery.MIN_PREFIX
SHOWN_MATCHES = 10


class UrlStore:
    """A URL-addressed store: the backend's writable stores plus the read side of the CLI."""

    def __init__(self, inner: Any, url: str) -> None:
        self.inner = inner
        self.url = url
        self.kind = "postgres" if scheme(url) in ("postgresql", "postgres") else str(scheme(url))
        self.target = redact(url)

    def __repr__(self) -> str:
        return f"UrlStore({self.target!r})"

    def __getattr__(self, name: str) -> Any:
        # Everything the wrapped backend offers (factory, session_store, registries, close, …).
        return getattr(self.inner, name)

    def __enter__(self) -> UrlStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.inner.close()

    # --- locations ------------------------------------------------------------------------------

    def location(self, session_id: str) -> SessionLocation:
        """Where ``session_id`` lives in this store."""
        return SessionLocation(self.kind, self.url, session_id)

    def catalog(self) -> StoreCatalog:
        """The read-only store-wide lookups."""
        return catalog(self.location(""))

    def now_ms(self) -> int:
        """The database's clock."""
        return self.inner.now_ms()

    def resolve(self, query: str, *, recursive: bool = False) -> SessionLocation:
        """SESSION (an id, a unique 4+ character prefix, or ``<store>#<id>`` as JSON documents name it)
        → its location; :class:`LookupFailed` else."""
        if not query:
            raise LookupFailed(query, "empty session name", hint="name a session id or a unique prefix")
        store, sep, sid = query.rpartition("#")
        if sep and store == self.location("").store:
            query = sid  # what `path`/`session` fields print is accepted back by every command
        cat = self.catalog()
        if cat.exists(query):
            return self.location(query)
        if len(query) >= MIN_PREFIX:
            matches = cat.ids_with_prefix(query, SHOWN_MATCHES + 1)
            if len(matches) == 1:
                return self.location(matches[0])
            if matches:
                more = ", …" if len(matches) > SHOWN_MATCHES else ""
                raise LookupFailed(query, f"`{query}` matches {len(matches)}{'+' if more else ''} sessions in "
                                   f"{self.target}: " + ", ".join(matches[:SHOWN_MATCHES]) + more,
                                   matches[:SHOWN_MATCHES], hint="type more of the id")
        raise LookupFailed(query, f"no session `{query}` in {self.target}", [],
                           hint="list sessions with `lashdb sessions list` (prefixes need 4+ characters)")

    def discover(self, *, recursive: bool = False) -> list[discovery.Found]:
        """Every session of the store, as found entries (each a supported session)."""
        out = []
        for sid in self.catalog().session_ids():
            loc = self.location(sid)
            out.append(discovery.Found(loc, LocatedClassification(str(loc)), None, self.sidecars(loc)))
        return out

    def sidecars(self, location: SessionLocation) -> dict[str, SessionLocation]:
        """The deployment stores holding rows for ``location`` (its twin of sidecar files)."""
        cat = self.catalog()
        return {role: location for role in discovery.SCOPED_ROLES if cat.scope_rows(role, location.session_id)}

    # --- deployment stores ------------------------------------------------------------------------

    def deployment_store(self, role: str, session: SessionLocation | None = None, *, query: str | None = None,
                         recursive: bool = False,
                         on_unreadable: Callable[[list[tuple[Any, str]]], None] | None = None) -> SessionLocation:
        """The ``role`` store scoped by a resolved SESSION, or the only scope holding ``role`` rows."""
        name = ROLE_KINDS[role]
        if session is not None:
            return session
        if on_unreadable is not None:
            on_unreadable([])
        scopes = self.catalog().scopes(role)
        if len(scopes) == 1:
            return self.location(scopes[0])
        if not scopes:
            raise LookupFailed("", f"no {name} rows in {self.target}",
                               hint="name a SESSION (`lashdb demo --store URL` writes some)")
        raise LookupFailed("", f"{len(scopes)} sessions in {self.target} have a {name}: "
                           + ", ".join(scopes[:SHOWN_MATCHES]) + (", …" if len(scopes) > SHOWN_MATCHES else ""),
                           scopes[:SHOWN_MATCHES], hint="name a SESSION")

    def require_kind(self, path: Any, role: str) -> Any:
        """``--db PATH`` names a file: refused on a URL store."""
        raise UsageError(f"--db names a store file; {self.target} is a PostgreSQL store",
                         hint="name a SESSION instead of --db")

    def inspector(self, role: str, where: SessionLocation) -> Any:
        """A read-only inspector of the ``role`` store scoped by ``where``."""
        return open_inspector(role, where)

    # --- listings ----------------------------------------------------------------------------------

    def list_sessions(self, *, include_all: bool = False, sort: str = "modified", limit: int | None = None,
                      skipped: list[Any] | None = None, filters: Any = None, **_: Any) -> list[Any]:
        """``sessions list``: one indexed statement, the filters, the sort and ``limit`` in SQL."""
        from lashdb.engine.base.listing import NO_FILTER
        from .list_rows import located_summaries

        return located_summaries(self, sort=sort, limit=limit, filters=filters or NO_FILTER)

    def session_details(self, session: SessionLocation) -> Any:
        """``sessions show`` of a resolved session."""
        from .show import session_details

        return session_details(session, now_ms=self.now_ms())

    def doctor(self, paths: list[Any] | None = None, *, now_ms: int, recursive: bool = False,
               progress: Any = None) -> Any:
        """``doctor`` of the store (every session) or of the named sessions."""
        from .doctor_located import run_located

        return run_located(self, paths or [], now_ms=now_ms)


__all__ = ["UrlStore"]
