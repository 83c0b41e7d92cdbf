"""Process-model scopes, originators, causal references and identities: scope ids, upstream's JSON
shapes, and InvalidDeploymentValue naming what is wrong."""

from __future__ import annotations

import pytest

from lashdb.engine.deployment.process_model.scope import (
    CausalRef,
    InvalidDeploymentValue,
    ProcessIdentity,
    ProcessOriginator,
    ProcessProvenance,
    SessionScope,
)


def test_scope_ids_and_parsing():
    assert SessionScope("s").scope_id == "session:s"
    assert SessionScope("s", "f").scope_id == "session:s/frame:f"
    assert SessionScope("s", "").scope_id == "session:s"  # an empty frame names the session
    assert SessionScope.parse("session:s/frame:f") == SessionScope("s", "f")
    assert SessionScope.parse("session:a/frame:b/frame:c") == SessionScope("a/frame:b", "c")
    assert SessionScope.parse("session:s") == SessionScope("s")
    with pytest.raises(InvalidDeploymentValue, match="scope id 'host' does not start with `session:`"):
        SessionScope.parse("host")
    assert SessionScope.from_json(SessionScope("s", "f").to_json()) == SessionScope("s", "f")
    assert SessionScope("s").to_json() == {"session_id": "s"}
    with pytest.raises(InvalidDeploymentValue, match="session scope session_id is int, expected a string"):
        SessionScope(1)


def test_originators():
    host = ProcessOriginator.host()
    assert (host.is_host, host.scope_id, host.session_id, host.to_json()) == (True, "host", None, {"type": "host"})
    session = ProcessOriginator.session("s", "f")
    assert (session.scope_id, session.session_id) == ("session:s/frame:f", "s")
    assert session.to_json() == {"type": "session", "scope": {"session_id": "s", "agent_frame_id": "f"}}
    assert ProcessOriginator("s") == ProcessOriginator.session("s")
    for o in (host, session):
        assert ProcessOriginator.from_json(o.to_json()) == o
    with pytest.raises(InvalidDeploymentValue, match="originator: missing field `scope`"):
        ProcessOriginator.from_json({"type": "session"})
    with pytest.raises(InvalidDeploymentValue, match="originator: unknown variant `robot`"):
        ProcessOriginator.from_json({"type": "robot"})
    with pytest.raises(InvalidDeploymentValue, match="expected a SessionScope or a session id, got a number"):
        ProcessOriginator(5)


def test_causal_refs_are_canonical_dicts_in_declared_order():
    assert CausalRef.effect("s", "e") == {"type": "effect", "session_id": "s", "effect_id": "e"}
    assert list(CausalRef.effect("s", "e", "t")) == ["type", "session_id", "turn_id", "effect_id"]
    assert CausalRef.process_event("p", 4) == {"type": "process_event", "process_id": "p", "sequence": 4}
    assert CausalRef.normalize({"type": "process", "process_id": "p", "extra": 1}) == \
        {"type": "process", "process_id": "p"}


@pytest.mark.parametrize("doc, words", [
    ({"type": "nope"}, "causal ref: unknown variant `nope`"),
    ({"type": "turn", "session_id": "s"}, "causal ref `turn`: missing field `turn_id`"),
    ({"type": "process", "process_id": 3}, "causal ref `process`.process_id: expected a string"),
    ({"type": "process_event", "process_id": "p", "sequence": -1}, "expected an unsigned integer"),
    ([], "causal ref is list, expected an object"),
])
def test_bad_causal_refs(doc, words):
    with pytest.raises(InvalidDeploymentValue, match=words):
        CausalRef.normalize(doc)


def test_provenance_and_identity():
    prov = ProcessProvenance(ProcessOriginator.session("s"), {"type": "turn", "session_id": "s", "turn_id": "t"})
    assert ProcessProvenance.from_json(prov.to_json()) == prov
    assert ProcessProvenance().originator.is_host
    with pytest.raises(InvalidDeploymentValue, match="provenance originator: expected a ProcessOriginator"):
        ProcessProvenance("s")
    ident = ProcessIdentity("tool", "x", {"b": 1, "a": [2]})
    assert list(ident.definition) == ["a", "b"]  # free-form values are key-sorted
    assert ident.to_json() == {"kind": "tool", "label": "x", "definition": {"a": [2], "b": 1}}
    assert ProcessIdentity("engine").to_json() == {"kind": "engine"}
    assert ProcessIdentity.from_json(ident.to_json()) == ident
    with pytest.raises(InvalidDeploymentValue, match="identity definition: object key 1 is not a string"):
        ProcessIdentity("k", None, {1: 2})
