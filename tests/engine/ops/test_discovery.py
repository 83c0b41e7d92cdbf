"""Issue 10, items 7–9: the root walk and every file it cannot use.

- A FIFO (or socket, or directory) named ``*.db`` is never handed to SQLite (the open would block
  forever): it is "not a lash database (not a regular file: …)"; exit 3 when named, listed under
  ``sessions list --all`` and ``doctor``, named on stderr (and skipped) otherwise.
- A root entry that cannot be stat'ed or read (symlink loop, dangling symlink, permission denied, a
  subdirectory that cannot be listed, a ``-wal``/``-shm`` that cannot be read) is reported by every
  command that walks the root, with the OS's reason, and the command goes on: ``sessions list``
  rows ``unreadable: <reason>``; ``blob verify --all``/``doctor`` exit 1; ``gc``/``vacuum --all``
  name it on stderr and in ``--json``, exit 0.
- A ``--root`` that does not exist or is not a directory is exit 3.

Runs the installed script in subprocesses where the old code hung (timeout only as a hang guard).
As root, file modes do not stop reads: permission denied is simulated by running the CLI in a forked
child that drops to ``nobody``.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import console_script
from lashdb.cli.main import app
from lashdb.engine.ops.demo import build_demo
from lashdb.engine import Store
from lashdb.engine.ops import discovery
from lashdb.engine.errors import FileUnreadable, NotALashDatabase, NotARegularFile, RootUnusable

HANG_GUARD = 60  # seconds: only so a regression fails instead of blocking the suite forever
runner = CliRunner()


def run(root, *args):
    return runner.invoke(app, ["--root", str(root), *args])


def script(root, *args):
    """The installed console script, in a subprocess (a hang would block only it)."""
    return subprocess.run([console_script(), "--root", str(root), *args], capture_output=True, text=True,
                          timeout=HANG_GUARD, stdin=subprocess.DEVNULL)


def warnings_of(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("lashdb: warning: ")]


@pytest.fixture(scope="module")
def sessions(tmp_path_factory) -> list[Path]:
    """Two readable demo session databases (copied into each test's root)."""
    demo = build_demo(tmp_path_factory.mktemp("demo") / "root", sessions=2)
    return [s.path for s in demo.sessions][:2]


def make_root(base: Path, sessions: list[Path]) -> Path:
    root = base / "root"
    root.mkdir()
    for i, src in enumerate(sessions):
        shutil.copyfile(src, root / f"s{i}.db")
    return root


@pytest.fixture
def root(tmp_path, sessions) -> Path:
    return make_root(tmp_path, sessions)


def add_strange_entries(root: Path) -> None:
    """A symlink loop, a dangling symlink, a FIFO, a socket and a directory, each named *.db."""
    os.symlink("b.db", root / "a.db")
    os.symlink("a.db", root / "b.db")
    os.symlink("nowhere.db", root / "dangling.db")
    os.mkfifo(root / "fifo.db")
    (root / "dir.db").mkdir()
    sock = socket.socket(socket.AF_UNIX)
    try:
        sock.bind(str(root / "sock.db"))
    finally:
        sock.close()  # the socket file stays on disk


UNREADABLE = {"a.db": "symlink loop", "b.db": "symlink loop", "dangling.db": "dangling symlink"}
NOT_REGULAR = {"fifo.db": "not a regular file: a FIFO", "dir.db": "not a regular file: a directory",
               "sock.db": "not a regular file: a socket"}


# --- the walk (engine) ----------------------------------------------------------------------------------


def test_walk_yields_every_entry_with_the_os_reason(root):
    add_strange_entries(root)
    os.symlink("s0.db", root / "link.db")  # a symlink to a regular file is a regular entry
    entries = {e.path.name: e for e in discovery.walk(root)}
    assert sorted(entries) == sorted(["s0.db", "s1.db", "link.db", *UNREADABLE, *NOT_REGULAR])
    assert [e.path.name for e in discovery.walk(root)] == sorted(entries)  # sorted by path
    for name in ("s0.db", "s1.db", "link.db"):
        assert entries[name].error is None
    for name, reason in UNREADABLE.items():
        assert isinstance(entries[name].error, FileUnreadable) and entries[name].error.reason == reason
    for name, reason in NOT_REGULAR.items():
        err = entries[name].error
        assert isinstance(err, NotARegularFile) and isinstance(err, NotALashDatabase) and err.reason == reason
        assert str(err) == f"{root / name}: not a lash database ({reason})"
    found = {f.path.name: f for f in discovery.discover(root)}
    assert found["link.db"].is_session and not found["link.db"].unreadable
    assert all(found[n].unreadable and found[n].kind_name == "unreadable" for n in (*UNREADABLE, *NOT_REGULAR))


def test_walk_below_the_root_reports_loops_and_goes_on(root, sessions):
    sub = root / "deeper"
    sub.mkdir()
    shutil.copyfile(sessions[0], sub / "inner.db")
    os.symlink("y.db", sub / "x.db")
    os.symlink("x.db", sub / "y.db")
    os.symlink("..", sub / "up")  # a directory symlink cycle is not followed
    reasons = {str(e.path.relative_to(root)): e.error and e.error.reason
               for e in discovery.walk(root, recursive=True)}
    assert reasons == {"deeper/inner.db": None, "deeper/x.db": "symlink loop", "deeper/y.db": "symlink loop",
                       "s0.db": None, "s1.db": None}
    assert [e.path.name for e in discovery.walk(root)] == ["s0.db", "s1.db"]


def test_a_root_that_is_missing_or_not_a_directory_is_refused(tmp_path, root):
    with pytest.raises(RootUnusable, match="sessions root does not exist"):
        discovery.walk(tmp_path / "missing")
    with pytest.raises(RootUnusable, match=r"sessions root is not a directory \(it is a regular file\)"):
        discovery.discover(root / "s0.db")


def test_engine_opens_refuse_a_fifo_or_unreadable_sidecar_without_blocking(root):
    """Store.open_readonly / Store.open / classify on a FIFO, a FIFO -shm and a looping -wal raise
    typed errors naming the file (run in a subprocess: the old code blocked in the open forever)."""
    os.mkfifo(root / "fifo.db")
    shutil.copyfile(root / "s0.db", root / "shm.db")
    (root / "shm.db-wal").write_bytes(b"")
    os.mkfifo(root / "shm.db-shm")
    os.symlink("loop.db-wal", root / "loop.db-wal")
    shutil.copyfile(root / "s1.db", root / "loop.db")
    code = """
import sys
from lashdb.engine import Store, schema
from lashdb.engine.errors import LashdbError
for opener in ("Store.open_readonly", "Store.open", "schema.classify"):
    for name in sys.argv[1:]:
        try:
            eval(opener)(name).close() if opener != "schema.classify" else schema.classify(name)
            print(opener, name, "OPENED")
        except LashdbError as exc:
            print(opener, type(exc).__name__, exc)
"""
    names = [str(root / n) for n in ("fifo.db", "shm.db", "loop.db")]
    result = subprocess.run([sys.executable, "-c", code, *names], capture_output=True, text=True,
                            timeout=HANG_GUARD, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    expected = [
        f"NotARegularFile {root}/fifo.db: not a lash database (not a regular file: a FIFO)",
        f"FileUnreadable {root}/shm.db: cannot read (shm.db-shm: not a regular file: a FIFO)",
        f"FileUnreadable {root}/loop.db: cannot read (loop.db-wal: symlink loop)",
    ]
    assert lines == [f"{opener} {line}" for opener in ("Store.open_readonly", "Store.open", "schema.classify")
                     for line in expected]
    assert (root / "fifo.db").is_fifo() and not (root / "loop.db-shm").exists()  # nothing created


# --- item 7: a FIFO named *.db ------------------------------------------------------------------------


def test_fifo_in_the_root_hangs_no_command(root):
    os.mkfifo(root / "fifo.db")
    listed = script(root, "sessions", "list", "--json")
    assert listed.returncode == 0
    assert sorted(r["file"] for r in json.loads(listed.stdout)) == ["s0.db", "s1.db"]  # skipped: no session
    assert warnings_of(listed.stderr) == [f"lashdb: warning: {root}/fifo.db: unreadable: not a regular file: a FIFO"]
    every = script(root, "sessions", "list", "--all", "--json")
    row = {r["file"]: r for r in json.loads(every.stdout)}["fifo.db"]
    assert every.returncode == 0 and row["kind"] == "unreadable"
    assert row["status"] == "unreadable: not a regular file: a FIFO" and row["session_id"] is None

    verify = script(root, "blob", "verify", "--all", "--json")
    doc = json.loads(verify.stdout)
    assert verify.returncode == 1 and doc["ok"] is False and doc["total"]["sessions"] == 2
    assert doc["unreadable"] == [{"path": f"{root}/fifo.db", "file": "fifo.db", "status": "unreadable",
                                  "reason": "not a regular file: a FIFO"}]
    doctor = script(root, "doctor", "--json")
    files = {f["file"]: f for f in json.loads(doctor.stdout)["files"]}
    assert doctor.returncode == 1 and files["fifo.db"]["status"] == "unreadable"
    assert files["fifo.db"]["findings"] == [{"check": "readable", "severity": "error", "subject": None,
                                             "message": "cannot be read: not a regular file: a FIFO",
                                             "remedy": None}]
    assert files["s0.db"]["status"] in ("ok", "problems") and files["s0.db"]["reason"] is None


@pytest.mark.parametrize("how", ["path", "name"])
@pytest.mark.parametrize("command", [("sessions", "show"), ("blob", "ls"), ("head", "dump"), ("gc",),
                                     ("blob", "verify")])
def test_a_named_fifo_is_not_a_lash_database(root, how, command):
    os.mkfifo(root / "fifo.db")
    target = str(root / "fifo.db") if how == "path" else "fifo.db"
    result = script(root, *command, target)
    assert result.returncode == 3, result.stderr
    assert f"{root}/fifo.db: not a lash database (not a regular file: a FIFO)" in result.stderr
    assert "Traceback" not in result.stderr


# --- item 8: entries that cannot be stat'ed ------------------------------------------------------------


def test_sessions_list_reports_loops_and_dangling_links_and_goes_on(root):
    add_strange_entries(root)
    result = run(root, "sessions", "list", "--json")
    assert result.exit_code == 0, result.output
    rows = {r["file"]: r for r in json.loads(result.stdout)}
    assert sorted(rows) == ["a.db", "b.db", "dangling.db", "s0.db", "s1.db"]
    assert {n: rows[n]["status"] for n in UNREADABLE} == {n: f"unreadable: {r}" for n, r in UNREADABLE.items()}
    assert rows["s0.db"]["status"] == rows["s1.db"]["status"] == "ok"
    named = sorted(warnings_of(result.stderr))
    assert named == sorted(f"lashdb: warning: {root}/{n}: unreadable: {r}"
                           for n, r in {**UNREADABLE, **NOT_REGULAR}.items())
    table = run(root, "sessions", "list").stdout
    assert [line.split()[-2:] for line in table.splitlines() if line.startswith("a.db")] == [["symlink", "loop"]]
    every = {r["file"]: r["status"] for r in json.loads(run(root, "sessions", "list", "--all", "--json").stdout)}
    assert {n: every[n] for n in NOT_REGULAR} == {n: f"unreadable: {r}" for n, r in NOT_REGULAR.items()}


def test_sessions_list_recursive_goes_past_a_loop_below_the_root(root, sessions):
    sub = root / "deeper"
    sub.mkdir()
    shutil.copyfile(sessions[1], sub / "inner.db")
    os.symlink("loop.db", sub / "loop.db")
    result = runner.invoke(app, ["--root", str(root), "--recursive", "sessions", "list", "--json"])
    assert result.exit_code == 0, result.output
    rows = {r["file"]: r["status"] for r in json.loads(result.stdout)}
    assert rows == {"s0.db": "ok", "s1.db": "ok", "inner.db": "ok", "loop.db": "unreadable: symlink loop"}


def test_lookups_name_the_unreadable_files_they_could_not_search(root):
    add_strange_entries(root)
    result = run(root, "sessions", "show", "zzzz-no-such-session")
    assert result.exit_code == 3
    assert ("6 file(s) there cannot be read: a.db (symlink loop), b.db (symlink loop), "
            "dangling.db (dangling symlink), …") in result.stderr
    found = run(root, "blob", "cat", "000000")
    assert found.exit_code == 3 and "no blob `000000`" in found.stderr
    assert f"lashdb: warning: {root}/a.db: unreadable: symlink loop; not searched" in found.stderr
    looped = run(root, "sessions", "show", "a.db")
    assert looped.exit_code == 3 and f"{root}/a.db: cannot read (symlink loop)" in looped.stderr


# --- item 9: unreadable files are reported, never skipped silently --------------------------------------


def test_blob_verify_all_names_unreadable_files_and_exits_1(root):
    add_strange_entries(root)
    result = run(root, "blob", "verify", "--all", "--json")
    assert result.exit_code == 1, result.output
    doc = json.loads(result.stdout)
    assert [Path(s["path"]).name for s in doc["sessions"]] == ["s0.db", "s1.db"]
    assert all(s["ok"] for s in doc["sessions"]) and doc["ok"] is False
    expected = {**UNREADABLE, **NOT_REGULAR}
    assert doc["unreadable"] == [{"path": f"{root}/{n}", "file": n, "status": "unreadable", "reason": expected[n]}
                                 for n in sorted(expected)]
    assert doc["total"]["unreadable"] == 6 and doc["total"]["failed"] == 0
    assert sorted(warnings_of(result.stderr)) == sorted(f"lashdb: warning: {root}/{n}: unreadable: {r}; skipped"
                                                        for n, r in expected.items())
    table = run(root, "blob", "verify", "--all")
    assert table.exit_code == 1 and table.stdout.rstrip().endswith("6 file(s) unreadable (skipped)")
    only_good = run(root, "blob", "verify", "s0.db", "s1.db")  # named sessions: the walk is not involved
    assert only_good.exit_code == 0 and only_good.stderr == ""


def test_gc_and_vacuum_all_report_unreadable_files_and_go_on(root):
    os.symlink("b.db", root / "a.db")
    os.symlink("a.db", root / "b.db")
    os.mkfifo(root / "fifo.db")
    expected = [{"path": f"{root}/{n}", "file": n, "status": "unreadable", "reason": r}
                for n, r in (("a.db", "symlink loop"), ("b.db", "symlink loop"),
                             ("fifo.db", "not a regular file: a FIFO"))]
    gc = run(root, "gc", "--all", "--json")
    assert gc.exit_code == 0, gc.output
    doc = json.loads(gc.stdout)
    assert [s["outcome"] for s in doc["sessions"]] == ["collected", "collected"]
    assert doc["unreadable"] == expected and doc["total"]["unreadable"] == 3
    assert len(warnings_of(gc.stderr)) == 3 and f"{root}/fifo.db: unreadable: not a regular file: a FIFO; skipped" in gc.stderr
    vacuum = run(root, "vacuum", "--all", "--json")
    doc = json.loads(vacuum.stdout)
    assert vacuum.exit_code == 0 and doc["unreadable"] == expected and doc["total"]["vacuumed"] == 2
    table = run(root, "gc", "--all", "--dry-run")
    assert table.exit_code == 0 and table.stdout.rstrip().endswith(", 3 file(s) unreadable (skipped)")


@pytest.mark.parametrize(("setup", "reason"), [
    ("shm-dir", "s0.db-shm: not a regular file: a directory"),
    ("shm-fifo", "s0.db-shm: not a regular file: a FIFO"),
    ("wal-loop", "s0.db-wal: symlink loop"),
    ("wal-fifo", "s0.db-wal: not a regular file: a FIFO"),
])
def test_an_unreadable_wal_or_shm_does_not_hide_the_session(root, setup, reason):
    wal, shm = root / "s0.db-wal", root / "s0.db-shm"
    if setup.startswith("shm"):
        wal.write_bytes(b"")
        shm.mkdir() if setup == "shm-dir" else os.mkfifo(shm)
    elif setup == "wal-loop":
        os.symlink(wal.name, wal)
    else:
        os.mkfifo(wal)
    listed = script(root, "sessions", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    rows = {r["file"]: r for r in json.loads(listed.stdout)}
    assert rows["s0.db"]["status"] == f"unreadable: {reason}" and rows["s1.db"]["status"] == "ok"
    assert warnings_of(listed.stderr) == [f"lashdb: warning: {root}/s0.db: unreadable: {reason}"]
    verify = script(root, "blob", "verify", "--all", "--json")
    doc = json.loads(verify.stdout)
    assert verify.returncode == 1 and [u["reason"] for u in doc["unreadable"]] == [reason]
    assert [Path(s["path"]).name for s in doc["sessions"]] == ["s1.db"]
    doctor = script(root, "doctor", "--json")
    files = {f["file"]: f for f in json.loads(doctor.stdout)["files"]}
    assert doctor.returncode == 1 and (files["s0.db"]["status"], files["s0.db"]["reason"]) == ("unreadable", reason)
    named = script(root, "sessions", "show", "s0.db")
    assert named.returncode == 3 and f"{root}/s0.db: cannot read ({reason})" in named.stderr


@pytest.mark.parametrize("command", [("sessions", "list"), ("blob", "verify", "--all"), ("gc", "--all"),
                                     ("vacuum", "--all"), ("doctor",), ("sessions", "show", "abcdef")])
def test_a_root_that_is_missing_or_a_file_is_exit_3(tmp_path, root, command):
    missing = run(tmp_path / "missing", *command)
    assert missing.exit_code == 3 and missing.stdout == ""
    assert missing.stderr.splitlines() == [
        f"lashdb: error: {tmp_path}/missing: sessions root does not exist (pass --root DIR (or set LASHDB_ROOT) "
        "to the directory holding the session databases; `lashdb demo DIR` creates one to explore)"]
    a_file = run(root / "s0.db", *command)
    assert a_file.exit_code == 3 and len(a_file.stderr.splitlines()) == 1
    assert a_file.stderr.startswith(f"lashdb: error: {root}/s0.db: sessions root is not a directory (it is a regular file)")


# --- permission denied (as an unprivileged user) ----------------------------------------------------------


def _nobody() -> tuple[int, int] | None:
    if os.geteuid() != 0:
        return os.geteuid(), os.getegid()  # file modes already apply to us
    try:
        pw = pwd.getpwnam("nobody")
    except KeyError:
        return None
    return pw.pw_uid, pw.pw_gid


def run_unprivileged(*args: str) -> tuple[int, str, str]:
    """Run the CLI in a forked child that drops to ``nobody`` (as root, file modes do not stop reads).

    The child cannot exec the interpreter (it lives under a private home), so it runs the app that is
    already imported; every module the commands import lazily is imported first, here.
    """
    ids = _nobody()
    if ids is None:
        pytest.skip("no unprivileged `nobody` user to show permission denied as root")
    import orjson  # noqa: F401 - imported before the fork: the child may not read the interpreter's files
    import lashdb.cli.main as cli_main
    from lashdb.engine.ops import doctor, inspect, maintenance, verify  # noqa: F401
    from lashdb.engine import parallel  # noqa: F401

    for module in cli_main.MODULES:
        module.register(cli_main.build_app((module,)))
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child
            code = 70
            try:
                os.dup2(out.fileno(), 1)
                os.dup2(err.fileno(), 2)
                sys.stdout = open(1, "w", closefd=False)
                sys.stderr = open(2, "w", closefd=False)
                if os.geteuid() == 0:
                    os.setgroups([])
                    os.setgid(ids[1])
                    os.setuid(ids[0])
                sys.argv = ["lashdb", *args]
                try:
                    cli_main.main()
                    code = 0
                except SystemExit as exc:
                    code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            except BaseException:  # noqa: BLE001 - reported through stderr to the parent
                import traceback

                traceback.print_exc()
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        out.seek(0)
        err.seek(0)
        return os.waitstatus_to_exitcode(status), out.read().decode(), err.read().decode()


@pytest.fixture
def open_root(sessions):
    """A root an unprivileged user can reach (pytest's tmp_path is private to root)."""
    base = Path(tempfile.mkdtemp(prefix="lashdb-i10-"))
    base.chmod(0o755)
    root = make_root(base, sessions)
    root.chmod(0o755)
    for p in root.iterdir():
        p.chmod(0o644)
    yield root
    for p in root.rglob("*"):
        p.chmod(0o755 if p.is_dir() else 0o644)
    shutil.rmtree(base)


def test_permission_denied_is_reported_not_skipped(open_root, sessions):
    root = open_root
    (root / "s1.db").chmod(0)
    sub = root / "locked"
    sub.mkdir(mode=0o700)  # nobody cannot list it
    shutil.copyfile(sessions[0], root / "w.db")
    (root / "w.db").chmod(0o644)
    (root / "w.db-wal").write_bytes(b"")
    (root / "w.db-shm").write_bytes(b"")
    (root / "w.db-wal").chmod(0)
    (root / "w.db-shm").chmod(0o644)

    code, out, err = run_unprivileged("--root", str(root), "--recursive", "sessions", "list", "--json")
    assert code == 0, err
    rows = {r["file"]: r["status"] for r in json.loads(out)}
    assert rows == {"s0.db": "ok", "s1.db": "unreadable: Permission denied",
                    "w.db": "unreadable: w.db-wal: Permission denied",
                    "locked": "unreadable: directory cannot be listed: Permission denied"}
    assert sorted(warnings_of(err)) == sorted([
        f"lashdb: warning: {root}/s1.db: unreadable: Permission denied",
        f"lashdb: warning: {root}/w.db: unreadable: w.db-wal: Permission denied",
        f"lashdb: warning: {root}/locked: unreadable: directory cannot be listed: Permission denied"])

    code, out, err = run_unprivileged("--root", str(root), "blob", "verify", "--all", "--json")
    doc = json.loads(out)
    assert code == 1, err
    assert {u["file"]: u["reason"] for u in doc["unreadable"]} == {
        "s1.db": "Permission denied", "w.db": "w.db-wal: Permission denied"}
    assert [Path(s["path"]).name for s in doc["sessions"]] == ["s0.db"] and doc["sessions"][0]["ok"]

    code, out, err = run_unprivileged("--root", str(root), "doctor", "--json")
    files = {f["file"]: f for f in json.loads(out)["files"]}
    assert code == 1 and files["s1.db"]["reason"] == "Permission denied"

    code, out, err = run_unprivileged("--root", str(root), "sessions", "show", "s1.db")
    assert code == 3 and f"{root}/s1.db: cannot read (Permission denied)" in err
