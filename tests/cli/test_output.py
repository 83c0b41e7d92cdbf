"""Issue 10, items 10 and 13: database strings cannot drive the operator's terminal, and a closed
stdout ends a command quietly.

Item 10: a session, graph, effect journal, process registry and trigger store are written through
the engine API (the demo builder with hostile names, ids and texts; ``ProcessRegistry`` and
``TriggerStore`` directly) so that ids, names, models, cwd, messages, tool names, process and
trigger fields carry an OSC retitle + clear-screen sequence, a C1 CSI, a carriage return, a bidi
override and rich markup. Every human-readable command then prints them as visible escapes —
plain (CliRunner and the installed script through a pipe) and rich (CliRunner with a terminal,
and the script on a pty) — never as raw control bytes; error lines and prompts too. ``--json``
round-trips the exact string.

Item 13: with the reading end of stdout closed (deterministically: before the command runs, or
``| head -1`` on output larger than a pipe holds) the script exits 141 with nothing on stderr.
"""

from __future__ import annotations

import json
import os
import pty
import re
import shutil
import subprocess
import tty
from pathlib import Path
from types import SimpleNamespace

import pytest
import typer.testing
from typer.testing import CliRunner

import lashdb.engine.ops.demo as demo_module
from conftest import console_script
from lashdb.cli import output
from lashdb.cli.main import app
from lashdb.engine.ops.demo import build_demo
from lashdb.engine import (
    ProcessExternalRef,
    ProcessHandleDescriptor,
    ProcessIdentity,
    ProcessInput,
    ProcessOriginator,
    ProcessRegistration,
    ProcessRegistry,
    SessionScope,
    TriggerOccurrenceRequest,
    TriggerStore,
    TriggerSubscriptionDraft,
)
from lashdb.engine.deployment.triggers import default_source_key

PWNED = "\x1b]0;PWNED\x07\x1b[2J"           # OSC retitle, then clear the screen
BAD = PWNED + "\x9b31m\rrtl\u202eevil[red]x[/red]"  # + C1 CSI, CR, bidi override, rich markup
SHOWN = "\\x1b]0;PWNED\\x07\\x1b[2J"         # how a human-readable line shows it
JSON_SHOWN = "\\u001b]0;PWNED\\u0007"         # how JSON text shows it
RAW = [b"\x1b", b"\x07", b"\r", "\x9b".encode(), "\u202e".encode()]
SGR = re.compile(rb"\x1b\[[0-9;]*m")          # rich's own styling, the only escapes it may write
runner = CliRunner()


def raw_controls(data: bytes | str) -> list[bytes]:
    """The terminal-driving bytes in ``data`` (empty when it is safe to print)."""
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogateescape")
    return [b for b in RAW if b in data]


def strings(doc) -> list[str]:
    """Every string (keys and values) inside a JSON document."""
    if isinstance(doc, str):
        return [doc]
    if isinstance(doc, dict):
        return [s for k, v in doc.items() for s in [k, *strings(v)]]
    if isinstance(doc, list):
        return [s for v in doc for s in strings(v)]
    return []


@pytest.fixture(scope="module")
def evil(tmp_path_factory) -> SimpleNamespace:
    """A demo root whose session ids, names, models, cwd, messages and tool names carry BAD, plus a
    process registry and trigger store whose ids, labels, scopes, names and payloads carry it."""
    base = tmp_path_factory.mktemp("evil")
    original_uid = demo_module._uid

    def uid(*parts):
        text = original_uid(*parts)
        return f"s{BAD}{text}" if parts and parts[0] in ("session", "child") else text

    turn, script = demo_module._Turn, demo_module._Script
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(demo_module, "_uid", uid)
        mp.setattr(demo_module, "_SCRIPTS", (script(f"name {BAD}", f"model {BAD}", f"/cwd/{BAD}", (
            turn(f"first {BAD}", f"reply {BAD}", tool=f"tool{BAD}"),
            turn(f"second {BAD}", f"reply2 {BAD}", tool=f"tool2{BAD}", regenerated=f"regen {BAD}"),
            turn(f"third {BAD}", f"reply3 {BAD}"))),))
        mp.setattr(demo_module, "_CHILD", script(f"child {BAD}", f"cm {BAD}", f"/c/{BAD}",
                                                 (turn(f"c {BAD}", f"cr {BAD}", tool=f"ct{BAD}"),)))
        summary = build_demo(base / "root", 2)
    first = summary.sessions[0]
    assert first.session_id.startswith("s" + BAD) and first.name == f"name {BAD}"

    stores = base / "stores"
    stores.mkdir()
    pid = f"p{BAD}"
    clock = [1_700_000_000_000]
    with ProcessRegistry.open(stores / "registry.db", clock=lambda: clock[0]) as registry:
        registry.register_process(ProcessRegistration(
            pid, ProcessInput.engine(f"k{BAD}", {"x": BAD}), identity=ProcessIdentity(f"kind{BAD}", f"label{BAD}"),
            env_ref=f"env{BAD}", wake_target=SessionScope(f"s{BAD}", f"f{BAD}")))
        registry.grant_handle(SessionScope(f"s{BAD}"), pid, ProcessHandleDescriptor(f"h{BAD}", f"d{BAD}"))
        registry.claim_process_lease(pid, f"owner{BAD}", 60_000)
        registry.set_external_ref(pid, ProcessExternalRef(f"sys{BAD}", f"ref{BAD}"))
    key = default_source_key(f"src{BAD}", {"a": BAD})
    with TriggerStore.open(stores / "triggers.db", clock=lambda: clock[0]) as triggers:
        triggers.register_subscription(TriggerSubscriptionDraft(
            ProcessOriginator.session(f"s{BAD}"), f"env{BAD}", f"src{BAD}", key, ProcessInput.engine(f"k{BAD}"),
            ProcessIdentity(f"kind{BAD}", f"label{BAD}"), wake_target=SessionScope(f"s{BAD}", f"f{BAD}"),
            name=f"name{BAD}", source={"a": BAD}))
        occurrence = triggers.record_occurrence(TriggerOccurrenceRequest(f"src{BAD}", key, f"idem{BAD}", {"p": BAD}))
        triggers.reserve_matching_deliveries(occurrence.occurrence_id)
    return SimpleNamespace(root=summary.root, first=first, child=summary.child_sessions[0], pid=pid,
                           registry=stores / "registry.db", triggers=stores / "triggers.db",
                           scope=summary.runtime.effect_scopes[0])


def commands(e: SimpleNamespace) -> dict[str, tuple[list[str], int, bool | None]]:
    """name → (arguments, exit code, whether the output shows BAD: True whole, None cut short, False not
    at all). Every human-readable command."""
    p, c = str(e.first.path), str(e.child.path)
    return {
        "sessions list": (["sessions", "list"], 0, True),
        "sessions list --all": (["sessions", "list", "--all"], 0, True),
        "sessions show": (["sessions", "show", p], 0, True),
        "sessions show child": (["sessions", "show", c], 0, True),
        "sessions delete --dry-run": (["sessions", "delete", p, "--dry-run"], 0, False),
        "head dump": (["head", "dump", p, "--checkpoint"], 0, True),
        "graph show": (["graph", "show", p, "--tombstoned"], 0, True),
        "graph show --active-path": (["graph", "show", c, "--active-path"], 0, True),
        "blob ls": (["blob", "ls", p], 0, False),
        "blob verify": (["blob", "verify", "--all"], 0, True),
        "gc --dry-run": (["gc", "--all", "--dry-run"], 0, True),
        "doctor": (["doctor"], 1, True),
        "effects list": (["effects", "list", p], 0, False),
        "effects replay": (["effects", "replay", p, "--scope", e.scope], 0, False),
        "processes list": (["processes", "list", p], 0, None),  # only cut scope ids
        "processes list --db": (["processes", "list", "--db", str(e.registry)], 0, True),
        "processes show --db": (["processes", "show", e.pid, "--db", str(e.registry)], 0, True),
        "triggers list": (["triggers", "list", p], 0, None),
        "triggers list --db": (["triggers", "list", "--db", str(e.triggers)], 0, True),
        "triggers occurrences --db": (["triggers", "occurrences", "--db", str(e.triggers)], 0, True),
    }


NAMES = ["sessions list", "sessions list --all", "sessions show", "sessions show child", "sessions delete --dry-run",
         "head dump", "graph show", "graph show --active-path", "blob ls", "blob verify", "gc --dry-run", "doctor",
         "effects list", "effects replay", "processes list", "processes list --db", "processes show --db",
         "triggers list", "triggers list --db", "triggers occurrences --db"]
# Documents that hold one of the hostile strings (the rest hold none: ids derived by hashing).
JSON_WITH_BAD = {n for n in NAMES if n not in ("sessions delete --dry-run", "blob ls", "effects list",
                                                "effects replay")}


def run(root, args, **kwargs):
    return runner.invoke(app, ["--root", str(root), *args], **kwargs)


def test_every_human_readable_command_is_covered(evil):
    assert list(commands(evil)) == NAMES


# --- the escaping function --------------------------------------------------------------------------


def test_safe_escapes_what_a_terminal_acts_on_and_nothing_else():
    assert output.safe(BAD) == SHOWN + "\\x9b31m\\rrtl\\u202eevil[red]x[/red]"
    assert output.safe("a\nb\tc\x00d\x7fe\x85f") == "a\\nb\\tc\\x00d\\x7fe\\x85f"
    assert output.safe("\u200e\u200f\u061c\u2028\u2029\u202a\u202d\u2066\u2069") == \
        "\\u200e\\u200f\\u061c\\u2028\\u2029\\u202a\\u202d\\u2066\\u2069"
    kept = "café · 200× … 中文 👨‍👩‍👧 C:\\path\\x1b [bold]"  # printable Unicode, ZWJ, backslashes: as they are
    assert output.safe(kept) == kept
    assert output.safe(None) == "None" and output.safe(12) == "12"


def test_dumps_keeps_values_exact_and_writes_terminal_controls_as_json_escapes():
    doc = {"k" + BAD: [BAD, "\x7f\x85\u2028\u2066", "café 中文"]}
    text = output.dumps(doc)
    assert json.loads(text) == doc
    assert raw_controls(text) == [] and "\x7f" not in text and "\u2028" not in text
    assert "\\u009b" in text and "\\u202e" in text and "café 中文" in text


# --- item 10: every human-readable command, plain --------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_plain_output_shows_escapes_not_controls(evil, name):
    args, code, shows = commands(evil)[name]
    result = run(evil.root, args)
    assert result.exit_code == code, result.output
    assert raw_controls(result.stdout) == [] and raw_controls(result.stderr) == [], (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    if shows is None:
        assert "s\\x1b]0;PWN" in result.stdout, result.stdout
    elif shows:
        assert (SHOWN in result.stdout) if name != "head dump" else (JSON_SHOWN in result.stdout), result.stdout
        assert "[red]x[/red]" in result.stdout


@pytest.mark.parametrize("name", NAMES)
def test_json_round_trips_the_exact_strings(evil, name):
    args, code, _shows = commands(evil)[name]
    result = run(evil.root, [*args, "--json"])
    assert result.exit_code == code, result.output
    doc = json.loads(result.stdout)
    assert raw_controls(result.stdout) == []
    if name in JSON_WITH_BAD:
        assert any(BAD in s for s in strings(doc)), result.stdout
    if name == "sessions show":
        assert doc["meta"]["session_id"] == evil.first.session_id and doc["meta"]["session_name"] == f"name {BAD}"
    if name == "processes show --db":
        assert doc["process"]["process_id"] == evil.pid


# --- item 10: rich tables ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["sessions list", "graph show", "blob verify", "doctor", "processes list --db",
                                  "triggers list --db", "triggers occurrences --db", "gc --dry-run"])
def test_rich_tables_show_escapes_and_no_markup(evil, name, monkeypatch):
    monkeypatch.setattr(typer.testing._NamedTextIOWrapper, "isatty", lambda self: True, raising=False)
    monkeypatch.delenv("NO_COLOR", raising=False)
    args, code, _shows = commands(evil)[name]
    # --quiet: stderr is a "terminal" too, and a progress bar is rich's own drawing, not data.
    result = run(evil.root, ["--quiet", *args], env={"COLUMNS": "1000", "TERM": "xterm-256color", "NO_COLOR": None})
    assert result.exit_code == code, result.output
    out = result.stdout_bytes
    assert out.startswith(b"\x1b[1m"), out  # the terminal renderer (bold header), not the plain one
    assert raw_controls(SGR.sub(b"", out)) == [], out
    text = result.stdout
    assert SHOWN in text and "[red]x[/red]" in text  # escaped, and the markup was not interpreted
    assert raw_controls(result.stderr) == []


# --- item 10: the installed script, through a pipe and on a terminal --------------------------------


def script_on_pty(args: list[str], env: dict[str, str]) -> tuple[int, bytes, bytes]:
    """Run the console script with stdout on a raw pty (a terminal: rich), stderr on a pipe."""
    master, slave = pty.openpty()
    tty.setraw(slave)  # no \n → \r\n translation, so a \r in the output is the program's
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


SCRIPT_COMMANDS = ["sessions list", "sessions show", "graph show", "processes show --db", "triggers list --db"]


@pytest.mark.parametrize("name", SCRIPT_COMMANDS)
def test_installed_script_plain_and_on_a_terminal(evil, name):
    args, code, _shows = commands(evil)[name]
    full = ["--root", str(evil.root), *args]
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    piped = subprocess.run([console_script(), *full], capture_output=True, env=env, check=False)
    assert piped.returncode == code, piped.stderr
    assert raw_controls(piped.stdout) == [] and raw_controls(piped.stderr) == []
    assert SHOWN.encode() in piped.stdout and b"[red]x[/red]" in piped.stdout

    rc, out, err = script_on_pty(full, dict(env, COLUMNS="1000", TERM="xterm-256color", LASHDB_PAGER="cat"))
    assert rc == code, err
    assert raw_controls(SGR.sub(b"", out)) == [] and raw_controls(err) == [], out
    assert SHOWN.encode() in out and b"[red]x[/red]" in out
    if name in ("sessions list", "graph show", "triggers list --db"):
        assert b"\x1b[1m" in out  # the terminal renderer (bold header), not the plain one


# --- item 10: error lines, prompts, demo -------------------------------------------------------------


@pytest.fixture
def bad_file_root(tmp_path, evil) -> tuple[Path, Path]:
    """A root holding one damaged session database (cut in half) whose file name carries BAD."""
    root = tmp_path / "root"
    root.mkdir()
    bad = root / f"{BAD.replace('/', '')}.db"  # a file name holds no slash
    shutil.copy(evil.first.path, bad)
    os.truncate(bad, bad.stat().st_size // 2)
    return root, bad


def one_error_line(result, code: int) -> str:
    assert result.exit_code == code, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("lashdb: error: "), result.stderr
    assert raw_controls(result.stderr) == [] and raw_controls(result.stdout) == []
    return lines[0]


def test_error_lines_escape_file_names_and_queries(tmp_path, evil):
    root = tmp_path / "root"
    root.mkdir()
    text = root / f"{BAD.replace('/', '')}.db"
    text.write_bytes(b"just some text\n" * 20)
    assert SHOWN in one_error_line(run(root, ["sessions", "show", str(text)]), 3)
    assert SHOWN in one_error_line(run(root, ["sessions", "show", f"nothing{BAD}"]), 3)
    line = one_error_line(run(root, ["processes", "show", f"none{BAD}", "--db", str(evil.registry)]), 3)
    assert SHOWN in line


@pytest.mark.parametrize("args, code, error_lines", [(["gc", "--all", "--dry-run"], 3, 1),
                                                     (["blob", "verify", "--all"], 1, 0)])
def test_per_session_errors_escape_file_names(bad_file_root, args, code, error_lines):
    root, _bad = bad_file_root
    result = run(root, args)
    assert result.exit_code == code, result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("lashdb: error: ")]
    assert len(errors) == error_lines and all(SHOWN in e for e in errors), result.stderr
    assert raw_controls(result.stderr) == [] and raw_controls(result.stdout) == []
    assert SHOWN in result.stdout  # the table's file column


def test_delete_prompt_escapes_the_session_id(evil, monkeypatch):
    monkeypatch.setattr(typer.testing._NamedTextIOWrapper, "isatty", lambda self: True, raising=False)
    result = run(evil.root, ["sessions", "delete", str(evil.child.path)], input="n\n")
    assert result.exit_code == 0 and evil.child.path.exists()
    assert f"delete session s{SHOWN}" in result.stderr and raw_controls(result.stderr) == []


def test_demo_into_a_directory_with_controls_in_its_name(tmp_path):
    result = runner.invoke(app, ["demo", str(tmp_path / f"d{BAD}"), "--sessions", "1"])
    assert result.exit_code == 0, result.output
    assert raw_controls(result.stdout) == [] and SHOWN in result.stdout
    doc = json.loads(runner.invoke(app, ["demo", str(tmp_path / f"j{BAD}"), "--sessions", "1", "--json"]).stdout)
    assert doc["root"] == str(tmp_path / f"j{BAD}")


# --- item 13: a closed stdout ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def big_root(tmp_path_factory) -> Path:
    """Enough sessions that `sessions list --json` (~1 KB each) outgrows a 64 KiB pipe."""
    root = tmp_path_factory.mktemp("big") / "root"
    build_demo(root, 120)
    return root


def run_with_stdout_closed(args: list[str]) -> subprocess.CompletedProcess:
    """The script with its stdout a pipe whose reading end is already closed: every write breaks."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        return subprocess.run([console_script(), *args], stdout=write_end, stderr=subprocess.PIPE,
                              stdin=subprocess.DEVNULL, check=False)
    finally:
        os.close(write_end)


@pytest.mark.parametrize("args", [
    ["sessions", "list"],            # breaks inside the command (more than the 8 KiB buffer)
    ["sessions", "list", "--json"],  # one large write inside the command
    ["doctor", "--json"],
    ["--version"],                   # breaks only when the buffer is flushed at the end
    ["--help"],                      # Typer's own broken-pipe path (outside any command)
    ["sessions", "--help"],
], ids=["table", "json", "doctor-json", "version", "root-help", "group-help"])
def test_closed_stdout_exits_141_quietly(big_root, args):
    result = run_with_stdout_closed(["--root", str(big_root), *args] if args[0] != "--version" else args)
    assert result.returncode == 141, result.stderr
    assert result.stderr == b""


def test_small_output_to_a_closed_stdout_exits_141(big_root):
    first = sorted(p.name for p in big_root.glob("*.db") if p.name.count(".db") == 1)[0]
    result = run_with_stdout_closed(["--root", str(big_root), "sessions", "show", first])
    assert (result.returncode, result.stderr) == (141, b"")


def test_head_1_reads_the_header_and_the_command_ends_quietly(big_root):
    # The shell pipeline an operator types; the deterministic proof of 141 is the closed-pipe tests.
    bash = shutil.which("bash")
    if bash is None:
        pytest.skip("needs bash for PIPESTATUS")
    script = f'"$0" --root "$1" sessions list --json | head -1; echo "status=${{PIPESTATUS[0]}}"'
    result = subprocess.run([bash, "-c", script, console_script(), str(big_root)], capture_output=True,
                            text=True, check=False)
    lines = result.stdout.splitlines()
    # 141 when a write meets the closed pipe; 0 when CPython's write() returns short without an
    # error (it keeps the rest and drops it silently at exit): either way not 1, and quiet.
    assert lines[0] == "[" and lines[-1] in ("status=141", "status=0"), result.stdout
    assert result.stderr == ""


def test_errors_other_than_a_broken_pipe_still_reach_stderr(tmp_path):
    result = run_with_stdout_closed(["--root", str(tmp_path), "sessions", "show", "nothing"])
    assert result.returncode == 3
    assert result.stderr.decode().startswith("lashdb: error: ") and b"Traceback" not in result.stderr
