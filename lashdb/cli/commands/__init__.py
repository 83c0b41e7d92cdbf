"""The ``lashdb`` commands, one module per top-level command group: module-level command functions,
and ``register(app)`` wiring them to the root app (``lashdb.cli.main`` routes each command to its module)."""
