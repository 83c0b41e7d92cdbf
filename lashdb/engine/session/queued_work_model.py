"""Queued work's data: drafts, payloads, batches, claims, and the pure claim rules (runtime contract §4).

Contract:
- Every type round-trips through ``to_json``/``from_json`` in upstream's JSON form.
- Batch ids are ``qwb:`` + SHA-256 of ``"{session}:{source key, Rust debug form}:{now}[:{nonce}]"``.
- :func:`select_claim_prefix` is §4.5 (head-of-line delivery gate, exclusive alone, join groups of
  equal delivery policy and merge key — ``never`` equals ``never``, W13); :class:`ClaimLease`
  derives a claim's lease from its head batch (§4.6). Nothing here touches storage.
"""

from __future__ import annotations

import enum
import hashlib
import secrets
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from lashdb.engine.base import jsonread as jr
from lashdb.engine.base import timing
from lashdb.engine.base.canonical import rust_debug_str

DEFAULT_CLAIM_TTL_MS = 15 * 60 * 1000
"""The runtime's default queued-work claim TTL (15 minutes)."""

_SCAN_SURPLUS = 32


class DeliveryPolicy(str, enum.Enum):
    """When a batch may be delivered: at the next safe boundary, or only after the current turn."""

    EARLIEST_SAFE_BOUNDARY = "earliest_safe_boundary"
    AFTER_CURRENT_TURN_COMMIT = "after_current_turn_commit"


class SlotPolicy(str, enum.Enum):
    """Whether a batch may share a claim with following batches (``join``) or goes alone."""

    JOIN = "join"
    EXCLUSIVE = "exclusive"


class QueuedWorkClaimBoundary(str, enum.Enum):
    """Where the claimant stands: mid-turn at a checkpoint, or idle between turns."""

    ACTIVE_TURN_CHECKPOINT = "active_turn_checkpoint"
    IDLE = "idle"


@dataclass(frozen=True)
class MergeKey:
    """How join batches group: ``never``, ``payload_default`` or a named ``group``.

    Equality is by variant and group name, so two ``never`` keys are equal and two ``join`` batches
    with merge key ``never`` do join (upstream behaviour, W13).
    """

    kind: str = "never"
    group_name: str | None = None

    @classmethod
    def never(cls) -> MergeKey:
        return cls("never")

    @classmethod
    def payload_default(cls) -> MergeKey:
        return cls("payload_default")

    @classmethod
    def group(cls, name: str) -> MergeKey:
        return cls("group", name)

    def to_json(self) -> Any:
        """``"never"``, ``"payload_default"`` or ``{"group": name}``."""
        return {"group": self.group_name} if self.kind == "group" else self.kind

    @classmethod
    def from_json(cls, doc: Any) -> MergeKey:
        """Read a merge key; anything else raises ``ValueError``."""
        if doc in ("never", "payload_default"):
            return cls(doc)
        if isinstance(doc, dict) and len(doc) == 1 and isinstance(doc.get("group"), str):
            return cls("group", doc["group"])
        raise ValueError(f"unknown variant {doc!r}, expected `never`, `payload_default` or `group`")


_PAYLOAD_FIELDS = {"turn_input": "input", "process_wake": "wake", "session_command": "command"}


@dataclass(frozen=True)
class QueuedWorkPayload:
    """One unit of queued work, tagged by ``type``; its inner object is opaque to the store."""

    type: str
    body: dict[str, Any]

    @classmethod
    def turn_input(cls, items: Sequence[dict[str, Any]], image_blobs: dict[str, bytes] | None = None, *,
                   protocol_turn_options: Any = None, trace_turn_id: str | None = None) -> QueuedWorkPayload:
        """A turn input; image bytes are written as arrays of integers, as upstream does."""
        body: dict[str, Any] = {
            "items": list(items),
            "image_blobs": {k: list(bytes(v)) for k, v in (image_blobs or {}).items()},
        }
        if protocol_turn_options is not None:
            body["protocol_turn_options"] = protocol_turn_options
        if trace_turn_id is not None:
            body["trace_turn_id"] = trace_turn_id
        return cls("turn_input", body)

    @classmethod
    def text(cls, text: str) -> QueuedWorkPayload:
        """A turn input holding one text item."""
        return cls.turn_input([{"type": "text", "text": text}])

    @classmethod
    def process_wake(cls, wake: dict[str, Any]) -> QueuedWorkPayload:
        """A process wake delivery (opaque wake record)."""
        return cls("process_wake", dict(wake))

    @classmethod
    def session_command(cls, kind: str, reason: str) -> QueuedWorkPayload:
        """A session command (``refresh_tool_catalog`` or ``reset_session``)."""
        return cls("session_command", {"kind": kind, "reason": reason})

    @property
    def texts(self) -> list[str]:
        """The text items of a turn input, in order (empty for other payloads)."""
        if self.type != "turn_input":
            return []
        return [item["text"] for item in self.body.get("items", ())
                if isinstance(item, dict) and item.get("type") == "text" and isinstance(item.get("text"), str)]

    def to_json(self) -> dict[str, Any]:
        """``{"type": tag, <field>: body}`` (internally tagged, as upstream)."""
        return {"type": self.type, _PAYLOAD_FIELDS[self.type]: self.body}

    @classmethod
    def from_json(cls, doc: Any) -> QueuedWorkPayload:
        """Read a payload; an unknown tag or a missing inner object raises ``ValueError``."""
        if not isinstance(doc, dict):
            raise ValueError(f"payload is {type(doc).__name__}, expected an object")
        tag = doc.get("type")
        if tag not in _PAYLOAD_FIELDS:
            raise ValueError(f"unknown variant {tag!r}, expected one of {', '.join(_PAYLOAD_FIELDS)}")
        body = doc.get(_PAYLOAD_FIELDS[tag])
        if not isinstance(body, dict):
            raise ValueError(f"missing field `{_PAYLOAD_FIELDS[tag]}`")
        return cls(tag, body)


def process_wake_source_key(process_id: str, sequence: int) -> str:
    """The source key the runtime uses for a process wake."""
    return f"process:{process_id}:event:{sequence}:wake"


def session_command_source_key(kind: str, idempotency_key: str) -> str:
    """The source key the runtime uses for a session command."""
    return f"command:{kind}:{idempotency_key}"


@dataclass(frozen=True)
class QueuedWorkBatchDraft:
    """What a producer enqueues: policies, merge key, availability and payloads."""

    session_id: str
    delivery_policy: DeliveryPolicy
    slot_policy: SlotPolicy
    payloads: tuple[QueuedWorkPayload, ...]
    source_key: str | None = None
    merge_key: MergeKey = field(default_factory=MergeKey.never)
    available_at_ms: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "delivery_policy", DeliveryPolicy(self.delivery_policy))
        object.__setattr__(self, "slot_policy", SlotPolicy(self.slot_policy))
        object.__setattr__(self, "payloads", tuple(self.payloads))

    @classmethod
    def process_wake(cls, wake: dict[str, Any]) -> QueuedWorkBatchDraft:
        """The runtime's draft for a process wake: exclusive, earliest safe boundary, deduplicated."""
        return cls(wake["target_session_id"], DeliveryPolicy.EARLIEST_SAFE_BOUNDARY, SlotPolicy.EXCLUSIVE,
                   (QueuedWorkPayload.process_wake(wake),),
                   source_key=process_wake_source_key(wake["process_id"], wake["sequence"]))

    def to_json(self) -> dict[str, Any]:
        """The draft as upstream serialises it (``source_key`` omitted when absent)."""
        out: dict[str, Any] = {"session_id": self.session_id}
        if self.source_key is not None:
            out["source_key"] = self.source_key
        out.update(delivery_policy=self.delivery_policy.value, slot_policy=self.slot_policy.value,
                   merge_key=self.merge_key.to_json(), available_at_ms=self.available_at_ms,
                   payloads=[p.to_json() for p in self.payloads])
        return out

    @classmethod
    def from_json(cls, doc: Any) -> QueuedWorkBatchDraft:
        """Read a draft (merge key defaults to ``never``, availability to 0)."""
        doc = jr.obj(doc, "queued work draft")
        return cls(jr.text(doc, "session_id"), DeliveryPolicy(doc.get("delivery_policy")),
                   SlotPolicy(doc.get("slot_policy")),
                   tuple(QueuedWorkPayload.from_json(p) for p in jr.array(doc, "payloads")),
                   jr.opt_text(doc, "source_key"),
                   MergeKey.from_json(doc["merge_key"]) if "merge_key" in doc else MergeKey.never(),
                   jr.count(doc, "available_at_ms", default=0))


@dataclass(frozen=True)
class QueuedWorkItem:
    """One payload of a batch, with its stable id ``{batch_id}:item:{index}``."""

    item_id: str
    payload: QueuedWorkPayload

    def to_json(self) -> dict[str, Any]:
        return {"item_id": self.item_id, "payload": self.payload.to_json()}

    @classmethod
    def from_json(cls, doc: Any) -> QueuedWorkItem:
        doc = jr.obj(doc, "queued work item")
        return cls(jr.text(doc, "item_id"), QueuedWorkPayload.from_json(doc.get("payload")))


@dataclass(frozen=True)
class QueuedWorkBatch:
    """A stored batch (claim columns are not part of it)."""

    batch_id: str
    session_id: str
    enqueue_seq: int
    source_key: str | None
    delivery_policy: DeliveryPolicy
    slot_policy: SlotPolicy
    merge_key: MergeKey
    available_at_ms: int
    enqueued_at_ms: int
    items: tuple[QueuedWorkItem, ...]

    @property
    def texts(self) -> list[str]:
        """Every text item of every turn-input payload, in order."""
        return [text for item in self.items for text in item.payload.texts]

    def to_json(self) -> dict[str, Any]:
        """The batch as upstream serialises it (``source_key`` omitted when absent)."""
        out: dict[str, Any] = {"batch_id": self.batch_id, "session_id": self.session_id,
                               "enqueue_seq": self.enqueue_seq}
        if self.source_key is not None:
            out["source_key"] = self.source_key
        out.update(delivery_policy=self.delivery_policy.value, slot_policy=self.slot_policy.value,
                   merge_key=self.merge_key.to_json(), available_at_ms=self.available_at_ms,
                   enqueued_at_ms=self.enqueued_at_ms, items=[i.to_json() for i in self.items])
        return out

    @classmethod
    def from_json(cls, doc: Any) -> QueuedWorkBatch:
        doc = jr.obj(doc, "queued work batch")
        return cls(jr.text(doc, "batch_id"), jr.text(doc, "session_id"), jr.count(doc, "enqueue_seq"),
                   jr.opt_text(doc, "source_key"), DeliveryPolicy(doc.get("delivery_policy")),
                   SlotPolicy(doc.get("slot_policy")), MergeKey.from_json(doc.get("merge_key")),
                   jr.count(doc, "available_at_ms"), jr.count(doc, "enqueued_at_ms"),
                   tuple(QueuedWorkItem.from_json(i) for i in jr.array(doc, "items")))


@dataclass(frozen=True)
class QueuedWorkCompletion:
    """What a commit carries to delete the batches of one claim."""

    session_id: str
    claim_id: str
    lease_token: str
    batch_ids: tuple[str, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "batch_ids", tuple(self.batch_ids))

    def to_json(self) -> dict[str, Any]:
        return {"session_id": self.session_id, "claim_id": self.claim_id, "lease_token": self.lease_token,
                "batch_ids": list(self.batch_ids)}

    @classmethod
    def from_json(cls, doc: Any) -> QueuedWorkCompletion:
        doc = jr.obj(doc, "queued work completion")
        ids = jr.array(doc, "batch_ids")
        if not all(isinstance(i, str) for i in ids):
            raise ValueError("queued work completion batch_ids are not all text")
        return cls(jr.text(doc, "session_id"), jr.text(doc, "claim_id"), jr.text(doc, "lease_token"), tuple(ids))


@dataclass(frozen=True)
class QueuedWorkClaim:
    """Batches claimed together under one claim lease (fencing token from the head batch)."""

    session_id: str
    claim_id: str
    owner_id: str
    lease_token: str
    fencing_token: int
    claimed_at_epoch_ms: int
    expires_at_epoch_ms: int
    batches: tuple[QueuedWorkBatch, ...]

    @property
    def batch_ids(self) -> tuple[str, ...]:
        return tuple(b.batch_id for b in self.batches)

    def completion(self) -> QueuedWorkCompletion:
        """The completion a commit carries to delete exactly these batches."""
        return QueuedWorkCompletion(self.session_id, self.claim_id, self.lease_token, self.batch_ids)

    def to_json(self) -> dict[str, Any]:
        return {"session_id": self.session_id, "claim_id": self.claim_id, "owner_id": self.owner_id,
                "lease_token": self.lease_token, "fencing_token": self.fencing_token,
                "claimed_at_epoch_ms": self.claimed_at_epoch_ms, "expires_at_epoch_ms": self.expires_at_epoch_ms,
                "batches": [b.to_json() for b in self.batches]}

    @classmethod
    def from_json(cls, doc: Any) -> QueuedWorkClaim:
        doc = jr.obj(doc, "queued work claim")
        return cls(jr.text(doc, "session_id"), jr.text(doc, "claim_id"), jr.text(doc, "owner_id"),
                   jr.text(doc, "lease_token"), jr.count(doc, "fencing_token"), jr.count(doc, "claimed_at_epoch_ms"),
                   jr.count(doc, "expires_at_epoch_ms"),
                   tuple(QueuedWorkBatch.from_json(b) for b in jr.array(doc, "batches")))


# --- ids and the claim state machine ---------------------------------------------------------------


def derive_batch_id(session_id: str, source_key: str | None, now_ms: int, nonce: int | None = None) -> str:
    """``qwb:`` + SHA-256 hex of ``"{session}:{source key debug form}:{now}"`` (+ ``":{nonce}"``)."""
    shown = "None" if source_key is None else f"Some({rust_debug_str(source_key)})"
    seed = f"{session_id}:{shown}:{now_ms}"
    if nonce is not None:
        seed += f":{nonce}"
    return "qwb:" + hashlib.sha256(seed.encode("utf-8", "surrogatepass")).hexdigest()


class NonceSource:
    """Enqueue nonces: a random 64-bit base drawn at creation plus a counter (distinct across processes)."""

    def __init__(self) -> None:
        self._base = secrets.randbits(64)
        self._next = 0
        self._lock = threading.Lock()

    def __call__(self) -> int:
        with self._lock:
            value = (self._base + self._next) & ((1 << 64) - 1)
            self._next += 1
        return value


@dataclass(frozen=True)
class ClaimCandidate:
    """The claim-relevant fields of one ready batch."""

    enqueue_seq: int
    claim_fencing_token: int
    delivery_policy: DeliveryPolicy
    slot_policy: SlotPolicy
    merge_key: MergeKey


def claim_scan_limit(max_batches: int) -> int:
    """How many ready rows one claim scans: enough for any prefix of ``max_batches``."""
    return min(max_batches + _SCAN_SURPLUS, timing.MAX_MS)


def select_claim_prefix(candidates: Sequence[ClaimCandidate], boundary: QueuedWorkClaimBoundary,
                        max_batches: int) -> int:
    """How many leading candidates one claim takes (0: none), by the §4.5 rules."""
    if max_batches <= 0 or not candidates:
        return 0
    first = candidates[0]
    if boundary is QueuedWorkClaimBoundary.ACTIVE_TURN_CHECKPOINT \
            and first.delivery_policy is not DeliveryPolicy.EARLIEST_SAFE_BOUNDARY:
        return 0
    if first.slot_policy is not SlotPolicy.JOIN:
        return 1
    selected = 1
    for candidate in candidates[1:]:
        if (selected >= max_batches or candidate.slot_policy is not SlotPolicy.JOIN
                or candidate.delivery_policy is not first.delivery_policy
                or candidate.merge_key != first.merge_key):
            break
        selected += 1
    return selected


@dataclass(frozen=True)
class ClaimLease:
    """The lease one claim stamps on its rows, derived from the head batch."""

    claim_id: str
    lease_token: str
    fencing_token: int
    claimed_at_epoch_ms: int
    expires_at_epoch_ms: int

    @classmethod
    def derive(cls, head: ClaimCandidate, session_id: str, owner_id: str, now_ms: int, ttl_ms: int) -> ClaimLease:
        """Fencing = head's + 1; claim id ``qwc:{seq}:{fencing}``; token = SHA-256 of who/what/when."""
        fencing = head.claim_fencing_token + 1
        claim_id = f"qwc:{head.enqueue_seq}:{fencing}"
        token = hashlib.sha256(f"{session_id}:{owner_id}:{claim_id}:{now_ms}".encode("utf-8", "surrogatepass"))
        return cls(claim_id, token.hexdigest(), fencing, now_ms, timing.deadline(now_ms, ttl_ms))
