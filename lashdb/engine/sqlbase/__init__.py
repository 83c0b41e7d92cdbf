"""What the SQL backends share: statements written once over a :class:`~.dialect.Dialect`.

``engine/sqlite/`` and ``engine/postgres/`` subclass the readers here and supply a dialect
(placeholder, table names, scope predicate, boolean encoding, text collation) plus the one method
that runs a statement on their driver. This package imports only ``base``: no driver, no port.
"""
