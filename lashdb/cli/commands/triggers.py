"""`lashdb triggers list|occurrences`: read-only views of a trigger store (deployment-stores §4.2).

The store read is SESSION's ``<file>.db.triggers.db`` sidecar, the file named by ``--db PATH``, or —
with neither — the only trigger store under the root (several → exit 3 listing them). It is opened
read-only: no byte written, no sidecar created. A foreign-schema store is listed where its columns
allow, after one ``lashdb: warning:`` line.

JSON documents (keys are stable; each time as ``<name>`` ISO 8601 UTC — null when unset — plus
``<name>_epoch_ms``):
- ``list``: an array of subscriptions in numeric handle order — subscription_id, handle,
  registrant_scope_id, name, source_type, source_key, enabled, target_kind, target_label,
  wake_target_scope_id, created_at(+_epoch_ms), updated_at(+_epoch_ms), delivery_count, decode_error.
- ``occurrences``: an array of occurrences, most recent first — occurrence_id, occurred_at(+_epoch_ms),
  source_type, source_key, idempotency_key, payload, request_hash, delivery_count, decode_error,
  deliveries (each: occurrence_id, subscription_id, handle, process_id, created_at(+_epoch_ms)).
"""

from __future__ import annotations

from typing import Annotated, Any, Optional

import typer

from .. import common, output

LIST_COLUMNS = [
    ("handle_text", "handle"), ("name", "name", output.FIT), ("registrant", "registrant"), ("source_type", "source type"),
    ("source_key_text", "source key"), ("enabled", "enabled"), ("target", "target"), ("wake_target", "wake target"),
    ("delivery_count", "deliveries"), ("created", "created"), ("updated", "updated"),
]
OCCURRENCE_COLUMNS = [
    ("occurrence", "occurrence"), ("occurred_at", "time"), ("source_type", "source type"),
    ("source_key_text", "source key"), ("idempotency_key", "idempotency key"), ("payload_text", "payload", output.FIT),
    ("delivered_to", "deliveries"),
]


def _short_key(key: str | None) -> str | None:
    return None if key is None else output.one_line(key, 36)


def _subscription_row(doc: dict[str, Any]) -> dict[str, Any]:
    kind, label = doc["target_kind"], doc["target_label"]
    return dict(doc, handle_text=doc["handle"] or output.one_line(doc["subscription_id"], 28),
                registrant=output.short_scope(doc["registrant_scope_id"]),
                source_key_text=_short_key(doc["source_key"]),
                target=f"{kind}: {label}" if kind and label else kind or label,
                wake_target=output.short_scope(doc["wake_target_scope_id"]),
                created=output.short_time(doc["created_at_epoch_ms"]),
                updated=output.short_time(doc["updated_at_epoch_ms"]))


def _occurrence_row(doc: dict[str, Any]) -> dict[str, Any]:
    handles = [d["handle"] or output.one_line(d["subscription_id"], 20) for d in doc["deliveries"]]
    delivered = str(doc["delivery_count"]) + (f" ({', '.join(handles)})" if handles else "")
    return dict(doc, occurrence=output.one_line(doc["occurrence_id"], 20),
                source_key_text=_short_key(doc["source_key"]),
                payload_text=output.one_line_json(doc["payload"], 40), delivered_to=delivered)


def list_(
    session: common.StoreSessionArg = None,
    db: common.DbOpt = None,
    json: common.JsonOpt = False,
) -> None:
    """One row per subscription: handle, name, registrant, source, enabled, target, wake target, deliveries.

    \b
    Examples:
      lashdb triggers list f6db04a9
      lashdb triggers list --db s.db.triggers.db --json
    """
    with common.open_inspector(session, db, "triggers") as (path, inspector):
        info = inspector.info
        rows = [output.with_iso(s.to_json(), "created_at_ms", "updated_at_ms")
                for s in inspector.list_subscriptions()]
    output.warn_about(info, rows)
    if json:
        output.emit(rows, json=True)
        return
    if not rows:
        output.info(f"no trigger subscriptions in {path}", quiet=common.state().quiet)
        return
    output.emit([_subscription_row(r) for r in rows], LIST_COLUMNS, title=str(path))


def occurrences(
    session: common.StoreSessionArg = None,
    db: common.DbOpt = None,
    source_type: Annotated[Optional[str], typer.Option(
        "--source-type", "--source", metavar="T", help="Only occurrences of this source type.",
        show_default=False)] = None,
    source_key: Annotated[Optional[str], typer.Option(
        "--source-key", metavar="K", help="Only occurrences with this source key.", show_default=False)] = None,
    limit: Annotated[Optional[int], typer.Option("--limit", min=0, help="Show at most N occurrences.")] = None,
    json: common.JsonOpt = False,
) -> None:
    """Occurrences, most recent first: id, time, source, idempotency key, payload, deliveries.

    \b
    Examples:
      lashdb triggers occurrences f6db04a9
      lashdb triggers occurrences f6db04a9 --json
    """
    with common.open_inspector(session, db, "triggers") as (path, inspector):
        info = inspector.info
        found = inspector.list_occurrences(source_type=source_type, source_key=source_key, limit=limit)
        deliveries: dict[str, list[dict[str, Any]]] = {}
        for delivery in inspector.deliveries() if found else ():
            deliveries.setdefault(delivery.occurrence_id, []).append(
                output.with_iso(delivery.to_json(), "created_at_ms"))
    rows = [dict(output.with_iso(o.to_json(), "occurred_at_ms"), deliveries=deliveries.get(o.occurrence_id, []))
            for o in found]
    output.warn_about(info, rows)
    if json:
        output.emit(rows, json=True)
        return
    if not rows:
        wanted = "".join(f" with {name} {value}" for name, value in (("source type", source_type),
                                                                      ("source key", source_key)) if value)
        output.info(f"no trigger occurrences{wanted} in {path}", quiet=common.state().quiet)
        return
    output.emit([_occurrence_row(r) for r in rows], OCCURRENCE_COLUMNS, title=str(path))


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    group = typer.Typer(help="List the subscriptions and occurrences of a trigger store (read-only).",
                        no_args_is_help=True)
    app.add_typer(group, name="triggers")

    group.command("list")(common.paged(list_))
    group.command("occurrences")(common.paged(occurrences))
