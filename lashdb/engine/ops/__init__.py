"""lashdb.engine.ops."""
