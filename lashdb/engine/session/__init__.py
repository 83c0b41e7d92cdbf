"""lashdb.engine.session."""
