"""Small readers for the runtime-contract JSON documents (leases, queued work, commits).

Contract: the strict readers return the named field with the expected JSON type or raise
``ValueError`` naming the field; the ``from_json`` methods built on them turn a document upstream
would reject into that ``ValueError`` and nothing else. The lenient readers (for inspection of
files that may be foreign or damaged) never raise: a value of the wrong shape reads as ``None``.
"""

from __future__ import annotations

import json
from typing import Any


def loads(text: str) -> Any:
    """Parse JSON text the way upstream does: ``NaN``/``Infinity`` are rejected (``ValueError``)."""
    def reject(constant: str) -> Any:
        # Python's parser accepts NaN/Infinity; upstream's does not.
        raise ValueError(f"invalid JSON number `{constant}`")

    return json.loads(text, parse_constant=reject)


def obj(doc: Any, what: str) -> dict:
    """``doc`` itself if it is a JSON object."""
    if not isinstance(doc, dict):
        raise ValueError(f"{what} is {type(doc).__name__}, expected an object")
    return doc


def text(doc: dict, key: str) -> str:
    """A required text field."""
    value = doc.get(key)
    if not isinstance(value, str):
        raise ValueError(f"missing text field `{key}`")
    return value


def opt_text(doc: dict, key: str) -> str | None:
    """An optional text field (missing or null: ``None``)."""
    value = doc.get(key)
    if value is not None and not isinstance(value, str):
        raise ValueError(f"field `{key}` is not text")
    return value


def count(doc: dict, key: str, default: int | None = None) -> int:
    """A non-negative integer field; ``default`` (if given) when missing."""
    value = doc.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"missing non-negative integer field `{key}`")
    return value


def array(doc: dict, key: str) -> list:
    """A required list field."""
    value = doc.get(key)
    if not isinstance(value, list):
        raise ValueError(f"missing list field `{key}`")
    return value


# --- lenient readers (inspection) ------------------------------------------------------------------


def lenient_loads(text: Any, *, strict: bool = False) -> tuple[Any, str | None]:
    """``(document, None)`` for JSON text, ``(None, reason)`` for anything else; never raises.
    ``strict`` rejects ``NaN``/``Infinity`` like :func:`loads`."""
    if not isinstance(text, str):
        return None, f"expected JSON text, got {type(text).__name__}"
    try:
        return (loads(text) if strict else json.loads(text)), None
    except (ValueError, TypeError, RecursionError) as exc:
        return None, str(exc)


def get_path(doc: Any, *path: str) -> Any:
    """``doc[path[0]][path[1]]…``, or ``None`` as soon as a step is not an object."""
    for key in path:
        if not isinstance(doc, dict):
            return None
        doc = doc.get(key)
    return doc


def text_or_none(value: Any) -> str | None:
    """``value`` if it is text, else ``None``."""
    return value if isinstance(value, str) else None


def int_or_none(value: Any) -> int | None:
    """``value`` if it is an integer (not a bool), else ``None``."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None
