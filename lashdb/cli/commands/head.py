"""`lashdb head dump`.

JSON document (the same pretty JSON with or without ``--json``): path, status, foreign,
schema_version, session_id, head_revision (from the column), head (the stored head meta, its
``head_revision`` replaced by the column's), and with ``--checkpoint`` a ``checkpoint`` object:
ref, present, format, manifest (decoded; bytes as hex), children (role, ref, present, kind,
compression, stored_bytes, logical_bytes), error (the manifest, or the first snapshot it points at, that
cannot be decoded; null when all decode).
Exit 3 with one error line, and no document, when ``--checkpoint`` finds the manifest or a snapshot
it points at undecodable (``lashdb blob verify`` names the blobs).
"""

from __future__ import annotations

from typing import Annotated

import typer

from .. import common, output


def dump(
    session: Annotated[str, typer.Argument(metavar="SESSION", help="Session: path, file name, session id or unique prefix.",
                                           autocompletion=common.complete_session)],
    json: common.JsonOpt = False,
    checkpoint: Annotated[bool, typer.Option("--checkpoint", help="Add the decoded checkpoint manifest.")]
    = False,
) -> None:
    """The head meta (revision from the column) as pretty JSON.

    \b
    Examples:
      lashdb head dump 0336164f
      lashdb head dump 0336164f --checkpoint
    """
    from lashdb.engine.ops import inspect

    doc = inspect.head_document(common.resolve(session), with_checkpoint=checkpoint)
    if doc.foreign:
        output.warn(f"{doc.path.name}: foreign schema (session v{doc.schema_version}); shown read-only")
    doc.require_readable_checkpoint()
    output.emit(doc.to_json(), json=True)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    group = typer.Typer(help="Show a session's head.", no_args_is_help=True)
    app.add_typer(group, name="head")

    group.command("dump")(common.paged(dump))
