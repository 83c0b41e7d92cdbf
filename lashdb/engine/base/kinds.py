"""The four lash database kinds by name and supported schema version (SPEC §3.5), without their DDL.

Contract: the names here are the ``name`` of the backend's schema kinds (``Classification.kind.name``)
and the versions their ``version``; layers above the seam compare kinds by these names, never by a
backend object. The DDL lives with the backend.
"""

from __future__ import annotations

SESSION = "session"
PROCESS_REGISTRY = "process registry"
TRIGGER_STORE = "trigger store"
EFFECT_REPLAY = "effect replay"

SESSION_VERSION = 4
PROCESS_REGISTRY_VERSION = 7
TRIGGER_STORE_VERSION = 1
EFFECT_REPLAY_VERSION = 1

__all__ = ["EFFECT_REPLAY", "EFFECT_REPLAY_VERSION", "PROCESS_REGISTRY", "PROCESS_REGISTRY_VERSION", "SESSION",
           "SESSION_VERSION", "TRIGGER_STORE", "TRIGGER_STORE_VERSION"]
