"""`lashdb graph show`.

JSON document: path, status, foreign, session_id, mode (``tree`` | ``active_path``), leaf_node_id,
live_nodes, tombstoned_nodes, shown, omitted, nodes — each node: node_id, short_id, parent_node_id,
seq, depth, kind, role, plugin_type, event_type, label, text (first line), timestamp,
timestamp_epoch_ms, timestamp_raw, tombstoned, on_active_path, error.
"""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from .. import common, output

COLUMNS = [("node", "node"), ("mark", ""), ("kind", "kind"), ("label", "role/type"), ("line", "text", output.FIT),
           ("time", "time (UTC)")]


def _row(node: dict) -> dict:
    mark = "x" if node["tombstoned"] else ("*" if node["on_active_path"] else "")
    return dict(node, node="  " * node["depth"] + node["short_id"], mark=mark,
                line=node["error"] or output.one_line(node["text"], 60), time=output.short_time(node["timestamp_epoch_ms"]))


def show(
    session: Annotated[str, typer.Argument(help="Session: path, file name, session id or unique prefix.")],
    active_path: Annotated[bool, typer.Option("--active-path", help="Only the path from the root to the "
                                              "leaf (default: the head's leaf).")] = False,
    leaf: Annotated[Optional[str], typer.Option("--leaf", metavar="NODE", help="Walk the active path to this "
                                                "node (id or unique prefix); implies --active-path.")] = None,
    tombstoned: Annotated[bool, typer.Option("--tombstoned", help="Include tombstoned nodes (marked x).")]
    = False,
    limit: Annotated[Optional[int], typer.Option("--limit", min=0, help="Only the N most recent nodes.")]
    = None,
    json: common.JsonOpt = False,
) -> None:
    """Nodes as a tree (parent → child) or the active path; * marks the active path."""
    from lashdb.engine.ops import inspect

    view = inspect.graph_view(common.resolve(session), active_path=active_path, leaf=leaf,
                              tombstoned=tombstoned, limit=limit)
    if view.foreign:
        output.warn(f"{view.path.name}: foreign schema; shown read-only")
    doc = view.to_json()
    if json:
        output.emit(doc, json=True)
        return
    title = f"{doc['session_id'] or view.path.name}: {doc['mode'].replace('_', ' ')}, {doc['shown']} node(s)"
    if doc["omitted"]:
        title += f" ({doc['omitted']} older omitted; see --limit)"
    output.emit([_row(n) for n in doc["nodes"]], COLUMNS, title=title)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    group = typer.Typer(help="Walk a session's graph.", no_args_is_help=True)
    app.add_typer(group, name="graph")

    group.command("show")(common.paged(show))
