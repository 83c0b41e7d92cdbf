"""Read-only inspection of an effect journal (CLI: ``effects list`` / ``effects replay``; doctor).

Contract:
- Nothing here writes, or opens for writing: the file is read through the reader registered as
  ``"sqlite.effect_journal_reader"``, which refuses a file that is not an effect journal. A foreign
  (newer upstream) file is read where its columns allow; a missing column reads as None and is
  named in :attr:`StoreInfo.unavailable`.
- :func:`replay_step_for` says what a strict replay would do with a row, by the same states and
  error codes as the controller (:mod:`lashdb.engine.deployment.effects`), without doing it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from lashdb.engine.base import backends, jsonread
from .ports import reader_opener
from lashdb.engine.base.ints import from_i64
from lashdb.engine.base.timing import clock_now, wall_clock_ms
from lashdb.engine.deployment.effects.errors import (
    CODE_CORRUPT_ROW,
    CODE_DECODE,
    STATUS_COMPLETED,
    STATUS_FAILED,
    STATUS_IN_PROGRESS,
    _parse_error_json,
)

from .deployment_inspect import StoreInfo

__all__ = [
    "ACTION_BUSY", "ACTION_CORRUPT", "ACTION_REPLAY_ERROR", "ACTION_REPLAY_OUTCOME", "ACTION_STALE_LEASE",
    "EffectRow", "ReplayStep", "effects_info", "list_effects", "replay_plan", "replay_step_for",
    "stale_in_progress",
]

# The registered opener of the read-only journal reader.
READER = "sqlite.effect_journal_reader"

_COLUMNS = ("scope_id", "replay_key", "status", "envelope_hash", "lease_owner_id", "lease_token",
            "lease_expires_at_ms", "due_at_ms", "created_at_ms", "updated_at_ms", "outcome_json", "error_json")
_REQUIRED = ("scope_id", "replay_key", "status")


def _int_or_none(value: Any) -> int | None:
    return from_i64(value) if isinstance(value, int) else None


def _text_or_none(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def _lenient(text: str | None) -> tuple[Any, str | None]:
    return (None, None) if text is None else jsonread.lenient_loads(text, strict=True)


@dataclass(frozen=True)
class EffectRow:
    """One ``runtime_effect_replay`` row as stored; missing columns of a foreign file read as None."""

    scope_id: str
    replay_key: str
    status: str
    envelope_hash: str | None
    lease_owner_id: str | None
    lease_token: str | None
    lease_expires_at_ms: int | None
    due_at_ms: int | None
    created_at_ms: int | None
    updated_at_ms: int | None
    outcome_json: str | None
    error_json: str | None
    foreign: bool = False

    @property
    def outcome(self) -> Any:
        """The parsed outcome (None when absent or unparsable; see :attr:`decode_error`)."""
        return _lenient(self.outcome_json)[0]

    @property
    def error(self) -> Any:
        """The parsed ``{code, message}`` error (None when absent or unparsable)."""
        return _lenient(self.error_json)[0]

    @property
    def decode_error(self) -> str | None:
        """Why a present outcome/error column does not parse as JSON, else None."""
        for name, text in (("outcome_json", self.outcome_json), ("error_json", self.error_json)):
            reason = _lenient(text)[1]
            if reason is not None:
                return f"{name}: {reason}"
        return None

    @property
    def structured_scope_id(self) -> str | None:
        """Of a foreign row whose ``scope_id`` is a structured scope (newer upstream:
        ``{"kind":…,"execution_id":…}``), the bare execution id; otherwise None."""
        if not self.foreign or not self.scope_id.startswith("{"):
            return None
        doc, _ = _lenient(self.scope_id)
        execution_id = doc.get("execution_id") if isinstance(doc, dict) else None
        return execution_id if isinstance(execution_id, str) else None

    def matches_scope(self, scope: str) -> bool:
        """True when ``scope`` is this row's scope id (or, on a foreign row, its bare execution id)."""
        return self.scope_id == scope or self.structured_scope_id == scope

    def to_json(self) -> dict[str, Any]:
        """Stable keys; times are raw epoch ms."""
        return {
            "scope_id": self.scope_id, "replay_key": self.replay_key, "status": self.status,
            "envelope_hash": self.envelope_hash, "lease_owner_id": self.lease_owner_id,
            "lease_token": self.lease_token, "lease_expires_at_ms": self.lease_expires_at_ms,
            "due_at_ms": self.due_at_ms, "created_at_ms": self.created_at_ms,
            "updated_at_ms": self.updated_at_ms, "outcome": self.outcome, "error": self.error,
            "outcome_json": self.outcome_json, "error_json": self.error_json,
            "decode_error": self.decode_error, "foreign": self.foreign,
        }


ACTION_REPLAY_OUTCOME = "replay_outcome"
ACTION_REPLAY_ERROR = "replay_error"
ACTION_BUSY = "busy"
ACTION_STALE_LEASE = "stale_lease"
ACTION_CORRUPT = "corrupt"


@dataclass(frozen=True)
class ReplayStep:
    """What a strict replay of one key would do, without doing it.

    ``action``: ``replay_outcome`` | ``replay_error`` | ``busy`` | ``stale_lease`` | ``corrupt``;
    ``detail`` is the one-line reading (``replays outcome``, ``replays error <code>``,
    ``busy until <ms>``, ``stale lease: would re-execute``, ``corrupt row: <reason>``);
    ``error_code`` is the code the replay would raise (the recorded one, or the corrupt/decode code).
    """

    scope_id: str
    replay_key: str
    status: str
    action: str
    detail: str
    error_code: str | None
    busy_until_ms: int | None
    due_at_ms: int | None
    created_at_ms: int | None
    envelope_hash: str | None
    foreign: bool = False

    def to_json(self) -> dict[str, Any]:
        """Stable keys; times are raw epoch ms."""
        return {
            "scope_id": self.scope_id, "replay_key": self.replay_key, "status": self.status,
            "action": self.action, "detail": self.detail, "error_code": self.error_code,
            "busy_until_ms": self.busy_until_ms, "due_at_ms": self.due_at_ms,
            "created_at_ms": self.created_at_ms, "envelope_hash": self.envelope_hash, "foreign": self.foreign,
        }


def _open(path: str | os.PathLike[str]) -> Any:
    return backends.open_with(reader_opener(path, READER), path, _REQUIRED)


def _info(reader: Any) -> StoreInfo:
    unavailable = tuple(f"runtime_effect_replay.{c}" for c in _COLUMNS if c not in reader.columns)
    return StoreInfo(reader.path, reader.kind, reader.schema_version, reader.supported_version, reader.foreign,
                     unavailable, reader.damaged)


def _read_rows(path: str | os.PathLike[str], scope: str | None, status: str | None) -> list[EffectRow]:
    with _open(path) as reader:
        raw = reader.rows(_COLUMNS, scope, status)
        foreign = reader.foreign
    rows = []
    for values in raw:
        v = dict(zip(_COLUMNS, values))
        rows.append(EffectRow(
            _text_or_none(v["scope_id"]) or "", _text_or_none(v["replay_key"]) or "",
            _text_or_none(v["status"]) or "", _text_or_none(v["envelope_hash"]),
            _text_or_none(v["lease_owner_id"]), _text_or_none(v["lease_token"]),
            _int_or_none(v["lease_expires_at_ms"]), _int_or_none(v["due_at_ms"]),
            _int_or_none(v["created_at_ms"]), _int_or_none(v["updated_at_ms"]),
            _text_or_none(v["outcome_json"]), _text_or_none(v["error_json"]), foreign))
    return rows


def effects_info(path: str | os.PathLike[str]) -> StoreInfo:
    """Kind, schema version, ``foreign`` flag and unavailable columns of an effects file (read-only)."""
    with _open(path) as reader:
        return _info(reader)


def list_effects(path: str | os.PathLike[str], scope: str | None = None,
                 status: str | None = None) -> list[EffectRow]:
    """Rows of an effects file in creation order, optionally of one scope id and/or status (read-only).

    On a foreign file whose scope ids are structured (newer upstream), ``scope`` also matches a
    row's bare execution id, so the same ``--scope`` works on both.
    """
    # The reader also returns every structured (JSON object) scope id; they are matched here.
    rows = _read_rows(path, scope, status)
    return rows if scope is None else [row for row in rows if row.matches_scope(scope)]


def replay_step_for(row: EffectRow, now_ms: int) -> ReplayStep:
    """What a strict replay would do with ``row`` at ``now_ms`` (doctor uses it across scopes)."""
    now = clock_now(now_ms)

    def step(action: str, detail: str, code: str | None = None, busy: int | None = None) -> ReplayStep:
        return ReplayStep(row.scope_id, row.replay_key, row.status, action, detail, code, busy, row.due_at_ms,
                          row.created_at_ms, row.envelope_hash, row.foreign)

    if row.status == STATUS_COMPLETED:
        if row.outcome_json is None:
            return step(ACTION_CORRUPT, "corrupt row: completed runtime effect row is missing outcome_json",
                        CODE_CORRUPT_ROW)
        reason = _lenient(row.outcome_json)[1]
        if reason is not None:
            return step(ACTION_CORRUPT, f"corrupt row: outcome_json does not parse ({reason})", CODE_DECODE)
        return step(ACTION_REPLAY_OUTCOME, "replays outcome")
    if row.status == STATUS_FAILED:
        if row.error_json is None:
            return step(ACTION_CORRUPT, "corrupt row: failed runtime effect row is missing error_json",
                        CODE_CORRUPT_ROW)
        try:
            recorded = _parse_error_json(row.error_json)
        except (ValueError, TypeError, RecursionError) as exc:
            return step(ACTION_CORRUPT, f"corrupt row: error_json does not decode ({exc})", CODE_DECODE)
        return step(ACTION_REPLAY_ERROR, f"replays error {recorded.code}", recorded.code)
    if row.status == STATUS_IN_PROGRESS:
        expires = row.lease_expires_at_ms or 0
        if expires > now:
            return step(ACTION_BUSY, f"busy until {expires}", busy=expires)
        return step(ACTION_STALE_LEASE, "stale lease: would re-execute")
    return step(ACTION_CORRUPT, f"corrupt row: unknown runtime effect replay status `{row.status}`",
                CODE_CORRUPT_ROW)


def replay_plan(path: str | os.PathLike[str], scope: str, now_ms: int | None = None) -> list[ReplayStep]:
    """Dry run of a strict replay of ``scope``: each key, in creation order, and what it would do."""
    now = wall_clock_ms() if now_ms is None else clock_now(now_ms)
    return [replay_step_for(row, now) for row in list_effects(path, scope=scope)]


def stale_in_progress(path: str | os.PathLike[str], now_ms: int | None = None) -> list[EffectRow]:
    """``in_progress`` rows whose lease expired at or before ``now_ms`` (default: wall clock)."""
    now = wall_clock_ms() if now_ms is None else clock_now(now_ms)
    return [row for row in list_effects(path, status=STATUS_IN_PROGRESS)
            if (row.lease_expires_at_ms or 0) <= now]
