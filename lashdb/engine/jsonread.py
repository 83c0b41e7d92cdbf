"""Small readers for the runtime-contract JSON documents (leases, queued work, commits).

Contract: each returns the named field with the expected JSON type or raises ``ValueError`` naming
the field; the ``from_json`` methods built on them turn a document upstream would reject into
that ``ValueError`` and nothing else.
"""

from __future__ import annotations

from typing import Any


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
