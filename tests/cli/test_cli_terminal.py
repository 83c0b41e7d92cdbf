"""Output an operator can use (issue 14), through a real pseudo-terminal and the installed script.

At 80 and 160 columns every id, hash and node id a table shows is whole on one line and is accepted
back by the command that takes it; colour only on a terminal without NO_COLOR; the pager only on a
terminal and not with --no-pager; graph show --full and node show print whole messages; blob cat
--json and demo --json are JSON documents with the documented keys.
"""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
import tty
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import console_script
from lashdb.cli import output
from lashdb.cli.main import app
from lashdb.engine.ops.demo import build_demo

SGR = re.compile(rb"\x1b\[[0-9;]*m")
runner = CliRunner()


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    return build_demo(tmp_path_factory.mktemp("term") / "root", 3)


def env_for(columns: int, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "PAGER", "LASHDB_PAGER", "LESS")}
    env.update(COLUMNS=str(columns), TERM="xterm", LASHDB_PAGER="cat")
    env.update(extra)
    return env


def on_pty(args: list[str], env: dict[str, str]) -> tuple[int, bytes, bytes]:
    """The console script with stdout on a raw pseudo-terminal, stderr on a pipe."""
    master, slave = pty.openpty()
    tty.setraw(slave)
    proc = subprocess.Popen([console_script(), *args], stdout=slave, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, env=env)
    os.close(slave)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 1 << 16)
        except OSError:  # EIO: every writer closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    err = proc.stderr.read()
    proc.stderr.close()
    os.close(master)
    return proc.wait(), b"".join(chunks), err


def cli(root: Path, *args: str, code: int = 0) -> dict:
    result = runner.invoke(app, ["--root", str(root), *args])
    assert result.exit_code == code, result.output
    return json.loads(result.stdout)


def table(out: bytes) -> list[list[str]]:
    """Rows of a rendered table (header first), cells split on runs of 2+ spaces, colour removed."""
    return [re.split(r" {2,}", line) for line in SGR.sub(b"", out).decode().splitlines() if line.strip()]


@pytest.mark.parametrize("columns", [80, 160])
def test_ids_in_tables_are_whole_and_accepted_back(demo, columns):
    root = str(demo.root)
    rc, out, err = on_pty(["--root", root, "sessions", "list"], env_for(columns))
    assert rc == 0, err
    rows = table(out)
    assert rows[0][0] == "session" and len(rows) == 1 + len(demo.sessions)  # one line per row: nothing folded
    for row in rows[1:]:
        for ident in row[0].split(" ← "):
            doc = cli(demo.root, "sessions", "show", ident, "--json")
            assert doc["meta"]["session_id"].startswith(ident)
    assert any(len(cell) <= columns and cell.endswith("…") for row in rows[1:] for cell in row) or columns == 160

    first = demo.sessions[0].session_id
    rc, out, err = on_pty(["--root", root, "blob", "ls", first], env_for(columns))
    assert rc == 0, err
    hashes = [row[0] for row in table(out)[1:]]
    assert len(hashes) == len(cli(demo.root, "blob", "ls", first, "--json"))
    for short in hashes:
        doc = cli(demo.root, "blob", "cat", short, "--session", first, "--json")
        assert doc["envelope"]["hash"].startswith(short) and doc["envelope"]["verification"] == "ok"

    rc, out, err = on_pty(["--root", root, "graph", "show", first], env_for(columns))
    assert rc == 0, err
    nodes = [row[0].strip() for row in table(out)[2:]]  # past the title and the header
    assert len(nodes) == cli(demo.root, "graph", "show", first, "--json")["shown"]
    for node in nodes:
        assert cli(demo.root, "node", "show", first, node, "--json")["node"]["node_id"].startswith(node)


@pytest.mark.parametrize("columns", [80, 160])
def test_doctor_remedies_and_process_ids_are_whole_and_run_as_printed(tmp_path, columns):
    import shlex

    from lashdb.engine.base.timing import wall_clock_ms

    root = tmp_path / "root"
    build_demo(root, clock=wall_clock_ms)  # at the wall clock: the dead runtime's leases are expired
    rc, out, err = on_pty(["--root", str(root), "processes", "list"], env_for(columns))
    assert rc == 0, err
    rows = table(out)[2:]  # past the registry's path and the header
    listed = cli(root, "processes", "list", "--json")
    assert len(rows) == len(listed)
    for row in rows:
        assert cli(root, "processes", "show", row[0], "--json")["process"]["process_id"] == row[0]

    rc, out, err = on_pty(["--root", str(root), "doctor"], env_for(columns))
    assert rc == 1, err
    lines = SGR.sub(b"", out).decode().splitlines()
    start = lines.index("problems:") + 2  # past the title and the header
    found = [re.split(r" {2,}", line) for line in lines[start:lines.index("", start)]]
    remedies = [row[-1] for row in found]
    expected = [x["remedy"] for f in cli(root, "doctor", "--json", code=1)["files"] for x in f["findings"]]
    assert remedies == expected and all(r.startswith("lashdb ") for r in remedies)  # whole, one line each
    for remedy in remedies:
        result = runner.invoke(app, shlex.split(remedy)[1:])
        assert result.exit_code == 0, (remedy, result.output)
    left = [x["check"] for f in cli(root, "doctor", "--json", code=1)["files"] for x in f["findings"]]
    assert left == ["stuck_processes"]  # the released worker's process waits for a person


def test_colour_on_a_terminal_only(demo):
    args = ["--root", str(demo.root), "sessions", "list"]
    rc, out, _err = on_pty(args, env_for(160))
    assert rc == 0 and b"\x1b[1msession\x1b[0m" in out and b"\x1b[32mok\x1b[0m" in out  # bold header, ok green
    rc, out, _err = on_pty(args, env_for(160, NO_COLOR="1"))
    assert rc == 0 and b"\x1b" not in out and b"session" in out
    piped = subprocess.run([console_script(), *args], capture_output=True, env=env_for(160), check=False)
    assert piped.returncode == 0 and b"\x1b" not in piped.stdout and b"session" in piped.stdout


def test_status_cells_are_coloured_by_meaning():
    rows = [{"status": s} for s in ("ok", "failed", "3 problem(s)", "expired 2m ago", "busy")]
    lines = output.table_lines(rows, [("status", "status")], terminal=True, colour=True, cols=80)
    assert lines[0] == "\x1b[1mstatus\x1b[0m"
    assert lines[1:] == ["\x1b[32mok\x1b[0m", "\x1b[31mfailed\x1b[0m", "\x1b[31m3 problem(s)\x1b[0m",
                         "\x1b[1;33mexpired 2m ago\x1b[0m", "\x1b[33mbusy\x1b[0m"]


def test_free_text_is_cut_to_the_width_and_ids_never():
    ident = "f6db04a9-6e1f-5f31-8f4a-eafa8640d297"
    rows = [{"id": ident, "text": "word " * 40}]
    lines = output.table_lines(rows, [("id", "id"), ("text", "text", output.FIT)], terminal=True, colour=False,
                               cols=80)
    assert len(lines[1]) == 80 and lines[1].startswith(ident + "  ") and lines[1].endswith("…")
    narrow = output.table_lines(rows, [("id", "id"), ("text", "text", output.FIT)], terminal=True, colour=False,
                                cols=20)
    assert narrow[1].startswith(ident + "  ")  # past the edge rather than cut
    piped = output.table_lines(rows, [("id", "id"), ("text", "text", output.FIT)], terminal=False, colour=False)
    assert piped[1] == (ident + "  " + "word " * 40).rstrip()


def test_pager_on_a_terminal_only(demo):
    args = ["--root", str(demo.root), "sessions", "list"]
    pager = {"LASHDB_PAGER": "sed 's/^/PAGED:/'"}
    rc, out, _err = on_pty(args, env_for(160, **pager))
    lines = SGR.sub(b"", out).decode().splitlines()
    assert rc == 0 and lines and all(line.startswith("PAGED:") for line in lines), out
    assert "\x1b[32mok" in out.decode()  # paged output keeps its colour (less -R shows it)
    rc, out, _err = on_pty(["--no-pager", *args], env_for(160, **pager))
    assert rc == 0 and b"PAGED:" not in out and b"session" in out
    piped = subprocess.run([console_script(), *args], capture_output=True, env=env_for(160, **pager), check=False)
    assert piped.returncode == 0 and b"PAGED:" not in piped.stdout and b"session" in piped.stdout


def test_pager_command_choice():
    from lashdb.cli import pager

    assert pager.command({}) == "less -FRX"
    assert pager.command({"PAGER": "more"}) == "more"
    assert pager.command({"PAGER": "more", "LASHDB_PAGER": "most"}) == "most"
    assert pager.command({"LASHDB_PAGER": "cat"}) is None and pager.command({"PAGER": ""}) is None


def test_whole_messages(demo):
    first = demo.sessions[0].session_id
    doc = cli(demo.root, "graph", "show", first, "--json")
    long = [n for n in doc["nodes"] if len(n["full_text"]) > 60]
    assert long, "the demo has a message longer than the table's cut"
    node = long[0]
    rc, out, err = on_pty(["--root", str(demo.root), "graph", "show", first], env_for(80))
    assert rc == 0 and node["full_text"].encode() not in out  # the table cuts it
    result = runner.invoke(app, ["--root", str(demo.root), "graph", "show", first, "--full"])
    assert result.exit_code == 0 and node["full_text"] in result.stdout and node["node_id"] in result.stdout
    result = runner.invoke(app, ["--root", str(demo.root), "node", "show", first, node["short_id"]])
    assert result.exit_code == 0 and node["full_text"] in result.stdout
    shown = cli(demo.root, "node", "show", first, node["short_id"], "--json")
    assert set(shown) == {"path", "session_id", "node"} and shown["node"]["full_text"] == node["full_text"]
    result = runner.invoke(app, ["--root", str(demo.root), "node", "show", first, "n_nope"])
    assert result.exit_code == 3 and "no graph node" in result.stderr


def test_blob_cat_json_and_demo_json(demo, tmp_path):
    first = demo.sessions[0].session_id
    blob = cli(demo.root, "blob", "ls", first, "--json")[0]
    doc = cli(demo.root, "blob", "cat", blob["hash"], "--json")
    assert set(doc) == {"envelope", "content_format", "content"}
    assert doc["envelope"]["hash"] == blob["hash"] and doc["content_format"] == "cbor"
    assert doc["content"] == cli(demo.root, "blob", "cat", blob["hash"], "--decode")
    result = runner.invoke(app, ["--root", str(demo.root), "blob", "cat", blob["hash"], "--json", "--decode"])
    assert result.exit_code == 2
    made = json.loads(runner.invoke(app, ["demo", str(tmp_path / "d"), "--sessions", "1", "--json"]).stdout)
    session = made["sessions"][0]
    assert session["created_at"] == output.iso_ms(session["created_at_epoch_ms"])
    assert session["modified_at"].endswith("Z") and session["modified_at_epoch_ms"] > 0
