"""The SQLite backend: one database file per session plus its sidecars (SPEC §2–§3).

The only package (with ``postgres/`` later) that holds SQL text. Importing it registers its
openers in :mod:`lashdb.engine.base.backends`, lazily: nothing below is imported until used.
"""

from lashdb.engine.base import backends as _backends

_backends.register("sqlite.process_registry", "lashdb.engine.sqlite.deployment_backend:open_process_registry")
_backends.register("sqlite.trigger_store", "lashdb.engine.sqlite.deployment_backend:open_trigger_store")
_backends.register("sqlite.effect_journal", "lashdb.engine.sqlite.effect_journal:open_effect_journal")
_backends.register("sqlite.effect_journal_reader", "lashdb.engine.sqlite.inspect_effects:open_effect_journal_reader")
_backends.register("sqlite.session", "lashdb.engine.sqlite.session_backend:open_session")
_backends.register("sqlite.session_tx", "lashdb.engine.sqlite.session_backend:session_tx")
_backends.register("sqlite.session_reader", "lashdb.engine.sqlite.inspect_session:SqliteSessionReader")
_backends.register("sqlite.session_file", "lashdb.engine.sqlite.inspect_session:open_session_file")
_backends.register("sqlite.health", "lashdb.engine.sqlite.health:open_health")
_backends.register("sqlite.require_session_file", "lashdb.engine.sqlite.health:require_session_file")
_backends.register("sqlite.classify", "lashdb.engine.sqlite.schema:classify")
_backends.register("sqlite.stale_private_copies_kept", "lashdb.engine.sqlite.connection:stale_private_copies_kept")
_backends.register("sqlite.remove_stale_private_copy", "lashdb.engine.sqlite.connection:remove_stale_private_copy")
_backends.register("sqlite.translate", "lashdb.engine.sqlite.connection:translate")
_backends.register("sqlite.inspect_deployment", "lashdb.engine.sqlite.inspect_deployment:open_reader")
_backends.register("sqlite.backup_file", "lashdb.engine.sqlite.backup:backup_file")
_backends.register("sqlite.transfer", "lashdb.engine.sqlite.transfer:open_transfer")
