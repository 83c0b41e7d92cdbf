"""The process registry's pure rules: validation, row encoding, terminal projection, lease tokens.

Contract:
- :func:`validate_registration` refuses what upstream refuses, with upstream's messages, before any
  storage is touched; :func:`registration_hash` is the SHA-256 of the canonical registration.
- Rows travel as canonical JSON: :func:`encode` refuses a value that cannot be stored
  (:class:`ProcessRegistryError` naming the path), :func:`decode` turns undecodable text into
  ``failed to decode process registry row: …``.
- :func:`project` applies a terminal event to a record; :func:`wake_delivery` builds the wake a
  wake-carrying event owes its target scope (``wake:<sha256(scope, dedupe key)>``).
- :func:`lease_token` is upstream's token: SHA-256 hex of ``<process>:<owner>:<now>:<fencing>``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable
from typing import Any

from lashdb.engine.base import values
from lashdb.engine.base.canonical import CanonicalJsonError, dumps, sha256_hex
from lashdb.engine.base.errors import ProcessRegistryError, UnstorableValue

from .process_model import (
    InvalidDeploymentValue,
    ProcessRecord,
    ProcessRegistration,
    ProcessWakeDelivery,
    SessionScope,
    TerminalSemantics,
    WakeSemantics,
)

__all__ = ["decode", "decode_error", "encode", "lease_token", "project", "registration_hash", "scope_of",
           "unknown", "validate_registration", "wake_delivery"]


def lease_token(process_id: str, owner_id: str, now_ms: int, fencing_token: int) -> str:
    """Upstream's lease token: SHA-256 hex of ``<process>:<owner>:<now>:<fencing>``."""
    return hashlib.sha256(f"{process_id}:{owner_id}:{now_ms}:{fencing_token}".encode()).hexdigest()


def scope_of(scope: SessionScope | str) -> SessionScope:
    """A :class:`SessionScope` from a scope or a bare session id."""
    if isinstance(scope, SessionScope):
        return scope
    if isinstance(scope, str):
        return SessionScope(scope)
    raise ProcessRegistryError(f"expected a SessionScope or a session id, got {type(scope).__name__}")


def decode_error(exc: Exception) -> ProcessRegistryError:
    """The error for a stored row that cannot be decoded."""
    return ProcessRegistryError(f"failed to decode process registry row: {exc}")


def decode(text: Any, reader: Callable[[Any], Any]) -> Any:
    """``reader(json.loads(text))``; undecodable text is :func:`decode_error`."""
    try:
        if not isinstance(text, str):
            raise InvalidDeploymentValue(f"expected JSON text, got {type(text).__name__}")
        return reader(json.loads(text))
    except (ValueError, RecursionError) as exc:
        raise decode_error(exc) from exc


def encode(value: Any) -> str:
    """The canonical JSON text of ``value.to_json()``; refuses a value that cannot be stored."""
    try:
        doc = value.to_json()
        values.check(doc, type(value).__name__)
        return dumps(doc)
    except (CanonicalJsonError, UnstorableValue) as exc:
        raise ProcessRegistryError(f"failed to encode process row: {exc}") from exc


def unknown(process_id: str) -> ProcessRegistryError:
    """The error for a process id with no record."""
    return ProcessRegistryError(f"unknown process `{process_id}`")


def validate_registration(reg: ProcessRegistration) -> None:
    """Refuse an empty id, a wrong env capture, bad or duplicate event types, terminals without output."""
    pid = reg.id
    if not pid.strip():
        raise ProcessRegistryError("process id must be a non-empty string")
    if reg.input.requires_env:
        if reg.env_ref is None:
            raise ProcessRegistryError(f"process `{pid}` requires a captured execution env")
    elif reg.env_ref is not None:
        raise ProcessRegistryError(f"process `{pid}` must not capture an execution env for this input kind")
    seen: set[str] = set()
    for declared in reg.event_types:
        if not declared.name.strip():
            raise ProcessRegistryError(f"process `{pid}` declares an empty event type")
        if declared.name in seen:
            raise ProcessRegistryError(f"process `{pid}` declares duplicate event type `{declared.name}`")
        seen.add(declared.name)
        terminal = declared.terminal
        if terminal is not None and terminal.state != "completed" and terminal.await_output is None:
            raise ProcessRegistryError(
                f"terminal event `{declared.name}` for process `{pid}` must declare await output")


def registration_hash(reg: ProcessRegistration) -> str:
    """SHA-256 of the canonical (completed) registration."""
    try:
        return sha256_hex(reg.to_json())
    except CanonicalJsonError as exc:
        raise ProcessRegistryError(f"failed to hash process `{reg.id}` registration: {exc}") from exc


def project(record: ProcessRecord, terminal: TerminalSemantics, at_ms: int) -> ProcessRecord:
    """The record after a terminal event: its state and await output, no wait."""
    return dataclasses.replace(record, status=terminal.state, await_output=terminal.await_output,
                               wait=None, updated_at_ms=at_ms)


def wake_delivery(record: ProcessRecord, sequence: int, event_type: str, invocation: dict, occurred_ms: int,
                  wake: WakeSemantics | None, target: SessionScope | None) -> ProcessWakeDelivery | None:
    """The wake an event owes ``target``, or None without a wake or a target."""
    if wake is None or target is None:
        return None
    try:
        digest = sha256_hex([target.scope_id, wake.dedupe_key])
    except CanonicalJsonError as exc:
        raise ProcessRegistryError(f"failed to hash wake delivery for process `{record.id}`: {exc}") from exc
    return ProcessWakeDelivery(
        wake_id=f"wake:{digest}", target_session_id=target.session_id, target_scope_id=target.scope_id,
        process_id=record.id, sequence=sequence, event_type=event_type, event_invocation=invocation,
        dedupe_key=wake.dedupe_key, input=wake.input, created_at_ms=occurred_ms,
        process_caused_by=record.provenance.caused_by)
