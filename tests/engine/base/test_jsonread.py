"""Strict readers raise ValueError (or the caller's error) naming the field; lenient readers never raise."""

from __future__ import annotations

import pytest

from lashdb.engine.base import jsonread as J


class Custom(Exception):
    pass


def test_loads_rejects_nan_and_infinity_like_upstream():
    assert J.loads('{"a": [1, 2.5]}') == {"a": [1, 2.5]}
    for text in ("NaN", "[Infinity]", '{"x": -Infinity}'):
        with pytest.raises(ValueError, match="invalid JSON number"):
            J.loads(text)


def test_strict_readers_return_the_typed_value():
    doc = {"s": "x", "n": 3, "z": None, "l": [1], "b": True}
    assert J.obj(doc, "lease") is doc
    assert J.field(doc, "z") is None
    assert J.text(doc, "s") == "x"
    assert J.opt_text(doc, "z") is None and J.opt_text(doc, "absent") is None
    assert J.integer(doc, "n") == 3 and J.integer(doc, "z", default=7) == 7
    assert J.count(doc, "n") == 3 and J.count(doc, "absent", default=0) == 0
    assert J.u64(doc, "n") == 3 and J.u64({"v": 2**64 - 1}, "v") == 2**64 - 1
    assert J.u64(doc, "z", default=9) == 9
    assert J.array(doc, "l") == [1]
    assert J.check_text(None, "x", optional=True) is None


@pytest.mark.parametrize("call, message", [
    (lambda: J.obj([1], "session head"), "session head is list, expected an object"),
    (lambda: J.obj(None, "head"), "head is null, expected an object"),
    (lambda: J.field({}, "id"), "missing field `id`"),
    (lambda: J.field({}, "id", "lease"), "lease has no `id`"),
    (lambda: J.text({"id": 3}, "id", "lease"), "lease.id is int, expected a string"),
    (lambda: J.text({"id": None}, "id"), "field `id` is null, expected a string"),
    (lambda: J.opt_text({"id": 1.5}, "id"), "field `id` is float, expected a string"),
    (lambda: J.integer({"n": True}, "n", "w"), "w.n is bool, expected an integer"),
    (lambda: J.integer({}, "n", "w"), "w has no `n`"),
    (lambda: J.count({"n": -1}, "n"), "field `n` is -1, expected a non-negative integer"),
    (lambda: J.u64({"n": 2**64}, "n"), f"field `n` is {2**64}, expected an unsigned integer"),
    (lambda: J.u64({"n": None}, "n"), "field `n` is None, expected an unsigned integer"),
    (lambda: J.array({"l": {}}, "l"), "field `l` is dict, expected a list"),
    (lambda: J.check_text(5, "head.ref"), "head.ref is int, expected a string"),
])
def test_strict_readers_raise_value_error_naming_the_field(call, message):
    with pytest.raises(ValueError) as caught:
        call()
    assert str(caught.value) == message


def test_the_caller_chooses_the_error_type():
    with pytest.raises(Custom, match="missing field `x`"):
        J.text({}, "x", error=Custom)
    with pytest.raises(Custom, match="v is str, expected an object"):
        J.obj("s", "v", error=Custom)


def test_lenient_readers_never_raise():
    assert J.lenient_loads('{"a": 1}') == ({"a": 1}, None)
    doc, reason = J.lenient_loads("{broken")
    assert doc is None and reason
    assert J.lenient_loads(b"{}") == (None, "expected JSON text, got bytes")
    assert J.lenient_loads("NaN")[0] != J.lenient_loads("NaN")[0]  # Python's float('nan') when not strict
    assert J.lenient_loads("NaN", strict=True) == (None, "invalid JSON number `NaN`")
    assert J.get_path({"a": {"b": 2}}, "a", "b") == 2
    assert J.get_path({"a": [1]}, "a", "b") is None
    assert J.text_or_none("x") == "x" and J.text_or_none(1) is None
    assert J.int_or_none(3) == 3 and J.int_or_none(True) is None and J.int_or_none("3") is None
