"""lashdb.engine: the importable storage library (no CLI dependencies).

Import what you need from here: ``Store``, ``SessionStoreFactory``, the data types and the errors.
``open_backend(target)`` opens a whole store by target — a sessions directory (SQLite files) today,
a ``postgresql://`` URL with the ``lashdb[postgres]`` extra — and hands out its stores by session id:
``.factory()``, ``.session_store(id)``, ``.process_registry(root_id)``, ``.trigger_store(root_id)``,
``.effect_journal(id)``.

Contract (the facade and composition root):
- Importing this package is cheap: it imports none of the modules it re-exports. Each public name
  resolves on first access (PEP 562 ``__getattr__``) from :data:`_EXPORTS`, the one table of which
  module holds which name, so ``from lashdb.engine import Store`` loads the session store and what
  it needs, nothing else; apsw, psycopg, cbor2 and zlib-ng load when something uses them.
- ``__all__`` is exactly the frozen list (tests/engine/public_names.txt): the table's names plus the
  old submodule names that were public; ``dir()`` lists them too, and ``import *`` resolves them all.
- ``__init__.pyi`` states the same names for type checkers and IDEs (a test holds it equal).
- The backends need no import from here: :mod:`lashdb.engine.base.backends` imports the built-in
  ones by name on the first lookup.
- Old dotted paths of moved modules (``lashdb.engine.codec``, ``lashdb.engine.effects.list_effects``)
  keep working through :mod:`._legacy`, as import paths and as attributes of this package.
"""

from __future__ import annotations

import importlib as _importlib

from . import _legacy

# Old dotted names of moved modules (``lashdb.engine.codec``) resolve to the moved module itself.
_legacy.install()

# Module (relative to this package) -> the public names it holds.
_EXPORTS: dict[str, tuple[str, ...]] = {
    ".base.errors": (
        "BackendError", "BlobDecodeError", "BlobError", "BlobNotFound", "ChecksumMismatch",
        "CompactionFailed", "DatabaseBusy", "DatabaseCorrupt", "DatabaseError",
        "DatabaseIOError", "DatabaseNotFound", "DatabaseReadOnly", "DecompressionLimitExceeded",
        "DiskFull", "GcAborted", "HeadRevisionConflict", "LashdbError", "LookupFailed",
        "MissingCheckpoint", "NotALashDatabase", "ProcessRegistryError",
        "QueuedWorkClaimExpired", "RuntimeTurnCommitConflict", "SchemaDamaged",
        "SchemaVersionError", "SessionBindingMismatch", "SessionExecutionLeaseExpired",
        "SessionInUse", "StoreClosed", "StoreError", "TriggerStoreError", "UnrecognisedSchema",
        "UnstorableValue", "UnsupportedReadScope", "UnsupportedRecordSchemaVersion",
        "WorkerFailed",
    ),
    ".base.codec": ("BlobProfile", "Descriptor"),
    ".base.lockwait": ("LockWait", "set_lock_wait_hook"),
    ".base.values": ("MAX_NESTING",),
    ".session.attachments": ("AttachmentIntent", "AttachmentManifestEntry"),
    ".session.commit": (
        "GraphDelta", "PersistedSessionRead", "RuntimeCommit", "RuntimeCommitResult",
        "SessionReadScope", "TurnStamp", "turn_commit_hash",
    ),
    ".session.factory": ("SessionStoreCreateRequest", "SessionStoreFactory", "safe_session_file_name"),
    ".session.leases": ("SessionExecutionLease", "SessionExecutionLeaseCompletion", "SessionExecutionLeaseFence"),
    ".session.model": (
        "GcReport", "GraphNode", "HydratedCheckpoint", "SessionCheckpoint", "SessionGraph",
        "SessionHead", "SessionHeadMeta", "SessionMeta", "SessionPickerInfo", "SessionRelation",
        "StoredCheckpoint", "TokenLedgerEntry", "TokenUsage", "VacuumReport",
    ),
    ".session.queued_work": (
        "DeliveryPolicy", "MergeKey", "QueuedWorkBatch", "QueuedWorkBatchDraft",
        "QueuedWorkClaim", "QueuedWorkClaimBoundary", "QueuedWorkCompletion", "QueuedWorkItem",
        "QueuedWorkPayload", "SlotPolicy",
    ),
    ".session.store": ("GcPolicy", "ReadOnlyStore", "Store", "StoreOptions"),
    # Deployment stores: process registry and trigger store (deployment-stores.md).
    ".deployment.process_model": (
        "CausalRef", "DedupeKey", "InvalidDeploymentValue", "ProcessAwaitOutput",
        "ProcessEvent", "ProcessEventAppendRequest", "ProcessEventAppendResult",
        "ProcessEventType", "ProcessExternalRef", "ProcessHandleDescriptor",
        "ProcessHandleGrant", "ProcessIdentity", "ProcessInput", "ProcessLease",
        "ProcessLeaseCompletion", "ProcessListFilter", "ProcessOriginator", "ProcessProvenance",
        "ProcessRecord", "ProcessRegistration", "ProcessSessionDeleteReport",
        "ProcessWakeDelivery", "Selector", "SessionScope", "TerminalSpec", "WaitState",
        "WakeSpec",
    ),
    ".deployment.process_registry": ("AsyncProcessRegistry", "ProcessRegistry", "ProcessWaitTimeout"),
    ".deployment.triggers": (
        "InputBinding", "TriggerDeliveryReservation", "TriggerOccurrenceRecord",
        "TriggerOccurrenceRequest", "TriggerStore", "TriggerSubscriptionDraft",
        "TriggerSubscriptionFilter", "TriggerSubscriptionRecord",
    ),
    # Effect replay host (runtime-contract §6) and its read-only inspection.
    ".deployment.effects": (
        "AsyncEffectController", "AsyncEffectHost", "EffectCancelled", "EffectCommand",
        "EffectController", "EffectControllerError", "EffectEnvelope", "EffectHost",
        "EffectInvocation", "EffectReplayOptions", "ExecutionScope", "ProcessExecutor",
        "RuntimeScope", "durable_step_executor", "durable_step_outcome", "prepared_tool_call",
    ),
    ".ops.effects": (
        "EffectRow", "ReplayStep", "effects_info", "list_effects", "replay_plan",
        "replay_step_for", "stale_in_progress",
    ),
    ".ops.deployment_inspect": ("ProcessRegistryInspector", "TriggerStoreInspector"),
    ".ops.backend": ("open_backend",),
    ".sqlite.schema": ("classify",),
}
_HOME: dict[str, str] = {name: module for module, names in _EXPORTS.items() for name in names}

# Old submodule names resolve as attributes (``lashdb.engine.codec``) and the ones that were public
# stay in __all__ exactly as before the move (tests/engine/public_names.txt freezes the list).
_OLD_SUBMODULES = {name.rpartition(".")[2] for name in _legacy.MOVED} | {"aio"}
_NEVER_LISTED = {"parallel", "discovery", "inspect", "verify", "doctor", "maintenance", "session_read",
                 "store_aio", "deployment_aio"}
__all__ = sorted(set(_HOME) | (_OLD_SUBMODULES - _NEVER_LISTED))


def __getattr__(name: str):  # noqa: ANN202 - a class, function, constant or module
    """The public name ``name``, imported from its home module on first access and kept here."""
    home = _HOME.get(name)
    if home is not None:
        value = getattr(_importlib.import_module(home, __name__), name)
    elif name in _OLD_SUBMODULES:
        # ``lashdb.engine.codec`` without importing it first, as before the move.
        value = _importlib.import_module(f"{__name__}.{name}")
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    """The public names (resolved or not) and what the package already holds."""
    return sorted(set(globals()) | set(__all__))
