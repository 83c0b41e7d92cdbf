"""Doctor's check of the graph summary a lashdb commit keeps in a SQLite session's head.

Contract: the check :func:`make_check` builds (``doctor`` registers it in its ``CHECKS`` as
``graph_summary``; this module does not import ``doctor``, so it takes the finding type from it)
compares what the head's graph summary claims (live and tombstoned rows, live user messages, the
first one's node id: what ``sessions list`` shows without scanning the graph) with one scan of the
rows, and reports one WARNING naming each figure that differs. A head without a summary (written by
upstream, or by an older lashdb) has nothing to compare: no finding. Read-only, like every check.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["difference", "make_check"]

_FIGURES = ("live nodes", "tombstoned nodes", "user messages", "first user message")


def difference(reader: Any) -> str | None:
    """What is wrong with the head's graph summary of ``reader``'s session, or ``None`` (none, or it agrees)."""
    stored = reader.stored_graph_summary()
    if stored is None:
        return None
    scanned = reader.scanned_graph_summary()
    if stored == scanned:
        return None
    differ = ", ".join(f"{name} {s!r} stored but {g!r} in the graph"
                       for name, s, g in zip(_FIGURES, stored, scanned) if s != g)
    return (f"the head's graph summary disagrees with the graph ({differ}): `sessions list` shows the stored "
            "figures; a writer outside lashdb changed graph rows without rewriting the head. The next commit, "
            "or `lashdb vacuum` on the session, rewrites it")


def make_check(finding: Callable[..., Any], severity: str, applies: Callable[[Any], bool]) -> Callable[..., Any]:
    """The ``graph_summary`` doctor check: ``None`` where ``applies(found)`` is false, else the findings."""
    def graph_summary(found: Any, ctx: Any) -> list[Any] | None:
        """The head's graph summary, when it has one, agrees with the graph rows."""
        if not applies(found):
            return None
        text = difference(ctx.health(found.path).reader())
        return [] if text is None else [finding("graph_summary", severity, text)]
    return graph_summary
