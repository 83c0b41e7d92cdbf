"""Doctor's list_summary check (ops/doctor_summary.py): a summary a writer outside lashdb left stale
is one warning naming the figures that differ; vacuum or the next commit rewrites it."""

from __future__ import annotations

from lashdb.engine import GraphDelta, GraphNode, HydratedCheckpoint, RuntimeCommit, Store
from lashdb.engine.ops import doctor, doctor_summary
from lashdb.engine.sqlite.inspect_session import SqliteSessionReader


def message(node_id: str, role: str, parent: str | None = None) -> GraphNode:
    return GraphNode.message(node_id, role, f"text of {node_id}", timestamp="t", parent_node_id=parent)


class Session:
    def __init__(self, path) -> None:
        self.store = Store.open(path)
        self.fence = self.store.try_claim_session_execution_lease("s", "o", 3_600_000).fence()

    def commit(self, delta: GraphDelta) -> None:
        self.store.commit_runtime_state(RuntimeCommit("s", {"provider_id": "p", "model": {"id": "m"}}, graph=delta,
                                                      session_execution_lease=self.fence,
                                                      checkpoint=HydratedCheckpoint(tool_state={"a": 1})))

    def stored(self):
        return self.store.read(lambda c: SqliteSessionReader(c).stored_list_summary())


def test_no_summary_no_finding():
    class Reader:
        def stored_list_summary(self):
            return None
    assert doctor_summary.difference(Reader()) is None
    assert "list_summary" in [fn.__name__ for fn in doctor.CHECKS]


def test_doctor_reports_a_stale_summary_and_vacuum_or_a_commit_rewrites_it(tmp_path):
    (tmp_path / "d").mkdir()
    path = tmp_path / "d" / "s.db"
    session = Session(path)
    session.commit(GraphDelta.append([message("u1", "User"), message("a", "Tool", "u1"), message("u2", "User", "a")],
                                     "u2"))
    session.store.write(lambda c: c.execute("UPDATE graph_nodes SET tombstoned = 1 WHERE node_id = 'u2'"))
    session.store.close()

    def findings():
        report = doctor.run([tmp_path / "d"], now_ms=0, jobs=1)
        return [f for file in report.files for f in file.findings if f.check == "list_summary"]
    [finding] = findings()
    assert finding.severity == doctor.WARNING
    assert "live nodes 3 stored but 2 in the file" in finding.message
    assert "user messages 2 stored but 1 in the file" in finding.message
    assert "first user message" not in finding.message  # that one still agrees
    with Store.open(path) as store:
        store.vacuum()
    assert findings() == []
    session.store = Store.open(path)  # the lease (and its fence) outlived the closed store
    session.store.write(lambda c: c.execute("UPDATE graph_nodes SET tombstoned = 1 WHERE node_id = 'u1'"))
    assert findings() != []
    session.store.close()
    session.store = Store.open(path)
    session.commit(GraphDelta.append([], None))
    assert findings() == []
    assert session.stored()[:4] == (1, 1, 0, None)
    session.store.close()


def test_doctor_reports_blobs_removed_behind_the_summary(tmp_path):
    (tmp_path / "d").mkdir()
    path = tmp_path / "d" / "s.db"
    session = Session(path)
    session.commit(GraphDelta.append([message("u1", "User")], "u1"))
    extra = session.store.put_blob(b"x" * 50)
    assert session.stored()[4:] == session.store.snapshot(lambda c: c.blobs.count_and_size())
    # What upstream's gc_unreachable, run by a host, does: delete rows without rewriting the head.
    session.store.write(lambda c: c.execute("DELETE FROM blobs WHERE hash = ?", (extra,)))
    rows = session.stored()[4]
    session.store.close()
    [finding] = [f for file in doctor.run([tmp_path / "d"], now_ms=0, jobs=1).files for f in file.findings
                 if f.check == "list_summary"]
    assert f"blobs {rows} stored but {rows - 1} in the file" in finding.message
    assert "live nodes" not in finding.message
    with Store.open(path) as store:
        store.vacuum()  # the remedy the finding names: rebuilt from the rows
        assert store.read(lambda c: SqliteSessionReader(c).stored_list_summary())[4:] == \
            store.snapshot(lambda c: c.blobs.count_and_size())
        assert store.snapshot(lambda c: c.blobs.count_and_size())[0] == rows - 1
    assert not [f for file in doctor.run([tmp_path / "d"], now_ms=0, jobs=1).files for f in file.findings]


def test_the_finding_names_vacuum_as_its_remedy(tmp_path):
    from lashdb.engine.ops import doctor_fix

    (tmp_path / "d").mkdir()
    path = tmp_path / "d" / "s.db"
    session = Session(path)
    session.commit(GraphDelta.append([message("u1", "User")], "u1"))
    session.store.write(lambda c: c.execute("UPDATE graph_nodes SET tombstoned = 1"))
    session.store.close()
    report = doctor_fix.with_remedies(doctor.run([tmp_path / "d"], now_ms=0, jobs=1))
    [finding] = [f for file in report.files for f in file.findings]
    assert (finding.check, finding.remedy) == ("list_summary", f"lashdb vacuum {path}")
