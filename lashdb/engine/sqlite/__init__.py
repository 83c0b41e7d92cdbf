"""The SQLite backend: one database file per session plus its sidecars (SPEC §2–§3).

The only package (with ``postgres/`` later) that holds SQL text. Importing it registers its
openers in :mod:`lashdb.engine.base.backends`, lazily: nothing below is imported until used.
"""

from lashdb.engine.base import backends as _backends

_backends.register("sqlite.process_registry", "lashdb.engine.sqlite.deployment_backend:open_process_registry")
_backends.register("sqlite.trigger_store", "lashdb.engine.sqlite.deployment_backend:open_trigger_store")
_backends.register("sqlite.inspect_deployment", "lashdb.engine.sqlite.inspect_deployment:open_reader")
