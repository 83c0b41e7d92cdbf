"""Doctor's check of the list summary a lashdb commit keeps in a SQLite session's head.

Contract: the check :func:`make_check` builds (``doctor`` registers it in its ``CHECKS`` as
``list_summary``; this module does not import ``doctor``, so it takes the finding type from it)
compares what the head's list summary claims (live and tombstoned rows, live user messages, the
first one's node id, blob rows and bytes when it keeps them: what ``sessions list`` shows without
scanning) with one scan of the rows, and reports one WARNING naming each figure that differs. A head without a summary (written by
upstream, or by an older lashdb) has nothing to compare: no finding. Read-only, like every check.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["difference", "make_check"]

_FIGURES = ("live nodes", "tombstoned nodes", "user messages", "first user message", "blobs", "blob bytes")


def difference(reader: Any) -> str | None:
    """What is wrong with the head's list summary of ``reader``'s session, or ``None`` (none, or it agrees)."""
    stored = reader.stored_list_summary()
    if stored is None:
        return None
    scanned = reader.scanned_list_summary()
    differ = ", ".join(f"{name} {s!r} stored but {g!r} in the file"
                       for i, (name, s, g) in enumerate(zip(_FIGURES, stored, scanned))
                       if s != g and (i < 4 or s is not None))  # blob figures may be unkept
    if not differ:
        return None
    return (f"the head's list summary disagrees with the file ({differ}): `sessions list` shows the stored "
            "figures; a writer outside lashdb changed graph or blob rows without rewriting the head. The next "
            "commit, or `lashdb vacuum` on the session, rewrites it")


def make_check(finding: Callable[..., Any], severity: str, applies: Callable[[Any], bool]) -> Callable[..., Any]:
    """The ``list_summary`` doctor check: ``None`` where ``applies(found)`` is false, else the findings."""
    def list_summary(found: Any, ctx: Any) -> list[Any] | None:
        """The head's list summary, when it has one, agrees with the graph and blob rows."""
        if not applies(found):
            return None
        text = difference(ctx.health(found.path).reader())
        return [] if text is None else [finding("list_summary", severity, text)]
    return list_summary
