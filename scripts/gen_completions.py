"""Write the static shell-completion scripts in ``completions/`` from the app (CLI.md conventions).

Typer prints each script when ``lashdb`` runs with ``_LASHDB_COMPLETE=source_<shell>``; this runs
the app that way in a subprocess (so the program name is ``lashdb`` whether or not the console
script is on PATH) and writes ``completions/lashdb.bash``, ``completions/_lashdb`` (zsh) and
``completions/lashdb.fish``. ``--check`` writes nothing and exits 1 when a file is out of date.

Usage: python scripts/gen_completions.py [--check]
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "completions"
FILES = {"bash": "lashdb.bash", "zsh": "_lashdb", "fish": "lashdb.fish"}
_RUN = "import sys; sys.argv[0] = 'lashdb'; from lashdb.cli.main import main; main()"


def generate(shell: str) -> str:
    """The completion script Typer prints for ``shell`` (bash, zsh or fish)."""
    env = dict(os.environ, _LASHDB_COMPLETE=f"source_{shell}")
    done = subprocess.run([sys.executable, "-c", _RUN], env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0 or not done.stdout.strip():
        raise SystemExit(f"gen_completions: `lashdb` printed no {shell} script (exit {done.returncode}): "
                         f"{done.stderr.strip()}")
    return done.stdout


def main(argv: list[str]) -> int:
    """Write (or with ``--check`` compare) every completion script; 1 when one is stale."""
    check = "--check" in argv
    stale = []
    for shell, name in FILES.items():
        path = OUT / name
        text = generate(shell)
        current = path.read_text() if path.exists() else None
        if current == text:
            continue
        stale.append(str(path.relative_to(ROOT)))
        if not check:
            OUT.mkdir(exist_ok=True)
            path.write_text(text)
    if check and stale:
        print("out of date: " + ", ".join(stale) + " (run: python scripts/gen_completions.py)", file=sys.stderr)
        return 1
    for item in stale:
        print(f"wrote {item}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
