"""Data types of the process registry and their JSON forms (deployment-stores §1.1–§1.4).

Contract:
- Every type is a frozen dataclass. ``to_json()`` returns the document upstream serialises: typed
  records in their declared field order, optional fields omitted when absent, free-form values
  (payloads, metadata, schemas, definitions, constants) with object keys sorted — so
  ``canonical.dumps(x.to_json())`` is byte-identical to upstream's text and safe to hash.
- ``from_json()`` reads a stored document with upstream's defaults (unknown fields ignored) and
  raises :class:`InvalidDeploymentValue` (a ``ValueError`` and a lashdb error) for a document
  upstream would reject. Constructors validate their arguments the same way.
- Selectors, dedupe-key specs, causal refs and invocations are plain JSON values (dicts/strings)
  built by the helper constructors here (``Selector.pointer("/x")``, ``CausalRef.process(id)``)
  and normalised on the way in.

Layout (one role each): :mod:`.scope` (error, constants, readers, scopes, originators, causal
refs, provenance, identity), :mod:`.inputs` (process input, selectors, dedupe keys, terminal and
wake specs), :mod:`.records` (event types, await outputs, waits, refs, grants, registration,
record), :mod:`.events` (event log, semantics, wake deliveries, leases, reports, filters). This
package re-exports every name, private readers included, so ``from .process_model import X`` works.
"""

from __future__ import annotations

from .scope import (
    CausalRef,
    EVENT_IDENTITY,
    FAILURE_CLASSES,
    InvalidDeploymentValue,
    LIFECYCLE_STATUSES,
    PROCESS_LEASE_SCHEMA_VERSION,
    ProcessIdentity,
    ProcessOriginator,
    ProcessProvenance,
    SessionScope,
    TERMINAL_STATES,
    _CAUSAL_FIELDS,
    _check_str,
    _free,
    _kind,
    _obj,
    _opt_str,
    _scope,
    _str,
    _u64,
)
from .inputs import (
    DedupeKey,
    ProcessInput,
    Selector,
    TerminalSpec,
    WakeSpec,
    _normalize_input,
    _state,
    normalize_dedupe_key,
    normalize_selector,
)
from .records import (
    CORE_EVENT_TYPE_NAMES,
    ProcessAwaitOutput,
    ProcessEventType,
    ProcessExternalRef,
    ProcessHandleDescriptor,
    ProcessHandleGrant,
    ProcessRecord,
    ProcessRegistration,
    WaitState,
    _control,
    _event_types,
    _input,
    _terminal_type,
    core_event_types,
    default_event_types,
)
from .events import (
    EventSemantics,
    ProcessEvent,
    ProcessEventAppendRequest,
    ProcessEventAppendResult,
    ProcessLease,
    ProcessLeaseCompletion,
    ProcessListFilter,
    ProcessSessionDeleteReport,
    ProcessWakeDelivery,
    TerminalSemantics,
    WakeSemantics,
    occurred_at_json,
    occurred_at_ms_from_json,
    process_event_invocation,
)

__all__ = [
    "CORE_EVENT_TYPE_NAMES", "CausalRef", "DedupeKey", "EVENT_IDENTITY", "FAILURE_CLASSES",
    "InvalidDeploymentValue", "LIFECYCLE_STATUSES", "PROCESS_LEASE_SCHEMA_VERSION",
    "ProcessAwaitOutput", "ProcessEvent", "ProcessEventAppendRequest", "ProcessEventAppendResult",
    "ProcessEventType", "ProcessExternalRef", "ProcessHandleDescriptor", "ProcessHandleGrant",
    "ProcessIdentity", "ProcessInput", "ProcessLease", "ProcessLeaseCompletion", "ProcessListFilter",
    "ProcessOriginator", "ProcessProvenance", "ProcessRecord", "ProcessRegistration",
    "ProcessSessionDeleteReport", "ProcessWakeDelivery", "EventSemantics", "Selector",
    "SessionScope", "TERMINAL_STATES", "TerminalSemantics", "TerminalSpec", "WaitState",
    "WakeSemantics", "WakeSpec", "core_event_types", "default_event_types", "occurred_at_json",
    "occurred_at_ms_from_json", "process_event_invocation",
]

# Names outside __all__ that callers import from here: the private readers sibling modules use
# (triggers: ``_free``, ``_obj`` …) and the two normalisers.
_REEXPORTS = (
    normalize_dedupe_key,
    normalize_selector,
    _CAUSAL_FIELDS,
    _check_str,
    _control,
    _event_types,
    _free,
    _input,
    _kind,
    _normalize_input,
    _obj,
    _opt_str,
    _scope,
    _state,
    _str,
    _terminal_type,
    _u64,
)
