"""The effect controller: claim, run, renew and record one effect per (scope id, replay key).

Contract (runtime contract §6, §1.11, W19–W23):
- Each attempt is one write-transaction prepare on the journal that claims a new row, replays a
  completed/failed one, reports busy (a live lease held elsewhere) or takes over an expired lease.
  A claimed effect runs on a worker thread while the calling thread renews the lease every
  ``max(ttl // 3, 1)`` ms; a renewal or finalize that matches no row raises
  ``sqlite_effect_replay_lease_lost`` and sets the executor's cancellation event. Busy waits back
  off from 25 ms but never sleep past the holder's expiry.
- Strict replay is permanent; it fails a missing row and, with ``strict_in_flight_replay``, an
  in-flight one (W21). Rows are never deleted (W22).
- These rules are written once, here; the journal is reached through :class:`EffectJournalRows`
  on a :class:`DeploymentBackend` opened by name (``"sqlite.effect_journal"``), whose failures
  come out as ``sqlite_effect_replay_store`` with the driver's message.
"""

from __future__ import annotations

import itertools
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lashdb.engine.base import backends, canonical, values
from lashdb.engine.base.errors import LashdbError, UnstorableValue
from lashdb.engine.base.ints import from_i64
from lashdb.engine.base.timing import DURABLE, MAX_MS, Clock, clock_now, deadline, ttl, wall_clock_ms

from ..ports import DeploymentBackend, EffectJournalRows
from .errors import (
    BUSY_POLL_MAX_MS,
    BUSY_POLL_MS,
    CANCEL_POLL_S,
    CODE_CORRUPT_ROW,
    CODE_EXECUTOR_UNAVAILABLE,
    CODE_HASH_CONFLICT,
    CODE_KEY_MISSING,
    CODE_LEASE_LOST,
    CODE_MISSING,
    CODE_STORE,
    DEFAULT_LEASE_TTL_MS,
    SLEEP_OUTCOME,
    STATUS_COMPLETED,
    STATUS_FAILED,
    STATUS_IN_PROGRESS,
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
from .process_ops import ProcessExecutor, _run_process_op
from .types import EffectEnvelope, ExecutionScope, LocalExecutor

# The registered opener of the effect journal's backend.
BACKEND = "sqlite.effect_journal"

# --- options and shared state ---------------------------------------------------------------------------


@dataclass(frozen=True)
class EffectReplayOptions:
    """``lease_ttl_ms`` (default 30 s; 0 becomes 1 ms); ``strict_in_flight_replay`` opts into W21.

    ``owner_id`` fixes the host's lease owner id (default ``pid<pid>-<n>-<ms>``, unique per host);
    a fixed id must be unique among the hosts that share the file — it exists for reproducible
    journals (the demo, tests), not for production hosts.
    """

    lease_ttl_ms: int = DEFAULT_LEASE_TTL_MS
    strict_in_flight_replay: bool = False
    owner_id: str | None = None

    def __post_init__(self) -> None:
        ttl("lease_ttl_ms", self.lease_ttl_ms)
        if self.owner_id is not None and _blank(self.owner_id):
            raise ValueError("EffectReplayOptions.owner_id must be a non-blank string (or None)")

    @property
    def effective_ttl_ms(self) -> int:
        """The TTL actually used: at least 1 ms, at most what SQLite can store."""
        return min(max(self.lease_ttl_ms, 1), MAX_MS)


_owner_counter = itertools.count(1)
_owner_counter_lock = threading.Lock()


class _Shared:
    """What a host and its scoped controllers share: backend, owner, counter, replay flag."""

    def __init__(self, backend: DeploymentBackend, options: EffectReplayOptions, clock: Clock | None) -> None:
        self.backend = backend
        self.path = backend.path
        self.options = options
        self.ttl_ms = options.effective_ttl_ms
        self.clock = clock or wall_clock_ms
        # One transaction at a time on the shared backend, and none once it is closed.
        self.lock = threading.Lock()
        self.replay_mode = False
        self.closed = False
        with _owner_counter_lock:
            sequence = next(_owner_counter)
        self.owner_id = options.owner_id or f"pid{os.getpid()}-{sequence}-{self.now()}"
        self._tokens = itertools.count(1)
        self._token_lock = threading.Lock()

    @property
    def conn(self) -> Any:
        """The SQLite backend's connection (tests and SQLite-only tooling); None on other backends."""
        return getattr(self.backend, "conn", None)

    def now(self) -> int:
        return clock_now(self.clock())

    def next_token(self) -> str:
        with self._token_lock:
            return f"{self.owner_id}:{next(self._tokens)}"

    def write(self, body: Callable[[EffectJournalRows], Any]) -> Any:
        """Run ``body(rows)`` in one write transaction; backend failures become ``sqlite_effect_replay_store``."""
        with self.lock:
            if self.closed:
                raise _error(CODE_STORE, "the effects database is closed")
            try:
                return self.backend.write(body)
            except EffectControllerError:
                raise
            except LashdbError as exc:
                raise _store_error(exc) from exc

    def close(self) -> None:
        with self.lock:
            if not self.closed:
                self.closed = True
                self.backend.close()


def _open_shared(path: str | os.PathLike[str] | None, options: EffectReplayOptions | None,
                 clock: Clock | None) -> _Shared:
    options = options or EffectReplayOptions()
    # The backend classifies an existing file read-only first: a foreign file is refused before any write.
    backend = backends.open_with(BACKEND, None if path is None else os.fspath(path))
    return _Shared(backend, options, clock)


# --- prepare / renew / finalize ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Claimed:
    scope_id: str
    replay_key: str
    envelope_hash: str
    lease_token: str
    due_at_ms: int | None


@dataclass(frozen=True)
class _ReplayOutcome:
    outcome: Any
    due_at_ms: int | None


@dataclass(frozen=True)
class _Busy:
    retry_at_ms: int


def _encode(value: Any) -> str:
    try:
        values.check(value, "effect row")
        return canonical.dumps(value)
    except (canonical.CanonicalJsonError, RecursionError, UnstorableValue) as exc:
        raise _encode_error(exc) from exc


def busy_delay_ms(attempt: int, retry_at_ms: int, now_ms: int) -> int:
    """How long busy attempt ``attempt`` (0-based) waits: 25 ms doubling to 200, never past the expiry."""
    if retry_at_ms <= now_ms:
        # The holder's lease has run out by now: look again at once (1 ms keeps it a yield).
        return 1
    backoff = min(BUSY_POLL_MS << min(attempt, 8), BUSY_POLL_MAX_MS)
    return min(backoff, retry_at_ms - now_ms)


# --- controllers and host ---------------------------------------------------------------------------------


class EffectController:
    """A scoped effect controller: records each effect once and replays it by (scope id, replay key)."""

    durability_tier = DURABLE
    requires_durable_attachment_store = True
    supports_durable_effects = True
    supports_concurrent_effects = True

    def __init__(self, shared: _Shared, scope: ExecutionScope, *, owns: bool) -> None:
        scope.validate()
        self._shared = shared
        self._owns = owns
        self.scope = scope

    @classmethod
    def open(cls, path: str | os.PathLike[str], scope: ExecutionScope,
             options: EffectReplayOptions | None = None, *, clock: Clock | None = None) -> EffectController:
        """A standalone controller on its own connection to the effects file at ``path``."""
        scope.validate()
        return cls(_open_shared(path, options, clock), scope, owns=True)

    @classmethod
    def memory(cls, scope: ExecutionScope, options: EffectReplayOptions | None = None, *,
               clock: Clock | None = None) -> EffectController:
        """A standalone controller over a private in-memory database."""
        scope.validate()
        return cls(_open_shared(None, options, clock), scope, owns=True)

    @property
    def scope_id(self) -> str:
        """The bare id rows are keyed by."""
        return self.scope.scope_id

    @property
    def turn_id(self) -> str | None:
        """The turn id of a turn scope, else ``None``."""
        return self.scope.turn_id

    @property
    def owner_id(self) -> str:
        """This controller's (or its host's) lease owner id."""
        return self._shared.owner_id

    @property
    def path(self) -> str | None:
        """The effects file, or ``None`` in memory."""
        return self._shared.path

    @property
    def replay_mode(self) -> bool:
        """True once strict replay has been started."""
        return self._shared.replay_mode

    def start_replay(self) -> None:
        """Switch (permanently) to strict replay: a missing row fails instead of executing."""
        self._shared.replay_mode = True

    def close(self) -> None:
        """Close the connection of a standalone controller (a host's controllers share the host's)."""
        if self._owns:
            self._shared.close()

    def __enter__(self) -> EffectController:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- the loop --------------------------------------------------------------------------------------

    def execute_effect(self, envelope: EffectEnvelope, local_executor: LocalExecutor | None = None, *,
                       cancel: threading.Event | None = None) -> Any:
        """Replay the recorded result of ``envelope`` or claim, run and record it (§6.5)."""
        if not isinstance(envelope, EffectEnvelope):
            raise TypeError(f"execute_effect needs an EffectEnvelope, not {type(envelope).__name__}")
        waiter = cancel or threading.Event()
        attempt = 0
        while True:
            # The lease's clock starts when prepare reads the time, so renewals count from here.
            prepared_at = time.monotonic()
            decision = self._prepare(envelope)
            if isinstance(decision, _ReplayOutcome):
                self._wait_until(decision.due_at_ms, waiter, cancel, envelope)
                return decision.outcome
            if isinstance(decision, EffectControllerError):
                raise decision
            if isinstance(decision, _Busy):
                delay = busy_delay_ms(attempt, decision.retry_at_ms, self._shared.now())
                if waiter.wait(delay / 1000) and cancel is not None:
                    raise EffectCancelled(self.scope_id, envelope.replay_key or "")
                attempt += 1
                continue
            return self._run_claimed(decision, envelope, local_executor, cancel, prepared_at)

    def _wait_until(self, due_at_ms: int | None, waiter: threading.Event, cancel: threading.Event | None,
                    envelope: EffectEnvelope) -> None:
        if due_at_ms is None:
            return
        remaining = due_at_ms - self._shared.now()
        if remaining > 0 and waiter.wait(remaining / 1000) and cancel is not None:
            raise EffectCancelled(self.scope_id, envelope.replay_key or "")

    def _prepare(self, envelope: EffectEnvelope) -> _Claimed | _ReplayOutcome | _Busy | EffectControllerError:
        shared = self._shared
        replay_key = envelope.replay_key
        if replay_key is None:
            raise _error(CODE_KEY_MISSING, "runtime effect envelope requires replay.key")
        envelope_hash = envelope.stable_hash()
        scope_id = self.scope_id
        now = shared.now()
        token = shared.next_token()
        new_due = (deadline(now, envelope.command.fields["duration_ms"])
                   if envelope.command.kind == "sleep" else None)
        expires = deadline(now, shared.ttl_ms)
        replay_mode = shared.replay_mode
        strict_in_flight = shared.options.strict_in_flight_replay
        owner = shared.owner_id

        def body(rows: EffectJournalRows) -> _Claimed | _ReplayOutcome | _Busy | EffectControllerError:
            row = rows.get(scope_id, replay_key)
            if row is None:
                if replay_mode:
                    return _error(CODE_MISSING, f"no recorded runtime effect for scope `{scope_id}` and "
                                                f"replay key `{replay_key}`")
                rows.insert(scope_id, replay_key, envelope_hash, STATUS_IN_PROGRESS, owner, token, expires,
                            new_due, now)
                return _Claimed(scope_id, replay_key, envelope_hash, token, new_due)
            stored_hash, status, outcome_json, error_json, lease_expires, stored_due = row
            if stored_hash != envelope_hash:
                return _error(CODE_HASH_CONFLICT, f"runtime effect replay key `{replay_key}` in scope "
                                                  f"`{scope_id}` was reused with a different envelope hash")
            lease_expires = from_i64(lease_expires) if isinstance(lease_expires, int) else 0
            stored_due = from_i64(stored_due) if isinstance(stored_due, int) else None
            if status == STATUS_COMPLETED:
                if outcome_json is None:
                    return _error(CODE_CORRUPT_ROW, "completed runtime effect row is missing outcome_json")
                try:
                    return _ReplayOutcome(_parse_json(outcome_json), stored_due)
                except (ValueError, TypeError, RecursionError) as exc:
                    return _decode_error(exc)
            if status == STATUS_FAILED:
                if error_json is None:
                    return _error(CODE_CORRUPT_ROW, "failed runtime effect row is missing error_json")
                try:
                    return _parse_error_json(error_json)
                except (ValueError, TypeError, RecursionError) as exc:
                    return _decode_error(exc)
            if status == STATUS_IN_PROGRESS:
                if lease_expires > now:
                    return _Busy(lease_expires)
                if replay_mode and strict_in_flight:
                    return _error(CODE_MISSING, f"no completed runtime effect for scope `{scope_id}` and "
                                                f"replay key `{replay_key}` (an interrupted attempt is in "
                                                f"flight and strict in-flight replay is on)")
                due = stored_due if stored_due is not None else new_due
                # Take over the dead lease; the timer of a sleep keeps its recorded due time (§6.8).
                rows.claim(scope_id, replay_key, owner, token, expires, due, now)
                return _Claimed(scope_id, replay_key, envelope_hash, token, due)
            return _error(CODE_CORRUPT_ROW, f"unknown runtime effect replay status `{status}`")

        return shared.write(body)

    def _renew(self, claim: _Claimed) -> None:
        shared = self._shared
        now = shared.now()

        def body(rows: EffectJournalRows) -> None:
            if not rows.renew(claim.scope_id, claim.replay_key, claim.envelope_hash, shared.owner_id,
                              claim.lease_token, deadline(now, shared.ttl_ms), now):
                raise _error(CODE_LEASE_LOST, f"runtime effect replay lease was lost while executing scope "
                                              f"`{claim.scope_id}` replay key `{claim.replay_key}`")

        shared.write(body)

    def _finalize(self, claim: _Claimed, outcome_text: str | None, error: EffectControllerError | None) -> None:
        shared = self._shared
        if error is not None:
            status, outcome_json, error_json = STATUS_FAILED, None, _encode(error.to_json())
        else:
            status, outcome_json, error_json = STATUS_COMPLETED, outcome_text, None
        now = shared.now()

        def body(rows: EffectJournalRows) -> None:
            if not rows.finalize(claim.scope_id, claim.replay_key, claim.envelope_hash, shared.owner_id,
                                 claim.lease_token, status, outcome_json, error_json, now):
                raise _error(CODE_LEASE_LOST, f"runtime effect replay lease was lost before finalizing scope "
                                              f"`{claim.scope_id}` replay key `{claim.replay_key}`")

        shared.write(body)

    def _release(self, claim: _Claimed) -> None:
        # Not upstream: after an unrecorded failure, hand the row back at once instead of
        # making the next attempt wait out the TTL. Guarded like finalize; a lost lease is fine.
        shared = self._shared
        now = shared.now()
        shared.write(lambda rows: rows.release(claim.scope_id, claim.replay_key, claim.envelope_hash,
                                               shared.owner_id, claim.lease_token, now))

    def _run_claimed(self, claim: _Claimed, envelope: EffectEnvelope, local_executor: LocalExecutor | None,
                     cancel: threading.Event | None, prepared_at: float) -> Any:
        shared = self._shared
        cancelled = threading.Event()
        done = threading.Event()
        result: dict[str, Any] = {}

        def run() -> None:
            try:
                if envelope.command.kind == "sleep":
                    if claim.due_at_ms is not None:
                        remaining = claim.due_at_ms - shared.now()
                        if remaining > 0:
                            cancelled.wait(remaining / 1000)
                    result["ok"] = dict(SLEEP_OUTCOME)
                elif envelope.command.kind == "process":
                    if not isinstance(local_executor, ProcessExecutor):
                        raise _error(CODE_EXECUTOR_UNAVAILABLE, "no process executor is available for process command")
                    result["ok"] = _run_process_op(local_executor.registry, envelope.command.fields.get("command"),
                                                   cancelled)
                elif local_executor is None:
                    raise _error(CODE_EXECUTOR_UNAVAILABLE,
                                 f"no local executor is available for {envelope.command.kind}")
                else:
                    result["ok"] = local_executor(envelope, cancelled)
            except EffectControllerError as exc:
                result["err"] = exc
            except BaseException as exc:  # handed to the calling thread, which re-raises it
                result["exc"] = exc
            finally:
                done.set()

        worker = threading.Thread(target=run, daemon=True,
                                  name=f"lashdb-effect-{claim.scope_id}-{claim.replay_key}")
        interval = max(shared.ttl_ms // 3, 1) / 1000
        worker.start()
        try:
            self._supervise(claim, done, cancelled, interval, cancel, prepared_at + interval)
        except BaseException:
            # Whatever ends the wait early (lost lease, caller cancel, KeyboardInterrupt) also
            # tells the executor to stop.
            cancelled.set()
            raise
        if "exc" in result:
            self._release_then(claim, result["exc"])
        if "err" in result:
            self._finalize(claim, None, result["err"])
            raise result["err"]
        text = _encode(result["ok"])
        self._finalize(claim, text, None)
        # Hand back what a replay would return, so first run and replay agree exactly.
        return _parse_json(text)

    def _supervise(self, claim: _Claimed, done: threading.Event, cancelled: threading.Event, interval: float,
                   cancel: threading.Event | None, next_renewal: float) -> None:
        """Renew the lease every ``interval`` seconds until the worker is done (§6.6)."""
        # ``next_renewal`` counts from the claim, not from here: starting the worker thread can
        # take a sizeable part of a short TTL on a loaded machine.
        while True:
            timeout = max(next_renewal - time.monotonic(), 0.0)
            if cancel is not None:
                # A caller's cancel event cannot wake this wait, so look at it often.
                timeout = min(timeout, CANCEL_POLL_S)
            if done.wait(timeout):
                return
            if cancel is not None and cancel.is_set():
                cancelled.set()
                self._release_then(claim, EffectCancelled(self.scope_id, claim.replay_key))
            renewing_at = time.monotonic()
            if renewing_at < next_renewal:
                continue
            try:
                self._renew(claim)
            except EffectControllerError as renew_error:
                # The failed renewal is the effect's result: stop the executor, then still try to
                # record it; for a lost lease finalize fails under the same guard.
                cancelled.set()
                try:
                    self._finalize(claim, None, renew_error)
                except EffectControllerError as finalize_error:
                    raise finalize_error from renew_error
                raise
            next_renewal = renewing_at + interval

    def _release_then(self, claim: _Claimed, exc: BaseException) -> None:
        try:
            self._release(claim)
        except EffectControllerError as release_error:
            exc.add_note(f"the claim could not be released: {release_error}")
        raise exc

