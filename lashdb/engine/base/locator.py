"""A session inside a store that is not a directory of files (a PostgreSQL URL): what SESSION resolves to.

Contract:
- :class:`SessionLocation` names one session (or, for deployment stores, the root session whose
  registry/triggers/effect journal it scopes) in the store at ``url`` served by the backend
  registered as ``backend`` (``"postgres"``). It is the non-file twin of a session file's ``Path``:
  ``ops`` hands it where it would hand a path, and backends open it.
- ``str()``, ``repr()`` and :attr:`display` never show the password: the URL is redacted
  (:func:`lashdb.engine.base.urls.redact`) and the session id follows a ``#``. :attr:`name` is the
  session id (the twin of a file's name). The unredacted ``url`` is for connecting only.
- Immutable, hashable and picklable (worker processes receive it).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from . import kinds, urls

__all__ = ["as_target", "LocatedSessionKind", "LocatedClassification", "SessionLocation", "is_location"]


@dataclass(frozen=True)
class SessionLocation:
    """One session id in a URL-addressed store."""

    backend: str
    url: str = field(repr=False)
    session_id: str

    @property
    def display(self) -> str:
        """``<redacted url>#<session id>``: the ``path`` of JSON documents and messages."""
        return f"{urls.redact(self.url)}#{self.session_id}"

    @property
    def name(self) -> str:
        """The session id (what a file's name is for a session file)."""
        return self.session_id

    @property
    def store(self) -> str:
        """The store URL without its password."""
        return urls.redact(self.url)

    def with_session(self, session_id: str) -> SessionLocation:
        """The location of ``session_id`` in the same store."""
        return SessionLocation(self.backend, self.url, session_id)

    def __str__(self) -> str:
        return self.display

    def __repr__(self) -> str:
        return f"SessionLocation({self.backend!r}, {self.display!r})"


def as_target(path: str | os.PathLike[str] | SessionLocation) -> Path | SessionLocation:
    """A session file's path as a :class:`~pathlib.Path`; a located session as it is."""
    return path if isinstance(path, SessionLocation) else Path(os.fspath(path))


def is_location(target: object) -> bool:
    """True for a :class:`SessionLocation` (a session not held in a file)."""
    return isinstance(target, SessionLocation)


@dataclass(frozen=True)
class LocatedSessionKind:
    """The session schema kind as a located session reports it (name, version, no marker tables)."""

    name: str = kinds.SESSION
    version: int = kinds.SESSION_VERSION
    marker_tables: tuple[str, ...] = ()


@dataclass(frozen=True)
class LocatedClassification:
    """What a located session is: the supported session schema (a store at any other version is
    refused when it is opened, so nothing else is ever classified)."""

    path: str
    kind: LocatedSessionKind = LocatedSessionKind()
    user_version: int = kinds.SESSION_VERSION
    tables: frozenset[str] = frozenset()

    @property
    def kind_name(self) -> str:
        return self.kind.name

    @property
    def supported(self) -> bool:
        return True

    @property
    def foreign(self) -> bool:
        return False
