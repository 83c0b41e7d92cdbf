"""PostgreSQL targets as the backend sees them: the pure URL rules of :mod:`lashdb.engine.base.urls`.

The text handling lives in ``base`` so that ``ops`` and the CLI redact a target without importing
this backend; this module names it for the backend's own code.
"""

from lashdb.engine.base.urls import describe, redact
from lashdb.engine.base.urls import is_postgres_url as is_url

__all__ = ["describe", "is_url", "redact"]
