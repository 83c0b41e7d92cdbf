"""A whole PostgreSQL store as one :class:`~lashdb.engine.ops.backend.Backend` (postgres.md §1, §3).

Contract:
- ``open_backend("postgresql://…")`` gives a :class:`PgBackend` (registered as ``"postgres"``).
  Constructing it touches no server: the driver is checked (a missing one is
  :class:`MissingExtra` naming ``lashdb[postgres]``) and the one :class:`~.connection.PgDatabase`
  (one connection pool, the cutover rule applied) is opened when the first store is asked for, so
  a down server, a bad URL or a foreign schema surface there as their typed errors.
- Every store it hands out (``factory()``'s stores, ``session_store``, ``process_registry``,
  ``trigger_store``, ``effect_journal``) shares that database: closing a store never closes the
  pool (its backend does not own it); :meth:`PgBackend.close` does, after which every store of
  it fails with a typed error.
- ``target`` is the URL without its password (:func:`lashdb.engine.base.urls.redact`).
- Time (§3): unless the caller injects a clock (``StoreOptions.clock`` for session stores, the
  ``clock`` argument for the deployment stores), stores judge leases by the database's clock
  (``clock_timestamp()``), so hosts with skewed clocks agree. A reading taken inside a store's
  transaction (the one reading per operation, W19) runs on that transaction's connection; any
  other reading (``now_ms()`` outside a transaction) is a read-only transaction of its own.
- The session factory (:class:`PgSessionStoreFactory`) seeds meta by the same rule as the file
  factory (:func:`~lashdb.engine.session.factory.seed_meta`). ``delete_session`` and the
  read-side operations the CLI uses (``resolve``, ``discover``, ``deployment_store``,
  ``require_kind``, ``inspector``, ``list_sessions``, ``session_details``, ``doctor``) raise
  :class:`UsageError`: ``--store`` support for PostgreSQL is issue 13.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from lashdb.engine.base import urls
from lashdb.engine.base.errors import UsageError
from lashdb.engine.base.timing import DURABLE

from .connection import PgDatabase, PgSettings, load_driver
from .deployment_backend import PgDeploymentBackend, _require_scope
from .session_backend import PgSessionBackend

if TYPE_CHECKING:  # imported where a store is made: `sessions list` and the like never load them
    from lashdb.engine.session.factory import SessionStoreCreateRequest
    from lashdb.engine.session.store import Store, StoreOptions
    from lashdb.engine.deployment.effects import EffectHost, EffectReplayOptions
    from lashdb.engine.deployment.process_registry import ProcessRegistry
    from lashdb.engine.deployment.triggers import TriggerStore

ISSUE_13 = "PostgreSQL support for the read-side commands (`--store`) is issue 13"


class PgBackend:
    """One PostgreSQL database holding every session and deployment store, behind one pool."""

    def __init__(self, url: str, options: StoreOptions | None = None, *, clock: Callable[[], int] | None = None,
                 settings: PgSettings | None = None) -> None:
        load_driver()  # a missing driver is MissingExtra now, not at the first store
        self.url = url
        self.target = urls.redact(url)
        self._options = options
        self.clock = clock
        self.settings = settings
        self._db: PgDatabase | None = None
        self._clock_db: PgDatabase | None = None
        self._lock = threading.Lock()
        self._closed = False

    def __repr__(self) -> str:
        return f"PgBackend({self.target!r})"

    def database(self) -> PgDatabase:
        """The shared database (opened, with the cutover rule applied, on first use)."""
        with self._lock:
            if self._closed:
                raise UsageError(f"{self.target}: this backend was closed", hint="open the store again")
            if self._db is None:
                self._db = PgDatabase.open(self.url, settings=self.settings)
            return self._db

    # --- the store clock ---------------------------------------------------------------------------

    def now_ms(self) -> int:
        """The database's clock (epoch ms): in the caller's running transaction, else one of its own;
        before any store was opened, read on a read-only connection (an inspection that only needs the
        clock must not open the store for writing, which applies the cutover rule and upgrades an
        older schema)."""
        with self._lock:
            db = self._db
            if db is None and not self._closed:
                if self._clock_db is None:
                    self._clock_db = PgDatabase(self.url, self.settings or PgSettings(), True)
                db = self._clock_db
        return (db or self.database()).clock_ms()

    def _deployment_clock(self) -> Callable[[], int]:
        return self.clock or self.now_ms

    @property
    def options(self) -> StoreOptions:
        """The caller's store options, or the defaults."""
        if self._options is None:
            from lashdb.engine.session.store import StoreOptions

            self._options = StoreOptions()
        return self._options

    def store_options(self) -> StoreOptions:
        """The options every session store gets: the caller's, with the database clock unless one was injected."""
        if self.options.clock is not None:
            return self.options
        return dataclasses.replace(self.options, clock=self.now_ms)

    # --- writable stores by id ---------------------------------------------------------------------

    def factory(self) -> PgSessionStoreFactory:
        """The session store factory over this database."""
        return PgSessionStoreFactory(self)

    def session_store(self, session_id: str) -> Store:
        """The writable store of ``session_id`` (its row is created by its first write)."""
        from lashdb.engine.session.store import Store

        return Store(PgSessionBackend(self.database(), session_id), self.store_options())

    def _deployment(self, concern: str, scope: str, rows: Any) -> PgDeploymentBackend:
        scope = _require_scope(concern.replace("_", " "), scope)
        # The same (concern, scope) lock the URL openers take: one writer per root's store.
        return PgDeploymentBackend(self.database(), scope, rows, lock=f"{concern}:{scope}")

    def process_registry(self, root_session_id: str, *, clock: Callable[[], int] | None = None) -> ProcessRegistry:
        """The process registry of the root session ``root_session_id`` (on ``clock`` when given)."""
        from lashdb.engine.deployment.process_registry import ProcessRegistry

        from .registry import PgRegistryRows

        return ProcessRegistry(self._deployment("process_registry", root_session_id, PgRegistryRows),
                               clock or self._deployment_clock())

    def trigger_store(self, root_session_id: str, *, clock: Callable[[], int] | None = None) -> TriggerStore:
        """The trigger store of the root session ``root_session_id`` (on ``clock`` when given)."""
        from lashdb.engine.deployment.triggers import TriggerStore

        from .triggers import PgTriggerRows

        return TriggerStore(self._deployment("trigger_store", root_session_id, PgTriggerRows),
                            clock or self._deployment_clock())

    def effect_journal(self, session_id: str, options: EffectReplayOptions | None = None, *,
                       clock: Callable[[], int] | None = None) -> EffectHost:
        """The effect replay journal of ``session_id`` (on ``clock`` when given)."""
        from lashdb.engine.deployment.effects import EffectHost

        from .effect_journal import PgEffectJournalRows

        return EffectHost.on_backend(self._deployment("effect_journal", session_id, PgEffectJournalRows),
                                     options, clock=clock or self._deployment_clock())

    def transfer(self, *, readonly: bool = False) -> Any:
        """``lashdb migrate``'s rows port (:class:`~.transfer.PgTransfer`): read-only opens its own
        connection and never creates the schema; else it shares this backend's database."""
        from .transfer import PgTransfer, open_transfer

        if readonly:
            return open_transfer(self.url, readonly=True, settings=self.settings)
        return PgTransfer(self.database())

    def close(self) -> None:
        """Close the shared pool; every store handed out fails afterwards."""
        with self._lock:
            self._closed = True
            db, self._db = self._db, None
            clock_db, self._clock_db = self._clock_db, None
        for each in (db, clock_db):
            if each is not None:
                each.close()

    def __enter__(self) -> PgBackend:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- read side (issue 13) ----------------------------------------------------------------------

    def _not_yet(self, what: str) -> UsageError:
        return UsageError(f"{self.target}: {what} is not available on a PostgreSQL store yet",
                          hint=ISSUE_13)

    def resolve(self, query: str, *, recursive: bool = False) -> Any:
        """Not yet (issue 13): raises :class:`UsageError`."""
        raise self._not_yet("resolving a SESSION")

    def discover(self, *, recursive: bool = False) -> Any:
        """Not yet (issue 13): raises :class:`UsageError`."""
        raise self._not_yet("discovering databases")

    def deployment_store(self, role: str, session: Any = None, **_: Any) -> Any:
        """Not yet (issue 13): raises :class:`UsageError`."""
        raise self._not_yet(f"finding the {role} store")

    def require_kind(self, path: Any, role: str) -> Any:
        """Not yet (issue 13): raises :class:`UsageError`."""
        raise self._not_yet(f"naming a {role} store")

    def inspector(self, role: str, where: Any) -> Any:
        """Not yet (issue 13): raises :class:`UsageError`."""
        raise self._not_yet(f"inspecting the {role} store")

    def list_sessions(self, **options: Any) -> Any:
        """Not yet (issue 13): raises :class:`UsageError`."""
        raise self._not_yet("listing sessions")

    def session_details(self, session: Any) -> Any:
        """Not yet (issue 13): raises :class:`UsageError`."""
        raise self._not_yet("showing a session")

    def doctor(self, paths: Any = None, *, now_ms: int, recursive: bool = False) -> Any:
        """Not yet (issue 13): raises :class:`UsageError`."""
        raise self._not_yet("doctor")


class PgSessionStoreFactory:
    """:class:`~lashdb.engine.session.factory.SessionStoreFactory`'s create/open over a PostgreSQL store."""

    durability_tier = DURABLE

    def __init__(self, backend: PgBackend) -> None:
        self.backend = backend

    def create_store(self, request: SessionStoreCreateRequest) -> Store:
        """Open (creating if needed) the session's store, seeding meta if it has none."""
        from lashdb.engine.session.factory import request_meta, seed_meta

        meta = request_meta(request)  # checked before anything is written
        return seed_meta(self.backend.session_store(request.session_id), meta)

    def open_existing_store(self, request: SessionStoreCreateRequest) -> Store | None:
        """The session's store if the database holds the session, else ``None``."""
        db = self.backend.database()
        found = db.read(lambda conn: conn.execute(
            "SELECT 1 FROM lash_sessions WHERE session_id = %s", (request.session_id,)).fetchone())
        return None if found is None else self.create_store(request)

    def delete_session(self, session_id: str) -> list[Any]:
        """Not yet (issue 13): raises :class:`UsageError`."""
        raise self.backend._not_yet("deleting a session")


def open_backend(url: str, options: StoreOptions | None = None) -> PgBackend:
    """The backend for the PostgreSQL store at ``url`` (opens nothing until a store is asked for)."""
    return PgBackend(url, options)
