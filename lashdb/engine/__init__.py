"""lashdb.engine: the importable storage library (no CLI dependencies).

Import what you need from here: ``Store``, ``SessionStoreFactory``, the data types and the errors.
"""

import importlib as _importlib

from . import _legacy

# Old dotted paths of moved modules (``lashdb.engine.codec``) resolve to the moved module itself.
_legacy.install()

from .attachments import AttachmentIntent, AttachmentManifestEntry
from .base.codec import BlobProfile, Descriptor
from .commit import (
    GraphDelta,
    PersistedSessionRead,
    RuntimeCommit,
    RuntimeCommitResult,
    SessionReadScope,
    TurnStamp,
    turn_commit_hash,
)
from .base.errors import (
    BackendError,
    BlobDecodeError,
    BlobError,
    BlobNotFound,
    ChecksumMismatch,
    CompactionFailed,
    DatabaseBusy,
    DatabaseCorrupt,
    DatabaseError,
    DatabaseIOError,
    DatabaseNotFound,
    DatabaseReadOnly,
    DecompressionLimitExceeded,
    DiskFull,
    GcAborted,
    HeadRevisionConflict,
    LashdbError,
    LookupFailed,
    MissingCheckpoint,
    NotALashDatabase,
    QueuedWorkClaimExpired,
    RuntimeTurnCommitConflict,
    SchemaDamaged,
    SchemaVersionError,
    SessionBindingMismatch,
    SessionExecutionLeaseExpired,
    StoreClosed,
    SessionInUse,
    StoreError,
    UnrecognisedSchema,
    UnsupportedReadScope,
    UnstorableValue,
    UnsupportedRecordSchemaVersion,
    WorkerFailed,
)
from .base.values import MAX_NESTING
from .factory import SessionStoreCreateRequest, SessionStoreFactory, safe_session_file_name
from .leases import SessionExecutionLease, SessionExecutionLeaseCompletion, SessionExecutionLeaseFence
from .model import (
    GcReport,
    GraphNode,
    HydratedCheckpoint,
    SessionCheckpoint,
    SessionGraph,
    SessionHead,
    SessionHeadMeta,
    SessionMeta,
    SessionPickerInfo,
    SessionRelation,
    StoredCheckpoint,
    TokenLedgerEntry,
    TokenUsage,
    VacuumReport,
)
from .queued_work import (
    DeliveryPolicy,
    MergeKey,
    QueuedWorkBatch,
    QueuedWorkBatchDraft,
    QueuedWorkClaim,
    QueuedWorkClaimBoundary,
    QueuedWorkCompletion,
    QueuedWorkItem,
    QueuedWorkPayload,
    SlotPolicy,
)
from .schema import classify
from .store import GcPolicy, ReadOnlyStore, Store, StoreOptions

# Deployment stores: process registry and trigger store (deployment-stores.md).
from .deployment_inspect import ProcessRegistryInspector, TriggerStoreInspector
from .base.errors import ProcessRegistryError, TriggerStoreError
from .process_model import (
    CausalRef,
    DedupeKey,
    InvalidDeploymentValue,
    ProcessAwaitOutput,
    ProcessEvent,
    ProcessEventAppendRequest,
    ProcessEventAppendResult,
    ProcessEventType,
    ProcessExternalRef,
    ProcessHandleDescriptor,
    ProcessHandleGrant,
    ProcessIdentity,
    ProcessInput,
    ProcessLease,
    ProcessLeaseCompletion,
    ProcessListFilter,
    ProcessOriginator,
    ProcessProvenance,
    ProcessRecord,
    ProcessRegistration,
    ProcessSessionDeleteReport,
    ProcessWakeDelivery,
    Selector,
    SessionScope,
    TerminalSpec,
    WaitState,
    WakeSpec,
)
from .process_registry import AsyncProcessRegistry, ProcessRegistry, ProcessWaitTimeout
from .triggers import (
    InputBinding,
    TriggerDeliveryReservation,
    TriggerOccurrenceRecord,
    TriggerOccurrenceRequest,
    TriggerStore,
    TriggerSubscriptionDraft,
    TriggerSubscriptionFilter,
    TriggerSubscriptionRecord,
)

# Effect replay host (runtime-contract §6) and its read-only inspection.
from .effects import (
    AsyncEffectController,
    AsyncEffectHost,
    EffectCancelled,
    EffectCommand,
    EffectController,
    EffectControllerError,
    EffectEnvelope,
    EffectHost,
    EffectInvocation,
    EffectReplayOptions,
    EffectRow,
    ExecutionScope,
    ProcessExecutor,
    ReplayStep,
    RuntimeScope,
    durable_step_executor,
    durable_step_outcome,
    effects_info,
    list_effects,
    prepared_tool_call,
    replay_plan,
    replay_step_for,
    stale_in_progress,
)

# Submodule names stay in __all__ as they were before the move (old paths, ``aio`` included).
_OLD_SUBMODULES = {name.rpartition(".")[2] for name in _legacy.MOVED} | {"aio"}
# (``parallel`` never was: the facade did not import it.)
__all__ = sorted({name for name in dir() if not name.startswith("_")} - {"base"} | _OLD_SUBMODULES - {"parallel"})


def __getattr__(name: str):  # noqa: ANN202 - a module
    # ``lashdb.engine.codec`` without importing it first, as before the move.
    if name in _OLD_SUBMODULES:
        return _importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
