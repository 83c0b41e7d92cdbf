"""Read-only inspection of process registries and trigger stores (deployment-stores §4): one import point.

Contract:
- :class:`ProcessRegistryInspector` (``ops/processes.py``) and :class:`TriggerStoreInspector`
  (``ops/triggers.py``) open a file read-only (no byte written, no sidecar created) and never
  write. They accept files of the right kind at any schema version: a foreign file (e.g. written
  by a newer upstream) is flagged in :attr:`info` (``foreign``) and read "where its columns
  allow" — values whose table or column is missing come back as None and are named in
  ``info.unavailable``. A file of another kind raises :class:`NotALashDatabase`.
- Stored JSON is decoded leniently for display: a row that does not decode is still listed,
  with ``decode_error`` set, never skipped.
- Every result is a frozen dataclass (``ops/deployment_results.py``) whose ``to_json()`` has
  stable keys; times are raw epoch milliseconds (callers add ISO strings). "now" for lease states
  is a parameter (default: the wall clock).
- Module functions (:func:`list_processes`, :func:`show_process`, :func:`expired_process_leases`,
  :func:`stuck_processes`, :func:`list_subscriptions`, :func:`list_occurrences`,
  :func:`show_occurrence`) open, read and close in one call.
- The statements run below the seam (``sqlite/inspect_deployment.py``); this module re-exports
  every name it had before the split, so ``lashdb.engine.deployment_inspect.X`` keeps importing.
"""

from __future__ import annotations

# Helpers the module imported before the split, still importable from here (their homes are base/deployment).
from lashdb.engine.base.errors import LookupFailed  # noqa: F401
from lashdb.engine.base.ints import from_i64  # noqa: F401
from lashdb.engine.base.jsonread import get_path, int_or_none, lenient_loads, text_or_none  # noqa: F401
from lashdb.engine.base.timing import wall_clock_ms  # noqa: F401
from lashdb.engine.deployment.process_model import TERMINAL_STATES  # noqa: F401

from .deployment_results import (  # noqa: F401  (re-exported)
    WORKER_INPUT_TYPES,
    DeliveryInfo,
    EventInfo,
    GrantInfo,
    LeaseInfo,
    OccurrenceDetail,
    OccurrenceSummary,
    ProcessDetail,
    ProcessSummary,
    StoreInfo,
    StuckProcess,
    SubscriptionSummary,
    _Inspector,
    _now,
    _originator_scope_id,
    _scope_id,
    _status_label,
)
from .processes import (  # noqa: F401  (re-exported)
    ProcessRegistryInspector,
    expired_process_leases,
    list_processes,
    show_process,
    stuck_processes,
)
from .triggers import (  # noqa: F401  (re-exported)
    _NUMERIC_HANDLE,
    TriggerStoreInspector,
    _delivery_order,
    _handle_order,
    list_occurrences,
    list_subscriptions,
    show_occurrence,
)

__all__ = [
    "DeliveryInfo", "EventInfo", "GrantInfo", "LeaseInfo", "OccurrenceDetail", "OccurrenceSummary",
    "ProcessDetail", "ProcessRegistryInspector", "ProcessSummary", "StoreInfo", "StuckProcess",
    "SubscriptionSummary", "TriggerStoreInspector", "WORKER_INPUT_TYPES", "expired_process_leases",
    "list_occurrences", "list_processes", "list_subscriptions", "show_occurrence", "show_process",
    "stuck_processes",
]

# Private helpers importable here before the split (kept so old imports of them still work).
_PRIVATE = (_Inspector, _now, _originator_scope_id, _scope_id, _status_label, _NUMERIC_HANDLE, _delivery_order,
            _handle_order)
