"""`lashdb graph show` and `lashdb node show`.

JSON document of ``graph show``: path, status, foreign, session_id, mode (``tree`` | ``active_path``),
leaf_node_id, live_nodes, tombstoned_nodes, shown, omitted, nodes — each node: node_id, short_id,
parent_node_id, seq, depth, kind, role, plugin_type, event_type, label, text (first line), full_text
(the whole message), timestamp, timestamp_epoch_ms, timestamp_raw, tombstoned, on_active_path, error.
``graph show --full`` prints each node's whole message under a line naming it, instead of the table.
``node show SESSION NODE`` (NODE: id or unique prefix, tombstoned nodes included): path, session_id and
node (one node object as above, depth 0; on_active_path: on the head's active path).
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
    session: Annotated[str, typer.Argument(metavar="SESSION", help="Session: path, file name, session id or unique prefix.",
                                           autocompletion=common.complete_session)],
    active_path: Annotated[bool, typer.Option("--active-path", help="Only the path from the root to the "
                                              "leaf (default: the head's leaf).")] = False,
    leaf: Annotated[Optional[str], typer.Option("--leaf", metavar="NODE", help="Walk the active path to this "
                                                "node (id or unique prefix); implies --active-path.")] = None,
    tombstoned: Annotated[bool, typer.Option("--tombstoned", help="Include tombstoned nodes (marked x).")]
    = False,
    limit: Annotated[Optional[int], typer.Option("--limit", min=0, help="Only the N most recent nodes.")]
    = None,
    full: Annotated[bool, typer.Option("--full", help="Print each node's whole message, not its first line "
                                       "in a table.")] = False,
    json: common.JsonOpt = False,
) -> None:
    """Nodes as a tree (parent → child) or the active path; * marks the active path.

    \b
    Examples:
      lashdb graph show 0336164f --active-path
      lashdb graph show 0336164f --tombstoned --limit 50
    """
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
    if full:
        output.line(title)
        for node in doc["nodes"]:
            _print_full(node)
        return
    output.emit([_row(n) for n in doc["nodes"]], COLUMNS, title=title)


def _print_full(node: dict) -> None:
    """A line naming the node (whole id, mark, kind, role/type, time), then its whole text, indented."""
    mark = " (tombstoned)" if node["tombstoned"] else (" *" if node["on_active_path"] else "")
    when = output.short_time(node["timestamp_epoch_ms"])
    output.line("")
    output.line(f"{node['node_id']}{mark}  {node['kind']}" + (f"  {node['label']}" if node["label"] else "")
                + (f"  {when}" if when else ""))
    text = node["error"] or node["full_text"] or ""
    for text_line in text.splitlines() or [""]:
        output.line(f"    {text_line}")


def node_show(
    session: Annotated[str, typer.Argument(help="Session: path, file name, session id or unique prefix.")],
    node: Annotated[str, typer.Argument(metavar="NODE", help="Graph node: id or unique prefix.")],
    json: common.JsonOpt = False,
) -> None:
    """One graph node with its whole message (tombstoned nodes too).

    \b
    Examples:
      lashdb node show f6db04a9 n3
      lashdb node show f6db04a9 n3 --json
    """
    from lashdb.engine.ops import inspect

    path = common.resolve(session)
    view = inspect.graph_view(path, leaf=node, tombstoned=True)
    head = inspect.graph_view(path, active_path=True)
    found = view.nodes[-1]
    doc = dict(view.node_json(found, found.node_id), depth=0,
               on_active_path=found.node_id in {n.node_id for n in head.nodes})
    if json:
        output.emit({"path": str(view.path), "session_id": view.session_id, "node": doc}, json=True)
        return
    output.line(f"{view.session_id or view.path.name}: node {found.node_id}")
    _print_full(doc)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    group = typer.Typer(help="Walk a session's graph.", no_args_is_help=True)
    app.add_typer(group, name="graph")

    group.command("show")(common.paged(show))

    nodes = typer.Typer(help="Show one graph node whole.", no_args_is_help=True)
    app.add_typer(nodes, name="node")
    nodes.command("show")(common.paged(node_show))
