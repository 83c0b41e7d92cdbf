"""lashdb.engine.sqlite."""
