"""The static completion scripts in completions/ match what the app generates now."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "gen_completions.py"


def _generator():
    spec = importlib.util.spec_from_file_location("gen_completions", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(("shell", "name", "marker"), [
    ("bash", "lashdb.bash", "complete -o default -F _lashdb_completion lashdb"),
    ("zsh", "_lashdb", "#compdef lashdb"),
    ("fish", "lashdb.fish", "complete --command lashdb"),
])
def test_committed_script_matches_generator(shell, name, marker):
    committed = (REPO / "completions" / name).read_text()
    assert committed == _generator().generate(shell), \
        f"completions/{name} is stale: run `python scripts/gen_completions.py`"
    assert marker in committed


def test_check_mode_passes_on_the_repository():
    done = subprocess.run([sys.executable, str(SCRIPT), "--check"], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr


def test_check_mode_fails_on_a_stale_script(tmp_path, monkeypatch):
    gen = _generator()
    monkeypatch.setattr(gen, "OUT", tmp_path)
    monkeypatch.setattr(gen, "ROOT", tmp_path.parent)
    assert gen.main(["--check"]) == 1 and list(tmp_path.iterdir()) == []
    assert gen.main([]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["_lashdb", "lashdb.bash", "lashdb.fish"]
    assert gen.main(["--check"]) == 0
    (tmp_path / "lashdb.fish").write_text("# edited by hand\n")
    assert gen.main(["--check"]) == 1


def test_tab_completes_commands_through_the_app():
    env = dict(os.environ, _LASHDB_COMPLETE="complete_bash", COMP_WORDS="lashdb sess", COMP_CWORD="1")
    run = "import sys; sys.argv[0] = 'lashdb'; from lashdb.cli.main import main; main()"
    done = subprocess.run([sys.executable, "-c", run], env=env, capture_output=True, text=True, check=False)
    assert done.stdout.split() == ["sessions"]
    env.update(COMP_WORDS="lashdb sessions ", COMP_CWORD="2")
    done = subprocess.run([sys.executable, "-c", run], env=env, capture_output=True, text=True, check=False)
    assert set(done.stdout.split()) >= {"list", "show", "delete"}
