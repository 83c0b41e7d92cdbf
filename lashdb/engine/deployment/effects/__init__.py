"""The effect replay host (runtime contract §6, §1.11, W19–W23), split by role.

Contract:
- An effects database (its own file — usually a session's ``<file>.db.effects.db`` sidecar, any
  path works — or private memory) holds one row per (scope id, replay key) in
  ``runtime_effect_replay``. A foreign or other-kind file is refused before anything on disk,
  journal mode included, is changed. Rows are never deleted (W22).
- :class:`EffectHost` (deployment level) hands out :class:`EffectController` objects that share
  its backend, owner id, lease-token counter and replay flag; a standalone controller has its
  own. Scopes are validated everywhere: a blank id raises ``missing_execution_scope_id``.
- :meth:`EffectController.execute_effect` runs an effect at most once per key as far as the
  store can tell (execution is at-least-once across crashes): see :mod:`.controller`.
- The envelope hash is SHA-256 of the envelope's compact JSON text, byte-exact with upstream
  (see :mod:`.types`).
- Every failure is an :class:`EffectControllerError` whose ``str()`` is ``{code}: {message}``;
  backend failures become ``sqlite_effect_replay_store`` carrying the driver's message. A clock
  (callable returning epoch ms) is injectable and read once per operation.
- Strict replay (:meth:`EffectController.start_replay`) is permanent. It fails a missing row; like
  upstream it takes over an in-flight row whose lease expired, unless the opt-in
  ``EffectReplayOptions(strict_in_flight_replay=True)`` is set, which fails that too (W21).

Scope ids are stored bare (W20): a turn and a process with the same id share replay history, so
ids must be globally unique. The controller itself runs two kinds of command: ``sleep`` (a durable
timer) and ``process`` (an operation on the process registry that a :class:`ProcessExecutor`
supplies; registry failures are recorded as code ``plugin``). Every other command goes to the
local executor.

Modules: :mod:`.errors` (states, codes, errors), :mod:`.types` (scopes, envelopes),
:mod:`.process_ops` (process commands), :mod:`.controller` (the replay rules on
:class:`~lashdb.engine.deployment.ports.EffectJournalRows`), :mod:`.host` (host, asyncio views).
The read-only inspection (``list_effects``, ``replay_plan``…) lives in :mod:`lashdb.engine.ops.effects`;
``lashdb.engine`` re-exports it, and the old path ``lashdb.engine.effects`` puts its names back on
this module for old callers (``lashdb.engine._legacy``).
"""

from __future__ import annotations

from .controller import (
    BACKEND,
    EffectController,
    EffectReplayOptions,
    _Busy,
    _Claimed,
    _encode,
    _open_shared,
    _owner_counter,
    _owner_counter_lock,
    _ReplayOutcome,
    _Shared,
    busy_delay_ms,
)
from .errors import (
    _RUST_WHITESPACE,
    BUSY_POLL_MAX_MS,
    BUSY_POLL_MS,
    CANCEL_POLL_S,
    CODE_CORRUPT_ROW,
    CODE_DECODE,
    CODE_ENCODE,
    CODE_ENVELOPE_HASH,
    CODE_EXECUTOR_UNAVAILABLE,
    CODE_HASH_CONFLICT,
    CODE_KEY_MISSING,
    CODE_LEASE_LOST,
    CODE_MISSING,
    CODE_MISSING_SCOPE_ID,
    CODE_STORE,
    DEFAULT_LEASE_TTL_MS,
    EFFECT_KINDS,
    SLEEP_OUTCOME,
    STATUS_COMPLETED,
    STATUS_FAILED,
    STATUS_IN_PROGRESS,
    STATUSES,
    EffectCancelled,
    EffectControllerError,
    _blank,
    _decode_error,
    _encode_error,
    _error,
    _parse_error_json,
    _parse_json,
    _store_error,
)
from .host import AsyncEffectController, AsyncEffectHost, EffectHost, _in_own_thread
from .process_ops import (
    _PROCESS_AWAIT_POLL_S,
    PROCESS_LIST_MODES,
    ProcessExecutor,
    _append_request_from_json,
    _append_request_json,
    _await_process,
    _field,
    _object,
    _parse_process_op,
    _registration_from_json,
    _run_process_op,
    _session_scope,
    _text,
)
from .types import (
    _SCOPE_KINDS,
    EffectCommand,
    EffectEnvelope,
    EffectInvocation,
    ExecutionScope,
    LocalExecutor,
    RuntimeScope,
    _opt_count,
    _validate_envelope,
    durable_step_executor,
    durable_step_outcome,
    prepared_tool_call,
)

__all__ = [
    "AsyncEffectController", "AsyncEffectHost", "EFFECT_KINDS", "EffectCancelled", "EffectCommand",
    "EffectController", "EffectControllerError", "EffectEnvelope", "EffectHost", "EffectInvocation",
    "EffectReplayOptions", "ExecutionScope", "LocalExecutor", "ProcessExecutor",
    "RuntimeScope", "SLEEP_OUTCOME", "busy_delay_ms", "durable_step_executor", "durable_step_outcome",
    "prepared_tool_call",
]

# Every name above (private ones included) was importable from the single-module
# ``lashdb.engine.effects``; they stay importable from here.
_REEXPORTED = (
    BACKEND, _Busy, _Claimed, _encode, _open_shared, _owner_counter, _owner_counter_lock, _ReplayOutcome,
    _Shared, _RUST_WHITESPACE, BUSY_POLL_MAX_MS, BUSY_POLL_MS, CANCEL_POLL_S, CODE_CORRUPT_ROW, CODE_DECODE,
    CODE_ENCODE, CODE_ENVELOPE_HASH, CODE_EXECUTOR_UNAVAILABLE, CODE_HASH_CONFLICT, CODE_KEY_MISSING,
    CODE_LEASE_LOST, CODE_MISSING, CODE_MISSING_SCOPE_ID, CODE_STORE, DEFAULT_LEASE_TTL_MS, STATUS_COMPLETED,
    STATUS_FAILED, STATUS_IN_PROGRESS, STATUSES, _blank, _decode_error, _encode_error, _error,
    _parse_error_json, _parse_json, _store_error, _in_own_thread, _PROCESS_AWAIT_POLL_S, PROCESS_LIST_MODES,
    _append_request_from_json, _append_request_json, _await_process, _field, _object, _parse_process_op,
    _registration_from_json, _run_process_op, _session_scope, _text, _SCOPE_KINDS, _opt_count,
    _validate_envelope,
)
