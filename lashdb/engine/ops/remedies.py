"""Operator remedies for what doctor finds (issue 14): ``unlock``, ``effects resolve``, ``attachments``.

Contract:
- Every remedy reads the state it judges and writes it under the same lock, in one write
  transaction of the store it changes: a session through :meth:`Store.transaction` (SQLite
  ``BEGIN IMMEDIATE``; PostgreSQL the session's advisory lock), a process registry through
  :meth:`ProcessRegistry.settle_lease`, an effect journal through
  :meth:`EffectHost.settle_in_progress`. A row that changed between the report and the remedy is
  judged as it is now.
- A foreign schema is refused untouched (:class:`SchemaVersionError`, exit 3): the writable open
  refuses it before anything is written, dry run included.
- A dry run takes the same path and judges the same way but writes nothing (``would release``,
  ``would resolve``, ``would abandon``).
- Leases: an expired lease is released; a live one is refused (:class:`LeaseLive` naming owner and
  expiry) unless ``force``. Releasing clears owner and token and keeps the fencing token, so the
  next holder still gets a higher one than any earlier holder.
- ``now_ms`` is the caller's one reading of the store's clock; every judgement of one call uses it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lashdb.engine.base.errors import LeaseLive, LookupFailed, StoreError
from lashdb.engine.base.locator import SessionLocation, is_location
from lashdb.engine.base.timing import iso_ms
from lashdb.engine.deployment.effects import EffectControllerError, EffectHost
from lashdb.engine.deployment.process_registry import ProcessRegistry
from lashdb.engine.session import attachments
from lashdb.engine.session.store import Store, StoreOptions

from . import discovery

__all__ = [
    "ABANDONED", "EFFECT_RESOLVED_CODE", "RELEASED", "REFUSED", "AttachmentAction", "EffectResolution",
    "LeaseAction", "abandon_attachments", "release_execution_lease", "list_attachments", "resolve_effect", "unlock",
]

Target = Path | SessionLocation

RELEASED = "released"
WOULD_RELEASE = "would release"
REFUSED = "refused"
ABANDONED = "abandoned"
WOULD_ABANDON = "would abandon"
EXECUTION = "execution"
PROCESS = "process"
EFFECT_RESOLVED_CODE = "lashdb_operator_resolved"
"""The error code ``effects resolve`` records: a replay raises it instead of executing again."""
_NO_CUTOFF = (1 << 63) - 1


def shown(target: Target) -> str:
    """A target as messages and documents name it (a path, or ``<url>#<session id>``)."""
    return str(target)


@dataclass(frozen=True)
class LeaseAction:
    """One lease ``unlock`` looked at and what it did with it."""

    kind: str
    """``execution`` (a session's) or ``process`` (a registry's)."""
    session: str
    subject: str
    """The session id or the process id."""
    owner_id: str
    fencing_token: int
    expires_at_ms: int
    state: str
    """``expired`` or ``live`` at the call's "now"."""
    action: str
    """``released``, ``would release`` (dry run) or ``refused`` (live without force)."""
    reason: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The documented JSON object (times as ISO text plus epoch ms)."""
        return {"kind": self.kind, "session": self.session, "subject": self.subject, "owner_id": self.owner_id,
                "fencing_token": self.fencing_token, "expires_at": iso_ms(self.expires_at_ms),
                "expires_at_epoch_ms": self.expires_at_ms, "state": self.state, "action": self.action,
                "reason": self.reason}


def _judge(kind: str, target: Target, subject: str, owner: str, fencing: int, expires: int, now: int, *,
           force: bool, dry_run: bool) -> LeaseAction:
    live = expires > now
    what = f"the {kind} lease of {'session' if kind == EXECUTION else 'process'} `{subject}`"
    if live and not force:
        return LeaseAction(kind, shown(target), subject, owner, fencing, expires, "live", REFUSED,
                           str(LeaseLive(what, owner, iso_ms(expires))))
    return LeaseAction(kind, shown(target), subject, owner, fencing, expires, "live" if live else "expired",
                       WOULD_RELEASE if dry_run else RELEASED)


def _fixed(now_ms: int) -> Any:
    return lambda: now_ms


def open_session(target: Target, now_ms: int) -> Store:
    """The writable store of a session (refuses a foreign schema untouched), on a clock fixed at ``now_ms``."""
    return Store.open_with_options(target, StoreOptions(clock=_fixed(now_ms)))


def _session_id(store: Store, target: Target) -> str | None:
    if is_location(target):
        return target.session_id
    meta = store.load_session_meta()
    return None if meta is None else meta.session_id


def release_execution_lease(target: Target, now_ms: int, *, force: bool = False,
                            dry_run: bool = False) -> list[LeaseAction]:
    """Release the session's held execution lease when expired (live: refused unless ``force``)."""
    with open_session(target, now_ms) as store:
        sid = _session_id(store, target)
        if sid is None:
            return []

        def body(tx: Any) -> list[LeaseAction]:
            row = tx.leases.get(sid)
            if row is None or row[0] is None or row[1] is None:
                return []
            owner, token, fencing, _claimed, expires = row
            act = _judge(EXECUTION, target, sid, owner, int(fencing), int(expires), now_ms, force=force,
                         dry_run=dry_run)
            if act.action == RELEASED:
                tx.leases.clear(sid, owner, token, fencing)
            return [act]

        return store.transaction(body)


def _registry(backend: Any, where: Target, now_ms: int) -> ProcessRegistry:
    if is_location(where):
        return backend.process_registry(where.session_id, clock=_fixed(now_ms))
    return ProcessRegistry.open(where, clock=_fixed(now_ms))


def _process_leases(backend: Any, target: Target, process: str | None, now_ms: int, *, force: bool,
                    dry_run: bool) -> list[LeaseAction]:
    where = discovery.sidecars_of(target).get("processes")
    if where is None:
        if process is not None:
            raise LookupFailed(process, f"{shown(target)} has no process registry, so no process `{process}`",
                               hint="name the session that owns the process (its root session)")
        return []
    out: list[LeaseAction] = []
    with _registry(backend, where, now_ms) as registry:
        ids = [process] if process is not None else [p.id for p in registry.list_processes()]
        for pid in ids:
            def decide(lease: Any, now: int, pid: str = pid) -> bool:
                act = _judge(PROCESS, target, pid, lease.owner_id, lease.fencing_token, lease.expires_at_epoch_ms,
                             now_ms, force=force, dry_run=dry_run)
                out.append(act)
                return act.action == RELEASED

            registry.settle_lease(pid, decide)
    return out


def unlock(backend: Any, targets: Iterable[Target], *, now_ms: int, process: str | None = None,
           execution_only: bool = False, force: bool = False, dry_run: bool = False) -> list[LeaseAction]:
    """Release the held execution lease of each session and the held process leases of its registry
    (only process ``process`` when given, and then no execution lease; ``execution_only``: no process
    lease); expired ones, live ones only with ``force`` (else listed as refused). Each store in one
    write transaction."""
    if process is not None and execution_only:
        raise ValueError("process and execution_only name different leases; pass one")
    out: list[LeaseAction] = []
    for target in targets:
        if process is None:
            out += release_execution_lease(target, now_ms, force=force, dry_run=dry_run)
        if not execution_only:
            out += _process_leases(backend, target, process, now_ms, force=force, dry_run=dry_run)
    return out


# --- effects -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EffectResolution:
    """What ``effects resolve`` did with one in-progress row."""

    session: str
    scope_id: str
    replay_key: str
    lease_owner_id: str | None
    lease_expires_at_ms: int
    error: dict[str, str]
    action: str
    """``resolved`` or ``would resolve`` (dry run)."""

    def to_json(self) -> dict[str, Any]:
        """The documented JSON object."""
        return {"session": self.session, "scope_id": self.scope_id, "replay_key": self.replay_key,
                "lease_owner_id": self.lease_owner_id, "lease_expires_at": iso_ms(self.lease_expires_at_ms)
                if self.lease_expires_at_ms else None, "lease_expires_at_epoch_ms": self.lease_expires_at_ms,
                "error": self.error, "action": self.action}


def _journal(backend: Any, where: Target, now_ms: int) -> EffectHost:
    if is_location(where):
        return backend.effect_journal(where.session_id, clock=_fixed(now_ms))
    return EffectHost.open(where, clock=_fixed(now_ms))


def resolve_effect(backend: Any, target: Target, scope: str, key: str, *, now_ms: int, reason: str | None = None,
                   dry_run: bool = False) -> EffectResolution:
    """Record the in-progress effect (``scope``, ``key``) of a session as failed with an operator error,
    so a replay reports that error instead of executing it again; a live lease is refused
    (:class:`LeaseLive`), a row that is not in progress or missing raises. One write transaction."""
    from . import effects

    where = discovery.sidecars_of(target).get("effects")
    if where is None:
        raise LookupFailed(shown(target), f"{shown(target)} has no effect journal", hint="name the session that ran it")
    message = reason or "settled as failed by an operator (`lashdb effects resolve`): its runner died"
    error = EffectControllerError(EFFECT_RESOLVED_CODE, message)
    owner = {(r.scope_id, r.replay_key): r.lease_owner_id for r in effects.list_effects(where, scope=scope)}
    seen: dict[str, int] = {}

    refused: list[Exception] = []

    def decide(row: Any, now: int) -> bool:
        # The journal turns what its body raises into a store error: a refusal is kept and raised after.
        name = f"effect `{key}` of scope `{scope}` in {shown(target)}"
        if row is None:
            refused.append(LookupFailed(key, f"no {name}", hint="list them with `lashdb effects list SESSION`"))
            return False
        status, expires = row[1], row[4] if isinstance(row[4], int) else 0
        if status != "in_progress":
            refused.append(StoreError(f"{name} is {status}, not in progress: nothing to resolve"))
        elif expires > now_ms:
            refused.append(LeaseLive(name, owner.get((scope, key)), iso_ms(expires)))
        seen["expires"] = expires
        return not refused and not dry_run

    with _journal(backend, where, now_ms) as host:
        host.settle_in_progress(scope, key, error, decide)
    if refused:
        raise refused[0]
    return EffectResolution(shown(target), scope, key, owner.get((scope, key)), seen["expires"], error.to_json(),
                            "would resolve" if dry_run else "resolved")


# --- attachments ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AttachmentAction:
    """One uncommitted attachment intent, listed or abandoned."""

    session: str
    entry: attachments.AttachmentManifestEntry
    action: str | None = None
    """``abandoned`` / ``would abandon``, or None in a listing."""

    def to_json(self, now_ms: int) -> dict[str, Any]:
        """The documented JSON object."""
        e = self.entry
        return {"session": self.session, "attachment_id": e.attachment_id, "session_id": e.session_id,
                "uri": e.canonical_uri, "intent_at": iso_ms(e.intent_at_epoch_ms),
                "intent_at_epoch_ms": e.intent_at_epoch_ms, "age_ms": max(now_ms - e.intent_at_epoch_ms, 0),
                "action": self.action}


def _uncommitted(tx: Any, target: Target, cutoff: int) -> list[attachments.AttachmentManifestEntry]:
    rows = attachments.list_uncommitted(tx, cutoff)
    # A PostgreSQL manifest spans the database; a session file's holds only what that session wrote.
    return [r for r in rows if r.session_id == target.session_id] if is_location(target) else rows


def list_attachments(target: Target) -> list[AttachmentAction]:
    """The session's uncommitted attachment intents, oldest first (read-only; foreign schemas too)."""
    with Store.open_readonly(target) as store:
        rows = store.snapshot(lambda tx: _uncommitted(tx, target, _NO_CUTOFF))
    return [AttachmentAction(shown(target), r) for r in rows]


def abandon_attachments(target: Target, ids: Iterable[str] = (), *, now_ms: int, older_than_ms: int | None = None,
                        dry_run: bool = False) -> list[AttachmentAction]:
    """Drop the session's uncommitted intents named by ``ids`` (each must be one; else
    :class:`LookupFailed`, nothing dropped) or, with ``older_than_ms``, every one at least that old.
    One write transaction; committed rows are never touched."""
    wanted = list(dict.fromkeys(ids))
    if not wanted and older_than_ms is None:
        raise LookupFailed("", "name attachment ids or --older-than", hint="list them with `lashdb attachments list`")
    cutoff = _NO_CUTOFF if older_than_ms is None else now_ms - older_than_ms
    action = WOULD_ABANDON if dry_run else ABANDONED

    def body(tx: Any) -> list[AttachmentAction]:
        rows = {r.attachment_id: r for r in _uncommitted(tx, target, cutoff)}
        missing = [a for a in wanted if a not in rows]
        if missing:
            raise LookupFailed(missing[0], f"{shown(target)}: no uncommitted attachment intent "
                               + ", ".join(f"`{a}`" for a in missing)
                               + (" at least that old" if older_than_ms is not None else ""),
                               hint="list them with `lashdb attachments list SESSION`")
        chosen = [rows[a] for a in wanted] if wanted else list(rows.values())
        if not dry_run:
            for row in chosen:
                attachments.forget(tx, row.attachment_id)
        return [AttachmentAction(shown(target), row, action) for row in chosen]

    with open_session(target, now_ms) as store:
        return store.transaction(body)
