"""Write the man page ``man/lashdb.1`` from the app: every command's usage, description, examples and options.

The page is built from the same click command tree ``lashdb --help`` prints, so it says what the
installed program does; it carries the version but no date, so regenerating without a change in the
app changes nothing. ``--check`` writes nothing and exits 1 when the page is out of date.

Usage: python scripts/gen_man.py [--check]
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "man" / "lashdb.1"

FOOTER = r""".SH ENVIRONMENT
.TP
.B LASHDB_STORE
The store every command works on: a sessions directory or a postgresql:// URL.
.TP
.B LASHDB_ROOT
The sessions directory (else \fB$LASH_HOME/sessions\fR, else \fB~/.lash/sessions\fR).
.TP
.B LASHDB_DEBUG
Set to 1 to see a traceback instead of the one-line error.
.TP
.B NO_COLOR
No colour in the output.
.SH EXIT STATUS
.TP
.B 0
Success; also answering no at a confirmation prompt (nothing done).
.TP
.B 1
The command ran and found problems (blob verify, doctor, effects replay, an aborted GC), or a prompt was interrupted.
.TP
.B 2
Usage error: one line naming the valid choices.
.TP
.B 3
The target is unusable: not found, ambiguous, not a lash database, foreign schema for a writing command, locked, I/O error.
.TP
.B 141
The reader of stdout went away.
.SH SHELL COMPLETION
\fBlashdb \-\-install\-completion\fR, or source the scripts in \fBcompletions/\fR; TAB completes
commands, options, session ids, blob hashes, process ids and effect scopes from the store.
.SH SEE ALSO
\fBsqlite3\fR(1), \fBpsql\fR(1)
"""


def _esc(text: str) -> str:
    """Text safe in a roff line: backslashes and leading dots or quotes escaped."""
    text = text.replace("\\", "\\e").replace("-", "\\-")
    return "\\&" + text if text.startswith((".", "'")) else text


def _paragraphs(help_text: str) -> list[str]:
    """roff for a docstring: plain paragraphs, and ``\\b`` blocks (examples) kept line by line."""
    out: list[str] = []
    for block in help_text.strip().split("\n\n"):
        lines = [line.strip() for line in block.strip("\n").splitlines()]
        if lines and lines[0] == "\b":
            out.append(".PP\n.B " + _esc(lines[1]) if len(lines) > 1 else ".PP")
            out.append(".nf\n" + "\n".join(".RS 2\n" + _esc(x) + "\n.RE" for x in lines[2:] if x) + "\n.fi")
        elif any(lines):
            out.append(".PP\n" + _esc(" ".join(x for x in lines if x)))
    return out


def _command(ctx: Any, command: Any, path: str) -> list[str]:
    out = [f'.SS "{_esc(path)}"' if " " in path else ".SH DESCRIPTION"]
    pieces = " ".join(command.collect_usage_pieces(ctx))
    out.append(".PP\n.B " + _esc(path) + "\n" + _esc(pieces))
    out += _paragraphs(command.help or "")
    for param in command.get_params(ctx):
        record = param.get_help_record(ctx)
        if record is None or param.name == "help":
            continue
        names, text = record
        out.append(".TP\n.B " + _esc(names) + "\n" + _esc(" ".join(text.split())))
    for name in getattr(command, "list_commands", lambda _ctx: [])(ctx):
        sub = command.get_command(ctx, name)
        if sub is None or sub.hidden:
            continue
        sub_ctx = sub.make_context(name, [], parent=ctx, resilient_parsing=True)
        if path == "lashdb" and not hasattr(sub, "list_commands"):
            out.append(".SH COMMAND " + _esc(name.upper()))
        elif path == "lashdb":
            out.append(".SH COMMANDS: " + _esc(name.upper()))
        out += _command(sub_ctx, sub, f"{path} {name}")
    return out


def generate() -> str:
    """The man page of the app as it is now."""
    sys.argv[0] = "lashdb"
    import typer

    from lashdb import __version__
    from lashdb.cli.main import app

    group = typer.main.get_command(app)
    ctx = group.make_context("lashdb", [], resilient_parsing=True)
    head = [f'.TH LASHDB 1 "" "lashdb {__version__}" "User Commands"', ".SH NAME",
            "lashdb \\- " + _esc((group.help or "").strip().splitlines()[0]), ".SH SYNOPSIS",
            ".B lashdb\n[\\fIOPTIONS\\fR] \\fICOMMAND\\fR [\\fIARGS\\fR]..."]
    return "\n".join(head + _command(ctx, group, "lashdb")) + "\n" + FOOTER


def main(argv: list[str]) -> int:
    """Write (or with ``--check`` compare) the man page; 1 when it is stale."""
    text = generate()
    current = OUT.read_text() if OUT.exists() else None
    if current == text:
        return 0
    if "--check" in argv:
        print(f"out of date: {OUT.relative_to(ROOT)} (run: python scripts/gen_man.py)", file=sys.stderr)
        return 1
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(text)
    print(f"wrote {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
