"""lashdb.engine: the importable storage library (no CLI dependencies).

Import what you need from here: ``Store``, ``SessionStoreFactory``, the data types and the errors.
``open_backend(target)`` opens a whole store by target — a sessions directory (SQLite files) today,
a ``postgresql://`` URL with the ``lashdb[postgres]`` extra — and hands out its stores by session id:
``.factory()``, ``.session_store(id)``, ``.process_registry(root_id)``, ``.trigger_store(root_id)``,
``.effect_journal(id)``.
"""

import importlib as _importlib

from . import _legacy

# Old dotted paths of moved modules (``lashdb.engine.codec``) resolve to the moved module itself.
_legacy.install()

# The composition root: importing the SQLite backend registers its openers (base.backends).
from . import sqlite as _sqlite  # noqa: F401,E402
from . import postgres as _postgres  # noqa: F401,E402  (registers lazily; psycopg loads on first use)

from lashdb.engine.session.attachments import AttachmentIntent, AttachmentManifestEntry
from .base.codec import BlobProfile, Descriptor
from lashdb.engine.session.commit import (
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
from .base.lockwait import LockWait, set_lock_wait_hook
from .base.values import MAX_NESTING
from lashdb.engine.session.factory import (
    SessionStoreCreateRequest,
    SessionStoreFactory,
    safe_session_file_name,
)
from lashdb.engine.session.leases import (
    SessionExecutionLease,
    SessionExecutionLeaseCompletion,
    SessionExecutionLeaseFence,
)
from lashdb.engine.session.model import (
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
from lashdb.engine.session.queued_work import (
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
from lashdb.engine.sqlite.schema import classify
from lashdb.engine.ops.backend import open_backend
from lashdb.engine.session.store import GcPolicy, ReadOnlyStore, Store, StoreOptions

# Deployment stores: process registry and trigger store (deployment-stores.md).
from lashdb.engine.ops.deployment_inspect import ProcessRegistryInspector, TriggerStoreInspector
from .base.errors import ProcessRegistryError, TriggerStoreError
from lashdb.engine.deployment.process_model import (
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
from lashdb.engine.deployment.process_registry import (
    AsyncProcessRegistry,
    ProcessRegistry,
    ProcessWaitTimeout,
)
from lashdb.engine.deployment.triggers import (
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
from lashdb.engine.deployment.effects import (
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
    ExecutionScope,
    ProcessExecutor,
    RuntimeScope,
    durable_step_executor,
    durable_step_outcome,
    prepared_tool_call,
)
from lashdb.engine.deployment import effects as _deployment_effects
from lashdb.engine.ops import effects as _effects_inspect
from lashdb.engine.ops.effects import (
    EffectRow,
    ReplayStep,
    effects_info,
    list_effects,
    replay_plan,
    replay_step_for,
    stale_in_progress,
)

# The inspection half moved to ops.effects; deployment may not import ops, so its names are put
# back on the old module (``lashdb.engine.effects.list_effects`` keeps working) from here.
for _name in _effects_inspect.__all__:
    setattr(_deployment_effects, _name, getattr(_effects_inspect, _name))

# Old submodule names resolve as attributes (``lashdb.engine.codec``) and the ones that were public
# stay in __all__ exactly as before the move (tests/public_names.txt freezes the list).
_OLD_SUBMODULES = {name.rpartition(".")[2] for name in _legacy.MOVED} | {"aio"}
_NEVER_LISTED = {"parallel", "discovery", "inspect", "verify", "doctor", "maintenance", "session_read",
                 "store_aio", "deployment_aio"}
__all__ = sorted({name for name in dir() if not name.startswith("_")}
                 - {"base", "session", "deployment", "sqlite", "postgres", "ops"} | _OLD_SUBMODULES - _NEVER_LISTED)


def __getattr__(name: str):  # noqa: ANN202 - a module
    # ``lashdb.engine.codec`` without importing it first, as before the move.
    if name in _OLD_SUBMODULES:
        return _importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
