"""Small readers for the runtime-contract JSON documents (leases, queued work, commits).

Contract: the strict readers return the named field with the expected JSON type or raise
``ValueError`` naming the field; the ``from_json`` methods built on them turn a document upstream
would reject into that ``ValueError`` and nothing else. The lenient readers (for inspection of
files that may be foreign or damaged) never raise: a value of the wrong shape reads as ``None``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any


def loads(text: str) -> Any:
    """Parse JSON text the way upstream does: ``NaN``/``Infinity`` are rejected (``ValueError``)."""
    def reject(constant: str) -> Any:
        # Python's parser accepts NaN/Infinity; upstream's does not.
        raise ValueError(f"invalid JSON number `{constant}`")

    return json.loads(text, parse_constant=reject)


# --- strict readers ---------------------------------------------------------------------------------
# ``what`` names the document in the message (``session head.checkpoint_ref is int, expected a
# string``); ``error`` is the exception type the caller's contract promises (ValueError by default,
# InvalidDeploymentValue for deployment values).

Error = Callable[[str], Exception]


def _type(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _where(what: str | None, key: str) -> str:
    return f"{what}.{key}" if what else f"field `{key}`"


def _missing(what: str | None, key: str) -> str:
    return f"{what} has no `{key}`" if what else f"missing field `{key}`"


def obj(doc: Any, what: str, *, error: Error = ValueError, kind: type = dict) -> dict:
    """``doc`` itself if it is a JSON object (an instance of ``kind``: callers building values may pass a Mapping)."""
    if not isinstance(doc, kind):
        raise error(f"{what} is {_type(doc)}, expected an object")
    return doc


def field(doc: Mapping, key: str, what: str | None = None, *, error: Error = ValueError) -> Any:
    """A required field of any type (present, maybe null)."""
    if key not in doc:
        raise error(_missing(what, key))
    return doc[key]


def check_text(value: Any, what: str, *, optional: bool = False, error: Error = ValueError) -> str | None:
    """``value`` if it is text (or ``None`` when ``optional``)."""
    if (value is None and optional) or isinstance(value, str):
        return value
    raise error(f"{what} is {_type(value)}, expected a string")


def text(doc: Mapping, key: str, what: str | None = None, *, error: Error = ValueError) -> str:
    """A required text field."""
    value = field(doc, key, what, error=error)
    if not isinstance(value, str):
        raise error(f"{_where(what, key)} is {_type(value)}, expected a string")
    return value


def opt_text(doc: Mapping, key: str, what: str | None = None, *, error: Error = ValueError) -> str | None:
    """An optional text field (missing or null: ``None``)."""
    value = doc.get(key)
    if value is not None and not isinstance(value, str):
        raise error(f"{_where(what, key)} is {_type(value)}, expected a string")
    return value


def integer(doc: Mapping, key: str, what: str | None = None, default: int | None = None, *,
            error: Error = ValueError) -> int:
    """An integer field (not a bool); missing or null gives ``default`` if one is given."""
    if doc.get(key) is None:
        if default is None:
            raise error(_missing(what, key))
        return default
    value = doc[key]
    if isinstance(value, bool) or not isinstance(value, int):
        raise error(f"{_where(what, key)} is {_type(value)}, expected an integer")
    return value


def count(doc: Mapping, key: str, what: str | None = None, default: int | None = None, *,
          error: Error = ValueError) -> int:
    """A non-negative integer field; ``default`` (if given) when missing."""
    if key not in doc and default is not None:
        return default
    value = field(doc, key, what, error=error)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise error(f"{_where(what, key)} is {value!r}, expected a non-negative integer")
    return value


def u64(doc: Mapping, key: str, what: str | None = None, default: int | None = None, *,
        error: Error = ValueError) -> int:
    """An unsigned 64-bit integer field; missing (or null, when there is a default) gives ``default``."""
    if key not in doc or (doc[key] is None and default is not None):
        if default is None:
            raise error(_missing(what, key))
        return default
    value = doc[key]
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**64:
        raise error(f"{_where(what, key)} is {value!r}, expected an unsigned integer")
    return value


def array(doc: Mapping, key: str, what: str | None = None, *, error: Error = ValueError) -> list:
    """A required list field."""
    value = field(doc, key, what, error=error)
    if not isinstance(value, list):
        raise error(f"{_where(what, key)} is {_type(value)}, expected a list")
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
