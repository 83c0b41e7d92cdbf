"""model.dumps, the JSON of lashdb's stored columns: orjson where it writes what the standard
library writes, the standard library for the rest; the text is the same, floats aside."""

from __future__ import annotations

import dataclasses
import datetime
import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lashdb.engine.session.model import dumps


def stdlib(value):
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


scalars = st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.text()
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=5)
                           | st.dictionaries(st.text(max_size=8), inner, max_size=5), max_leaves=30)


@settings(max_examples=400, deadline=None)
@given(json_values)
def test_same_text_as_the_standard_library(value):
    assert dumps(value) == stdlib(value)


@settings(max_examples=200, deadline=None)
@given(st.recursive(st.floats(allow_nan=False, allow_infinity=False) | scalars,
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=4),
                    max_leaves=20))
def test_floats_read_back_equal(value):
    assert json.loads(dumps(value)) == json.loads(stdlib(value))


def test_what_orjson_cannot_write_falls_back():
    assert dumps({"n": 2**64, "m": -(2**63) - 1}) == '{"n":18446744073709551616,"m":-9223372036854775809}'
    assert dumps({1: "a", None: "b"}) == '{"1":"a","null":"b"}'
    assert dumps(("a", ("b",))) == '["a",["b"]]'
    assert dumps("\ud800") == stdlib("\ud800")  # a lone surrogate: written as the stdlib writes it


def test_values_that_are_not_json_still_raise():
    @dataclasses.dataclass
    class Point:
        x: int

    for value in (Point(1), datetime.datetime(2026, 1, 1), {1, 2}, b"bytes", object()):
        with pytest.raises(TypeError):
            dumps({"v": value})


def test_non_finite_floats_become_null_as_upstream_writes_them():
    assert dumps([math.nan, math.inf, -math.inf, -0.0, 1e-7]) == "[null,null,null,-0.0,1e-7]"
    assert dumps({"text": "é\n\u0001\x7f\u2028"}) == '{"text":"é\\n\\u0001\x7f\u2028"}'


# --- the CLI's pretty JSON (output.dumps) -----------------------------------------------------------


def pretty_stdlib(doc):
    """The standard library's layout, with the characters a terminal would act on (DEL, C1, bidi
    controls) written as ``\\uXXXX`` escapes, as the CLI writes them (issue 10: no raw escapes)."""
    from lashdb.cli.output import _JSON_UNSAFE, _default

    text = json.dumps(doc, indent=2, ensure_ascii=False, default=_default)
    return _JSON_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_cli_json_has_the_standard_library_layout(doc):
    from lashdb.cli.output import dumps as pretty

    assert pretty(doc) == pretty_stdlib(doc)


def test_cli_json_renders_bytes_objects_and_paths_as_before():
    from pathlib import Path

    from lashdb.cli.output import dumps as pretty
    from lashdb.engine import TokenUsage

    doc = {"b": b"\x00\xff", "usage": TokenUsage(1, 2, 3, 4), "path": Path("/x/y.db"), "set": frozenset(),
           "when": datetime.datetime(2026, 1, 1), "nested": {"empty": [], "e": {}}}
    assert pretty(doc) == pretty_stdlib(doc)
    assert pretty({"big": 2**70, 1: "int key"}) == pretty_stdlib({"big": 2**70, 1: "int key"})
    assert json.loads(pretty(doc))["usage"] == TokenUsage(1, 2, 3, 4).to_json()
