"""lashdb.cli: the Typer command line. Only typer is imported at module level (start-up speed)."""
