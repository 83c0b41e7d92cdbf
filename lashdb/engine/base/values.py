"""What a caller's value must be to be stored: the one rule for the JSON columns and the CBOR blobs.

Contract:
- A storable value is JSON data: ``None``, ``bool``, ``int``, a finite ``float``, ``str`` without
  lone surrogates (valid UTF-8), ``list``/``tuple`` of storable values, and ``dict`` with ``str``
  keys (no lone surrogates) and storable values; subclasses of these count as the type.
- It nests at most :data:`MAX_NESTING` containers deep, counted from the value the caller passed
  (a scalar is depth 0, ``[1]`` depth 1). Records that wrap the value (a graph node, the head,
  the checkpoint manifest) add at most a couple of levels; every reader accepts
  :data:`READ_MAX_NESTING`, well above both.
- :func:`check` walks the value in a loop with an explicit stack (never recursion, so an
  8,000-deep value is refused, not a crash) and raises :class:`UnstorableValue` naming the field
  path (``commit.checkpoint.tool_state["a"][3]``) and the reason. Every store entry point calls it
  before anything is written and before ``BEGIN IMMEDIATE``; :func:`check_text` does the same for
  an id or other text field.
- :func:`all_storable` is the one-pass answer for a whole record (texts, optional texts, values):
  ``True`` only when every field would pass its own check; it names nothing, so on ``False`` the
  caller runs the field-by-field checks, which raise naming the field.
"""

from __future__ import annotations

import json
from typing import Any

from .errors import UnstorableValue

__all__ = ["MAX_NESTING", "READ_MAX_NESTING", "UnstorableValue", "all_storable", "check", "check_opt_text",
           "check_text", "is_text"]

MAX_NESTING = 256
"""Deepest container nesting a stored value may have, counted from the value the caller passed."""

READ_MAX_NESTING = 400
"""Deepest nesting the CBOR reader accepts (cbor2's own default): a value at :data:`MAX_NESTING`
inside the records that wrap it always reads back. MessagePack and JSON readers allow more."""


def is_text(value: Any) -> bool:
    """True when ``value`` is a ``str`` that can be stored (valid UTF-8: no lone surrogate)."""
    return isinstance(value, str) and _surrogate_free(value)


def _surrogate_free(text: str) -> bool:
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _scan(value: Any, many: bool = False) -> bool:
    """True when ``value`` (with ``many``: each of the list ``value``, all at depth 0) is storable;
    the fast loop of the commit path (no paths kept)."""
    stack = [(value if many else (value,), 0)]
    pop, push = stack.pop, stack.append
    while stack:
        items, depth = pop()
        for item in items:
            t = type(item)
            if t is str:
                if not item.isascii() and not _surrogate_free(item):
                    return False
            elif t is dict:
                if depth >= MAX_NESTING:
                    return False
                try:
                    keys = "".join(item)  # C-speed: every key a str, and their text checked at once
                except TypeError:
                    return False
                if not keys.isascii() and not _surrogate_free(keys):
                    return False
                # Most maps hold text and numbers: those are checked here and only the other
                # values go on the stack (a third less time than pushing every map's values).
                rest = None
                for v in item.values():
                    tv = type(v)
                    if tv is str:
                        if not v.isascii() and not _surrogate_free(v):
                            return False
                    elif tv is not int and tv is not bool and v is not None:
                        if rest is None:
                            rest = []
                        rest.append(v)
                if rest is not None:
                    push((rest, depth + 1))
            elif t is list or t is tuple:
                if depth >= MAX_NESTING:
                    return False
                push((item, depth + 1))
            elif t is int or t is bool or item is None:
                pass
            elif t is float:
                if item - item != 0.0:  # NaN and ±inf; finite x - x is 0.0
                    return False
            else:
                return False  # a subclass or a foreign type: _locate decides
    return True


def _render(path: tuple) -> str:
    parts = []
    while path:
        path, key = path
        parts.append(f"[{json.dumps(key)}]" if isinstance(key, str) else f"[{key}]")
    parts.reverse()
    if len(parts) > 12:  # a too-deep value: its first and last steps say where, not 257 of them
        parts[6:-6] = [f"…{len(parts) - 12} more…"]
    return "".join(parts)


def _reason(item: Any, depth: int) -> str | None:
    """Why ``item`` (at container depth ``depth``) cannot be stored, or ``None`` (containers: its shell)."""
    if isinstance(item, bool) or item is None:
        return None
    if isinstance(item, str):
        return None if _surrogate_free(item) else f"text {_show(item)} holds a lone surrogate (not valid UTF-8)"
    if isinstance(item, int):
        return None
    if isinstance(item, float):
        return None if item - item == 0.0 else f"{item!r} is not a storable number (JSON has no NaN or infinity)"
    if isinstance(item, (dict, list, tuple)):
        if depth >= MAX_NESTING:
            return f"nests deeper than {MAX_NESTING} levels"
        if isinstance(item, dict):
            for key in item:
                if not isinstance(key, str):
                    return f"map key {key!r} is not a string"
                if not _surrogate_free(key):
                    return f"map key {_show(key)} holds a lone surrogate (not valid UTF-8)"
        return None
    if isinstance(item, (bytes, bytearray, memoryview)):
        return f"{type(item).__name__} is not storable here (JSON has no bytes; encode them as text)"
    if isinstance(item, (set, frozenset)):
        return f"a {type(item).__name__} is not storable (use a list)"
    return f"{type(item).__name__} is not a JSON value"


def _show(text: str) -> str:
    shown = text.encode("utf-8", "backslashreplace").decode("ascii", "backslashreplace")
    return repr(shown if len(shown) <= 40 else shown[:37] + "...")


def _locate(value: Any, field: str) -> None:
    """Walk again keeping paths; raise :class:`UnstorableValue` at the first problem found."""
    stack: list[tuple[Any, int, tuple]] = [(value, 0, ())]
    while stack:
        item, depth, path = stack.pop()
        reason = _reason(item, depth)
        if reason is not None:
            raise UnstorableValue(field + _render(path), reason)
        if isinstance(item, dict):
            stack.extend((v, depth + 1, (path, k)) for k, v in reversed(list(item.items())))
        elif isinstance(item, (list, tuple)):
            stack.extend((v, depth + 1, (path, i)) for i, v in reversed(list(enumerate(item))))


def check(value: Any, field: str) -> None:
    """Raise :class:`UnstorableValue` naming ``field`` and the path inside it unless ``value`` is storable."""
    if not _scan(value):
        _locate(value, field)


def all_storable(texts: list, opt_texts: list, items: list) -> bool:
    """True only when every ``texts`` entry is storable text, every ``opt_texts`` entry ``None`` or
    storable text, and every ``items`` entry a storable value (each from depth 0, as :func:`check`);
    ``False`` when one is not, or (subclasses of the JSON types) when the named checks must decide."""
    try:
        # One C-speed join checks that each is a str (a subclass too, as check_text allows) and
        # lets one isascii cover all their characters; a lone surrogate stays lone when joined.
        joined = "".join(texts) + "".join([t for t in opt_texts if t is not None])
    except TypeError:
        return False
    if not joined.isascii() and not _surrogate_free(joined):
        return False
    return _scan(items, True)


def check_text(value: Any, field: str) -> None:
    """Raise :class:`UnstorableValue` unless ``value`` is text that can be stored (valid UTF-8)."""
    if type(value) is str and value.isascii():
        return
    if not isinstance(value, str):
        raise UnstorableValue(field, f"{type(value).__name__} is not text")
    if not _surrogate_free(value):
        raise UnstorableValue(field, f"text {_show(value)} holds a lone surrogate (not valid UTF-8)")


def check_opt_text(value: Any, field: str) -> None:
    """:func:`check_text`, with ``None`` allowed."""
    if value is not None:
        check_text(value, field)


# --- the records a caller hands to a store, field by field ------------------------------------------


def check_node(node: Any, field: str) -> None:
    """Check a :class:`GraphNode`'s ids, timestamp, ``caused_by`` and payload."""
    check_text(node.node_id, f"{field}.node_id")
    check_text(node.timestamp, f"{field}.timestamp")
    check_opt_text(node.parent_node_id, f"{field}.parent_node_id")
    check_opt_text(node.agent_frame_id, f"{field}.agent_frame_id")
    check(node.caused_by, f"{field}.caused_by")
    check(node.payload, f"{field}.payload")


def check_nodes(nodes: Any, field: str) -> None:
    """Check every node of a sequence, naming each by its index."""
    for index, node in enumerate(nodes):
        check_node(node, f"{field}[{index}]")


def check_checkpoint(checkpoint: Any, field: str) -> None:
    """Check a :class:`HydratedCheckpoint`'s turn state, snapshot values and refs (not its execution bytes)."""
    check(checkpoint.turn_state, f"{field}.turn_state")
    check(checkpoint.tool_state, f"{field}.tool_state")
    check(checkpoint.plugin_snapshot, f"{field}.plugin_snapshot")
    for name in ("tool_state_ref", "plugin_snapshot_ref", "execution_state_ref"):
        check_opt_text(getattr(checkpoint, name), f"{field}.{name}")


def check_head(meta: Any, field: str) -> None:
    """Check a :class:`SessionHeadMeta`'s text fields, config, agent frames and ledger names."""
    check_text(meta.session_id, f"{field}.session_id")
    check(meta.config, f"{field}.config")
    check(meta.agent_frames, f"{field}.agent_frames")
    check_text(meta.current_agent_frame_id, f"{field}.current_agent_frame_id")
    check_opt_text(meta.checkpoint_ref, f"{field}.checkpoint_ref")
    check_opt_text(meta.leaf_node_id, f"{field}.leaf_node_id")
    check_ledger(meta.token_ledger, f"{field}.token_ledger")


def check_ledger(entries: Any, field: str) -> None:
    """Check the ``source``/``model`` text of token ledger entries."""
    for index, entry in enumerate(entries):
        check_text(entry.source, f"{field}[{index}].source")
        check_text(entry.model, f"{field}[{index}].model")


def check_session_meta(meta: Any, field: str = "meta") -> None:
    """Check a :class:`SessionMeta`: its text fields and relation."""
    for name in ("session_id", "session_name", "created_at", "model"):
        check_text(getattr(meta, name), f"{field}.{name}")
    check_opt_text(meta.cwd, f"{field}.cwd")
    check_opt_text(meta.relation.parent_session_id, f"{field}.relation.parent_session_id")
    check(meta.relation.caused_by, f"{field}.relation.caused_by")
