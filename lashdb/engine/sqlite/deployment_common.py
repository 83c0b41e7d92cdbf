"""Old home of the deployment stores' shared plumbing, kept for the ``lashdb.engine.deployment_common`` path.

The pieces live where they belong now: the unsigned 64-bit casts in :mod:`lashdb.engine.base.ints`,
the clock and durability tier in :mod:`lashdb.engine.base.timing`, a backend error's driver text in
:attr:`BackendError.driver_message`, and the store lifecycle in
:mod:`lashdb.engine.deployment.owner` over :mod:`lashdb.engine.sqlite.deployment_backend`.
"""

from __future__ import annotations

from lashdb.engine.base.errors import BackendError
from lashdb.engine.base.ints import I64_MAX, U64_MAX, clamp_cursor, from_i64, to_i64  # noqa: F401
from lashdb.engine.base.timing import DURABLE, Clock, wall_clock_ms  # noqa: F401


def driver_message(exc: BackendError) -> str:
    """The database driver's own message behind a translated backend error."""
    return exc.driver_message
