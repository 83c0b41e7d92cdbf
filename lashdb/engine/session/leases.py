"""Session execution leases (runtime contract §3).

Contract:
- One row per session id in ``session_execution_leases``; once created it is never deleted.
  A lease is live at ``now`` when its token is set and its expiry is strictly greater than ``now``.
- :func:`try_claim` returns ``None`` while a live lease exists (the holder too: not re-entrant);
  otherwise it takes the lease with the stored fencing token + 1, so every new holder's token is
  strictly higher than any earlier holder's.
- :func:`renew` and :func:`ensure_fence` accept only the current holder (owner, token and fencing
  token all equal, lease unexpired) and raise :class:`SessionExecutionLeaseExpired` otherwise.
- :func:`release` clears the row only when all four completion fields match; a stale or foreign
  completion changes nothing and is not an error. Expiry is not checked: a lapsed holder that was
  not taken over may still release.
- :func:`live_foreign_lease` finds a live lease held by someone other than the given fences: what
  makes a GC from outside the runtime skip the session (SPEC §6, amended 2026-12).
- Functions take the transaction's :class:`~.ports.SessionTx` (the caller holds the exclusive write
  transaction) and the one clock reading of the operation; the statements live behind
  :class:`~.ports.LeaseRows`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from lashdb.engine.base import jsonread as jr
from lashdb.engine.base import timing, values
from lashdb.engine.base.errors import SessionExecutionLeaseExpired

from .ports import SessionTx


@dataclass(frozen=True)
class _Holder:
    """The four fields that name one holding of a session's lease."""

    session_id: str
    owner_id: str
    lease_token: str
    fencing_token: int

    def to_json(self) -> dict[str, Any]:
        """The four fields as upstream serialises them."""
        return {"session_id": self.session_id, "owner_id": self.owner_id,
                "lease_token": self.lease_token, "fencing_token": self.fencing_token}

    @classmethod
    def from_json(cls, doc: Any) -> Any:
        """Read the four fields; every key is required."""
        doc = jr.obj(doc, cls.__name__)
        return cls(jr.text(doc, "session_id"), jr.text(doc, "owner_id"), jr.text(doc, "lease_token"),
                   jr.count(doc, "fencing_token"))


# Same fields, separate types: a fence says "I am still the owner", a completion "release it".


@dataclass(frozen=True)
class SessionExecutionLeaseFence(_Holder):
    """Proof of holding a session's lease, checked by commits and queued-work claims."""


@dataclass(frozen=True)
class SessionExecutionLeaseCompletion(_Holder):
    """What releases a session's lease; matches only the exact holder it was made from."""


@dataclass(frozen=True)
class SessionExecutionLease:
    """A granted session execution lease: holder identity, fencing token and its time window."""

    session_id: str
    owner_id: str
    lease_token: str
    fencing_token: int
    claimed_at_epoch_ms: int
    expires_at_epoch_ms: int

    def fence(self) -> SessionExecutionLeaseFence:
        """The fence that proves this holding to a commit or a queued-work claim."""
        return SessionExecutionLeaseFence(self.session_id, self.owner_id, self.lease_token, self.fencing_token)

    def completion(self) -> SessionExecutionLeaseCompletion:
        """The completion that releases exactly this holding."""
        return SessionExecutionLeaseCompletion(self.session_id, self.owner_id, self.lease_token,
                                               self.fencing_token)

    def to_json(self) -> dict[str, Any]:
        """The lease as upstream serialises it."""
        return {"session_id": self.session_id, "owner_id": self.owner_id, "lease_token": self.lease_token,
                "fencing_token": self.fencing_token, "claimed_at_epoch_ms": self.claimed_at_epoch_ms,
                "expires_at_epoch_ms": self.expires_at_epoch_ms}

    @classmethod
    def from_json(cls, doc: Any) -> SessionExecutionLease:
        """Read a lease; every key is required."""
        doc = jr.obj(doc, "session execution lease")
        return cls(jr.text(doc, "session_id"), jr.text(doc, "owner_id"),
                   jr.text(doc, "lease_token"), jr.count(doc, "fencing_token"),
                   jr.count(doc, "claimed_at_epoch_ms"), jr.count(doc, "expires_at_epoch_ms"))


@dataclass(frozen=True)
class _Row:
    owner_id: str | None
    lease_token: str | None
    fencing_token: int
    claimed_at_ms: int
    expires_at_ms: int

    def held_by(self, fence: SessionExecutionLeaseFence | SessionExecutionLeaseCompletion) -> bool:
        return (self.owner_id == fence.owner_id and self.lease_token == fence.lease_token
                and self.fencing_token == fence.fencing_token)


def _load(tx: SessionTx, session_id: str) -> _Row | None:
    row = tx.leases.get(session_id)
    return None if row is None else _Row(*row)


def try_claim(tx: SessionTx, session_id: str, owner_id: str, ttl_ms: int,
              now: int) -> SessionExecutionLease | None:
    """Take the session's lease unless a live one exists (then ``None``); fencing token + 1."""
    current = _load(tx, session_id)
    if current is not None and current.lease_token is not None and current.expires_at_ms > now:
        return None
    fencing = (current.fencing_token if current else 0) + 1
    token = f"{session_id}:{owner_id}:{now}:{fencing}"
    expires = timing.deadline(now, ttl_ms)
    tx.leases.put(session_id, owner_id, token, fencing, now, expires)
    return SessionExecutionLease(session_id, owner_id, token, fencing, now, expires)


def live_foreign_lease(tx: SessionTx, now: int,
                       held: Iterable[SessionExecutionLeaseFence]) -> SessionExecutionLease | None:
    """The first live lease in this database whose holder is not among ``held``, or ``None``."""
    mine = {(f.session_id, f.owner_id, f.lease_token, f.fencing_token) for f in held}
    for row in tx.leases.live(now):
        if tuple(row[:4]) not in mine:
            return SessionExecutionLease(*row)
    return None


def ensure_fence(tx: SessionTx, session_id: str, fence: SessionExecutionLeaseFence, now: int) -> None:
    """Pass only if ``fence`` is the live holder of ``session_id``'s lease; else raise expired."""
    if fence.session_id == session_id:
        current = _load(tx, session_id)
        if current is not None and current.held_by(fence) and current.expires_at_ms > now:
            return
    raise SessionExecutionLeaseExpired(session_id)


def renew(tx: SessionTx, fence: SessionExecutionLeaseFence, ttl_ms: int, now: int) -> SessionExecutionLease:
    """Set the live holder's expiry to now + ttl (may shorten it); anyone else gets expired."""
    current = _load(tx, fence.session_id)
    if current is None or not current.held_by(fence) or current.expires_at_ms <= now:
        raise SessionExecutionLeaseExpired(fence.session_id)
    expires = timing.deadline(now, ttl_ms)
    tx.leases.set_expiry(fence.session_id, expires)
    return SessionExecutionLease(fence.session_id, fence.owner_id, fence.lease_token, fence.fencing_token,
                                 current.claimed_at_ms, expires)


def release(tx: SessionTx, completion: SessionExecutionLeaseCompletion) -> None:
    """Clear the lease if (and only if) ``completion`` names its exact holder; keep the fencing token."""
    tx.leases.clear(completion.session_id, completion.owner_id, completion.lease_token, completion.fencing_token)


def check_fence(fence: SessionExecutionLeaseFence | SessionExecutionLeaseCompletion) -> None:
    """Reject a fence or completion whose fencing token cannot be stored (before any SQL runs)."""
    timing.stored("fencing_token", fence.fencing_token)
    what = type(fence).__name__
    for name in ("session_id", "owner_id", "lease_token"):
        values.check_text(getattr(fence, name), f"{what}.{name}")
