"""The PostgreSQL backend: one database holds every session (postgres.md).

Importing this package registers its openers (the whole store as ``"postgres"``, the connection,
the session and deployment stores) in :mod:`lashdb.engine.base.backends` and imports nothing else: psycopg is loaded only when a
``postgresql://`` target is opened, and a missing driver is a
:class:`~lashdb.engine.base.errors.MissingExtra` naming ``lashdb[postgres]``.
"""

from lashdb.engine.base import backends as _backends

_backends.register("postgres", "lashdb.engine.postgres.backend:open_backend")
_backends.register("postgres.connect", "lashdb.engine.postgres.connection:PgDatabase.open")
_backends.register("postgres.session", "lashdb.engine.postgres.session_backend:open_session")
_backends.register("postgres.catalog", "lashdb.engine.postgres.session_backend:open_catalog")
_backends.register("postgres.session_readonly", "lashdb.engine.postgres.session_backend:open_readonly_session")
_backends.register("postgres.process_registry",
                   "lashdb.engine.postgres.deployment_backend:open_process_registry")
_backends.register("postgres.trigger_store", "lashdb.engine.postgres.deployment_backend:open_trigger_store")
_backends.register("postgres.effect_journal", "lashdb.engine.postgres.deployment_backend:open_effect_journal")
_backends.register("postgres.session_reader", "lashdb.engine.postgres.inspect_session:PgSessionReader")
_backends.register("postgres.inspect_deployment", "lashdb.engine.postgres.inspect_deployment:open_reader")
_backends.register("postgres.effect_journal_reader",
                   "lashdb.engine.postgres.inspect_effects:open_effect_journal_reader")
