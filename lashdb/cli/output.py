"""Rendering: one ``emit`` for every table and JSON document, progress bars, warnings.

Contract: data goes to stdout, diagnostics and progress to stderr. ``--json`` prints exactly one
JSON document. Tables are aligned columns, one line per row; ids, hashes, paths and commands are
never cut or folded, and on a terminal (or its pager) the :data:`FIT` columns of free text are cut
with ``…`` to its width; colour (bold header, status cells by meaning) only on a terminal without
``NO_COLOR``. Progress bars only when stderr is a terminal and neither ``--json`` nor ``--quiet`` is
set. rich is imported only when a bar is drawn or a cell holds wide characters.

Every human-readable string passes :func:`safe` here, at the edge (table cells, titles, key/value
lines, :func:`line`, warnings, diagnostics; ``common`` for error lines): ids, names, messages and
file names come from databases, and a control character in them must not retitle, clear or
rewrite the operator's terminal. No cell goes through rich markup, so ``[red]`` in a name is text. JSON keeps every value exact; the few characters JSON may carry raw that a terminal
would act on (DEL, C1, bidi controls, line separators) are written as ``\\uXXXX`` escapes.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json as _json
import os
import re
import sys
from pathlib import Path
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

Column = tuple[str, ...]
"""(key in each row, header) or (key, header, :data:`FIT`) for free text cut to a terminal's width."""


# What a terminal acts on rather than shows: C0 controls (ESC starts escape sequences, BEL, CR and
# BS rewrite the line, LF/TAB break a table's layout), DEL, C1 controls (U+009B is a one-character
# CSI), the bidi embeddings, overrides, isolates and marks that reorder what follows (the
# "Trojan Source" trick), and the Unicode line and paragraph separators.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
# Of those, what JSON text may hold unescaped (JSON itself escapes C0). Only string contents can
# hold a non-ASCII or DEL character, so a ``\\uXXXX`` escape decodes to the very same value.
_JSON_UNSAFE = re.compile("[\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_SHORT = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    code = ord(char)
    return _SHORT.get(char) or (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")


def safe(text: Any) -> str:
    """``str(text)`` fit for a terminal: control characters, DEL, C1 and bidi controls shown as
    ``\\x1b``/``\\n``/``\\u202e`` escapes; everything else (other Unicode, backslashes) unchanged."""
    text = str(text)
    return _UNSAFE.sub(_escape, text) if _UNSAFE.search(text) else text


def _plain(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (dict, list)):
        return _json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return str(value)


def _default(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray)):
        return value.hex()
    if hasattr(value, "to_json"):
        return value.to_json()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    return str(value)


def dumps(doc: Any) -> str:
    """Pretty JSON text of a document (bytes as hex, objects through their ``to_json``), laid out as
    ``json.dumps(indent=2)`` lays it out."""
    import orjson

    # orjson writes the same layout ~10x faster (the JSON of `sessions list` over 2,000 sessions
    # cost ~50 ms through the standard library); what it cannot write (integers beyond 64 bits,
    # non-string keys) goes to the standard library. Dataclasses and datetimes go through
    # _default (their to_json(), or str()) as they do with json.dumps.
    option = orjson.OPT_INDENT_2 | orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_DATETIME
    try:
        text = orjson.dumps(doc, default=_default, option=option).decode()
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        text = _json.dumps(doc, indent=2, ensure_ascii=False, default=_default)
    # An ASCII text (CPython knows that without a scan) holds none of them but DEL: the regex search,
    # ~7 ms over `sessions list`'s 2,000 rows, is left for texts that need it.
    if (text.isascii() and "\x7f" not in text) or not _JSON_UNSAFE.search(text):
        return text
    return _JSON_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def on_terminal(stream: Any = None) -> bool:
    """True when ``stream`` (default stdout) is a terminal, or stdout feeds the pager on one."""
    if stream is None or stream is sys.stdout:
        from . import pager

        if pager.active():
            return True
        stream = sys.stdout
    return bool(getattr(stream, "isatty", lambda: False)())


def use_rich(stream: Any = None) -> bool:
    """True when ``stream`` (default stdout) is a terminal (or the pager's) and ``NO_COLOR`` is unset: colour."""
    return on_terminal(stream) and not os.environ.get("NO_COLOR")


FIT = "fit"
"""Third element of a :data:`Column` whose free text is cut with ``…`` to fit a terminal's width. Every
other column (ids, hashes, paths, commands, counts) is never cut or folded: shown whole."""

# Cell values that mean something, coloured on a terminal (status-like columns only, see _STYLED).
_RED = {"failed", "error", "errors", "damaged", "mismatch", "undecodable", "unusable", "refused", "aborted",
        "corrupt", "problems", "raw-mismatch", "undecodable-value", "unreadable"}
_YELLOW = {"warning", "expired", "busy", "not-compacted", "stale", "stale_lease", "in_progress", "foreign",
           "dry-run"}
_GREEN = {"ok", "collected", "vacuumed", "passed", "completed", "copied", "raw-ok", "succeeded"}
_STYLED = {"status", "outcome", "result", "severity", "verification", "lease", "lease_text", "state", "reading"}
_SGR = {"red": "\x1b[31m", "yellow": "\x1b[33m", "green": "\x1b[32m", "bold": "\x1b[1m",
        "expired": "\x1b[1;33m", "reset": "\x1b[0m"}


def _colour(key: str, cell: str) -> str | None:
    """The colour of a status-like cell: failures red, warnings yellow, ok green, an expired lease bold yellow."""
    if key not in _STYLED or not cell or cell == "-":
        return None
    low = cell.lower()
    if "expired" in low:
        return "expired"
    word = re.split(r"[\s:(,]", low, maxsplit=1)[0]
    if word in _RED or "problem" in low:
        return "red"
    if word in _YELLOW:
        return "yellow"
    return "green" if word in _GREEN else None


def width() -> int:
    """Columns of the terminal stdout is on (the pager's, once it runs); ``$COLUMNS`` first, 80 when unknown."""
    from . import pager

    known = pager.terminal_width()
    if known:
        return known
    import shutil

    return shutil.get_terminal_size((80, 24)).columns


def _cell_len(text: str) -> int:
    if text.isascii():
        return len(text)
    from rich.cells import cell_len

    return cell_len(text)


def _cut(text: str, size: int) -> str:
    """``text`` cut to ``size`` terminal cells, ending in ``…`` when cut."""
    if _cell_len(text) <= size:
        return text
    if size <= 1:
        return "…"[:size]
    if text.isascii():
        return text[: size - 1] + "…"
    from rich.cells import set_cell_size

    return set_cell_size(text, size - 1) + "…"


def _fit_widths(natural: list[int], floors: list[int], fit: list[bool], room: int) -> list[int]:
    """Column widths within ``room``: only the ``fit`` columns shrink (widest first, not below their floor)."""
    if sum(natural) <= room or not any(fit):
        return natural
    fixed = sum(w for w, f in zip(natural, fit) if not f)
    lo, hi = 0, max(w for w, f in zip(natural, fit) if f)
    # The largest cap L such that every fit column at min(natural, max(L, floor)) fits the room.
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if fixed + sum(min(w, max(mid, fl)) if f else 0 for w, fl, f in zip(natural, floors, fit)) <= room:
            lo = mid
        else:
            hi = mid - 1
    return [min(w, max(lo, fl)) if f else w for w, fl, f in zip(natural, floors, fit)]


def table_lines(rows: Sequence[Mapping[str, Any]], columns: Sequence[Any], *, terminal: bool, colour: bool,
                cols: int = 80) -> list[str]:
    """The lines of a table: a header and one line per row, columns two spaces apart. On a terminal the
    :data:`FIT` columns are cut with ``…`` to fit ``cols``; ids, hashes, paths and commands never are (a
    line holding more than fits runs past the edge rather than fold or cut one). ``colour``: a bold
    header and status-like cells in colour (SGR codes)."""
    keys = [c[0] for c in columns]
    cells = [[safe(c[1]) for c in columns]] + [[safe(_plain(r.get(k))) for k in keys] for r in rows]
    natural = [max(_cell_len(line[i]) for line in cells) for i in range(len(keys))]
    if terminal:
        fit = [len(c) > 2 and c[2] == FIT for c in columns]
        floors = [max(_cell_len(cells[0][i]), 8) for i in range(len(keys))]
        widths = _fit_widths(natural, floors, fit, cols - 2 * (len(keys) - 1))
    else:
        fit, widths = [False] * len(keys), natural
    out = []
    last = len(keys) - 1
    for n, line in enumerate(cells):
        parts = []
        for i, (cell, w) in enumerate(zip(line, widths)):
            if fit[i]:
                cell = _cut(cell, w)
            pad = "" if i == last else " " * (w - _cell_len(cell))
            style = ("bold" if n == 0 else _colour(keys[i], cell)) if colour and cell else None
            parts.append(f"{_SGR[style]}{cell}{_SGR['reset']}{pad}" if style else cell + pad)
        out.append("  ".join(parts).rstrip())
    return out


def emit(rows: Any, columns: Sequence[Any] | None = None, *, json: bool = False,
         title: str | None = None) -> None:
    """Render a list of row dicts as a table, or a document (dict) as key/value lines; or as JSON."""
    if json:
        sys.stdout.write(dumps(rows))  # two writes: joining would copy a 10 MB document once more
        sys.stdout.write("\n")
        return
    if columns is None:
        _emit_document(rows, title)
        return
    terminal = on_terminal()
    colour = terminal and use_rich()
    if title:
        sys.stdout.write((f"{_SGR['bold']}{safe(title)}{_SGR['reset']}" if colour else safe(title)) + "\n")
    # One write: a table of 3,000 rows costs what the plain one costs (rich's Table measured every cell
    # through its layout engine, ~5x the whole command).
    sys.stdout.write("\n".join(table_lines(list(rows), columns, terminal=terminal, colour=colour,
                                           cols=width() if terminal else 0)) + "\n")


def _emit_document(doc: Any, title: str | None, indent: int = 0) -> None:
    if title:
        sys.stdout.write(safe(title) + "\n")
    if not isinstance(doc, Mapping):
        sys.stdout.write(dumps(doc) + "\n")  # JSON text: C0 escaped by JSON, the rest by dumps
        return
    pad = "  " * indent
    keys = {key: safe(key) for key in doc}
    width = max((len(k) for k in keys.values()), default=0)
    for key, value in doc.items():
        if isinstance(value, Mapping) and value:
            sys.stdout.write(f"{pad}{keys[key]}:\n")
            _emit_document(value, None, indent + 1)
        elif isinstance(value, list) and value and all(isinstance(v, Mapping) for v in value):
            sys.stdout.write(f"{pad}{keys[key]}:\n")
            for item in value:
                sys.stdout.write(f"{pad}  - " + ", ".join(f"{safe(k)}={safe(_plain(v))}" for k, v in item.items())
                                 + "\n")
        else:
            sys.stdout.write(f"{pad}{keys[key].ljust(width)}  {safe(_plain(value))}\n")


def line(text: str = "") -> None:
    """One human-readable line on stdout, through :func:`safe`."""
    sys.stdout.write(safe(text) + "\n")


def warn(message: str) -> None:
    """One ``lashdb: warning:`` line on stderr (the message through :func:`safe`)."""
    sys.stderr.write(f"lashdb: warning: {safe(message)}\n")


def warn_damaged(info: Any) -> None:
    """One warning when a deployment store at its supported version has a damaged schema (``info.damaged``)."""
    if getattr(info, "damaged", ()):
        warn(f"{info.path}: damaged {info.kind} schema ({'; '.join(info.damaged)}); shown where its tables "
             f"allow, writes refuse it (`lashdb doctor {info.path}`)")


def info(message: str, *, quiet: bool = False) -> None:
    """A diagnostic line on stderr, through :func:`safe` (suppressed by ``--quiet``)."""
    if not quiet:
        sys.stderr.write(safe(message) + "\n")


ProgressFn = Callable[[int], None]


@contextlib.contextmanager
def progress(total: int, label: str, *, enabled: bool = True) -> Iterator[ProgressFn]:
    """Yield ``advance(n)``; draws a bar on stderr only when enabled and stderr is a terminal."""
    if not enabled or not sys.stderr.isatty() or total <= 1:
        yield lambda n=1: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TimeRemainingColumn(), console=Console(stderr=True), transient=True)
    with bar:
        task = bar.add_task(label, total=total)
        yield lambda n=1: bar.advance(task, n)


@contextlib.contextmanager
def ticker(label: str, *, enabled: bool = True) -> Iterator[Callable[[int, int], None]]:
    """Yield ``tick(done, total)`` for work whose total is known only once it starts: the bar of
    :func:`progress` appears at the first tick (same rules: stderr a terminal, enabled, total > 1)."""
    with contextlib.ExitStack() as stack:
        state: dict[str, Any] = {}

        def tick(done: int, total: int) -> None:
            if "advance" not in state:
                state["advance"] = stack.enter_context(progress(total, label, enabled=enabled))
                state["done"] = 0
            state["advance"](done - state["done"])
            state["done"] = done

        yield tick


def iso_ms(epoch_ms: int | None) -> str | None:
    """ISO 8601 UTC text of an epoch-milliseconds value (``…20.123Z``; ``None`` stays ``None``)."""
    from lashdb.engine.timing import iso_ms as engine_iso_ms  # lazy: the engine package loads apsw

    return engine_iso_ms(epoch_ms)


def iso_s(epoch_s: float | None) -> str | None:
    """ISO 8601 UTC text of an epoch-seconds value."""
    return None if epoch_s is None else iso_ms(int(epoch_s * 1000))


def with_iso(doc: Mapping[str, Any], *keys: str) -> dict[str, Any]:
    """``doc`` with each named ``<name>_ms`` time key replaced, in place, by ``<name>`` (ISO 8601
    UTC; None for None or 0, upstream's "unset") and ``<name>_epoch_ms`` (the raw value)."""
    out: dict[str, Any] = {}
    for key, value in doc.items():
        if key in keys and key.endswith("_ms"):
            name = key[:-3]
            out[name] = iso_ms(value) if value else None
            out[name + "_epoch_ms"] = value
        else:
            out[key] = value
    return out


def one_line(text: str | None, width: int = 60) -> str:
    """First line of ``text``, cut to ``width`` characters with an ellipsis."""
    if not text:
        return ""
    line = " ".join(text.split())
    return line if len(line) <= width else line[: width - 1] + "…"


def human_bytes(n: int | None) -> str | None:
    """Byte count for tables: ``812 B``, ``118.8 KiB``, ``3.2 MiB`` (JSON keeps plain bytes)."""
    if n is None:
        return None
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{int(size)} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def short_time(epoch_ms: int | None) -> str | None:
    """``YYYY-MM-DD HH:MM`` (UTC) for tables; JSON keeps ISO text and the epoch value."""
    if epoch_ms is None:
        return None
    try:
        return _dt.datetime.fromtimestamp(epoch_ms / 1000, _dt.timezone.utc).strftime("%Y-%m-%d %H:%M")
    except (OverflowError, OSError, ValueError):
        return None


def span(ms: int) -> str:
    """A duration for tables: ``45s``, ``12m``, ``3h``, ``4d``."""
    seconds = abs(ms) // 1000
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def short_scope(scope: str | None) -> str | None:
    """``session:<id>/frame:<f>`` with a long (uuid-sized) session id cut to 8 characters (tables only)."""
    if not scope or not scope.startswith("session:"):
        return scope
    session, marker, frame = scope[len("session:"):].partition("/frame:")
    if len(session) < 32:
        return scope
    return f"session:{session[:8]}" + (f"/frame:{frame}" if marker else "")


def one_line_json(value: Any, width: int) -> str:
    """Compact JSON of ``value`` on one line, cut to ``width`` (tables only)."""
    return one_line(_json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str), width)


def warn_about(info: Any, rows: Sequence[Mapping[str, Any]] | None = None) -> None:
    """Warnings for a deployment store read: damaged or foreign schema (``info`` of an inspector or the
    effect journal); and, given ``rows``, one for those whose stored JSON does not decode."""
    warn_damaged(info)
    if info.foreign:
        missing = f"; not in this schema: {', '.join(info.unavailable)}" if info.unavailable else ""
        warn(f"{Path(info.path).name}: foreign schema ({info.kind} v{info.schema_version}, this lashdb "
             f"supports v{info.supported_version}); read-only, shown where its columns allow{missing}")
    broken = [r for r in rows or () if r.get("decode_error")]
    if broken:
        warn(f"{len(broken)} row(s) in {Path(info.path).name} do not decode and are shown with "
             f"decode_error set")
