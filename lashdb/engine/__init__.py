"""lashdb.engine: the importable storage library (no CLI dependencies).

Import what you need from here: ``Store``, ``SessionStoreFactory``, the data types and the errors.
"""

from .attachments import AttachmentIntent, AttachmentManifestEntry
from .codec import BlobProfile, Descriptor
from .commit import (
    GraphDelta,
    PersistedSessionRead,
    RuntimeCommit,
    RuntimeCommitResult,
    SessionReadScope,
    TurnStamp,
    turn_commit_hash,
)
from .errors import (
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
from .values import MAX_NESTING
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
from .errors import ProcessRegistryError, TriggerStoreError
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

__all__ = [name for name in dir() if not name.startswith("_")]
