"""Type stub of lashdb.engine: the names its __init__ resolves on first use, for type checkers
and IDEs (tests/engine/test_lazy_import.py holds it equal to ``_EXPORTS`` and ``__all__``)."""

from typing import Any

from .base.errors import (
    BackendError as BackendError, BlobDecodeError as BlobDecodeError, BlobError as BlobError,
    BlobNotFound as BlobNotFound, ChecksumMismatch as ChecksumMismatch,
    CompactionFailed as CompactionFailed, DatabaseBusy as DatabaseBusy, DatabaseCorrupt as DatabaseCorrupt,
    DatabaseError as DatabaseError, DatabaseIOError as DatabaseIOError,
    DatabaseNotFound as DatabaseNotFound, DatabaseReadOnly as DatabaseReadOnly,
    DecompressionLimitExceeded as DecompressionLimitExceeded, DiskFull as DiskFull, GcAborted as GcAborted,
    HeadRevisionConflict as HeadRevisionConflict, LashdbError as LashdbError, LookupFailed as LookupFailed,
    MissingCheckpoint as MissingCheckpoint, NotALashDatabase as NotALashDatabase,
    ProcessRegistryError as ProcessRegistryError, QueuedWorkClaimExpired as QueuedWorkClaimExpired,
    RuntimeTurnCommitConflict as RuntimeTurnCommitConflict, SchemaDamaged as SchemaDamaged,
    SchemaVersionError as SchemaVersionError, SessionBindingMismatch as SessionBindingMismatch,
    SessionExecutionLeaseExpired as SessionExecutionLeaseExpired, SessionInUse as SessionInUse,
    StoreClosed as StoreClosed, StoreError as StoreError, TriggerStoreError as TriggerStoreError,
    UnrecognisedSchema as UnrecognisedSchema, UnstorableValue as UnstorableValue,
    UnsupportedReadScope as UnsupportedReadScope,
    UnsupportedRecordSchemaVersion as UnsupportedRecordSchemaVersion, WorkerFailed as WorkerFailed,
)
from .base.codec import BlobProfile as BlobProfile, Descriptor as Descriptor
from .base.lockwait import LockWait as LockWait, set_lock_wait_hook as set_lock_wait_hook
from .base.values import MAX_NESTING as MAX_NESTING
from .session.attachments import (
    AttachmentIntent as AttachmentIntent, AttachmentManifestEntry as AttachmentManifestEntry,
)
from .session.commit import (
    GraphDelta as GraphDelta, PersistedSessionRead as PersistedSessionRead, RuntimeCommit as RuntimeCommit,
    RuntimeCommitResult as RuntimeCommitResult, SessionReadScope as SessionReadScope,
    TurnStamp as TurnStamp, turn_commit_hash as turn_commit_hash,
)
from .session.factory import (
    SessionStoreCreateRequest as SessionStoreCreateRequest, SessionStoreFactory as SessionStoreFactory,
    safe_session_file_name as safe_session_file_name,
)
from .session.leases import (
    SessionExecutionLease as SessionExecutionLease,
    SessionExecutionLeaseCompletion as SessionExecutionLeaseCompletion,
    SessionExecutionLeaseFence as SessionExecutionLeaseFence,
)
from .session.model import (
    GcReport as GcReport, GraphNode as GraphNode, HydratedCheckpoint as HydratedCheckpoint,
    SessionCheckpoint as SessionCheckpoint, SessionGraph as SessionGraph, SessionHead as SessionHead,
    SessionHeadMeta as SessionHeadMeta, SessionMeta as SessionMeta, SessionPickerInfo as SessionPickerInfo,
    SessionRelation as SessionRelation, StoredCheckpoint as StoredCheckpoint,
    TokenLedgerEntry as TokenLedgerEntry, TokenUsage as TokenUsage, VacuumReport as VacuumReport,
)
from .session.queued_work import (
    DeliveryPolicy as DeliveryPolicy, MergeKey as MergeKey, QueuedWorkBatch as QueuedWorkBatch,
    QueuedWorkBatchDraft as QueuedWorkBatchDraft, QueuedWorkClaim as QueuedWorkClaim,
    QueuedWorkClaimBoundary as QueuedWorkClaimBoundary, QueuedWorkCompletion as QueuedWorkCompletion,
    QueuedWorkItem as QueuedWorkItem, QueuedWorkPayload as QueuedWorkPayload, SlotPolicy as SlotPolicy,
)
from .session.store import (
    GcPolicy as GcPolicy, ReadOnlyStore as ReadOnlyStore, Store as Store, StoreOptions as StoreOptions,
)
from .deployment.process_model import (
    CausalRef as CausalRef, DedupeKey as DedupeKey, InvalidDeploymentValue as InvalidDeploymentValue,
    ProcessAwaitOutput as ProcessAwaitOutput, ProcessEvent as ProcessEvent,
    ProcessEventAppendRequest as ProcessEventAppendRequest,
    ProcessEventAppendResult as ProcessEventAppendResult, ProcessEventType as ProcessEventType,
    ProcessExternalRef as ProcessExternalRef, ProcessHandleDescriptor as ProcessHandleDescriptor,
    ProcessHandleGrant as ProcessHandleGrant, ProcessIdentity as ProcessIdentity,
    ProcessInput as ProcessInput, ProcessLease as ProcessLease,
    ProcessLeaseCompletion as ProcessLeaseCompletion, ProcessListFilter as ProcessListFilter,
    ProcessOriginator as ProcessOriginator, ProcessProvenance as ProcessProvenance,
    ProcessRecord as ProcessRecord, ProcessRegistration as ProcessRegistration,
    ProcessSessionDeleteReport as ProcessSessionDeleteReport, ProcessWakeDelivery as ProcessWakeDelivery,
    Selector as Selector, SessionScope as SessionScope, TerminalSpec as TerminalSpec,
    WaitState as WaitState, WakeSpec as WakeSpec,
)
from .deployment.process_registry import (
    AsyncProcessRegistry as AsyncProcessRegistry, ProcessRegistry as ProcessRegistry,
    ProcessWaitTimeout as ProcessWaitTimeout,
)
from .deployment.triggers import (
    InputBinding as InputBinding, TriggerDeliveryReservation as TriggerDeliveryReservation,
    TriggerOccurrenceRecord as TriggerOccurrenceRecord,
    TriggerOccurrenceRequest as TriggerOccurrenceRequest, TriggerStore as TriggerStore,
    TriggerSubscriptionDraft as TriggerSubscriptionDraft,
    TriggerSubscriptionFilter as TriggerSubscriptionFilter,
    TriggerSubscriptionRecord as TriggerSubscriptionRecord,
)
from .deployment.effects import (
    AsyncEffectController as AsyncEffectController, AsyncEffectHost as AsyncEffectHost,
    EffectCancelled as EffectCancelled, EffectCommand as EffectCommand,
    EffectController as EffectController, EffectControllerError as EffectControllerError,
    EffectEnvelope as EffectEnvelope, EffectHost as EffectHost, EffectInvocation as EffectInvocation,
    EffectReplayOptions as EffectReplayOptions, ExecutionScope as ExecutionScope,
    ProcessExecutor as ProcessExecutor, RuntimeScope as RuntimeScope,
    durable_step_executor as durable_step_executor, durable_step_outcome as durable_step_outcome,
    prepared_tool_call as prepared_tool_call,
)
from .ops.effects import (
    EffectRow as EffectRow, ReplayStep as ReplayStep, effects_info as effects_info,
    list_effects as list_effects, replay_plan as replay_plan, replay_step_for as replay_step_for,
    stale_in_progress as stale_in_progress,
)
from .ops.deployment_inspect import (
    ProcessRegistryInspector as ProcessRegistryInspector, TriggerStoreInspector as TriggerStoreInspector,
)
from .ops.backend import open_backend as open_backend
from .sqlite.schema import classify as classify

# the old submodule names (lashdb/engine/_legacy.py)
from . import aio as aio
from .session import attachments as attachments
from .session import blobs as blobs
from .base import canonical as canonical
from .session import checkpoints as checkpoints
from .base import codec as codec
from .session import commit as commit
from .sqlite import connection as connection
from .sqlite import deployment_common as deployment_common
from .ops import deployment_inspect as deployment_inspect
from .deployment import effects as effects
from .base import errors as errors
from .session import factory as factory
from .session import gc as gc
from .session import graph as graph
from .base import jsonread as jsonread
from .session import leases as leases
from .session import model as model
from .deployment import process_model as process_model
from .deployment import process_registry as process_registry
from .deployment import semantics as process_semantics
from .session import queued_work as queued_work
from .sqlite import schema as schema
from .sqlite import session_rows as session_rows
from .session import store as store
from .base import timing as timing
from .deployment import triggers as triggers
from .base import values as values

__all__: list[str]


def __getattr__(name: str) -> Any: ...
