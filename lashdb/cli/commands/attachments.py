"""`lashdb attachments list|abandon`: uncommitted attachment intents (runtime contract §5).

``list SESSION`` shows the session's intents no commit referenced yet (read-only). ``abandon
SESSION ID…`` or ``--older-than 1h`` drops intents the runtime will never commit (a crashed
upload), in one write transaction; a committed attachment is never touched; ``--dry-run`` changes
nothing; a foreign schema is refused (exit 3).

JSON: an array (list) or ``{"abandoned": [...]}``; each entry: session, attachment_id, session_id,
uri, intent_at(+_epoch_ms), age_ms, action (null | abandoned | would abandon).

Examples: ``lashdb attachments list 7f3a`` · ``lashdb attachments abandon 7f3a --older-than 1h``
"""

from __future__ import annotations

import re
from typing import Annotated, Optional

import typer

from .. import common, output

COLUMNS = [("attachment_id", "attachment"), ("uri", "uri"), ("intent", "recorded"), ("age", "age"),
           ("action", "action")]
_UNITS = {"s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}


def parse_age(text: str) -> int:
    """``45s``, ``30m``, ``1h``, ``2d`` → milliseconds (a usage error otherwise)."""
    match = re.fullmatch(r"\s*(\d+)\s*([smhd])\s*", text or "")
    if match is None:
        from lashdb.engine.errors import UsageError

        raise UsageError(f"--older-than {text!r}: not a duration", hint="write it as 45s, 30m, 1h or 2d")
    return int(match.group(1)) * _UNITS[match.group(2)]


def _show(acts: list, now: int, json: bool, key: str | None) -> None:
    docs = [a.to_json(now) for a in acts]
    if json:
        output.emit(docs if key is None else {key: docs}, json=True)
        return
    output.emit([dict(d, intent=d["intent_at"], age=output.span(d["age_ms"])) for d in docs], COLUMNS)


def list_(session: Annotated[str, typer.Argument(metavar="SESSION", help="Session to look at.")],
          json: common.JsonOpt = False) -> None:
    """List the session's uncommitted attachment intents.

    \b
    Examples:
      lashdb attachments list 7f3a
      lashdb attachments list 7f3a --json
    """
    from lashdb.engine.ops import remedies

    target = common.resolve(session)
    _show(remedies.list_attachments(target), common.now_ms(), json, None)


def abandon(
    session: Annotated[str, typer.Argument(metavar="SESSION", help="Session whose intents to drop.")],
    ids: Annotated[Optional[list[str]], typer.Argument(metavar="ID…", help="Attachment ids to drop.",
                                                        show_default=False)] = None,
    older_than: Annotated[Optional[str], typer.Option(
        "--older-than", metavar="AGE", help="Drop every intent at least this old (45s, 30m, 1h, 2d).",
        show_default=False)] = None,
    dry_run: common.DryRunOpt = False,
    json: common.JsonOpt = False,
) -> None:
    """Drop uncommitted attachment intents the runtime will never commit.

    \b
    Examples:
      lashdb attachments abandon 7f3a --older-than 1h --dry-run
      lashdb attachments abandon 7f3a att-1 att-2
    """
    from lashdb.engine.errors import UsageError
    from lashdb.engine.ops import remedies

    if not ids and older_than is None:
        raise UsageError("name attachment IDs or --older-than AGE")
    age = None if older_than is None else parse_age(older_than)
    target = common.resolve(session)
    now = common.now_ms()
    acts = remedies.abandon_attachments(target, ids or (), now_ms=now, older_than_ms=age, dry_run=dry_run)
    _show(acts, now, json, "abandoned")


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    group = typer.Typer(help="Uncommitted attachment intents: list them, abandon the ones never committed.",
                        no_args_is_help=True)
    app.add_typer(group, name="attachments")
    group.command("list")(list_)
    group.command("abandon")(abandon)
