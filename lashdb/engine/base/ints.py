"""Unsigned 64-bit values in SQLite's signed INTEGER, the way upstream stores them.

Contract: :func:`to_i64`/:func:`from_i64` are a plain two's-complement cast and its inverse (values
outside ``0..U64_MAX`` are clamped first); :data:`I64_MAX` bounds query cursors.
"""

from __future__ import annotations

I64_MAX = 2**63 - 1
U64_MAX = 2**64 - 1


def to_i64(value: int) -> int:
    """The signed integer upstream stores for an unsigned 64-bit value (two's complement)."""
    value = min(max(int(value), 0), U64_MAX)
    return value - 2**64 if value > I64_MAX else value


def from_i64(value: int) -> int:
    """The unsigned 64-bit value a stored signed integer stands for."""
    return value + 2**64 if value < 0 else value


def clamp_cursor(value: int) -> int:
    """A u64 query bound clamped into SQLite's signed range (upstream's cast would go negative)."""
    return min(max(int(value), 0), I64_MAX)
