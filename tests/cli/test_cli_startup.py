"""What a `lashdb` start-up imports: `--version` nothing but lashdb itself, `--help` no engine, a
TAB on a directory root no database driver, no command pydantic; the console script is the cheap
entry. (Speed itself is measured in bench/bench_cli.py, never asserted here.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from lashdb.cli import common
from lashdb.engine.ops.demo import build_demo

REPO = Path(__file__).resolve().parents[2]
WATCH = ["typer", "rich", "pydantic", "apsw", "psycopg", "cbor2", "zlib_ng", "orjson", "asyncio", "lashdb.engine",
         "lashdb.engine.sqlite", "lashdb.engine.postgres", "lashdb.engine.session", "lashdb.cli.main",
         "lashdb.cli.commands.sessions", "lashdb.cli.commands.blob"]


def _run(args: list[str], entry: str = "lashdb.cli:entry", **env: str) -> tuple[str, list[str]]:
    """Run the console-script function ``entry`` with ``args`` in a fresh interpreter: (stdout, the
    watched modules it imported, read at exit)."""
    module, func = entry.split(":")
    code = (
        "import atexit, json, sys\n"
        f"atexit.register(lambda: sys.stderr.write('\\nMODULES ' + json.dumps(sorted(m for m in {WATCH!r} "
        "if m in sys.modules)) + '\\n'))\n"
        f"sys.argv = ['lashdb', *{args!r}]\n"
        f"from {module} import {func}\n"
        f"{func}()\n"
    )
    run_env = {k: v for k, v in os.environ.items() if not k.startswith(("_LASHDB_COMPLETE", "COMP_", "_TYPER"))}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False,
                          env={**run_env, **env})
    marker = done.stderr.rfind("MODULES ")
    assert marker >= 0, done.stderr
    return done.stdout, json.loads(done.stderr[marker + len("MODULES "):])


def test_the_console_script_is_the_cheap_entry():
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts == {"lashdb": "lashdb.cli:entry"}
    assert common.EXIT_BROKEN_PIPE == 141  # the code lashdb.cli.entry writes down for --version


def test_version_imports_neither_typer_nor_the_engine():
    out, modules = _run(["--version"])
    assert out.startswith("lashdb ") and modules == []


def test_version_through_the_typer_main_imports_no_engine():
    out, modules = _run(["--version"], entry="lashdb.cli.main:main")
    assert out.startswith("lashdb ")
    assert not {"lashdb.engine", "lashdb.engine.sqlite", "pydantic", "lashdb.cli.commands.sessions"} & set(modules)


def test_help_imports_the_commands_but_no_engine_driver_or_pydantic():
    out, modules = _run(["--help"])
    assert "sessions" in out and "lashdb.cli.commands.sessions" in modules
    assert not {"lashdb.engine", "apsw", "psycopg", "pydantic", "rich"} & set(modules)


@pytest.fixture(scope="module")
def demo_root(tmp_path_factory) -> Path:
    return build_demo(tmp_path_factory.mktemp("startup") / "root", 3).root


def test_completing_an_id_on_a_directory_reads_names_and_builds_one_command(demo_root):
    words = f"lashdb --root {demo_root} sessions show "
    out, modules = _run([], _LASHDB_COMPLETE="complete_bash", COMP_WORDS=words, COMP_CWORD="5")
    ids = [p.name[:8] for p in demo_root.glob("*.db") if p.name.count(".db") == 1]
    assert set(ids) <= set(out.split())
    assert "lashdb.cli.commands.sessions" in modules and "lashdb.cli.commands.blob" not in modules
    assert not {"apsw", "cbor2", "zlib_ng", "psycopg", "pydantic", "rich", "lashdb.engine.sqlite",
                "lashdb.engine.postgres", "lashdb.engine.session"} & set(modules)


def test_a_command_on_a_directory_loads_sqlite_and_not_postgres_or_pydantic(demo_root):
    out, modules = _run(["--root", str(demo_root), "sessions", "list", "--json", "--limit", "2", "--sort", "name"])
    assert len(json.loads(out)) == 2
    assert {"apsw", "lashdb.engine.sqlite"} <= set(modules)
    assert not {"psycopg", "lashdb.engine.postgres", "pydantic", "lashdb.cli.commands.blob"} & set(modules)
