"""Deployment store roles and their read-only inspectors: one place both store kinds open them from.

Contract: :data:`ROLE_KINDS` maps a sidecar role (``processes``, ``triggers``, ``effects``) to its
schema kind's name; :func:`open_inspector` opens the inspector of ``processes`` or ``triggers`` on a
store file path or a located session's scope (each inspector picks its backend's reader), and
raises :class:`UsageError` for any other role.
"""

from __future__ import annotations

from typing import Any

from lashdb.engine.base.errors import UsageError

ROLE_KINDS: dict[str, str] = {
    "processes": "process registry",
    "triggers": "trigger store",
    "effects": "effect replay",
}
"""Deployment store roles (sidecar suffixes of ``discovery.SIDECAR_SUFFIXES``) → their schema kind's name."""


def open_inspector(role: str, where: Any) -> Any:
    """A read-only inspector of the ``role`` store at ``where`` (a file path or a SessionLocation)."""
    if role == "processes":
        from .processes import ProcessRegistryInspector as inspector_type
    elif role == "triggers":
        from .triggers import TriggerStoreInspector as inspector_type
    else:
        raise UsageError(f"no inspector for {role!r} stores")
    return inspector_type.open(where)


__all__ = ["ROLE_KINDS", "open_inspector"]
