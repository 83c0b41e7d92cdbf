"""lashdb.engine.deployment."""
