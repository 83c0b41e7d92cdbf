"""Canonical JSON text and SHA-256 hashes of the deployment stores (deployment-stores §0.4).

Contract:
- :func:`dumps` writes compact JSON exactly as upstream's serializer does: no whitespace, UTF-8
  kept raw, upstream's string escapes, integers in decimal, floats in the shortest round-trip
  form laid out the way upstream lays them out (``1e20``, ``1.0``, ``0.001``), non-finite floats
  as ``null``. Dict order is written as given: callers build typed records in declared field
  order and pass free-form values through :func:`sorted_json` first.
- :func:`sha256_hex` hashes that text; :func:`string_form` is the "string form" of a value.
- :func:`json_equal` is JSON value equality as upstream compares values (``1`` ≠ ``1.0``,
  ``true`` ≠ ``1``, object key order irrelevant).
- A value that cannot be written (a lone surrogate, a non-JSON Python object) raises
  :class:`CanonicalJsonError`; stores wrap it into their own "failed to hash …" message.
"""

from __future__ import annotations

import hashlib
import json
import math
import unicodedata
from typing import Any

__all__ = [
    "CanonicalJsonError", "dumps", "format_float", "json_equal", "sha256_hex", "sorted_json",
    "string_form",
]


class CanonicalJsonError(ValueError):
    """A value has no canonical JSON text (not JSON-representable, or not valid UTF-8)."""


def format_float(value: float) -> str:
    """Upstream's text for a finite float: shortest digits, decimal or exponent layout."""
    if value == 0.0:
        return "-0.0" if math.copysign(1.0, value) < 0 else "0.0"
    sign = "-" if value < 0 else ""
    mantissa, _, exp_text = repr(abs(value)).partition("e")
    exponent = int(exp_text) if exp_text else 0
    whole, _, frac = mantissa.partition(".")
    digits = (whole + frac).lstrip("0")
    # Fold trailing zeros into the exponent so that value == int(digits) * 10**k.
    k = exponent - len(frac)
    stripped = digits.rstrip("0")
    k += len(digits) - len(stripped)
    digits = stripped
    length = len(digits)
    point = length + k  # the value lies in [10**(point-1), 10**point)
    if 0 <= k and point <= 16:
        body = digits + "0" * k + ".0"
    elif 0 < point <= 16:
        body = digits[:point] + "." + digits[point:]
    elif -5 < point <= 0:
        body = "0." + "0" * (-point) + digits
    elif length == 1:
        body = f"{digits}e{point - 1}"
    else:
        body = f"{digits[0]}.{digits[1:]}e{point - 1}"
    return sign + body


def _string(value: str) -> str:
    # json.dumps escapes exactly what upstream escapes when non-ASCII is kept raw.
    text = json.dumps(value, ensure_ascii=False)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise CanonicalJsonError(f"string is not valid UTF-8 ({exc.reason})") from exc
    return text


def _write(value: Any, out: list[str]) -> None:
    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, str):
        out.append(_string(value))
    elif isinstance(value, int):
        out.append(int.__repr__(value))
    elif isinstance(value, float):
        # Upstream's JSON number cannot hold NaN or infinity; its serializer writes null.
        out.append(format_float(value) if math.isfinite(value) else "null")
    elif isinstance(value, dict):
        out.append("{")
        first = True
        for key, item in value.items():
            if not isinstance(key, str):
                raise CanonicalJsonError(f"object key {key!r} is not a string")
            if not first:
                out.append(",")
            first = False
            out.append(_string(key))
            out.append(":")
            _write(item, out)
        out.append("}")
    elif isinstance(value, (list, tuple)):
        out.append("[")
        for index, item in enumerate(value):
            if index:
                out.append(",")
            _write(item, out)
        out.append("]")
    else:
        raise CanonicalJsonError(f"{type(value).__name__} is not a JSON value")


def jsonable(value: Any) -> Any:
    """A decoded CBOR/MessagePack value as JSON-safe data: bytes as hex text, map keys as text."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    if isinstance(value, dict):
        return {k if isinstance(k, str) else json.dumps(jsonable(k)): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)  # CBOR tags, decimals, datetimes: their text


def dumps(value: Any) -> str:
    """Compact canonical JSON text of ``value``, dict order as given."""
    out: list[str] = []
    _write(value, out)
    return "".join(out)


def sorted_json(value: Any) -> Any:
    """A copy of a free-form JSON value with every object's keys in code-point order."""
    if isinstance(value, dict):
        for key in value:
            if not isinstance(key, str):
                raise CanonicalJsonError(f"object key {key!r} is not a string")
        return {key: sorted_json(value[key]) for key in sorted(value)}
    if isinstance(value, (list, tuple)):
        return [sorted_json(item) for item in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise CanonicalJsonError(f"{type(value).__name__} is not a JSON value")


def sha256_hex(value: Any) -> str:
    """SHA-256 (64 lowercase hex digits) of the canonical JSON text of ``value``."""
    return hashlib.sha256(dumps(value).encode("utf-8")).hexdigest()


def string_form(value: Any) -> str:
    """A string as itself; any other value as its canonical compact JSON (sorted keys)."""
    if isinstance(value, str):
        return value
    return dumps(sorted_json(value))


def json_equal(left: Any, right: Any) -> bool:
    """JSON value equality: numbers compare within their kind, bools are not numbers."""
    if isinstance(left, bool) or isinstance(right, bool):
        return isinstance(left, bool) and isinstance(right, bool) and left == right
    if isinstance(left, int) and isinstance(right, int):
        return left == right
    if isinstance(left, float) and isinstance(right, float):
        return left == right
    if isinstance(left, (int, float)) or isinstance(right, (int, float)):
        return False
    if isinstance(left, str) or isinstance(right, str):
        return isinstance(left, str) and isinstance(right, str) and left == right
    if left is None or right is None:
        return left is None and right is None
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(json_equal(left[k], right[k]) for k in left)
    if isinstance(left, (list, tuple)) and isinstance(right, (list, tuple)):
        return len(left) == len(right) and all(json_equal(a, b) for a, b in zip(left, right))
    return False


def rust_debug_str(text: str) -> str:
    """``text`` in Rust's ``{:?}`` notation: quoted, with Rust's escapes."""
    out = ['"']
    for ch in text:
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\0":
            out.append("\\0")
        elif not ch.isprintable() or unicodedata.category(ch) in ("Mn", "Me"):
            # Python's isprintable() rejects the same categories Rust's is_printable() does
            # (control, format, surrogate, private use, unassigned, separators except space).
            out.append(f"\\u{{{ord(ch):x}}}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)
