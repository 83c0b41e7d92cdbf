"""What ``ops`` reads from a storage backend: the read side of inspection, verification and doctor.

Contract:
- ``ops`` never imports a backend package. It reaches one through :mod:`lashdb.engine.base.backends`
  by name (the helpers below), and talks to what it gets through these Protocols only.
- Every method reads (never writes, checkpoints or creates a file) and returns plain values: tuples,
  ints, str, bytes, ``None``. Column tolerance (foreign schema versions) is the backend's job: a
  missing table or column reads as ``None``/empty, as each method says.
- A :class:`SessionReader` reads inside the caller's open store or snapshot (``Store.read``); a
  :class:`Health` owns its own read-only open of one file until :meth:`Health.close`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import AbstractContextManager
from typing import Any, Protocol

from lashdb.engine.base import backends
from lashdb.engine.base.errors import LashdbError
from lashdb.engine.base.listing import ListingFilter
from lashdb.engine.base.locator import SessionLocation
from lashdb.engine.session.meta_view import MetaView

BACKEND = "sqlite"
"""The backend whose openers ``ops`` uses (the only one that stores session files today)."""


class SchemaKindInfo(Protocol):
    """A lash database kind as a backend describes it (``name`` is one of :mod:`base.kinds`)."""

    name: str
    version: int
    marker_tables: tuple[str, ...]


class Classification(Protocol):
    """What a file is: its kind (``None`` if not lash), its version and its tables."""

    path: str
    kind: SchemaKindInfo | None
    user_version: int
    tables: frozenset[str]

    @property
    def kind_name(self) -> str: ...
    @property
    def supported(self) -> bool: ...
    @property
    def foreign(self) -> bool: ...


class SessionReader(Protocol):
    """Column-tolerant, read-only reads of one session database."""

    def meta(self) -> MetaView | None: ...
    def head_row(self) -> dict[str, Any] | None: ...
    def node_counts(self) -> tuple[int, int]: ...
    def user_messages(self) -> tuple[int, str | None]: ...
    def usage_rows(self) -> list[tuple[Any, Any, Any, Any, Any, Any]]: ...
    def v4_summary(self) -> tuple | None: ...
    def schema_damage(self, path: str) -> list[tuple[str, str, str]]: ...
    def free_page_bytes(self) -> int | None: ...
    def blob_contents(self) -> list[tuple[str, bytes]] | None: ...
    def has_blob_table(self) -> bool: ...
    def raw_blob_rows(self, ordered: bool = False) -> Iterator[tuple[Any, Any]]: ...
    def raw_blob_row(self, blob_hash: str) -> tuple[Any] | None: ...
    def artifact_count(self) -> int: ...
    def lease_row(self, session_id: str | None) -> tuple | None: ...
    def queued_work_counts(self, now_ms: int) -> tuple[int, int, int, int] | None: ...
    def attachment_counts(self) -> tuple[int, int, int | None] | None: ...
    def turn_commit_stats(self) -> tuple[int, int | None] | None: ...
    def expired_leases(self, now_ms: int) -> list[tuple[Any, Any, Any]] | None: ...
    def old_attachment_intents(self, before_ms: int) -> list[tuple[Any, Any, Any]] | None: ...
    def graph_shape(self) -> tuple[bool, bool]: ...
    def graph_rows(self, with_tombstoned: bool) -> list[tuple[Any, Any, Any, Any, Any]]: ...
    def graph_row(self, node_id: str) -> tuple[Any, Any, Any, Any, Any] | None: ...
    def node_ids_with_prefix(self, prefix: str, limit: int) -> list[str]: ...


class SessionFile(Protocol):
    """One read-only open of a file: classify it and read it from the same open (``sessions list``)."""

    reader: SessionReader

    @property
    def connection(self) -> Any: ...
    def snapshot(self) -> AbstractContextManager: ...
    def classify(self) -> Classification: ...
    def list_read(self) -> tuple[tuple | None, list[tuple[str, str, str]]]: ...
    def close(self) -> None: ...


class Health(Protocol):
    """Health reads of one database file for ``doctor``."""

    @property
    def connection(self) -> Any: ...
    def reader(self) -> SessionReader: ...
    def claimed_kind(self) -> SchemaKindInfo | None: ...
    def schema_differences(self, kind: SchemaKindInfo) -> list[tuple[str, str]]: ...
    def singleton_problems(self, kind: SchemaKindInfo) -> list[tuple[str, str]]: ...
    def quick_check(self, max_lines: int) -> list[str]: ...
    def close(self) -> None: ...


class StoreCatalog(Protocol):
    """Store-wide lookups of a URL-addressed store (each one statement, read-only; postgres/catalog.py)."""

    def exists(self, session_id: str) -> bool: ...
    def ids_with_prefix(self, prefix: str, limit: int) -> list[str]: ...
    def session_ids(self) -> list[str]: ...
    def children(self, session_id: str) -> list[str]: ...
    def listing(self, *, sort: str = "modified", limit: int | None = None,
                session_ids: list[str] | None = None, filters: ListingFilter = ...) -> list[tuple]: ...
    def scope_rows(self, role: str, scope: str) -> int: ...
    def size_and_modified(self, session_id: str) -> tuple[int, int | None]: ...
    def scopes(self, role: str) -> list[str]: ...
    def schema_check(self) -> tuple[int | None, int, list[str], str | None]: ...


def reader_opener(target: Any, sqlite_name: str) -> str:
    """The opener name for ``target``: ``sqlite_name`` for a file, its backend's twin for a location."""
    if isinstance(target, SessionLocation):
        return f"{target.backend}.{sqlite_name.partition('.')[2]}"
    return sqlite_name


def catalog(location: SessionLocation) -> StoreCatalog:
    """The store-wide lookups of the store ``location`` is in (its backend's read-only database)."""
    return backends.open_with(f"{location.backend}.catalog", location.url)


Records = dict[str, list[dict[str, Any]]]
"""One session's rows in the neutral form: SQLite session table → rows as column → value dicts."""


class SessionTransfer(Protocol):
    """``lashdb migrate``'s port to a whole store: list its sessions, export one, import one in one
    transaction, remove one (``Backend.transfer()`` hands it out; ``sqlite/`` and ``postgres/`` implement it)."""

    target: str

    def sessions(self) -> list[tuple[str, str, LashdbError | None]]:
        """(session id, where, refusal or None) of every session the store holds."""
        ...

    def export(self, session_id: str, tables: tuple[str, ...] | None = None) -> Records | None:
        """The session's rows (of ``tables``, default all) from one snapshot; None when absent."""
        ...

    def import_session(self, session_id: str, records: Records) -> None:
        """Write the session in one destination transaction (it must not be there yet)."""
        ...

    def remove(self, session_id: str) -> None:
        """Delete every row of the session in one transaction."""
        ...

    def now_ms(self) -> int:
        """The store clock leases are judged by."""
        ...

    def close(self) -> None:
        """Release what the transfer opened."""
        ...


def session_reader(conn: Any) -> SessionReader:
    """A reader over what ``Store.read`` hands its function: a SQLite connection, or another
    backend's transaction (which names its backend in ``backend_name``)."""
    return backends.open_with(f"{getattr(conn, 'backend_name', BACKEND)}.session_reader", conn)


def read_meta(conn: Any) -> MetaView | None:
    """The meta row of the session open on ``conn`` (foreign schemas too)."""
    return session_reader(conn).meta()


def open_session_file(path: str | os.PathLike[str], *, checked: bool = False) -> SessionFile:
    """Open ``path`` read-only once (typed errors when it cannot be); ``checked``: the caller has just
    found it a regular file with no ``-wal`` beside it, and reads it with ``SessionFile.list_read``."""
    return backends.open_with(f"{BACKEND}.session_file", path, checked=checked)


def open_health(path: str | os.PathLike[str]) -> Health:
    """Health reads of ``path`` (opened on first read)."""
    return backends.open_with(f"{BACKEND}.health", path)


def classify(path: str | os.PathLike[str]) -> Classification:
    """Classify a file read-only (typed errors if it cannot be read)."""
    return backends.open_with(f"{BACKEND}.classify", path)


def require_session_file(classification: Classification, path: str | os.PathLike[str]) -> None:
    """Raise the refusal a writing command gives unless ``path`` is a sound session at its version."""
    backends.open_with(f"{BACKEND}.require_session_file", classification, path)


def stale_private_copies_kept() -> AbstractContextManager[list[str]]:
    """The backend's stale private copies (read-only copies left by processes that died), listed before
    any open; inside the block this process's opens leave them for a remedy instead of sweeping them."""
    return backends.open_with(f"{BACKEND}.stale_private_copies_kept")


def remove_stale_private_copy(path: str, *, dry_run: bool = False) -> str:
    """Remove one stale private copy (judged stale again first); ``removed``/``would remove``/``already gone``."""
    return backends.open_with(f"{BACKEND}.remove_stale_private_copy", path, dry_run=dry_run)


def driver_error(exc: BaseException, path: str | os.PathLike[str]) -> LashdbError:
    """A driver error as the typed lashdb error naming ``path``."""
    return backends.open_with(f"{BACKEND}.translate", exc, os.fspath(path))


__all__ = [
    "BACKEND", "Classification", "Health", "Records", "SchemaKindInfo", "SessionFile", "SessionReader",
    "SessionTransfer", "StoreCatalog", "catalog", "classify", "reader_opener",
    "driver_error", "open_health", "open_session_file", "read_meta", "remove_stale_private_copy",
    "require_session_file", "session_reader", "stale_private_copies_kept",
]
