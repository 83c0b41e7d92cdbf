"""Issue 10, schema items: someone else's database at a lash ``user_version`` is refused untouched, and a
lash file with a damaged schema is refused by every writable open and named by ``doctor``.

- A non-lash file whose ``user_version`` happens to be a kind's (session 4, process registry 7, trigger
  store 1, effect journal 1) is refused with the cutover error (:class:`UnrecognisedSchema`, a
  :class:`SchemaVersionError`) and stays byte-identical, no ``-wal``/``-shm`` created; before, the open
  switched it to WAL and added the lash tables.
- A lash file at its version that lacks a table or index (or has an altered column) is refused with
  :class:`SchemaDamaged` naming the file, the kind and each difference; before, the open recreated the
  missing objects silently. Only a truly empty file gets the schema.
- ``doctor`` reports each difference, and a second singleton row, as an error (exit 1); ``gc``, ``gc
  --dry-run`` and ``vacuum`` refuse the file (exit 3, outcome ``refused``); ``sessions show`` names the
  file instead of printing "no such table"; ``sessions list`` marks the row ``damaged schema: …``.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import apsw
import pytest
from typer.testing import CliRunner

from conftest import file_sha256, snapshot_dir
from lashdb.cli.main import app
from lashdb.engine.ops.demo import build_demo
from lashdb.engine.ops import doctor
from lashdb.engine.sqlite import schema
from lashdb.engine.deployment.effects import EffectHost
from lashdb.engine.errors import SchemaDamaged, SchemaVersionError, UnrecognisedSchema
from lashdb.engine.deployment.process_registry import ProcessRegistry
from lashdb.engine.session.store import Store
from lashdb.engine.deployment.triggers import TriggerStore

NOW = 1_790_000_000_000
runner = CliRunner()

OPENERS = [
    pytest.param(schema.SESSION, Store.open, id="session"),
    pytest.param(schema.PROCESS_REGISTRY, ProcessRegistry.open, id="process-registry"),
    pytest.param(schema.TRIGGER_STORE, TriggerStore.open, id="trigger-store"),
    pytest.param(schema.EFFECT_REPLAY, EffectHost.open, id="effect-journal"),
]
SIDECAR_OF = {"process registry": ".processes.db", "trigger store": ".triggers.db", "effect replay": ".effects.db"}


def raw(path: Path, sql: str) -> None:
    """Change a file behind lashdb's back (rollback journal: no sidecar stays behind)."""
    conn = apsw.Connection(str(path))
    try:
        conn.execute(sql)
    finally:
        conn.close()


def rows(path: Path, sql: str) -> list[tuple]:
    conn = apsw.Connection(f"file:{path}?immutable=1", flags=apsw.SQLITE_OPEN_READONLY | apsw.SQLITE_OPEN_URI)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def run(root: Path, *args: str):
    result = runner.invoke(app, ["--root", str(root), *args])
    assert "Traceback" not in result.output, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    return result


def errors(result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("lashdb: error: ")]


def schema_findings(report: doctor.FileReport) -> list[str]:
    return [f.message for f in report.findings if f.check == "schema" and f.severity == doctor.ERROR]


def fresh(tmp_path: Path, kind: schema.SchemaKind, name: str = "kind.db") -> Path:
    path = tmp_path / name
    schema.open_for_kind(path, kind).close()
    # Leave one plain file (as after a clean close): the comparisons below are about this file's bytes.
    raw(path, "PRAGMA journal_mode = DELETE")
    return path


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return build_demo(tmp_path_factory.mktemp("demo") / "root")


@pytest.fixture
def demo(built, tmp_path) -> tuple[Path, Path]:
    """A copy of the demo root and its session with the most graph nodes (and its sidecars beside it)."""
    dest = tmp_path / "root"
    shutil.copytree(built.root, dest)
    sessions = [dest / s.path.name for s in built.sessions]
    target = max(sessions, key=lambda p: rows(p, "SELECT count(*) FROM graph_nodes")[0][0])
    return dest, target


# --- item 1: someone else's database is never written ------------------------------------------------


@pytest.mark.parametrize("kind, opener", OPENERS)
@pytest.mark.parametrize("sql, named", [
    pytest.param("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)", "table notes", id="other-table"),
    pytest.param("CREATE TABLE notes (x); CREATE INDEX notes_x ON notes (x); CREATE VIEW v AS SELECT 1",
                 "index notes_x", id="table-index-view"),
])
def test_foreign_file_at_the_kinds_version_is_refused_byte_identical(tmp_path, kind, opener, sql, named):
    path = tmp_path / "theirs.db"
    raw(path, f"{sql}; PRAGMA user_version = {kind.version}")
    digest = file_sha256(path)
    with pytest.raises(UnrecognisedSchema) as err:
        opener(path)
    assert isinstance(err.value, SchemaVersionError)  # the cutover error: `refused`, exit 3
    assert (err.value.kind, err.value.expected, err.value.found) == (kind.name, kind.version, kind.version)
    assert err.value.path == str(path) and str(err.value).startswith(f"{path}: Unsupported lash {kind.name} schema")
    assert named in str(err.value) and "notes" in err.value.objects
    assert file_sha256(path) == digest
    assert sorted(p.name for p in tmp_path.iterdir()) == ["theirs.db"]  # no -wal, no -shm
    assert rows(path, "PRAGMA journal_mode") == [("delete",)]


@pytest.mark.parametrize("kind, opener", OPENERS)
def test_lash_file_with_one_extra_table_is_refused(tmp_path, kind, opener):
    path = fresh(tmp_path, kind)
    raw(path, "CREATE TABLE scratch (x)")
    before = snapshot_dir(tmp_path)
    with pytest.raises(UnrecognisedSchema, match="table scratch"):
        opener(path)
    assert snapshot_dir(tmp_path) == before


@pytest.mark.parametrize("kind, opener", OPENERS)
def test_no_objects_at_the_kinds_version_is_not_empty(tmp_path, kind, opener):
    # Only version 0 with no objects is "empty"; a stamped file with nothing in it is someone else's.
    path = tmp_path / "stamped.db"
    raw(path, f"CREATE TABLE t (x); DROP TABLE t; PRAGMA user_version = {kind.version}")
    before = snapshot_dir(tmp_path)
    with pytest.raises(UnrecognisedSchema, match=f"none of the {kind.name} tables"):
        opener(path)
    assert snapshot_dir(tmp_path) == before


@pytest.mark.parametrize("kind, opener", OPENERS)
def test_truly_empty_files_still_get_the_schema(tmp_path, kind, opener):
    zero = tmp_path / "zero.db"
    zero.touch()
    emptied = tmp_path / "emptied.db"
    raw(emptied, "CREATE TABLE t (x); DROP TABLE t")
    for path in (zero, emptied):
        opener(path).close()
        assert rows(path, "PRAGMA user_version") == [(kind.version,)]
        conn = apsw.Connection(str(path))
        try:
            assert schema.schema_differences(conn, kind) == []
        finally:
            conn.close()
        opener(path).close()  # and the complete schema opens again


# --- item 1/6: a damaged lash file is refused, not repaired ----------------------------------------


def _droppable(kind: schema.SchemaKind) -> tuple[str | None, str]:
    """A table that does not decide the kind (None for the one-table effect journal) and a named index."""
    shape = schema.expected_shape(kind)
    table = next((n for t, n in sorted(shape.objects) if t == "table" and n not in kind.marker_tables), None)
    index = next(n for t, n in sorted(shape.objects) if t == "index")
    return table, index


@pytest.mark.parametrize("kind, opener", OPENERS)
def test_missing_table_or_index_is_refused_unchanged(tmp_path, kind, opener):
    table, index = _droppable(kind)
    path = fresh(tmp_path, kind)
    raw(path, f"DROP INDEX {index}" + (f"; DROP TABLE {table}" if table else ""))
    before = snapshot_dir(tmp_path)
    with pytest.raises(SchemaDamaged) as err:
        opener(path)
    expected = ([f"missing table {table}"] if table else []) + [f"missing index {index}"]
    assert list(err.value.differences) == expected
    assert err.value.path == str(path) and err.value.kind == kind.name
    assert str(err.value) == f"{path}: damaged lash {kind.name} schema: " + "; ".join(expected)
    assert f"lashdb doctor {path}" in err.value.hint and "restore" in err.value.hint
    assert snapshot_dir(tmp_path) == before
    assert not any(n == index for (n,) in rows(path, "SELECT name FROM sqlite_master"))  # not recreated


def test_altered_column_is_damage(tmp_path):
    path = fresh(tmp_path, schema.SESSION)
    raw(path, "DROP TABLE artifact_refs; CREATE TABLE artifact_refs (artifact_ref TEXT PRIMARY KEY, blob_ref TEXT)")
    with pytest.raises(SchemaDamaged) as err:
        Store.open(path)
    assert err.value.differences == ("table artifact_refs: column blob_ref is TEXT, expected TEXT NOT NULL",)


def test_ensure_schema_refuses_damage_inside_its_transaction(tmp_path):
    # The guard that holds the write lock (a file damaged after the read-only pre-check).
    path = fresh(tmp_path, schema.SESSION)
    raw(path, "DROP TABLE graph_nodes")
    conn = apsw.Connection(str(path))
    try:
        with pytest.raises(SchemaDamaged, match="missing table graph_nodes"):
            schema.ensure_schema(conn, schema.SESSION, str(path))
        assert conn.get_autocommit()
        assert ("graph_nodes",) not in conn.execute("SELECT name FROM sqlite_master").fetchall()
    finally:
        conn.close()


def test_a_schema_changed_after_the_pre_check_is_compared_again_under_the_write_lock(tmp_path):
    path = fresh(tmp_path, schema.SESSION)
    verified = schema.check_openable(path, schema.SESSION)
    assert verified is not None  # a complete schema: the transaction may skip the second comparison
    raw(path, "DROP TABLE artifact_refs")  # ...unless the schema changed in between
    conn = apsw.Connection(str(path))
    try:
        with pytest.raises(SchemaDamaged, match="missing table artifact_refs"):
            schema.ensure_schema(conn, schema.SESSION, str(path), verified=verified)
        assert conn.get_autocommit()
    finally:
        conn.close()
    assert schema.check_openable(tmp_path / "absent.db", schema.SESSION) is None


# --- item 6: doctor names every difference -----------------------------------------------------------


@pytest.mark.parametrize("drop, expected", [
    pytest.param("DROP TABLE graph_nodes", ["missing table graph_nodes"], id="graph_nodes"),
    pytest.param("DROP TABLE artifact_refs", ["missing table artifact_refs"], id="artifact_refs"),
    pytest.param("DROP INDEX idx_queued_work_ready", ["missing index idx_queued_work_ready"], id="index"),
    pytest.param("DROP TABLE graph_nodes; DROP INDEX idx_attachment_manifest_uncommitted",
                 ["missing table graph_nodes", "missing index idx_attachment_manifest_uncommitted"], id="two"),
])
def test_doctor_reports_each_session_difference(demo, drop, expected):
    root, path = demo
    raw(path, drop)
    before = snapshot_dir(root)
    report = doctor.run([path], now_ms=NOW)
    (entry,) = report.files
    assert entry.checks["schema_shape"] == "problems"
    assert [m.split(":")[0] for m in schema_findings(entry)] == expected
    assert all(m.endswith("writing commands refuse this file") for m in schema_findings(entry))
    result = run(root, "doctor", str(path), "--json")
    assert result.exit_code == 1
    doc = json.loads(result.stdout)
    found = [f for f in doc["files"][0]["findings"] if f["check"] == "schema"]
    assert [(f["severity"], f["subject"]) for f in found] == [("error", e.rsplit(" ", 1)[1]) for e in expected]
    assert snapshot_dir(root) == before


@pytest.mark.parametrize("kind", [p.values[0] for p in OPENERS])
def test_doctor_reports_a_dropped_index_of_every_kind(tmp_path, kind):
    table, index = _droppable(kind)
    path = fresh(tmp_path, kind)
    assert schema_findings(doctor.run([path], now_ms=NOW).files[0]) == []
    raw(path, f"DROP INDEX {index}")
    found = schema_findings(doctor.run([path], now_ms=NOW).files[0])
    assert found == [f"missing index {index}: not the lash {kind.name} schema v{kind.version}; "
                     "writing commands refuse this file"]


def test_doctor_reports_a_second_singleton_row(demo):
    root, path = demo
    # Only a table recreated without its CHECK (singleton = 1) can hold a second row.
    head = rows(path, "SELECT session_id, head_json, head_revision FROM session_head")[0]
    raw(path, "DROP TABLE session_head; CREATE TABLE session_head (singleton INTEGER PRIMARY KEY, "
              "session_id TEXT NOT NULL DEFAULT 'root', head_json TEXT NOT NULL DEFAULT '{}', "
              "head_revision INTEGER NOT NULL DEFAULT 0)")
    conn = apsw.Connection(str(path))
    conn.execute("INSERT INTO session_head VALUES (1, ?, ?, ?), (2, 'other', '{}', 99)", head)
    conn.close()
    (entry,) = doctor.run([path], now_ms=NOW).files
    assert schema_findings(entry) == [
        "table session_head holds 2 rows; it may hold one (singleton = 1), and lash reads only that one"]
    before = snapshot_dir(root)
    # The lost CHECK is invisible to the pragmas; the second row is not, and writes refuse the file.
    with pytest.raises(SchemaDamaged) as err:
        Store.open(path)
    assert err.value.differences == (schema_findings(entry)[0],)
    assert snapshot_dir(root) == before


def test_doctor_names_a_session_that_lost_an_identifying_table(demo):
    root, path = demo
    raw(path, "DROP TABLE session_meta")
    (entry,) = doctor.run([path], now_ms=NOW).files
    kind = [f for f in entry.findings if f.check == "kind"]
    assert [(f.severity, f.message) for f in kind] == [
        ("error", "damaged lash session database: it is at version 4 and holds only session objects, "
                  "but lacks session_meta")]
    assert [m.split(":")[0] for m in schema_findings(entry)] == ["missing table session_meta"]
    with pytest.raises(SchemaDamaged, match="missing table session_meta"):
        Store.open(path)


def test_doctor_on_the_demo_and_the_upstream_fixtures_finds_no_schema_error(built, fixtures_dir):
    report = doctor.run([built.root, fixtures_dir], now_ms=NOW)
    assert [(f.path.name, schema_findings(f)) for f in report.files if schema_findings(f)] == []
    assert {f.path.name: f.checks.get("schema_shape") for f in report.files if f.path.parent == fixtures_dir} \
        == {p.name: None for p in fixtures_dir.glob("*.db")}  # foreign v38: not compared with v4's schema


# --- writing and reading commands -------------------------------------------------------------------


@pytest.mark.parametrize("args", [("gc",), ("gc", "--dry-run"), ("vacuum",), ("vacuum", "--compact")])
def test_writing_commands_refuse_a_damaged_session(demo, args):
    root, path = demo
    raw(path, "DROP TABLE graph_nodes")
    before = snapshot_dir(root)
    result = run(root, *args, str(path), "--json")
    assert result.exit_code == 3
    (entry,) = json.loads(result.stdout)["sessions"]
    assert entry["outcome"] == "refused" and "missing table graph_nodes" in entry["error"]
    (line,) = errors(result)
    assert str(path.name) in line and "damaged lash session schema: missing table graph_nodes" in line
    assert snapshot_dir(root) == before


def test_gc_does_not_recreate_artifact_refs_and_delete_what_it_rooted(demo):
    root, path = demo
    blobs_before = rows(path, "SELECT count(*) FROM blobs")
    raw(path, "DROP TABLE artifact_refs")
    result = run(root, "gc", str(path))
    assert result.exit_code == 3 and "missing table artifact_refs" in errors(result)[0]
    assert rows(path, "SELECT count(*) FROM blobs") == blobs_before
    assert rows(path, "SELECT count(*) FROM sqlite_master WHERE name = 'artifact_refs'") == [(0,)]


def test_sessions_show_names_the_file_instead_of_no_such_table(demo):
    root, path = demo
    raw(path, "DROP TABLE artifact_refs")
    before = snapshot_dir(root)
    result = run(root, "sessions", "show", str(path))
    assert result.exit_code == 3
    (line,) = errors(result)
    assert line.startswith(f"lashdb: error: {path}: damaged schema: no such table: artifact_refs")
    assert f"lashdb doctor {path}" in line
    assert snapshot_dir(root) == before


def test_sessions_list_marks_the_damaged_row(demo):
    root, path = demo
    raw(path, "DROP TABLE graph_nodes")
    result = run(root, "sessions", "list", "--json")
    assert result.exit_code == 0
    status = {Path(r["path"]).name: r["status"] for r in json.loads(result.stdout)}
    assert status.pop(path.name) == "damaged schema: missing table graph_nodes"
    assert set(status.values()) == {"ok"}


@pytest.mark.parametrize("role, command, drop, difference", [
    pytest.param("process registry", ("processes", "list"), "DROP TABLE process_events",
                 "missing table process_events; missing index idx_process_events_key", id="processes"),
    pytest.param("trigger store", ("triggers", "list"), "DROP INDEX idx_trigger_deliveries_process",
                 "missing index idx_trigger_deliveries_process", id="triggers"),
    pytest.param("effect replay", ("effects", "list"), "DROP INDEX idx_runtime_effect_replay_lease",
                 "missing index idx_runtime_effect_replay_lease", id="effects"),
])
def test_reading_a_damaged_sidecar_warns_naming_the_file(built, tmp_path, role, command, drop, difference):
    # Reads of a deployment store degrade where tables are missing (as for a foreign schema); a damaged
    # one at the supported version says so instead of showing, e.g., 0 events as if that were true.
    root = tmp_path / "root"
    shutil.copytree(built.root, root)
    (store,) = [p for p in root.glob(f"*{SIDECAR_OF[role]}")]
    raw(store, drop)
    before = snapshot_dir(root)
    result = run(root, *command, "--db", str(store))
    assert result.exit_code == 0
    warnings = [line for line in result.stderr.splitlines() if "damaged" in line]
    assert warnings == [f"lashdb: warning: {store}: damaged {role} schema ({difference}); shown where its tables "
                        f"allow, writes refuse it (`lashdb doctor {store}`)"]
    assert snapshot_dir(root) == before
