"""lashdb: durable local persistence for the lash agent runtime, and the operator's CLI over it."""

__version__ = "0.1.0"
