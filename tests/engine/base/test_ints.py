"""u64 values round-trip through SQLite's signed INTEGER by two's complement, as upstream stores them."""

from __future__ import annotations

import pytest

from lashdb.engine.base.ints import I64_MAX, U64_MAX, clamp_cursor, from_i64, to_i64


@pytest.mark.parametrize("value, stored", [
    (0, 0), (1, 1), (I64_MAX, I64_MAX), (I64_MAX + 1, -(2**63)), (U64_MAX, -1), (2**63 + 5, -(2**63) + 5),
])
def test_to_i64_is_twos_complement_and_from_i64_inverts_it(value, stored):
    assert to_i64(value) == stored
    assert from_i64(stored) == value


def test_out_of_range_values_are_clamped_before_the_cast():
    assert to_i64(-7) == 0
    assert to_i64(U64_MAX + 10) == -1
    assert from_i64(to_i64(2**70)) == U64_MAX


def test_cursor_bounds_stay_in_the_signed_range():
    assert clamp_cursor(U64_MAX) == I64_MAX
    assert clamp_cursor(-1) == 0
    assert clamp_cursor(42) == 42
