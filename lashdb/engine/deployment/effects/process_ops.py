"""Process operations (runtime contract §6.5): the ``process`` command's document and how it runs.

Contract:
- A ``process`` command carries an ``op``-tagged document (``start``, ``list``, ``transfer``,
  ``delete_session``, ``await``, ``cancel``, ``signal``) whose fields are in upstream's declared
  order; :func:`_parse_process_op` turns it into typed arguments or raises ``ValueError`` naming
  what is wrong, so a malformed command is refused when it is built, never recorded.
- The controller runs the operation against the registry a :class:`ProcessExecutor` supplies;
  a registry failure is recorded as code ``plugin`` with upstream's display form. ``await`` waits
  in slices so a lost lease or a cancelled caller never leaves the worker blocked.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Mapping
from typing import Any

from lashdb.engine.base import canonical, jsonread
from lashdb.engine.base.errors import LashdbError

from ..process_model import (
    ProcessEventAppendRequest,
    ProcessEventType,
    ProcessHandleDescriptor,
    ProcessIdentity,
    ProcessInput,
    ProcessProvenance,
    ProcessRegistration,
    SessionScope,
)
from .errors import EffectControllerError, _error

PROCESS_LIST_MODES = ("live", "all")
# How often a blocked `await` looks at its cancellation event.
_PROCESS_AWAIT_POLL_S = 0.05


def _session_scope(value: SessionScope | str) -> SessionScope:
    return SessionScope(value) if isinstance(value, str) else value


def _append_request_json(request: ProcessEventAppendRequest) -> dict[str, Any]:
    doc: dict[str, Any] = {"event_type": request.event_type, "payload": canonical.sorted_json(request.payload)}
    if request.replay_key is not None:
        doc["replay"] = {"key": request.replay_key}
    if request.wake_target_scope is not None:
        doc["wake_target_scope"] = request.wake_target_scope.to_json()
    return doc


_field, _text = jsonread.field, jsonread.text
_object = functools.partial(jsonread.obj, kind=Mapping)  # caller-built commands may be any Mapping


def _registration_from_json(doc: Any) -> ProcessRegistration:
    doc = _object(doc, "process registration")
    wake_target = doc.get("wake_target")
    env_ref = doc.get("env_ref")
    if env_ref is not None and not isinstance(env_ref, str):
        raise ValueError("process registration: `env_ref` must be a string")
    types = doc.get("event_types")
    if types is None:
        types = []  # upstream's serde default for a missing list
    if not isinstance(types, list):
        raise ValueError("process registration: `event_types` must be an array")
    return ProcessRegistration(
        _text(doc, "id", "process registration"),
        ProcessInput.from_json(_field(doc, "input", "process registration")),
        ProcessIdentity.from_json(_field(doc, "identity", "process registration")),
        tuple(ProcessEventType.from_json(t) for t in types),
        ProcessProvenance.from_json(_field(doc, "provenance", "process registration")),
        env_ref,
        None if wake_target is None else SessionScope.from_json(wake_target),
    )


def _append_request_from_json(doc: Any) -> ProcessEventAppendRequest:
    doc = _object(doc, "event append request")
    replay = doc.get("replay")
    key = None
    if replay is not None:
        key = _text(_object(replay, "event append request `replay`"), "key", "event append request replay")
    scope = doc.get("wake_target_scope")
    return ProcessEventAppendRequest(_text(doc, "event_type", "event append request"),
                                     _field(doc, "payload", "event append request"), key,
                                     None if scope is None else SessionScope.from_json(scope))


def _parse_process_op(doc: Any) -> tuple[str, dict[str, Any]]:
    """The op and typed arguments of a process command document; ValueError names what is wrong."""
    doc = _object(doc, "process command")
    op = doc.get("op")
    what = f"process command `{op}`"
    if op == "start":
        grant = doc.get("grant")
        if grant is not None:
            grant = _object(grant, "process start grant")
            grant = (SessionScope.from_json(_field(grant, "session_scope", "process start grant")),
                     ProcessHandleDescriptor.from_json(_field(grant, "descriptor", "process start grant")))
        return op, {"registration": _registration_from_json(_field(doc, "registration", what)), "grant": grant}
    if op == "list":
        mode = doc.get("mode", "live")
        if mode not in PROCESS_LIST_MODES:
            raise ValueError(f"{what}: unknown list mode {mode!r} (expected `live` or `all`)")
        return op, {"scope": SessionScope.from_json(_field(doc, "session_scope", what)), "mode": mode}
    if op == "transfer":
        ids = _field(doc, "process_ids", what)
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise ValueError(f"{what}: `process_ids` must be an array of strings")
        return op, {"from": SessionScope.from_json(_field(doc, "from_scope", what)),
                    "to": SessionScope.from_json(_field(doc, "to_scope", what)), "ids": tuple(ids)}
    if op == "delete_session":
        return op, {"session_id": _text(doc, "session_id", what)}
    if op == "await":
        return op, {"process_id": _text(doc, "process_id", what)}
    if op == "cancel":
        reason = doc.get("reason")
        if reason is not None and not isinstance(reason, str):
            raise ValueError(f"{what}: `reason` must be a string or null")
        return op, {"process_id": _text(doc, "process_id", what), "reason": reason}
    if op == "signal":
        _text(doc, "signal_name", what)
        _text(doc, "signal_id", what)
        return op, {"process_id": _text(doc, "process_id", what),
                    "request": _append_request_from_json(_field(doc, "request", what))}
    raise ValueError(f"unknown process command op {op!r}")


class ProcessExecutor:
    """The local executor of ``process`` commands: it supplies the process registry they run against.

    Handed any other command it fails with ``runtime_effect_local_executor_mismatch`` (upstream's
    process executor does the same).
    """

    def __init__(self, registry: Any) -> None:
        self.registry = registry

    def __call__(self, envelope: Any, cancelled: threading.Event) -> Any:
        # ``envelope`` is an EffectEnvelope; ``types`` imports this module, so it is not named here.
        raise _error("runtime_effect_local_executor_mismatch",
                     f"process executor cannot execute {envelope.command.kind} command directly")


def _await_process(registry: Any, process_id: str, cancelled: threading.Event) -> Any:
    from ..process_registry import ProcessWaitTimeout

    # Wait in slices so a lost lease or a cancelled caller does not leave the worker blocked forever.
    while True:
        try:
            return registry.await_process(process_id, timeout=_PROCESS_AWAIT_POLL_S)
        except ProcessWaitTimeout:
            if cancelled.is_set():
                raise _error("runtime_effect_cancelled",
                             f"awaiting process `{process_id}` was cancelled") from None


def _run_process_op(registry: Any, doc: Any, cancelled: threading.Event) -> dict[str, Any]:
    """Run one process operation against ``registry``; registry failures become code ``plugin``."""
    op, args = _parse_process_op(doc)
    try:
        if op == "start":
            registration = args["registration"]
            record = registry.register_process(registration)
            if args["grant"] is not None:
                scope, descriptor = args["grant"]
                registry.grant_handle(scope, registration.id, descriptor)
            result: dict[str, Any] = {"op": "start", "record": record.to_json()}
        elif op == "list":
            lister = registry.list_live_handle_grants if args["mode"] == "live" else registry.list_handle_grants
            result = {"op": "list", "entries": [[grant.to_json(), record.to_json()]
                                                for grant, record in lister(args["scope"])]}
        elif op == "transfer":
            registry.transfer_handle_grants(args["from"], args["to"], args["ids"])
            result = {"op": "transfer"}
        elif op == "delete_session":
            result = {"op": "delete_session", "report": registry.delete_session_process_state(
                args["session_id"]).to_json()}
        elif op == "await":
            result = {"op": "await", "output": _await_process(registry, args["process_id"], cancelled).to_json()}
        elif op == "cancel":
            process_id = args["process_id"]
            registry.append_event(process_id, ProcessEventAppendRequest.cancel_requested(process_id, args["reason"]))
            record = registry.get_process(process_id)
            if record is None:
                raise _error("plugin", f"plugin session error: unknown process `{process_id}`")
            result = {"op": "cancel", "record": record.to_json()}
        else:
            appended = registry.append_event(args["process_id"], args["request"])
            result = {"op": "signal", "event": appended.event.to_json()}
    except EffectControllerError:
        raise
    except LashdbError as exc:
        # Upstream's registry reports failures as a plugin session error; keep its display form.
        raise _error("plugin", f"plugin session error: {exc}") from exc
    return {"type": "process", "result": result}

