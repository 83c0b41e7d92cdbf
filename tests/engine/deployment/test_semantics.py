"""Event semantics and payload validation (deployment-stores §1.8): selectors, truthiness, terminal
and wake materialisation, and the schema subset's messages."""

from __future__ import annotations

import pytest

from lashdb.engine.base.errors import ProcessRegistryError
from lashdb.engine.deployment.process_model import (
    DedupeKey,
    ProcessAwaitOutput,
    ProcessEventType,
    Selector,
    TerminalSpec,
    WakeSpec,
)
from lashdb.engine.deployment.semantics import (
    materialize_semantics,
    pointer_matches,
    resolve_pointer,
    select_value,
    truthy,
    validate_payload,
)

DOC = {"a/b": {"m~n": [10, 20]}, "list": ["x", "y"], "": "empty-key"}


def test_pointers_follow_rfc_6901_with_upstreams_index_rule():
    assert resolve_pointer(DOC, "") == DOC
    assert resolve_pointer(DOC, "/a~1b/m~0n/1") == 20
    assert resolve_pointer(DOC, "/") == "empty-key"
    assert pointer_matches(DOC, "/list/0")
    for missing in ("/list/01", "/list/+1", "/list/2", "/nope", "list/0", "/list/0/deeper"):
        assert not pointer_matches(DOC, missing), missing


def test_selectors_pick_from_the_payload_and_a_missed_pointer_is_named():
    assert select_value(DOC, "payload") == DOC
    assert select_value(DOC, Selector.pointer("/list/1")) == "y"
    assert select_value(DOC, Selector.const([1])) == [1]
    assert select_value(DOC, Selector.present("/nope")) is False
    # fields are substituted in sorted name order, non-strings as compact sorted JSON
    template = Selector.template("{b}:{a}", {"a": Selector.pointer("/a~1b"), "b": Selector.pointer("/list/0")})
    assert select_value(DOC, template) == 'x:{"m~n":[10,20]}'
    with pytest.raises(ProcessRegistryError) as err:
        select_value(DOC, Selector.pointer("/list/9"))
    assert str(err.value).startswith("payload pointer `/list/9` did not match")


def test_truthiness_treats_every_number_as_true():
    assert [truthy(v) for v in (None, False, True, 0, 0.0, -1, "", "x", [], [0], {}, {"k": 0})] == \
        [False, False, True, True, True, True, False, True, False, True, False, True]


def test_terminal_semantics_map_a_plain_selection_by_state():
    failed = ProcessEventType("job.failed", {}, TerminalSpec("failed", Selector.pointer("/why")))
    terminal = materialize_semantics("p-1", 3, {"why": {"code": 7}}, failed).terminal
    assert terminal.state == "failed"
    assert terminal.await_output == ProcessAwaitOutput.failure("execution", "process_failed", '{"code":7}',
                                                               {"code": 7})
    spelled = {"type": "cancelled", "message": "by user"}
    cancelled = ProcessEventType("job.cancelled", {}, TerminalSpec("cancelled", Selector.payload()))
    assert materialize_semantics("p-1", 4, spelled, cancelled).terminal.await_output == \
        ProcessAwaitOutput.cancelled("by user")
    done = ProcessEventType("job.done", {}, TerminalSpec("completed"))
    assert materialize_semantics("p-1", 5, [1], done).terminal.await_output == ProcessAwaitOutput.success([1])
    with pytest.raises(ProcessRegistryError, match="must declare await output"):
        materialize_semantics("p-1", 6, {}, ProcessEventType("x", {}, TerminalSpec("failed")))


def test_wake_semantics_honour_when_and_each_dedupe_key_kind():
    def wake(payload, **spec):
        return materialize_semantics("p-1", 9, payload, ProcessEventType("note", {}, None, WakeSpec(**spec))).wake

    assert wake({"n": 0}, input=Selector.pointer("/n"), when=Selector.pointer("/n")).to_json() == \
        {"input": "0", "dedupe_key": "p-1:9"}
    assert wake({"n": ""}, input=Selector.payload(), when=Selector.pointer("/n")) is None
    assert wake({"id": 5}, input=Selector.const("hi"),
                dedupe_key=DedupeKey.selector(Selector.pointer("/id"))).dedupe_key == "5"
    assert wake({}, input=Selector.const("hi"), dedupe_key=DedupeKey.const("once")).dedupe_key == "once"
    assert materialize_semantics("p-1", 9, {}, ProcessEventType.plain("plain")).to_json() == {}


@pytest.mark.parametrize("schema, payload, message", [
    ({"type": "object", "required": ["id"], "properties": {"id": {"type": "string"}}}, {},
     "id: required property missing"),
    ({"type": "object", "properties": {"id": {"type": "string"}}}, {"id": 3}, "id: expected string, got 3"),
    ({"type": "object", "properties": {"id": {}}}, {"id": 1, "x": 1}, "x: unexpected property"),
    ({"enum": ["a", "b"]}, "c", 'arguments: expected one of "a", "b", got "c"'),
    ({"type": "array", "items": {"type": "integer"}}, [1, "x"], '[1]: expected integer, got "x"'),
    ({"type": "integer"}, 1.5, "arguments: expected integer, got 1.5"),
    ({"type": "object", "properties": {}}, {"__session_id__": "s"}, None),
    ({"type": "object", "properties": {}, "additionalProperties": True}, {"x": 1}, None),
    ({}, {"anything": [1]}, None),
])
def test_payload_validation_reports_upstreams_first_violation(schema, payload, message):
    assert validate_payload(schema, payload) == message
