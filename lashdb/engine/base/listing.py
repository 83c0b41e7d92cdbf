"""The filters of ``sessions list`` (issue 14), shared by every reader that pushes them down.

Contract:
- A filter is a plain value: each reader (the per-file SQLite reader, the PostgreSQL catalog's one
  statement) applies the same fields with the same meaning, before a row is built and before
  ``--limit``.
- Meanings (all given filters must hold): ``since_ms <= modified <= until_ms`` (the file's modified
  time on a directory, ``updated_at_ms`` on PostgreSQL; a row without one never passes a time
  bound); ``model`` equal; ``cwd`` equal or beneath it (``/a`` takes ``/a`` and ``/a/b``, not
  ``/ab``); ``parent`` equal to the parent session id or a prefix of it; ``grep`` a case-insensitive
  substring of the session name or of the first user message; ``status`` the status's first word
  (``ok``, ``foreign``, ``unreadable``, ``damaged``) case-insensitively; ``children`` ``True`` keeps
  only child sessions (those naming a parent), ``False`` only top-level ones, ``None`` both.
- :func:`parse_when` reads ``--since``/``--until``: an ISO 8601 date or date-time (UTC when it has
  no offset) or a span back from now (``30s``, ``15m``, ``2h``, ``3d``, ``1w``).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import datetime, timezone

from .errors import UsageError

_SPAN = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$", re.IGNORECASE)
_UNIT_MS = {"s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 7 * 86_400_000}
STATUS_WORDS = ("ok", "foreign", "unreadable", "damaged")


def parse_when(text: str, *, now_ms: int, option: str = "--since") -> int:
    """``text`` (ISO 8601 date/date-time, or a span such as ``2h`` back from ``now_ms``) as epoch ms."""
    span = _SPAN.match(text)
    if span:
        return now_ms - int(span.group(1)) * _UNIT_MS[span.group(2).lower()]
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise UsageError(f"{option} {text!r}: not a time", hint="give an ISO date or date-time "
                         "(2026-01-31, 2026-01-31T12:00:00Z) or a span back from now (30m, 2h, 3d, 1w)") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return int(moment.timestamp() * 1000)


def status_word(status: str) -> str:
    """The first word of a ``sessions list`` status (``unreadable: …`` → ``unreadable``)."""
    return re.split(r"[\s:]", status.strip(), maxsplit=1)[0].casefold()


@dataclass(frozen=True)
class ListingFilter:
    """What ``sessions list`` keeps (see the module contract); the empty filter keeps everything."""

    since_ms: int | None = None
    until_ms: int | None = None
    model: str | None = None
    cwd: str | None = None
    status: str | None = None
    parent: str | None = None
    grep: str | None = None
    children: bool | None = None

    def __post_init__(self) -> None:
        if self.status is not None and self.status.casefold() not in STATUS_WORDS:
            raise UsageError(f"--status {self.status!r}: not a status", hint="choose one of " + ", ".join(STATUS_WORDS))
        if self.cwd is not None and len(self.cwd) > 1:
            object.__setattr__(self, "cwd", self.cwd.rstrip("/") or "/")

    # Cached: `sessions list` asks these once per file.
    @functools.cached_property
    def active(self) -> bool:
        """True when the filter can drop a row."""
        return self != ListingFilter()

    @functools.cached_property
    def needs_session(self) -> bool:
        """True when only a readable session row (not a non-session or unreadable file) can pass."""
        return any(v is not None for v in (self.model, self.cwd, self.parent, self.grep)) or self.children is True

    def time_ok(self, modified_ms: int | None) -> bool:
        """True when ``modified_ms`` is within the bounds (always, without bounds)."""
        if self.since_ms is None and self.until_ms is None:
            return True
        if modified_ms is None:
            return False
        return (self.since_ms is None or modified_ms >= self.since_ms) and \
            (self.until_ms is None or modified_ms <= self.until_ms)

    def status_ok(self, status: str) -> bool:
        """True when ``status``'s first word is the one asked for (always, without ``--status``)."""
        return self.status is None or status_word(status) == self.status.casefold()

    def cwd_prefix(self) -> str | None:
        """What a cwd beneath the filter's starts with (``None`` without ``--cwd``)."""
        if self.cwd is None:
            return None
        return self.cwd if self.cwd.endswith("/") else self.cwd + "/"

    def meta_ok(self, model: str | None, cwd: str | None, parent: str | None) -> bool:
        """True when a session's model, cwd and parent session id pass."""
        if self.model is not None and model != self.model:
            return False
        if self.cwd is not None and (cwd is None or not (cwd == self.cwd or cwd.startswith(self.cwd_prefix() or ""))):
            return False
        if self.parent is not None and (parent is None or not parent.startswith(self.parent)):
            return False
        return self.children is None or (parent is not None) == self.children

    def text_ok(self, name: str | None, first_message: str | None) -> bool:
        """True when ``--grep`` is a case-insensitive substring of the name or the first user message."""
        if self.grep is None:
            return True
        needle = self.grep.lower()
        return any(needle in text.lower() for text in (name, first_message) if text)


NO_FILTER = ListingFilter()

__all__ = ["NO_FILTER", "STATUS_WORDS", "ListingFilter", "parse_when", "status_word"]
