"""Issue 10 (items 2, 3): values the contract cannot store are refused before anything is written,
with a typed error naming the field; one nesting limit that the reader always accepts; verification
decodes what it verifies."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import textwrap

import apsw
import cbor2
import pytest

from lashdb.engine import (
    MAX_NESTING,
    GraphDelta,
    GraphNode,
    HydratedCheckpoint,
    LashdbError,
    ProcessRegistryError,
    RuntimeCommit,
    SessionHeadMeta,
    SessionStoreCreateRequest,
    SessionStoreFactory,
    Store,
    UnstorableValue,
)
from lashdb.engine import codec, values
from lashdb.engine.ops import doctor, verify
from lashdb.engine.codec import BlobProfile, Descriptor

from conftest import console_script


def nest(depth: int, leaf: object = 1) -> object:
    value = leaf
    for _ in range(depth):
        value = [value]
    return value


def state(store: Store) -> tuple:
    """What a refused write must leave unchanged: head row, blob rows, graph rows."""
    def read(c: apsw.Connection) -> tuple:
        head = c.execute("SELECT head_revision, head_json FROM session_head").fetchall()
        blobs = c.execute("SELECT hash FROM blobs ORDER BY hash").fetchall()
        nodes = c.execute("SELECT node_id FROM graph_nodes ORDER BY seq").fetchall()
        return head, blobs, nodes
    return store.read(read)


def commit(store: Store, **fields) -> RuntimeCommit:
    """A commit on the current head under one long lease of this store (kept: refused commits hold it)."""
    if not hasattr(store, "test_lease"):
        store.test_lease = store.try_claim_session_execution_lease("root", "owner", 3_600_000)
    lease = store.test_lease
    head = store.load_session_head_meta()
    base = dict(session_id="root", config={"model": "m"},
                expected_head_revision=head.head_revision if head else 0)
    base.update(fields)
    return RuntimeCommit(**base).with_session_execution_lease(lease.fence())


@pytest.fixture
def store(tmp_path):
    with Store.open(tmp_path / "s.db") as s:
        s.commit_runtime_state(commit(s, checkpoint=HydratedCheckpoint(tool_state={"ok": 1})))
        yield s


# --- nesting -------------------------------------------------------------------------------------


def test_the_limit_is_256_and_the_cbor_reader_accepts_more():
    assert MAX_NESTING == 256
    assert values.READ_MAX_NESTING > MAX_NESTING + 2  # the manifest wraps turn_state one level deeper


def test_depth_256_round_trips_and_257_is_refused_naming_the_field(store):
    deep = {"a": nest(255, "leaf")}  # 256 containers
    result = store.commit_runtime_state(commit(store, checkpoint=HydratedCheckpoint(
        turn_state=deep, tool_state=deep, plugin_snapshot=deep), config=deep,
        graph=GraphDelta.append([GraphNode("n1", "t", {"kind": "plugin", "body": nest(255)})], "n1")))
    read = store.load_session()
    assert read.head_revision == result.head_revision == 2
    assert read.checkpoint.tool_state == deep and read.checkpoint.turn_state == deep
    assert read.checkpoint.plugin_snapshot == deep and read.config == deep
    assert read.graph.nodes[0].payload["body"] == nest(255)

    before = state(store)
    too_deep = {"a": nest(256, "leaf")}  # 257 containers
    with pytest.raises(UnstorableValue) as err:
        store.commit_runtime_state(commit(store, checkpoint=HydratedCheckpoint(tool_state=too_deep)))
    assert err.value.field.startswith('commit.checkpoint.tool_state["a"][0][0]')
    assert err.value.reason == "nests deeper than 256 levels"
    assert isinstance(err.value, LashdbError) and "cannot be stored" in str(err.value)
    assert state(store) == before


def test_an_8000_deep_value_is_a_typed_error_not_a_crash(tmp_path):
    # In a child process: before the fix this died with SIGSEGV inside the CBOR encoder.
    script = textwrap.dedent(f"""
        import json, sys
        from lashdb.engine import HydratedCheckpoint, RuntimeCommit, Store, UnstorableValue
        value = 1
        for _ in range(8000):
            value = [value]
        with Store.open({str(tmp_path / "deep.db")!r}) as store:
            lease = store.try_claim_session_execution_lease("root", "o", 60_000)
            store.commit_runtime_state(RuntimeCommit("root", {{}}).under_lease(lease))
            lease = store.try_claim_session_execution_lease("root", "o", 60_000)
            blobs = store.blob_count_and_size()[0]
            try:
                store.commit_runtime_state(RuntimeCommit(
                    "root", {{}}, checkpoint=HydratedCheckpoint(tool_state=value),
                    expected_head_revision=1).under_lease(lease))
            except UnstorableValue as exc:
                print(json.dumps({{"field": exc.field, "reason": exc.reason,
                                  "revision": store.load_session_head_meta().head_revision,
                                  "blobs_before": blobs, "blobs_after": store.blob_count_and_size()[0]}}))
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["reason"] == "nests deeper than 256 levels"
    assert out["field"].startswith("commit.checkpoint.tool_state[0][0]") and "more…" in out["field"]
    assert out["revision"] == 1 and out["blobs_before"] == out["blobs_after"]


# --- values the contract cannot store --------------------------------------------------------------


BAD = [
    ({"a": [1, b"raw"]}, '["a"][1]', "bytes is not storable"),
    ({"a": {1, 2}}, '["a"]', "a set is not storable"),
    ({"a": {3: "x"}}, '["a"]', "map key 3 is not a string"),
    ({"a": ["ok", "lone \ud800"]}, '["a"][1]', "lone surrogate"),
    ({"k\udc80": 1}, "", "map key 'k\\\\udc80' holds a lone surrogate"),
    ({"a": math.nan}, '["a"]', "nan is not a storable number"),
    ({"a": [math.inf]}, '["a"][0]', "inf is not a storable number"),
    ({"a": [-math.inf]}, '["a"][0]', "-inf is not a storable number"),
    ({"a": object()}, '["a"]', "object is not a JSON value"),
]


@pytest.mark.parametrize(("value", "path", "reason"), BAD)
def test_unstorable_values_are_refused_naming_the_field(store, value, path, reason):
    before = state(store)
    cases = [
        ("commit.checkpoint.tool_state", lambda: store.commit_runtime_state(
            commit(store, checkpoint=HydratedCheckpoint(tool_state=value)))),
        ("commit.checkpoint.turn_state", lambda: store.commit_runtime_state(
            commit(store, checkpoint=HydratedCheckpoint(turn_state=value)))),
        ("commit.config", lambda: store.commit_runtime_state(commit(store, config=value))),
        ("commit.graph.nodes[0].payload", lambda: store.commit_runtime_state(commit(
            store, graph=GraphDelta.append([GraphNode("n", "t", {"kind": "plugin", "body": value})], "n")))),
        ("checkpoint.plugin_snapshot", lambda: store.put_checkpoint(HydratedCheckpoint(plugin_snapshot=value))),
        ("head.config", lambda: store.save_session_head_meta(SessionHeadMeta("root", 1, value))),
        ("value", lambda: store.put_typed_blob(value)),
    ]
    for field, call in cases:
        with pytest.raises(UnstorableValue) as err:
            call()
        prefix = field + ('["body"]' if "nodes" in field else "")
        assert err.value.field == prefix + path, field
        assert reason in err.value.reason
    assert state(store) == before


def test_a_lone_surrogate_in_an_id_is_refused_before_the_transaction(store):
    before = state(store)
    with pytest.raises(UnstorableValue) as err:
        store.commit_runtime_state(commit(store, graph=GraphDelta.append(
            [GraphNode("n\ud800", "t", {"kind": "plugin"})], None)))
    assert err.value.field == "commit.graph.nodes[0].node_id"
    with pytest.raises(UnstorableValue) as err:
        store.commit_runtime_state(commit(store, committed_attachment_ids=("ok", "a\udfff")))
    assert err.value.field == "commit.committed_attachment_ids[1]"
    with pytest.raises(UnstorableValue) as err:
        store.try_claim_session_execution_lease("other\ud800", "owner", 1000)
    assert err.value.field == "session_id"
    assert state(store) == before


def test_any_other_text_parameter_with_a_lone_surrogate_is_typed_and_rolled_back(store):
    before = state(store)
    with pytest.raises(UnstorableValue) as err:
        store.cancel_queued_work_batch("root", "batch\ud800")  # checked by no entry point: the net
    assert err.value.field == "a text parameter" and "lone surrogate" in err.value.reason
    assert state(store) == before


def test_a_session_id_with_a_lone_surrogate_leaves_no_file(tmp_path):
    root = tmp_path / "sessions"
    factory = SessionStoreFactory(root)
    with pytest.raises(UnstorableValue) as err:
        factory.create_store(SessionStoreCreateRequest("sess\ud800ion", "model"))
    assert err.value.field == "request.session_id"
    assert not root.exists()  # not even the directory, let alone a db, -wal or -shm
    root.mkdir()
    with pytest.raises(UnstorableValue) as err:
        factory.create_store(SessionStoreCreateRequest("fine", "model\udc00"))
    assert err.value.field == "request.model" and os.listdir(root) == []


def test_deployment_stores_refuse_unstorable_values_with_their_own_error():
    from lashdb.engine import ProcessRegistry
    from lashdb.engine.deployment.process_registry import _encode

    class Record:
        def to_json(self):
            return {"payload": {"x": math.nan}}

    with pytest.raises(ProcessRegistryError, match=r'Record\["payload"\]\["x"\]: cannot be stored: nan'):
        _encode(Record())
    assert ProcessRegistry  # the store whose rows _encode writes


# --- verification decodes what it verifies ----------------------------------------------------------


@pytest.fixture
def deep_session(tmp_path):
    """A session whose head checkpoint's tool state hashes right but nests 1,000 deep (old writer)."""
    path = tmp_path / "deep.db"
    with Store.open(path) as store:
        store.commit_runtime_state(commit(store))
    content = cbor2.dumps(nest(1000))
    tool_ref = codec.sha256_hex(content)
    manifest = codec.encode_value({"turn_state": {"turn_index": 1}, "tool_state_ref": tool_ref})
    manifest_ref = codec.sha256_hex(manifest)
    conn = apsw.Connection(str(path))
    conn.execute("INSERT INTO blobs (hash, content) VALUES (?, ?), (?, ?)", (
        tool_ref, codec.encode_envelope(Descriptor.tool_state(), content, BlobProfile.BALANCED),
        manifest_ref, codec.encode_envelope(Descriptor.checkpoint_manifest(), manifest, BlobProfile.BALANCED)))
    head = json.loads(conn.execute("SELECT head_json FROM session_head").fetchall()[0][0])
    head["checkpoint_ref"] = manifest_ref
    conn.execute("UPDATE session_head SET head_json = ?", (json.dumps(head),))
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
    conn.close()
    return path, tool_ref, manifest_ref


def test_verify_and_doctor_report_a_blob_that_hashes_but_does_not_decode(deep_session):
    path, tool_ref, _ = deep_session
    with Store.open_readonly(path) as store:
        with pytest.raises(LashdbError):
            store.load_session()  # what every reader of this session runs into
    entry = verify.verify_session(path)
    assert not entry.ok and entry.result == "failed"
    assert [(v.blob_hash, v.status, v.kind) for v in entry.failures] == [
        (tool_ref, "undecodable-value", "ToolState")]
    assert "nesting depth (400) exceeded" in entry.failures[0].reason
    assert entry.counts["undecodable-value"] == 1

    found = [f for f in doctor.run([path], now_ms=0).files[0].findings if f.check == "blobs"]
    assert [(f.severity, f.subject) for f in found] == [("error", tool_ref)]
    assert "undecodable-value" in found[0].message


def test_cli_blob_verify_doctor_and_head_dump_on_an_undecodable_value(deep_session):
    path, tool_ref, manifest_ref = deep_session
    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([console_script(), *args], capture_output=True, text=True, timeout=120)

    done = run("blob", "verify", str(path), "--json")
    assert done.returncode == 1
    failures = json.loads(done.stdout)["sessions"][0]["failures"]
    assert [(f["hash"], f["status"]) for f in failures] == [(tool_ref, "undecodable-value")]
    assert run("doctor", str(path)).returncode == 1
    done = run("head", "dump", "--checkpoint", str(path))
    assert done.returncode == 3 and done.stdout == ""
    assert done.stderr.startswith(f"lashdb: error: {path}: checkpoint {manifest_ref} cannot be read: tool_state: "
                                  f"blob {tool_ref}: cannot decode")
    assert "Traceback" not in done.stderr and done.stderr.count("\n") == 1
    assert run("head", "dump", str(path)).returncode == 0  # the head itself still reads


# --- the one-pass check of the commit path ---------------------------------------------------------


class Text(str):
    pass


MAP_VALUES_BAD = [{"a": "lone \ud800"}, {"a": 1, "b": math.nan}, {"a": None, "b": {"c": b"x"}},
                  {"a": True, "b": [{"c": -math.inf}]}, {"a": "ok", "b": object()}]


@pytest.mark.parametrize("value", [bad for bad, _path, _reason in BAD] + MAP_VALUES_BAD + [nest(MAX_NESTING + 1),
                                                                                          {"a": nest(MAX_NESTING)}])
def test_all_storable_is_false_wherever_check_raises(value):
    with pytest.raises(UnstorableValue):
        values.check(value, "v")
    assert values.all_storable([], [], [1, "ok", value]) is False
    assert values.all_storable(["id"], [None], [{"fine": [1, 2.5, None, True]}]) is True


def test_all_storable_checks_texts_and_optional_texts_like_check_text():
    assert values.all_storable(["a", Text("b"), "ünï"], [None, "c"], []) is True
    assert values.all_storable(["a", None], [], []) is False  # a required text that is absent
    assert values.all_storable(["a", 3], [], []) is False
    assert values.all_storable(["a"], ["b", b"raw"], []) is False
    assert values.all_storable(["\ud800"], [], []) is False
    assert values.all_storable(["a"], ["x\udfff"], []) is False
    # A high and a low surrogate from two fields stay two lone surrogates when joined.
    assert values.all_storable(["\ud83d"], ["\ude00"], []) is False
    # Depth counts from each value, not from the list that holds them.
    assert values.all_storable([], [], [nest(MAX_NESTING)]) is True
    assert values.all_storable([], [], [nest(MAX_NESTING + 1)]) is False
    assert values.all_storable([], [], [{"a": nest(MAX_NESTING - 1), "b": "ünï", "c": 1, "d": True, "e": None,
                                         "f": 2.5}]) is True
    # A subclass of str as a value is storable but left to the named checks: False means "look".
    assert values.all_storable([], [], [{"g": Text("t")}]) is False
    values.check({"g": Text("t")}, "v")
