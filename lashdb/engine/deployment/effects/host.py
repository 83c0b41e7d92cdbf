"""The deployment-level effect host and the asyncio views of hosts and controllers.

Contract:
- :class:`EffectHost` hands out :class:`EffectController` objects that share its backend, owner
  id, lease-token counter and replay flag; :meth:`EffectHost.start_replay` switches them all,
  permanently. Scopes are validated when a controller is made.
- :class:`AsyncEffectController` runs each effect on a thread of its own (effects block for their
  whole run; a shared pool would serialise them); cancelling the awaiting task sets the effect's
  cancel event.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable
from typing import Any

from lashdb.engine.base.aio import AsyncFacade
from lashdb.engine.base.timing import DURABLE, Clock, deadline

from ..ports import DeploymentBackend
from .controller import EffectController, EffectReplayOptions, _encode, _open_shared, _Shared
from .errors import STATUS_FAILED, EffectControllerError
from .types import EffectEnvelope, ExecutionScope, LocalExecutor


class EffectHost:
    """Deployment-level effect host: scoped controllers sharing one backend, owner and replay flag."""

    durability_tier = DURABLE
    requires_durable_attachment_store = True
    supports_durable_effects = True

    def __init__(self, shared: _Shared) -> None:
        self._shared = shared

    @classmethod
    def open(cls, path: str | os.PathLike[str], options: EffectReplayOptions | None = None, *,
             clock: Clock | None = None) -> EffectHost:
        """Open or create the effects database at ``path``; refuse a foreign or other-kind file untouched."""
        return cls(_open_shared(path, options, clock))

    @classmethod
    def on_backend(cls, backend: DeploymentBackend, options: EffectReplayOptions | None = None, *,
                   clock: Clock | None = None) -> EffectHost:
        """A host over an already opened effect-journal backend (any storage; closing the host closes it)."""
        return cls(_Shared(backend, options or EffectReplayOptions(), clock))

    @classmethod
    def memory(cls, options: EffectReplayOptions | None = None, *, clock: Clock | None = None) -> EffectHost:
        """A host over a private in-memory database (no WAL)."""
        return cls(_open_shared(None, options, clock))

    @property
    def path(self) -> str | None:
        """The effects file, or ``None`` in memory."""
        return self._shared.path

    @property
    def owner_id(self) -> str:
        """The lease owner id every scoped controller of this host uses."""
        return self._shared.owner_id

    @property
    def replay_mode(self) -> bool:
        """True once strict replay has been started."""
        return self._shared.replay_mode

    def scoped(self, scope: ExecutionScope) -> EffectController:
        """A controller for ``scope`` (validated: blank ids raise ``missing_execution_scope_id``)."""
        return EffectController(self._shared, scope, owns=False)

    def scoped_static(self, scope: ExecutionScope) -> EffectController:
        """Same as :meth:`scoped`: this host's controllers may outlive any one run."""
        return self.scoped(scope)

    def start_replay(self) -> None:
        """Switch every controller of this host (permanently) to strict replay."""
        self._shared.replay_mode = True

    def settle_in_progress(self, scope_id: str, replay_key: str, error: EffectControllerError,
                           decide: Callable[[tuple[Any, ...] | None, int], bool]) -> bool:
        """Operator settlement (``lashdb effects resolve``): in one write transaction read the row,
        ask ``decide(row, now)`` (it may raise to refuse) and, when it says so, take the row's lease
        and record ``error`` as its failure, so a replay reports that error. True when written."""
        shared = self._shared
        now = shared.now()
        token = shared.next_token()

        def body(rows: Any) -> bool:
            row = rows.get(scope_id, replay_key)
            if not decide(row, now):
                return False
            stored_due = row[5] if isinstance(row[5], int) else None
            rows.claim(scope_id, replay_key, shared.owner_id, token, deadline(now, shared.ttl_ms), stored_due, now)
            return rows.finalize(scope_id, replay_key, row[0], shared.owner_id, token, STATUS_FAILED, None,
                                 _encode(error.to_json()), now)

        return shared.write(body)

    def close(self) -> None:
        """Close the shared backend; the host and its controllers cannot be used afterwards."""
        self._shared.close()

    def __enter__(self) -> EffectHost:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


# --- asyncio ---------------------------------------------------------------------------------------------


async def _in_own_thread(fn: Callable[[threading.Event], Any]) -> Any:
    # Each effect gets its own thread: effects block for their whole run, and a shared pool
    # (or the facade's single worker) would serialise concurrent effects.
    loop = asyncio.get_running_loop()
    future: asyncio.Future = loop.create_future()
    cancel = threading.Event()

    def settle(setter: Callable[[Any], None], value: Any) -> None:
        if not future.done():
            setter(value)

    def run() -> None:
        try:
            value = fn(cancel)
        except BaseException as exc:  # delivered to the awaiting task
            outcome, setter = exc, future.set_exception
        else:
            outcome, setter = value, future.set_result
        try:
            loop.call_soon_threadsafe(settle, setter, outcome)
        except RuntimeError:
            # The loop is closed, so the awaiting task no longer exists: no one to deliver to.
            pass

    threading.Thread(target=run, daemon=True, name="lashdb-aio-effect").start()
    try:
        return await future
    except asyncio.CancelledError:
        cancel.set()
        raise


class AsyncEffectController:
    """asyncio view of a controller: each ``execute_effect`` runs on a thread of its own."""

    def __init__(self, controller: EffectController) -> None:
        self.sync = controller
        self.scope = controller.scope
        self.scope_id = controller.scope_id
        self.turn_id = controller.turn_id

    async def execute_effect(self, envelope: EffectEnvelope, local_executor: LocalExecutor | None = None) -> Any:
        """Await :meth:`EffectController.execute_effect`; task cancellation cancels the effect."""
        controller = self.sync
        return await _in_own_thread(
            lambda cancel: controller.execute_effect(envelope, local_executor, cancel=cancel))

    def start_replay(self) -> None:
        """Switch to strict replay (shared with the host)."""
        self.sync.start_replay()


class AsyncEffectHost(AsyncFacade[EffectHost]):
    """asyncio facade of an :class:`EffectHost` whose effects run concurrently."""

    def scoped(self, scope: ExecutionScope) -> AsyncEffectController:
        """An asyncio controller for ``scope`` (validated like :meth:`EffectHost.scoped`)."""
        return AsyncEffectController(self.sync.scoped(scope))

    def scoped_static(self, scope: ExecutionScope) -> AsyncEffectController:
        """Same as :meth:`scoped`."""
        return self.scoped(scope)

    def start_replay(self) -> None:
        """Switch every controller of the host to strict replay."""
        self.sync.start_replay()

