"""Millisecond timestamps, TTLs and counters crossing into SQLite INTEGER (runtime contract §0.1, W17).

Contract: caller-supplied TTLs, revisions, counts and timestamps are checked before the database is
touched — not an ``int`` (or a ``bool``) raises ``TypeError``, a negative value raises
``ValueError``, and a stored value above 2^63−1 raises ``ValueError``. A TTL may be any
non-negative size: every computed instant (now + TTL) saturates at 2^63−1, the largest value
SQLite INTEGER holds, so nothing is ever stored negative.

It is also the one home of the wall clock (:func:`wall_clock_ms`), the one ISO 8601 rendering of
epoch milliseconds (:func:`iso_ms`), the lenient parser of stored times (:func:`parse_timestamp_ms`) and the ``DURABLE`` durability tier every store reports.
"""

from __future__ import annotations

from collections.abc import Callable

import datetime as _dt
import functools
import re
import time
from typing import Any

MAX_MS = (1 << 63) - 1
DURABLE = "durable"

# An injectable clock: epoch milliseconds.
Clock = Callable[[], int]


def wall_clock_ms() -> int:
    """Milliseconds since the Unix epoch, from the system clock."""
    return time.time_ns() // 1_000_000


def iso_ms(epoch_ms: int | None) -> str | None:
    """ISO 8601 UTC text (``…20Z`` or ``…20.123Z``) of epoch milliseconds; ``None`` or out of range is ``None``."""
    if epoch_ms is None:
        return None
    # Integer arithmetic and a remembered date: a listing formats two times per session, at a third of
    # what datetime.fromtimestamp().isoformat() cost (and exact where a float's division is not).
    try:
        seconds, millis = divmod(int(epoch_ms), 1000)
    except (TypeError, ValueError, OverflowError):
        return None
    if not _ISO_MIN_S <= seconds <= _ISO_MAX_S:
        return None
    days, second = divmod(seconds, 86_400)
    minute, second = divmod(second, 60)
    text = f"{_iso_date(days)}T{_CLOCK[minute]}:{_TWO_DIGITS[second]}"
    return f"{text}.{millis:03d}Z" if millis else f"{text}Z"


@functools.lru_cache(maxsize=1024)
def _iso_date(days: int) -> str:
    """``YYYY-MM-DD`` of a day counted from 1970-01-01 (the times of one listing fall on few days)."""
    return (_EPOCH_DATE + _dt.timedelta(days=days)).isoformat()


# The years datetime (and so ISO 8601 without an expanded year) can show: 0001 to 9999.
_ISO_MIN_S = -62_135_596_800
_ISO_MAX_S = 253_402_300_799
_EPOCH_DATE = _dt.date(1970, 1, 1)
_TWO_DIGITS = [f"{n:02d}" for n in range(60)]
_CLOCK = [f"{h:02d}:{m:02d}" for h in range(24) for m in range(60)]
"""``HH:MM`` of each minute of a day."""


_FRACTION = re.compile(r"(\.\d{6})\d+")


def parse_timestamp_ms(text: Any) -> int | None:
    """Epoch ms of a stored time: ``unix:<seconds>`` (upstream meta), RFC 3339 text, or bare seconds."""
    if type(text) is str and text[:5] == "unix:" and text[5:].isdecimal() and len(text) < 24:
        return int(text[5:]) * 1000  # what upstream writes, and what a listing reads once per session
    if isinstance(text, bool):
        return None
    if isinstance(text, (int, float)):
        return int(text * 1000)
    if not isinstance(text, str) or not text.strip():
        return None
    value = text.strip()
    if value.startswith("unix:"):
        value = value[5:]
    try:
        return int(float(value) * 1000)
    except ValueError:
        pass
    try:
        moment = _dt.datetime.fromisoformat(_FRACTION.sub(r"\1", value).replace("z", "Z"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=_dt.timezone.utc)
    return int(moment.timestamp() * 1000)


def _require_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if value < 0:
        raise ValueError(f"{name} must not be negative (got {value})")
    return value


def stored(name: str, value: object) -> int:
    """Return ``value`` if it is an int in 0..2^63−1 (storable as is); raise otherwise."""
    value = _require_int(name, value)
    if value > MAX_MS:
        raise ValueError(f"{name} {value} does not fit in a SQLite INTEGER (max {MAX_MS})")
    return value


def ttl(name: str, value: object) -> int:
    """Return a non-negative TTL in ms (any size: the deadline it produces saturates)."""
    return _require_int(name, value)


def deadline(now_ms: int, ttl_ms: int) -> int:
    """``now + ttl``, clamped to 2^63−1."""
    return min(now_ms + ttl_ms, MAX_MS)


def clock_now(value: object) -> int:
    """Validate one clock reading: a negative or non-int clock is a caller bug, not a timestamp."""
    return min(_require_int("clock reading", value), MAX_MS)
