"""The demo's fixed script and deterministic clock: session texts, turns, ids and timestamps.

Contract: everything here is pure data or a pure function of its arguments, so two builds from
the same "now" write the same rows. The runtime and deployment writers take their ids (``_uid``),
times (``_Timeline``, ``_iso``) and texts from here.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import uuid
from dataclasses import dataclass
from typing import Any


DEMO_NOW_MS = 1_780_304_400_000
"""The demo's default "now": 2026-06-01T09:00:00Z."""

COMPRESSION_THRESHOLD = 4096  # Balanced profile (SPEC §4)
_NAMESPACE = uuid.UUID("6c617368-6462-4465-8d6f-000000000001")
_DAY_MS = 86_400_000
_TURN_MS = 180_000  # three minutes between turns
_STEP_MS = 20_000   # twenty seconds between nodes of a turn


# --- the script of each session ---------------------------------------------------------------------


@dataclass(frozen=True)
class _Turn:
    user: str | list[dict[str, Any]]
    reply: str
    tool: str | None = None          # a tool the assistant used (plugin node + ToolCall part)
    regenerated: str | None = None   # a first reply that was regenerated (tombstoned)
    edited_from: str | None = None   # an earlier wording of the user message (a live fork)


@dataclass(frozen=True)
class _Script:
    name: str
    model: str
    cwd: str
    turns: tuple[_Turn, ...]
    large_tool_state: bool = False


_IMAGE_PART = {"kind": "Image", "media_type": "image/png", "uri": "attachment://screenshot-failing-test.png"}

_SCRIPTS: tuple[_Script, ...] = (
    _Script(
        "Fix the flaky parser test", "claude-sonnet-4-5", "/home/demo/src/lashlang",
        (
            _Turn("tests/test_parser.py::test_nested_blocks fails about one run in ten. Can you find out why?",
                  "The test iterates over a set of block names, so the order changes between runs. "
                  "The parser itself is deterministic.", tool="read_file"),
            _Turn([{"kind": "Text", "content": "Here is the failure from CI:"}, _IMAGE_PART],
                  "The screenshot shows the blocks in a different order. I sorted the expected names; "
                  "the test now passes 200 runs in a row.", tool="run_tests",
                  regenerated="Could you paste the full traceback as text?"),
            _Turn("Great. Please also add a regression test.",
                  "Added test_nested_blocks_order_is_stable, which shuffles the input ten times."),
        ),
    ),
    _Script(
        "Release notes for 0.4", "gpt-5", "/home/demo/src/lash",
        (
            _Turn("Draft release notes for 0.4 from the merged pull requests.",
                  "Here is a draft grouped into Features, Fixes and Internal changes.", tool="git_log"),
            _Turn("Shorten it to five bullet points for the announcement.",
                  "Five bullets: faster resume, session picker, blob verify, GC, and Python 3.13 support.",
                  edited_from="Make it shorter."),
        ),
    ),
    _Script(
        "Investigate slow start-up", "claude-sonnet-4-5", "/home/demo/src/lash",
        (
            _Turn("`lash --help` takes 900 ms on my laptop. Why?",
                  "Most of the time goes into importing the provider SDKs at start-up.", tool="profile"),
            _Turn("Can we import them lazily?",
                  "Yes: moving the imports into the command functions brings --help down to 80 ms.",
                  tool="edit_file"),
            _Turn("Measure it again with a cold cache.",
                  "Cold cache: 140 ms. The remaining cost is the config loader.", tool="profile"),
        ),
        large_tool_state=True,
    ),
    _Script(
        "Plan the storage cut-over", "o4-mini", "/home/demo/src/lash",
        (
            _Turn("We are moving session storage to schema v4. What breaks for users?",
                  "Old session files are not migrated: lash refuses them and asks to start fresh."),
            _Turn("Write the upgrade note.",
                  "Upgrade note: finish or export running sessions first; then update lash.", tool="write_file"),
        ),
    ),
)

_CHILD = _Script(
    "Sub-agent: shuffle test inputs", "claude-haiku-4-5", "/home/demo/src/lashlang",
    (
        _Turn("Write a helper that shuffles block lists deterministically from a seed.",
              "Added shuffled_blocks(seed) to tests/helpers.py.", tool="write_file"),
    ),
)


# --- deterministic ids, times and text -------------------------------------------------------------


class _Timeline:
    """The demo's clock: every timestamp written comes from here, so content is deterministic."""

    def __init__(self, start_ms: int) -> None:
        self.now_ms = start_ms

    def advance(self, ms: int) -> int:
        """Move the clock forward and return the new time."""
        self.now_ms += ms
        return self.now_ms


def _iso(ms: int) -> str:
    """RFC 3339 with a ``+00:00`` offset, as upstream writes node timestamps."""
    return _dt.datetime.fromtimestamp(ms / 1000, _dt.timezone.utc).isoformat(timespec="seconds")


def _uid(*parts: object) -> str:
    return str(uuid.uuid5(_NAMESPACE, ":".join(str(p) for p in parts)))


def _node_id(session_id: str, label: str) -> str:
    return "n_" + hashlib.sha256(f"{session_id}/{label}".encode()).hexdigest()[:32]


def _filler(label: str, size: int) -> list[str]:
    """Deterministic, compressible text lines totalling about ``size`` bytes."""
    line = f"{label}: cached line of tool output, unchanged since the previous turn"
    return [f"{i:05d} {line}" for i in range(size // (len(line) + 6) + 1)]


def _module_source(name: str) -> bytes:
    return (f"-- compiled lashlang module for the demo session {name!r}\n"
            "fn main(ctx) {\n  let blocks = ctx.parse(ctx.input)\n  return blocks.sorted()\n}\n").encode()
