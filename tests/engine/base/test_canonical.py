"""Canonical JSON text and hashes (deployment-stores §0.4): upstream's serializer byte for byte."""

from __future__ import annotations

import hashlib

import pytest

from lashdb.engine.base import canonical as C


@pytest.mark.parametrize("value, text", [
    (1e20, "1e20"), (1.0, "1.0"), (0.001, "0.001"), (0.0, "0.0"), (-0.0, "-0.0"), (1.5, "1.5"),
    (123456.789, "123456.789"), (1e16, "1e16"), (1e15, "1000000000000000.0"), (1e-5, "0.00001"),
    (1e-6, "1e-6"), (1.25e-7, "1.25e-7"), (-2.5e30, "-2.5e30"), (0.1 + 0.2, "0.30000000000000004"),
])
def test_format_float_lays_floats_out_like_upstream(value, text):
    assert C.format_float(value) == text


def test_dumps_is_compact_keeps_order_and_utf8_raw():
    value = {"b": 1, "a": [True, False, None, 1.0, "é\n\"", float("nan"), float("inf")], "c": (2,)}
    assert C.dumps(value) == '{"b":1,"a":[true,false,null,1.0,"é\\n\\"",null,null],"c":[2]}'
    assert C.dumps(2**70) == str(2**70)


@pytest.mark.parametrize("bad, words", [
    ({1: "x"}, "object key 1 is not a string"),
    ({"s": {1, 2}}, "set is not a JSON value"),
    ("\ud800", "string is not valid UTF-8"),
])
def test_unwritable_values_raise_canonical_json_error(bad, words):
    with pytest.raises(C.CanonicalJsonError, match=words):
        C.dumps(bad)
    assert issubclass(C.CanonicalJsonError, ValueError)


def test_sorted_json_sorts_every_object_by_code_point():
    value = {"b": {"z": 1, "a": 2}, "B": [{"y": 0, "x": 0}], "a": None}
    assert C.dumps(C.sorted_json(value)) == '{"B":[{"x":0,"y":0}],"a":null,"b":{"a":2,"z":1}}'
    with pytest.raises(C.CanonicalJsonError, match="object is not a JSON value"):
        C.sorted_json({"x": object()})
    with pytest.raises(C.CanonicalJsonError, match="object key 2 is not a string"):
        C.sorted_json({2: 1})


def test_sha256_hex_hashes_the_canonical_text():
    assert C.sha256_hex({"a": 1}) == hashlib.sha256(b'{"a":1}').hexdigest()
    assert C.sha256_hex({"a": 1, "b": 2}) != C.sha256_hex({"b": 2, "a": 1})  # order as given
    assert C.sha256_hex(None) == "74234e98afe7498fb5daf1f36ac2d78acc339464f950703b8c019892f982b90b"


def test_string_form():
    assert C.string_form("plain") == "plain"
    assert C.string_form({"b": 1, "a": [1.0]}) == '{"a":[1.0],"b":1}'
    assert C.string_form(3) == "3"


@pytest.mark.parametrize("left, right, equal", [
    (1, 1, True), (1, 1.0, False), (True, 1, False), (True, True, True), (1.5, 1.5, True),
    ("a", "a", True), ("1", 1, False), (None, None, True), (None, 0, False),
    ({"a": 1, "b": [1]}, {"b": [1], "a": 1}, True), ({"a": 1}, {"a": 1, "b": 2}, False),
    ([1, 2], (1, 2), True), ([1, 2], [2, 1], False), ([1], {"0": 1}, False),
])
def test_json_equal(left, right, equal):
    assert C.json_equal(left, right) is equal


def test_jsonable_turns_decoded_values_into_json_data():
    assert C.jsonable({b"k": [b"\x01\xff", 1, None], 3: (True,)}) == {'"6b"': ["01ff", 1, None], "3": [True]}
    assert C.jsonable(memoryview(b"\x00")) == "00"
    assert C.jsonable(complex(1, 2)) == "(1+2j)"


@pytest.mark.parametrize("text, debug", [
    ('a"b\\c', '"a\\"b\\\\c"'), ("\t\r\n\0", '"\\t\\r\\n\\0"'), ("é", '"é"'),
    ("\x07", '"\\u{7}"'), ("\u0301", '"\\u{301}"'), ("\u200b", '"\\u{200b}"'),
])
def test_rust_debug_str(text, debug):
    assert C.rust_debug_str(text) == debug
