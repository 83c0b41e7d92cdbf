"""PgSessionReader (postgres/inspect_session.py) against SqliteSessionReader: the same session content,
built through the public Store API on both backends with one injected clock, reads back as the same
values from every SessionReader method."""

from __future__ import annotations

import json

import orjson

from lashdb.engine import (
    AttachmentIntent,
    GraphDelta,
    GraphNode,
    HydratedCheckpoint,
    QueuedWorkClaimBoundary,
    SessionMeta,
    SessionRelation,
    Store,
    StoreOptions,
    TokenLedgerEntry,
    TokenUsage,
)
from lashdb.engine.base import backends
from lashdb.engine.ops.ports import SessionReader
from lashdb.engine.postgres.inspect_session import PgSessionReader
from lashdb.engine.session.list_summary import HEAD_KEY
from lashdb.engine.sqlite.inspect_session import SqliteSessionReader
from runtime_support import LEASE_TTL, FakeClock, commit_for, text_draft

T0 = 1_700_000_000_000
TS = "2026-01-01T00:00:00Z"


def open_store(name: str, tmp_path, request, clock: FakeClock, session_id: str = "root") -> Store:
    options = StoreOptions(clock=clock)
    if name == "sqlite":
        return Store.open_with_options(tmp_path / f"{session_id}.db", options)
    return Store(backends.open_with("postgres.session", request.getfixturevalue("pg_url"), session_id), options)


def read(store: Store, name: str, fn):
    """``fn(reader)`` inside one read snapshot of ``store`` with ``name``'s reader."""
    if name == "sqlite":
        return store._read(lambda tx: fn(SqliteSessionReader(tx.conn)))
    return store._read(lambda tx: fn(PgSessionReader(tx)))


def build(store: Store, clock: FakeClock) -> dict[str, str]:
    """Meta, a graph with user messages and a tombstone, usage, a turn commit, blobs, an artifact, a
    live lease, queued work (one batch claimed) and attachments (one committed); the refs made."""
    store.save_session_meta(SessionMeta("root", "named", TS, "m", "/work", SessionRelation.child("parent-1")))
    lease = store.try_claim_session_execution_lease("root", "runner", LEASE_TTL)
    nodes = [GraphNode.message("u1", "User", "hello", timestamp=TS),
             GraphNode.message("a1", "Assistant", "hi", timestamp=TS, parent_node_id="u1"),
             GraphNode.message("u2", "User", "again", timestamp=TS, parent_node_id="a1"),
             GraphNode.message("x9", "Assistant", "gone", timestamp=TS, parent_node_id="u2")]
    clock.advance(7)
    store.commit_runtime_state(commit_for(
        graph=GraphDelta.replace_full(nodes, "x9"),
        checkpoint=HydratedCheckpoint(turn_state={"turn_index": 0}, tool_state={"t": 1}),
        usage_deltas=[TokenLedgerEntry("turn", "m", TokenUsage(1, 2, 3, 4)),
                      TokenLedgerEntry("tool", "m2", TokenUsage(5, 6, 7, 8))]).under_lease(lease).stamped("turn-1"))
    store.tombstone_nodes(["x9"])
    refs = {"raw": store.put_blob(b"raw bytes"),
            "module": store.put_module_artifact("lashlang:module/main@1", b"module " * 50)}
    clock.advance(11)
    fence = store.try_claim_session_execution_lease("root", "runner-2", LEASE_TTL).fence()
    store.enqueue_queued_work(text_draft("root", "a", source_key="src-1"))
    store.enqueue_queued_work(text_draft("root", "b"))
    store.enqueue_queued_work(text_draft("root", "later", available_at_ms=T0 + 10 * LEASE_TTL))
    store.claim_ready_queued_work("root", fence, "worker", QueuedWorkClaimBoundary.IDLE, LEASE_TTL, 1)
    for name, at in (("b", T0 + 3), ("a", T0 + 3), ("c", T0 + 1)):
        store.record_intent(AttachmentIntent(name, "root", f"file:///blobs/{name}", at))
    store.commit_refs("root", ["a"])
    return refs


def snapshot(reader: SessionReader, refs: dict[str, str], now: int) -> dict[str, object]:
    """Every SessionReader method's value (unordered reads sorted)."""
    return {
        "meta": reader.meta(), "head_row": reader.head_row(), "node_counts": reader.node_counts(),
        "user_messages": reader.user_messages(), "usage_rows": reader.usage_rows(),
        "v4_summary": reader.v4_summary(), "schema_damage": reader.schema_damage("where"),
        "blob_contents": reader.blob_contents(), "has_blob_table": reader.has_blob_table(),
        "raw_blob_rows": sorted(reader.raw_blob_rows()), "raw_blob_rows_ordered": list(reader.raw_blob_rows(True)),
        "raw_blob_row": [reader.raw_blob_row(h) for h in (*refs.values(), "0" * 64)],
        "artifact_count": reader.artifact_count(),
        "lease_row": (reader.lease_row("root"), reader.lease_row(None)),
        "queued_work_counts": (reader.queued_work_counts(now), reader.queued_work_counts(now + 2 * LEASE_TTL),
                               reader.queued_work_counts(now + 20 * LEASE_TTL)),
        "attachment_counts": reader.attachment_counts(), "turn_commit_stats": reader.turn_commit_stats(),
        "expired_leases": (reader.expired_leases(now), reader.expired_leases(now + 2 * LEASE_TTL)),
        "old_attachment_intents": (reader.old_attachment_intents(T0 + 2), reader.old_attachment_intents(T0 + 4)),
        "graph_shape": reader.graph_shape(),
        "graph_rows": (reader.graph_rows(True), reader.graph_rows(False)),
        "graph_row": (reader.graph_row("x9"), reader.graph_row("u1"), reader.graph_row("nope")),
        "node_ids_with_prefix": (reader.node_ids_with_prefix("u", 10), reader.node_ids_with_prefix("", 2),
                                 reader.node_ids_with_prefix("", -1), reader.node_ids_with_prefix("zz", 5)),
    }


def _drop_summary(head_json):
    """A SQLite head carries lashdb's list summary key (session/list_summary.py); PostgreSQL keeps none."""
    if not isinstance(head_json, str) or HEAD_KEY not in head_json:
        return head_json
    head = json.loads(head_json)
    assert set(head.pop(HEAD_KEY)) >= {"live", "tombstoned", "user_messages", "blobs"}
    return orjson.dumps(head).decode()


def without_list_summary(values: dict) -> dict:
    """``head_row`` and ``v4_summary`` of a SQLite snapshot with the list summary key left out."""
    out = {}
    if values["head_row"] is not None:
        out["head_row"] = dict(values["head_row"], head_json=_drop_summary(values["head_row"]["head_json"]))
    out["v4_summary"] = tuple(_drop_summary(v) for v in values["v4_summary"])
    return out


def test_every_reader_method_returns_the_same_values_on_both_backends(tmp_path, request):
    seen = {}
    for name in ("sqlite", "postgres"):
        clock = FakeClock(T0)
        with open_store(name, tmp_path, request, clock) as store:
            empty = read(store, name, lambda r: snapshot(r, {}, clock.now))
            refs = build(store, clock)
            seen[name] = (empty, read(store, name, lambda r: snapshot(r, refs, clock.now)), refs)
    assert seen["postgres"][2] == seen["sqlite"][2]
    for index in (0, 1):
        pg, lite = seen["postgres"][index], seen["sqlite"][index]
        lite = dict(lite, **without_list_summary(lite))
        for key in lite:
            assert pg[key] == lite[key], key
            assert repr(pg[key]) == repr(lite[key]), key  # same types too (0/1 not False/True, bytes not memoryview)
    full = seen["sqlite"][1]
    # The content is what build() made, so equality above compares real values.
    assert full["node_counts"] == (3, 1) and full["user_messages"][0] == 2
    assert full["usage_rows"] == [("turn", "m", 1, 2, 3, 4), ("tool", "m2", 5, 6, 7, 8)]
    assert full["queued_work_counts"][0] == (3, 1, 1, 3)
    assert full["attachment_counts"] == (1, 2, T0 + 1)
    assert full["old_attachment_intents"][1] == [("c", "file:///blobs/c", T0 + 1), ("b", "file:///blobs/b", T0 + 3)]
    assert full["lease_row"][0][:2] == ("root", "runner-2") and full["expired_leases"][0] == []
    assert full["expired_leases"][1] == [("root", "runner-2", T0 + 18 + LEASE_TTL)]
    assert full["turn_commit_stats"] == (1, T0 + 7)
    assert full["graph_row"][0][:2] == (4, "x9") and full["graph_row"][0][3] == 1
    assert full["node_ids_with_prefix"][:2] == (["u1", "u2"], ["a1", "u1"])
    assert full["v4_summary"][:6] == ("root", "named", "m", "/work", TS, full["v4_summary"][5])
    assert full["v4_summary"][8:11] == (3, 1, 2) and full["v4_summary"][-1] == 4
    assert seen["sqlite"][0]["v4_summary"] == (None,) * 6 + (0, 0, 0, 0, 0, None) + (None,) * 3 + (4,)


def test_a_reader_sees_only_its_own_session(pg_url):
    clock = FakeClock(T0)
    stores = {sid: Store(backends.open_with("postgres.session", pg_url, sid), StoreOptions(clock=clock))
              for sid in ("root", "other")}
    try:
        build(stores["root"], clock)
        other = stores["other"]
        other.put_blob(b"other's blob")
        view = read(other, "postgres", lambda r: (r.meta(), r.head_row(), r.node_counts(), r.usage_rows(),
                                                  r.artifact_count(), r.lease_row("root"),
                                                  r.queued_work_counts(clock.now), r.attachment_counts(),
                                                  r.turn_commit_stats(), r.graph_rows(True),
                                                  len(r.blob_contents()), len(list(r.raw_blob_rows()))))
        assert view == (None, None, (0, 0), [], 0, None, (0, 0, 0, 0), (0, 0, None), (0, None), [], 1, 1)
    finally:
        for s in stores.values():
            s.close()


def test_the_opener_is_registered_and_the_tx_names_its_backend(pg_url):
    with Store(backends.open_with("postgres.session", pg_url, "root"), StoreOptions()) as store:
        name = store._read(lambda tx: tx.backend_name)
        reader_type = store._read(lambda tx: type(backends.open_with(f"{tx.backend_name}.session_reader", tx)))
    assert (name, reader_type) == ("postgres", PgSessionReader)
