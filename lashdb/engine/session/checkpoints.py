"""Reading a checkpoint back: the manifest blob and the child blobs it names (SPEC §5).

Contract: absent parts are ``None``; a manifest or child that is present but cannot be decoded
raises a blob error naming it.
"""

from __future__ import annotations

from typing import Any

from . import blobs
from lashdb.engine.base.errors import BlobDecodeError
from .model import HydratedCheckpoint, SessionCheckpoint
from .ports import SessionTx

__all__ = ["load_checkpoint", "value_bytes"]


def load_checkpoint(c: SessionTx, blob_ref: str, limit: int) -> HydratedCheckpoint | None:
    """Decode a manifest and its children; absent parts are ``None``, damaged ones raise."""
    value = blobs.get_value(c, blob_ref, limit)
    if value is None:
        return None
    try:
        manifest = SessionCheckpoint.from_json(value)
    except ValueError as exc:
        raise BlobDecodeError(blob_ref, f"not a checkpoint manifest: {exc}") from exc
    tool = blobs.get_value(c, manifest.tool_state_ref, limit) if manifest.tool_state_ref else None
    plugin = blobs.get_value(c, manifest.plugin_snapshot_ref, limit) if manifest.plugin_snapshot_ref else None
    execution = None
    if manifest.execution_state_ref:
        raw = blobs.get_value(c, manifest.execution_state_ref, limit)
        if raw is not None:
            execution = value_bytes(raw, manifest.execution_state_ref)
    return HydratedCheckpoint(manifest.turn_state, manifest.tool_state_ref, tool, manifest.plugin_snapshot_ref,
                              plugin, manifest.plugin_snapshot_revision, manifest.execution_state_ref, execution)


def value_bytes(value: Any, blob_ref: str) -> bytes:
    """A decoded execution-state blob as bytes (upstream v4 also wrote it as an array of integers)."""
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    if isinstance(value, list) and all(isinstance(b, int) and 0 <= b <= 255 for b in value):
        return bytes(value)  # upstream v4 wrote Vec<u8> as an array of integers
    raise BlobDecodeError(blob_ref, f"execution state is {type(value).__name__}, not bytes")
