"""The PostgreSQL form of a deployment database: one root session's (or session's) scope in the store.

Contract (postgres.md §2–§3; implements :class:`~lashdb.engine.deployment.ports.DeploymentBackend`):
- A :class:`PgDeploymentBackend` is bound to one scope: the root session id for the process
  registry and the trigger store, the session id for the effect journal. Every statement its rows
  object runs carries that scope, so two roots in one database never see each other's rows.
- :meth:`write` is :meth:`PgDatabase.write` under one advisory lock per (concern, scope) — the
  openers lock ``"<concern>:<scope>"``, as each SQLite sidecar file has its own write lock: writers
  of one root's registry serialise, its trigger store, other roots and the session stores never
  wait on them (and no write can wait on a lock its caller holds in another store).
  :meth:`read` is one ``REPEATABLE READ READ ONLY`` snapshot; :meth:`autocommit` is a write
  transaction of its own (PostgreSQL has no statement outside one, and taking the lock keeps it
  ordered with the store's other writers). Driver failures come out
  typed (:func:`~.connection.translate`); the rules' own exceptions pass unchanged.
- :meth:`close` closes the database only when this backend opened it (``owns=True``, as the
  openers below do); a backend over a shared :class:`PgDatabase` leaves it open for the others.
- ``path`` is the redacted URL (never a password); ``conn`` is None (there is no one connection).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from .connection import PgDatabase

T = TypeVar("T")

# rows_factory(conn, scope): the concern's statement object bound to one connection and one scope.
RowsFactory = Callable[[Any, str], Any]


class PgDeploymentBackend:
    """One scope of a PostgreSQL store and the rows object of its concern."""

    conn = None  # the SQLite backend's escape hatch; a pool has no single connection

    def __init__(self, db: PgDatabase, scope: str, rows_factory: RowsFactory, *, owns: bool = False,
                 lock: str | None = None) -> None:
        self.db = db
        self.scope = scope
        self.lock = lock or scope
        self.path: str | None = db.display
        self._rows = rows_factory
        self._owns = owns

    def write(self, fn: Callable[[Any], T]) -> T:
        """``fn(rows)`` in one transaction holding the backend's advisory lock."""
        return self.db.write(self.lock, lambda conn: fn(self._rows(conn, self.scope)))

    def read(self, fn: Callable[[Any], T]) -> T:
        """``fn(rows)`` in one repeatable-read, read-only snapshot."""
        return self.db.read(lambda conn: fn(self._rows(conn, self.scope)))

    def autocommit(self, fn: Callable[[Any], T]) -> T:
        """``fn(rows)`` in a write transaction of its own (commits on return)."""
        return self.write(fn)

    def close(self) -> None:
        """Close the database if this backend owns it; otherwise nothing (it is shared)."""
        if self._owns:
            self.db.close()


def _require_scope(kind: str, scope: str) -> str:
    if not isinstance(scope, str) or not scope.strip():
        raise ValueError(f"a PostgreSQL {kind} needs a non-blank scope id, got {scope!r}")
    return scope


def open_process_registry(url: str, root_session_id: str) -> PgDeploymentBackend:
    """The process registry of ``root_session_id`` in the store at ``url`` (owns its pool)."""
    from .registry import PgRegistryRows

    scope = _require_scope("process registry", root_session_id)
    return PgDeploymentBackend(PgDatabase.open(url), scope, PgRegistryRows,
                               owns=True, lock=f"process_registry:{scope}")


def open_trigger_store(url: str, root_session_id: str) -> PgDeploymentBackend:
    """The trigger store of ``root_session_id`` in the store at ``url`` (owns its pool)."""
    from .triggers import PgTriggerRows

    scope = _require_scope("trigger store", root_session_id)
    return PgDeploymentBackend(PgDatabase.open(url), scope, PgTriggerRows,
                               owns=True, lock=f"trigger_store:{scope}")


def open_effect_journal(url: str, session_id: str) -> PgDeploymentBackend:
    """The effect journal of ``session_id`` in the store at ``url`` (owns its pool)."""
    from .effect_journal import PgEffectJournalRows

    scope = _require_scope("effect journal", session_id)
    return PgDeploymentBackend(PgDatabase.open(url), scope, PgEffectJournalRows,
                               owns=True, lock=f"effect_journal:{scope}")
