"""`lashdb unlock SESSION…|--all [--process ID|--execution] [--dry-run] [--force]`: release leases a dead holder left.

Releases each session's expired execution lease and the expired process leases of its process
registry (``--process ID``: only that process's lease; ``--execution``: only the execution lease,
the remedy doctor prints for an expired one). A live lease is refused and named with its
owner and expiry; ``--force`` releases it anyway (only when its holder is known to be dead).
Releasing keeps the fencing token, so the next holder's is still higher. Each store is changed in
one write transaction; a foreign schema is refused (exit 3).

JSON document: leases (each: kind execution|process, session, subject, owner_id, fencing_token,
expires_at(+_epoch_ms), state expired|live, action released|would release|refused, reason),
released, refused. Exit 1 when a live lease was refused.

Examples: ``lashdb unlock 7f3a`` · ``lashdb unlock --all --dry-run`` ·
``lashdb unlock 7f3a --process proc_201d --force``
"""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from .. import common, output

COLUMNS = [("kind", "lease"), ("subject", "of"), ("owner_id", "owner"), ("fencing_token", "fencing"),
           ("expires", "expires"), ("state", "state"), ("action", "action")]


def unlock(
    sessions: Annotated[Optional[list[str]], typer.Argument(
        metavar="SESSION…", help="Sessions whose leases to release.", show_default=False)] = None,
    all_: common.AllOpt = False,
    process: Annotated[Optional[str], typer.Option(
        "--process", metavar="ID", help="Only this process's lease (in the session's process registry).",
        show_default=False)] = None,
    execution: Annotated[bool, typer.Option(
        "--execution", help="Only the session's execution lease (no process lease).")] = False,
    dry_run: common.DryRunOpt = False,
    force: Annotated[bool, typer.Option("--force", help="Release live leases too (their holder must be dead).")]
    = False,
    json: common.JsonOpt = False,
) -> None:
    """Release expired execution and process leases (a live one needs --force).

    \b
    Examples:
      lashdb unlock --all --dry-run
      lashdb unlock 0336164f --execution
      lashdb unlock 0336164f --process proc_201d0724474051b9
    """
    from lashdb.engine.ops import remedies

    if process is not None and execution:
        from lashdb.engine.errors import UsageError

        raise UsageError("--process and --execution name different leases; pass one")
    targets, _unreadable = common.session_paths(sessions, None, all_)
    now = common.now_ms()
    acts = remedies.unlock(common.state().backend, targets, now_ms=now, process=process, execution_only=execution,
                           force=force,
                           dry_run=dry_run)
    docs = [a.to_json() for a in acts]
    refused = [a for a in acts if a.action == remedies.REFUSED]
    if json:
        output.emit({"leases": docs, "released": sum(a.action != remedies.REFUSED for a in acts),
                     "refused": len(refused)}, json=True)
    else:
        output.emit([dict(d, expires=d["expires_at"]) for d in docs], COLUMNS)
        for act in refused:
            output.warn(f"{act.reason} (pass --force if its holder is dead)")
        if not acts:
            output.info("no lease held", quiet=common.state().quiet)
    if refused:
        raise typer.Exit(common.EXIT_PROBLEMS)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.command("unlock")(unlock)
