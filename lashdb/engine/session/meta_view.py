"""``session_meta`` as an inspection reads it: every field optional, whatever the schema version.

Contract: a plain value (no database access); a field the file's schema lacks is ``None``; the
relation is already decoded (v38's ``relation_kind``/``caused_by_*`` columns included) by the reader.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lashdb.engine.base.timing import iso_ms, parse_timestamp_ms
from .model import SessionRelation

__all__ = ["MetaView"]


@dataclass(frozen=True)
class MetaView:
    """``session_meta`` as far as its columns go (``None`` for what a foreign schema lacks)."""

    session_id: str | None
    session_name: str | None
    model: str | None
    cwd: str | None
    created_at_raw: str | None
    relation: SessionRelation

    @property
    def created_ms(self) -> int | None:
        """``created_at`` as epoch ms (``None`` when absent or unparsable)."""
        return parse_timestamp_ms(self.created_at_raw)

    def to_json(self) -> dict[str, Any]:
        """The documented JSON object."""
        return {"session_id": self.session_id, "session_name": self.session_name, "model": self.model,
                "cwd": self.cwd, "created_at": iso_ms(self.created_ms), "created_at_epoch_ms": self.created_ms,
                "created_at_raw": self.created_at_raw}
