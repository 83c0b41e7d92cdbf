"""Process-model inputs (deployment-stores §1.2): the four input variants in upstream's JSON, the
identity derived from each, selectors, dedupe keys, terminal and wake specs."""

from __future__ import annotations

import pytest

from lashdb.engine.deployment.process_model.inputs import (
    DedupeKey,
    ProcessInput,
    Selector,
    TerminalSpec,
    WakeSpec,
)
from lashdb.engine.deployment.process_model.scope import InvalidDeploymentValue, ProcessIdentity


def test_each_input_variant_keeps_upstreams_layout_and_derives_its_identity():
    tool = ProcessInput.tool_call("c-1", "tool:grep", "grep", {"b": 1, "a": 2}, replay={"item_id": "i-1"},
                                  prepared_payload={"p": 1})
    assert tool.to_json() == {"type": "tool_call", "call": {
        "call_id": "c-1", "tool_id": "tool:grep", "tool_name": "grep", "args": {"a": 2, "b": 1},
        "replay": {"item_id": "i-1"}, "prepared_payload": {"p": 1}}}
    assert list(tool.to_json()["call"]["args"]) == ["a", "b"]
    assert (tool.type, tool.requires_env, tool.default_identity()) == ("tool_call", True,
                                                                      ProcessIdentity("tool", "grep"))
    engine = ProcessInput.engine("indexer", {"x": 1})
    assert engine.to_json() == {"type": "engine", "kind": "indexer", "payload": {"x": 1}}
    assert (engine.requires_env, engine.default_identity()) == (True, ProcessIdentity("indexer"))
    external = ProcessInput.external({"name": "job", "label": 7})
    # upstream takes the first of label/name/title present and needs it to be text: 7 gives no label
    assert (external.requires_env, external.default_identity()) == (False, ProcessIdentity("external", None))
    assert ProcessInput.external({"title": "T"}).default_identity() == ProcessIdentity("external", "T")
    turn = ProcessInput.session_turn({"usage_source": "planner", "z": 1}, "go", None)
    assert turn.to_json() == {"type": "session_turn", "create_request": {"usage_source": "planner", "z": 1},
                              "turn_input": "go", "output_contract": None}
    assert turn.default_identity() == ProcessIdentity("session_turn", "planner")
    assert ProcessInput.from_json(tool.to_json()) == tool


@pytest.mark.parametrize("doc, message", [
    ({"type": "teleport"}, "process input: unknown variant `teleport`"),
    ({"type": "tool_call"}, "tool_call input: missing field `call`"),
    ({"type": "tool_call", "call": {"call_id": "c", "tool_id": "t", "tool_name": "t"}},
     "tool call: missing field `args`"),
    ({"type": "session_turn", "create_request": {}, "turn_input": None},
     "session_turn input: missing field `output_contract`"),
])
def test_malformed_inputs_name_what_is_wrong(doc, message):
    with pytest.raises(InvalidDeploymentValue) as err:
        ProcessInput.from_json(doc)
    assert str(err.value) == message


def test_selectors_and_dedupe_keys_normalise_to_one_key_objects():
    assert Selector.payload() == "payload"
    assert Selector.pointer("/a/b") == {"pointer": "/a/b"}
    assert Selector.const({"k": 1}) == {"const": {"k": 1}}
    assert Selector.present("/a") == {"present": "/a"}
    assert Selector.template("{x}-y", {"x": Selector.pointer("/x")}) == {
        "template": {"template": "{x}-y", "fields": {"x": {"pointer": "/x"}}}}
    assert DedupeKey.event_identity() == "event_identity"
    assert DedupeKey.const("k") == {"const": "k"}
    assert DedupeKey.selector(Selector.pointer("/id")) == {"selector": {"pointer": "/id"}}
    with pytest.raises(InvalidDeploymentValue, match="dedupe key"):
        DedupeKey.normalize({"const": "a", "selector": "payload"})


def test_terminal_and_wake_specs_round_trip_in_upstreams_field_order():
    terminal = TerminalSpec("failed", Selector.pointer("/error"))
    assert terminal.to_json() == {"state": "failed", "await_output": {"pointer": "/error"}}
    assert TerminalSpec.from_json(terminal.to_json()) == terminal
    assert TerminalSpec("completed").to_json() == {"state": "completed"}
    with pytest.raises(InvalidDeploymentValue) as err:
        TerminalSpec("paused")
    assert str(err.value) == "terminal spec state: expected one of completed, failed, cancelled, got 'paused'"
    wake = WakeSpec(Selector.pointer("/msg"), when=Selector.present("/msg"))
    assert list(wake.to_json()) == ["when", "input", "dedupe_key"]
    assert wake.to_json()["dedupe_key"] == "event_identity"
    assert WakeSpec.from_json(wake.to_json()) == wake
    with pytest.raises(InvalidDeploymentValue) as missing:
        WakeSpec.from_json({"when": "payload"})
    assert str(missing.value) == "wake spec: missing field `input`"
