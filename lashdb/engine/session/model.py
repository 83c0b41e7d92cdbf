"""Session data types (SPEC §5, runtime-contract §1) and their JSON forms.

Contract: every type is a frozen dataclass; ``to_json()`` returns the dict upstream serialises
(field names and order, optional keys omitted as upstream omits them) and ``from_json()`` reads it
back with upstream's defaults, raising ``ValueError`` for a document upstream would reject. One key is
lashdb's own: the head's ``lashdb_list_summary`` (:mod:`.list_summary`), which upstream ignores on read.
Opaque values (``config``, agent frames, event payloads) are copied through untouched.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import orjson

from lashdb.engine.base import jsonread as jr
from .list_summary import HEAD_KEY as SUMMARY_KEY
from .list_summary import ListSummary


# Stored JSON is written by orjson: a node's JSON took ~13 µs through the standard library's
# encoder and ~1 µs through orjson, and every commit writes four nodes and a head. What orjson
# cannot write exactly as before (integers beyond 64 bits, non-string keys, values that are not
# JSON, text that is not valid UTF-8) goes to the standard library, which writes it or raises
# TypeError as it always did. Non-finite floats become null, as upstream's serde_json writes them
# (the standard library would write NaN, which no strict JSON reader accepts).
_ENCODE = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
_ORJSON_OPTIONS = orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_DATETIME


def dumps(value: Any) -> str:
    """Compact JSON text as stored in lashdb's JSON columns (UTF-8, no spaces)."""
    try:
        return orjson.dumps(value, option=_ORJSON_OPTIONS).decode()
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        return _ENCODE(value)


# --- session meta ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class SessionRelation:
    """Root session, or child of ``parent_session_id`` (with an opaque ``caused_by``)."""

    kind: str = "root"
    parent_session_id: str | None = None
    caused_by: Any = None

    @classmethod
    def root(cls) -> SessionRelation:
        return cls()

    @classmethod
    def child(cls, parent_session_id: str, caused_by: Any = None) -> SessionRelation:
        return cls("child", parent_session_id, caused_by)

    def to_json(self) -> dict[str, Any]:
        if self.kind == "root":
            return {"kind": "root"}
        out: dict[str, Any] = {"kind": "child", "parent_session_id": self.parent_session_id}
        if self.caused_by is not None:
            out["caused_by"] = self.caused_by
        return out

    @classmethod
    def from_json(cls, doc: Any) -> SessionRelation:
        """Read a relation; anything that is not a well-formed child reads as root (SPEC §5)."""
        if isinstance(doc, dict) and doc.get("kind") == "child" and isinstance(doc.get("parent_session_id"), str):
            return cls("child", doc["parent_session_id"], doc.get("caused_by"))
        return cls()

    @classmethod
    def from_column(cls, text: str | None) -> SessionRelation:
        """Read ``session_meta.relation_json``: NULL or unparsable text reads as root."""
        if text is None:
            return cls()
        try:
            return cls.from_json(json.loads(text))
        except ValueError:
            return cls()


@dataclass(frozen=True)
class SessionMeta:
    """The ``session_meta`` singleton: who the session is and where it ran."""

    session_id: str
    session_name: str
    created_at: str
    model: str
    cwd: str | None = None
    relation: SessionRelation = field(default_factory=SessionRelation)

    def to_json(self) -> dict[str, Any]:
        return {
            "session_id": self.session_id,
            "session_name": self.session_name,
            "created_at": self.created_at,
            "model": self.model,
            "cwd": self.cwd,
            "relation": self.relation.to_json(),
        }

    @classmethod
    def from_json(cls, doc: Any) -> SessionMeta:
        doc = jr.obj(doc, "session meta")
        for key in ("session_id", "session_name", "created_at", "model"):
            if not isinstance(doc.get(key), str):
                raise ValueError(f"session meta has no text `{key}`")
        return cls(doc["session_id"], doc["session_name"], doc["created_at"], doc["model"],
                   jr.opt_text(doc, "cwd", "session meta"), SessionRelation.from_json(doc.get("relation")))


# --- usage ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TokenUsage:
    """Four token counters; ``total`` (input + output + reasoning) ignores cached input."""

    input_tokens: int = 0
    output_tokens: int = 0
    cached_input_tokens: int = 0
    reasoning_tokens: int = 0

    @property
    def total(self) -> int:
        return self.input_tokens + self.output_tokens + self.reasoning_tokens

    def __add__(self, other: TokenUsage) -> TokenUsage:
        return TokenUsage(
            self.input_tokens + other.input_tokens,
            self.output_tokens + other.output_tokens,
            self.cached_input_tokens + other.cached_input_tokens,
            self.reasoning_tokens + other.reasoning_tokens,
        )

    def to_json(self) -> dict[str, int]:
        return {
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cached_input_tokens": self.cached_input_tokens,
            "reasoning_tokens": self.reasoning_tokens,
        }

    @classmethod
    def from_json(cls, doc: Any) -> TokenUsage:
        doc = jr.obj(doc, "token usage")
        return cls(jr.integer(doc, "input_tokens", "usage"), jr.integer(doc, "output_tokens", "usage"),
                   jr.integer(doc, "cached_input_tokens", "usage"), jr.integer(doc, "reasoning_tokens", "usage", 0))


@dataclass(frozen=True)
class TokenLedgerEntry:
    """Usage attributed to a (source, model) pair."""

    source: str
    model: str
    usage: TokenUsage = field(default_factory=TokenUsage)

    def to_json(self) -> dict[str, Any]:
        return {"source": self.source, "model": self.model, "usage": self.usage.to_json()}

    @classmethod
    def from_json(cls, doc: Any) -> TokenLedgerEntry:
        doc = jr.obj(doc, "token ledger entry")
        if not isinstance(doc.get("source"), str) or not isinstance(doc.get("model"), str):
            raise ValueError("token ledger entry needs text `source` and `model`")
        return cls(doc["source"], doc["model"], TokenUsage.from_json(doc.get("usage", {})))


def merge_ledger(entries: list[TokenLedgerEntry] | tuple[TokenLedgerEntry, ...]) -> tuple[TokenLedgerEntry, ...]:
    """Drop zero-total entries and sum equal (source, model) pairs in first-seen order."""
    merged: dict[tuple[str, str], TokenUsage] = {}
    for entry in entries:
        if entry.usage.total == 0:
            continue
        key = (entry.source, entry.model)
        merged[key] = merged[key] + entry.usage if key in merged else entry.usage
    return tuple(TokenLedgerEntry(s, m, u) for (s, m), u in merged.items())


# --- head -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SessionHeadMeta:
    """``session_head.head_json``; the ``head_revision`` column overrides the JSON value on read."""

    session_id: str = "root"
    head_revision: int = 0
    config: Any = field(default_factory=dict)
    agent_frames: tuple[Any, ...] = ()
    current_agent_frame_id: str = ""
    checkpoint_ref: str | None = None
    leaf_node_id: str | None = None
    graph_node_count: int = 0
    token_ledger: tuple[TokenLedgerEntry, ...] = ()
    # lashdb's own head key (list_summary.HEAD_KEY): what the list reads instead of scanning the graph.
    list_summary: ListSummary | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "session_id": self.session_id,
            "head_revision": self.head_revision,
            "config": self.config,
            "agent_frames": list(self.agent_frames),
        }
        if self.current_agent_frame_id:
            out["current_agent_frame_id"] = self.current_agent_frame_id
        if self.checkpoint_ref is not None:
            out["checkpoint_ref"] = self.checkpoint_ref
        if self.leaf_node_id is not None:
            out["leaf_node_id"] = self.leaf_node_id
        out["graph_node_count"] = self.graph_node_count
        if self.token_ledger:
            out["token_ledger"] = [e.to_json() for e in self.token_ledger]
        if self.list_summary is not None:
            out[SUMMARY_KEY] = self.list_summary.to_json()
        return out

    @classmethod
    def from_json(cls, doc: Any, head_revision: int | None = None) -> SessionHeadMeta:
        doc = jr.obj(doc, "session head")
        if "config" not in doc:
            raise ValueError("missing field `config`")
        frames = doc.get("agent_frames", [])
        if not isinstance(frames, list):
            raise ValueError("agent_frames is not a list")
        ledger = doc.get("token_ledger", [])
        if not isinstance(ledger, list):
            raise ValueError("token_ledger is not a list")
        return cls(
            session_id=jr.opt_text(doc, "session_id", "session head") or "root",
            head_revision=jr.integer(doc, "head_revision", "session head", 0) if head_revision is None else head_revision,
            config=doc["config"],
            agent_frames=tuple(frames),
            current_agent_frame_id=jr.opt_text(doc, "current_agent_frame_id", "session head") or "",
            checkpoint_ref=jr.opt_text(doc, "checkpoint_ref", "session head"),
            leaf_node_id=jr.opt_text(doc, "leaf_node_id", "session head"),
            graph_node_count=jr.integer(doc, "graph_node_count", "session head", 0),
            token_ledger=tuple(TokenLedgerEntry.from_json(e) for e in ledger),
            list_summary=ListSummary.from_json(doc.get(SUMMARY_KEY)),
        )


# --- graph ----------------------------------------------------------------------------------------

_NODE_KEYS = ("node_id", "parent_node_id", "caused_by", "agent_frame_id", "timestamp")


@dataclass(frozen=True)
class GraphNode:
    """One graph node: identity, parent link, timestamp and a flattened ``kind``-tagged payload."""

    node_id: str
    timestamp: str
    payload: dict[str, Any]
    parent_node_id: str | None = None
    caused_by: Any = None
    agent_frame_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"node_id": self.node_id}
        if self.parent_node_id is not None:
            out["parent_node_id"] = self.parent_node_id
        if self.caused_by is not None:
            out["caused_by"] = self.caused_by
        if self.agent_frame_id is not None:
            out["agent_frame_id"] = self.agent_frame_id
        out["timestamp"] = self.timestamp
        for key, value in self.payload.items():
            if key not in _NODE_KEYS:
                out[key] = value
        return out

    @classmethod
    def from_json(cls, doc: Any) -> GraphNode:
        doc = jr.obj(doc, "graph node")
        if not isinstance(doc.get("node_id"), str):
            raise ValueError("graph node has no text `node_id`")
        if not isinstance(doc.get("timestamp"), str):
            raise ValueError("graph node has no text `timestamp`")
        if not isinstance(doc.get("kind"), str):
            raise ValueError("graph node has no text `kind`")
        payload = {k: v for k, v in doc.items() if k not in _NODE_KEYS}
        return cls(doc["node_id"], doc["timestamp"], payload, jr.opt_text(doc, "parent_node_id", "graph node"),
                   doc.get("caused_by"), jr.opt_text(doc, "agent_frame_id", "graph node"))

    # Builders for the common payloads.

    @classmethod
    def message(cls, node_id: str, role: str, text: str | list[dict[str, Any]], *, timestamp: str,
                parent_node_id: str | None = None, agent_frame_id: str | None = None) -> GraphNode:
        """A conversation message node; ``text`` is one text part or a list of parts."""
        parts = [{"kind": "Text", "content": text}] if isinstance(text, str) else list(text)
        payload = {"kind": "event", "event": {"Conversation": {"role": role, "parts": parts}}}
        return cls(node_id, timestamp, payload, parent_node_id, None, agent_frame_id)

    @classmethod
    def plugin(cls, node_id: str, plugin_type: str, body: Any, *, timestamp: str,
               parent_node_id: str | None = None) -> GraphNode:
        """A plugin node carrying an opaque body."""
        return cls(node_id, timestamp, {"kind": "plugin", "plugin_type": plugin_type, "body": body},
                   parent_node_id)

    @property
    def kind(self) -> str:
        return str(self.payload.get("kind", "?"))

    @property
    def conversation(self) -> dict[str, Any] | None:
        """The ``Conversation`` record of an event node, or ``None``."""
        return _conversation(self.payload)

    @property
    def role(self) -> str | None:
        conv = self.conversation
        return conv.get("role") if conv else None

    @property
    def text(self) -> str:
        """The message's searchable text (SPEC §5 picker rule); empty for other nodes."""
        return _message_text(self.payload)


def stored_message_text(node_json: str | None) -> str:
    """:attr:`GraphNode.text` of a node as stored (its JSON text); ``""`` for ``None`` or a
    document that is not an object. Invalid JSON raises ``ValueError``."""
    if node_json is None:
        return ""
    try:
        # orjson parses a node ~3.5x faster than json; a listing parses one per session.
        doc = orjson.loads(node_json)
    except orjson.JSONDecodeError:
        doc = json.loads(node_json)  # what orjson refuses but Python reads (NaN, integers beyond 64 bits)
    return _message_text(doc) if isinstance(doc, dict) else ""


def _conversation(payload: dict[str, Any]) -> dict[str, Any] | None:
    """The ``Conversation`` record of an event node's payload, or ``None``."""
    if payload.get("kind") != "event":
        return None
    event = payload.get("event")
    conv = event.get("Conversation") if isinstance(event, dict) else None
    return conv if isinstance(conv, dict) else None


def _message_text(payload: dict[str, Any]) -> str:
    """The SPEC §5 picker text of a node's payload: its ``Text`` parts' content and a placeholder
    per ``Image`` part, joined by a blank line; ``""`` for anything but a conversation event."""
    conv = _conversation(payload)
    if not conv:
        return ""
    pieces = []
    for part in conv.get("parts") or ():
        if not isinstance(part, dict):
            continue
        kind = part.get("kind")
        if kind == "Text":
            content = part.get("content")
            if isinstance(content, str):
                pieces.append(content)
        elif kind == "Image":
            pieces.append("[Image attached]")
    return pieces[0] if len(pieces) == 1 else "\n\n".join(pieces)


@dataclass(frozen=True)
class SessionGraph:
    """Graph nodes in ``seq`` order (or an active path, root first) and the leaf they end at."""

    nodes: tuple[GraphNode, ...] = ()
    leaf_node_id: str | None = None

    def user_messages(self) -> list[GraphNode]:
        return [n for n in self.nodes if n.role == "User"]


# --- checkpoints ----------------------------------------------------------------------------------


def default_turn_state() -> dict[str, Any]:
    """The all-default turn state: turn 0, zero usage, empty options."""
    return {
        "turn_index": 0,
        "token_usage": TokenUsage().to_json(),
        "protocol_turn_options": {"payload": {}},
    }


@dataclass(frozen=True)
class SessionCheckpoint:
    """The checkpoint manifest blob: turn state plus refs to three snapshot blobs."""

    turn_state: Any = field(default_factory=default_turn_state)
    tool_state_ref: str | None = None
    plugin_snapshot_ref: str | None = None
    plugin_snapshot_revision: int | None = None
    execution_state_ref: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"turn_state": self.turn_state}
        for key in ("tool_state_ref", "plugin_snapshot_ref", "plugin_snapshot_revision", "execution_state_ref"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        return out

    @classmethod
    def from_json(cls, doc: Any) -> SessionCheckpoint:
        doc = jr.obj(doc, "checkpoint manifest")
        revision = doc.get("plugin_snapshot_revision")
        if revision is not None and (isinstance(revision, bool) or not isinstance(revision, int)):
            raise ValueError("plugin_snapshot_revision is not an integer")
        turn_state = doc.get("turn_state")
        return cls(
            turn_state=default_turn_state() if turn_state is None else turn_state,
            tool_state_ref=jr.opt_text(doc, "tool_state_ref", "checkpoint"),
            plugin_snapshot_ref=jr.opt_text(doc, "plugin_snapshot_ref", "checkpoint"),
            plugin_snapshot_revision=revision,
            execution_state_ref=jr.opt_text(doc, "execution_state_ref", "checkpoint"),
        )

    def child_refs(self) -> list[tuple[str, str]]:
        """(ref, kind) of each snapshot this manifest points at."""
        refs = []
        for ref, kind in ((self.tool_state_ref, "ToolState"),
                          (self.plugin_snapshot_ref, "PluginSessionSnapshot"),
                          (self.execution_state_ref, "ExecutionStateSnapshot")):
            if ref is not None:
                refs.append((ref, kind))
        return refs


@dataclass(frozen=True)
class HydratedCheckpoint:
    """A checkpoint with its snapshot values; a value given replaces its ref when stored."""

    turn_state: Any = field(default_factory=default_turn_state)
    tool_state_ref: str | None = None
    tool_state: Any = None
    plugin_snapshot_ref: str | None = None
    plugin_snapshot: Any = None
    plugin_snapshot_revision: int | None = None
    execution_state_ref: str | None = None
    execution_state: bytes | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "turn_state": self.turn_state,
            "tool_state_ref": self.tool_state_ref,
            "tool_state": self.tool_state,
            "plugin_snapshot_ref": self.plugin_snapshot_ref,
            "plugin_snapshot": self.plugin_snapshot,
            "plugin_snapshot_revision": self.plugin_snapshot_revision,
            "execution_state_ref": self.execution_state_ref,
            # JSON has no bytes; upstream's serde writes Vec<u8> as an array of integers.
            "execution_state": None if self.execution_state is None else list(self.execution_state),
        }

    @classmethod
    def from_json(cls, doc: Any) -> HydratedCheckpoint:
        doc = jr.obj(doc, "checkpoint")
        manifest = SessionCheckpoint.from_json(doc)
        es = doc.get("execution_state")
        if es is not None:
            if not isinstance(es, list) or not all(isinstance(b, int) and 0 <= b <= 255 for b in es):
                raise ValueError("execution_state is not a byte array")
            es = bytes(es)
        return cls(manifest.turn_state, manifest.tool_state_ref, doc.get("tool_state"),
                   manifest.plugin_snapshot_ref, doc.get("plugin_snapshot"),
                   manifest.plugin_snapshot_revision, manifest.execution_state_ref, es)


@dataclass(frozen=True)
class StoredCheckpoint:
    """Where a checkpoint was stored and the manifest written there."""

    checkpoint_ref: str
    manifest: SessionCheckpoint


@dataclass(frozen=True)
class SessionHead:
    """A session head joined with its graph and merged token ledger."""

    session_id: str
    head_revision: int
    config: Any
    agent_frames: tuple[Any, ...]
    current_agent_frame_id: str
    graph: SessionGraph
    checkpoint_ref: str | None
    token_ledger: tuple[TokenLedgerEntry, ...]


@dataclass(frozen=True)
class SessionPickerInfo:
    """What the resume picker shows for a session."""

    session_id: str
    cwd: str | None
    relation: SessionRelation
    first_user_message: str
    user_message_count: int

    def to_json(self) -> dict[str, Any]:
        return {
            "session_id": self.session_id,
            "cwd": self.cwd,
            "relation": self.relation.to_json(),
            "first_user_message": self.first_user_message,
            "user_message_count": self.user_message_count,
        }


@dataclass(frozen=True)
class GcBusy:
    """The live execution lease that made a GC from outside the runtime skip (or stop on) a session."""

    session_id: str
    owner_id: str
    expires_at_epoch_ms: int

    def to_json(self) -> dict[str, Any]:
        return {"session_id": self.session_id, "owner_id": self.owner_id,
                "expires_at_epoch_ms": self.expires_at_epoch_ms}


@dataclass(frozen=True)
class GcReport:
    """What a GC found and (unless ``dry_run``) deleted, summed over its batches.

    ``busy`` is set when a live execution lease held by someone else stopped it: the counts are
    then what the batches before that did (``batch_count`` 0: nothing was looked at).
    """

    root_count: int
    retained_blob_count: int
    deleted_blob_count: int
    freed_bytes: int
    dry_run: bool = False
    missing_blob_count: int = 0
    batch_count: int = 0
    busy: GcBusy | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "root_count": self.root_count,
            "retained_blob_count": self.retained_blob_count,
            "deleted_blob_count": self.deleted_blob_count,
            "freed_bytes": self.freed_bytes,
            "dry_run": self.dry_run,
            "missing_blob_count": self.missing_blob_count,
            "batch_count": self.batch_count,
            "busy": None if self.busy is None else self.busy.to_json(),
        }


@dataclass(frozen=True)
class VacuumReport:
    """Tombstoned nodes removed and, with compaction, the file size before and after.

    ``compacted`` is true only when ``VACUUM`` and the truncating checkpoint both finished;
    otherwise ``compact_error`` says why (the removal of tombstoned nodes stays committed).
    """

    removed_node_count: int
    compacted: bool = False
    size_before: int | None = None
    size_after: int | None = None
    compact_error: str | None = None
    compressed_blobs: int = 0
    """Blobs a commit stored uncompressed that this vacuum compressed (``deferred_compression_max``)."""
    compressed_bytes_saved: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "removed_node_count": self.removed_node_count,
            "compressed_blobs": self.compressed_blobs,
            "compressed_bytes_saved": self.compressed_bytes_saved,
            "compacted": self.compacted,
            "compact_error": self.compact_error,
            "size_before": self.size_before,
            "size_after": self.size_after,
        }
