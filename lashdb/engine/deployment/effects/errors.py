"""The effect journal's vocabulary: replay states, error codes, and the errors it raises.

Contract:
- Every failure of the effect host is an :class:`EffectControllerError` whose ``str()`` is
  ``{code}: {message}``; the codes below are upstream's and are part of the contract (the stored
  ``error_json`` is ``{"code", "message"}``). A backend failure becomes ``sqlite_effect_replay_store``
  carrying the driver's own message.
- A row's ``status`` is one of :data:`STATUSES`; these names are the stored values.
"""

from __future__ import annotations

import types
from collections.abc import Mapping
from typing import Any

from lashdb.engine.base import jsonread
from lashdb.engine.base.errors import BackendError, LashdbError, StoreError

STATUS_IN_PROGRESS = "in_progress"
STATUS_COMPLETED = "completed"
STATUS_FAILED = "failed"
STATUSES = (STATUS_IN_PROGRESS, STATUS_COMPLETED, STATUS_FAILED)

DEFAULT_LEASE_TTL_MS = 30_000
BUSY_POLL_MS = 25
# W23: back off while another owner holds the row, but never past its lease expiry.
BUSY_POLL_MAX_MS = 200
CANCEL_POLL_S = 0.02

CODE_KEY_MISSING = "sqlite_effect_replay_key_missing"
CODE_ENVELOPE_HASH = "runtime_effect_envelope_hash"
CODE_MISSING = "sqlite_effect_replay_missing"
CODE_HASH_CONFLICT = "sqlite_effect_replay_hash_conflict"
CODE_CORRUPT_ROW = "sqlite_effect_replay_corrupt_row"
CODE_DECODE = "sqlite_effect_replay_decode"
CODE_ENCODE = "sqlite_effect_replay_encode"
CODE_LEASE_LOST = "sqlite_effect_replay_lease_lost"
CODE_STORE = "sqlite_effect_replay_store"
CODE_MISSING_SCOPE_ID = "missing_execution_scope_id"
CODE_EXECUTOR_UNAVAILABLE = "runtime_effect_local_executor_unavailable"

EFFECT_KINDS = (
    "llm_call", "direct", "tool_attempt", "tool_batch", "process", "exec_code", "checkpoint",
    "sync_execution_environment", "sleep", "await_event", "durable_step",
)

SLEEP_OUTCOME: Mapping[str, Any] = types.MappingProxyType({"type": "sleep"})

# Rust's `char::is_whitespace` (Unicode White_Space); Python's str.isspace also accepts
# U+001C..U+001F, which upstream would treat as a real id.
_RUST_WHITESPACE = frozenset(
    "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
    "\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)


def _blank(value: object) -> bool:
    return not isinstance(value, str) or all(ch in _RUST_WHITESPACE for ch in value)


# --- errors -------------------------------------------------------------------------------------------


class EffectControllerError(StoreError):
    """An effect failed or could not be replayed; ``str()`` is ``{code}: {message}``."""

    def __init__(self, code: str, message: str, *, hint: str | None = None) -> None:
        if not isinstance(code, str) or not isinstance(message, str):
            raise TypeError("EffectControllerError code and message must be str")
        self.code = code
        self.message = message
        super().__init__(f"{code}: {message}", hint=hint)

    def to_json(self) -> dict[str, str]:
        """The stored ``error_json`` form: ``{"code", "message"}``."""
        return {"code": self.code, "message": self.message}

    def __reduce__(self):
        return (type(self), (self.code, self.message))


class EffectCancelled(LashdbError):
    """The caller's cancel event was set while the effect was waiting or running."""

    hint = "the row keeps its state; the effect runs or replays on the next request"

    def __init__(self, scope_id: str, replay_key: str) -> None:
        self.scope_id = scope_id
        self.replay_key = replay_key
        super().__init__(f"runtime effect `{replay_key}` in scope `{scope_id}` was cancelled by its caller")


def _error(code: str, message: str) -> EffectControllerError:
    return EffectControllerError(code, message)


def _store_error(exc: LashdbError) -> EffectControllerError:
    message = exc.driver_message if isinstance(exc, BackendError) else str(exc)
    return EffectControllerError(CODE_STORE, message,
                                 hint="the effects database failed underneath; nothing was written")


def _decode_error(reason: object) -> EffectControllerError:
    return _error(CODE_DECODE, f"failed to decode runtime effect replay row: {reason}")


def _encode_error(reason: object) -> EffectControllerError:
    return _error(CODE_ENCODE, f"failed to encode runtime effect replay row: {reason}")


_parse_json = jsonread.loads


def _parse_error_json(text: str) -> EffectControllerError:
    doc = _parse_json(text)
    if not isinstance(doc, dict):
        raise ValueError(f"expected an object with `code` and `message`, got {type(doc).__name__}")
    for key in ("code", "message"):
        if not isinstance(doc.get(key), str):
            raise ValueError(f"missing text field `{key}`")
    return EffectControllerError(doc["code"], doc["message"])

