"""The shared pieces of session inspection: file sizes, short ids, the column-tolerant head/meta/count
readers, and ``head dump`` (CLI.md).

Contract:
- Read-only: every function opens its database through :meth:`Store.open_readonly` (``immutable=1``
  without a ``-wal``, ``mode=ro`` with one) and never writes, checkpoints or creates a file.
- Foreign schemas are read where the columns allow: the backend's :class:`~.ports.SessionReader`
  degrades per column (v38's ``session_head.leaf_node_id``/``checkpoint_ref`` columns, …); this module
  decodes what it returns. A head column, when present, wins over the JSON document.
- Results are frozen dataclasses whose ``to_json()`` gives the documented keys: sizes in bytes; every
  time as ``<name>`` (ISO 8601 UTC text) plus ``<name>_epoch_ms`` (integer milliseconds).
"""

from __future__ import annotations

from lashdb.engine.base.locator import SessionLocation, as_target, is_location

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lashdb.engine.session.ports import session_tx
from lashdb.engine.session import blobs
from lashdb.engine.base import codec
from lashdb.engine.base.canonical import jsonable
from lashdb.engine.base.errors import BackendError, BlobError, one_line
from lashdb.engine.base.files import sidecar
from lashdb.engine.session.model import TokenLedgerEntry, TokenUsage, stored_message_text
from lashdb.engine.session.store import Store
from lashdb.engine.base.timing import iso_ms
from .ports import read_meta, session_reader

SHORT_ID_MIN = 8


# --- small helpers ----------------------------------------------------------------------------------


def _time_pair(name: str, epoch_ms: int | None) -> dict[str, Any]:
    return {name: iso_ms(epoch_ms), f"{name}_epoch_ms": epoch_ms}


def short_ids(ids: Iterable[str], min_len: int = SHORT_ID_MIN) -> dict[str, str]:
    """The shortest prefix (at least ``min_len`` characters) that tells each id apart from the others."""
    ids = sorted(set(ids))
    out: dict[str, str] = {}
    for i, ident in enumerate(ids):
        need = min_len
        for other in (ids[i - 1] if i else None, ids[i + 1] if i + 1 < len(ids) else None):
            if other is None:
                continue
            common = 0
            while common < min(len(ident), len(other)) and ident[common] == other[common]:
                common += 1
            need = max(need, common + 1)
        out[ident] = ident[:need]
    return out


def _file_size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def _mtime_ms(path: str) -> int | None:
    try:
        return os.stat(path).st_mtime_ns // 1_000_000
    except OSError:
        return None


@dataclass(frozen=True)
class FileSizes:
    """A database's bytes on disk; ``size_bytes`` is db + wal (what a session costs)."""

    db_bytes: int
    wal_bytes: int
    shm_bytes: int
    modified_ms: int | None

    @property
    def size_bytes(self) -> int:
        """db + wal bytes."""
        return self.db_bytes + self.wal_bytes

    def to_json(self) -> dict[str, Any]:
        """The documented JSON object."""
        return {"db_bytes": self.db_bytes, "wal_bytes": self.wal_bytes, "shm_bytes": self.shm_bytes,
                "size_bytes": self.size_bytes, **_time_pair("modified_at", self.modified_ms)}


def file_sizes(path: str | os.PathLike[str] | SessionLocation) -> FileSizes:
    """Sizes of a database and its ``-wal``/``-shm``; modified = the newer of db and wal mtime. A
    located session: its rows' bytes (blob contents and node JSON) and its last write's time."""
    if is_location(path):
        from .ports import catalog

        size, modified = catalog(path).size_and_modified(path.session_id)
        return FileSizes(size, 0, 0, modified)
    path = os.fspath(path)
    times = [t for t in (_mtime_ms(path), _mtime_ms(sidecar(path, "-wal"))) if t is not None]
    return FileSizes(_file_size(path), _file_size(sidecar(path, "-wal")), _file_size(sidecar(path, "-shm")),
                     max(times) if times else None)


def database_files(path: str | os.PathLike[str]) -> list[Path]:
    """The database file and the ``-wal``/``-shm`` beside it that exist (what a delete removes)."""
    names = (os.fspath(path), sidecar(path, "-wal"), sidecar(path, "-shm"))
    return [Path(n) for n in names if os.path.lexists(n)]


def status_of(store: Store) -> str:
    """``ok``, or ``foreign vN`` for a session of another schema version."""
    cls = store.classification
    return f"foreign v{cls.user_version}" if cls is not None and cls.foreign else "ok"


# --- column-tolerant readers ----------------------------------------------------------------------


@dataclass(frozen=True)
class HeadView:
    """The head row: the JSON document (revision from the column) and the refs it names."""

    session_id: str | None
    revision: int
    document: dict[str, Any]
    leaf_node_id: str | None
    checkpoint_ref: str | None
    graph_node_count: int | None


_ABSENT = object()
_HEAD_COLUMNS = ("head_revision", "leaf_node_id", "checkpoint_ref", "session_id")


def read_head(c: Any) -> HeadView | None:
    """The head; the ``head_revision`` column wins, and so do v38's leaf/checkpoint columns."""
    values = session_reader(c).head_row()
    if values is None:
        return None
    return _head_view(values["head_json"], *(values.get(k, _ABSENT) for k in _HEAD_COLUMNS))


def _head_view(head_json: Any, head_revision: Any = _ABSENT, leaf_node_id: Any = _ABSENT,
               checkpoint_ref: Any = _ABSENT, session_id_col: Any = _ABSENT) -> HeadView:
    """Decode a head row; a column given (not ``_ABSENT``) overrides the JSON, as :func:`read_head` says."""
    values = {k: v for k, v in zip(_HEAD_COLUMNS, (head_revision, leaf_node_id, checkpoint_ref, session_id_col))
              if v is not _ABSENT}
    try:
        doc = json.loads(head_json)
    except (ValueError, TypeError) as exc:
        raise BackendError(f"decode session head: {exc}") from exc
    if not isinstance(doc, dict):
        raise BackendError(f"decode session head: head_json is {type(doc).__name__}, expected an object")
    revision = doc.get("head_revision", 0)
    if "head_revision" in values:
        try:
            revision = int(values["head_revision"])
        except (TypeError, ValueError) as exc:
            raise BackendError(f"decode session head: head_revision {values['head_revision']!r}") from exc
        doc["head_revision"] = revision
    for key in ("leaf_node_id", "checkpoint_ref"):
        if isinstance(values.get(key), str):
            doc[key] = values[key]
    session_id = values.get("session_id") if isinstance(values.get("session_id"), str) else doc.get("session_id")

    def text(key: str) -> str | None:
        return doc[key] if isinstance(doc.get(key), str) else None
    count = doc.get("graph_node_count")
    return HeadView(session_id if isinstance(session_id, str) else None,
                    revision if isinstance(revision, int) and not isinstance(revision, bool) else 0,
                    doc, text("leaf_node_id"), text("checkpoint_ref"),
                    count if isinstance(count, int) and not isinstance(count, bool) else None)


def _node_counts(c: Any) -> tuple[int, int]:
    return session_reader(c).node_counts()


def _user_messages(c: Any) -> tuple[int, str]:
    """(live user messages, text of the first one) — the picker's rule (SPEC §5)."""
    count, first = session_reader(c).user_messages()
    return count, stored_message_text(first)


def _usage(c: Any) -> list[TokenLedgerEntry]:
    out = []
    for source, model, i, o, cached, r in session_reader(c).usage_rows():
        try:
            out.append(TokenLedgerEntry(str(source), str(model), TokenUsage(int(i), int(o), int(cached), int(r))))
        except (TypeError, ValueError) as exc:
            raise BackendError(f"usage_deltas row cannot be read: {exc}") from exc
    return out


# --- head dump --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HeadDocument:
    """``head dump``: the head meta (revision from the column) and, on request, the decoded manifest."""

    path: Path
    status: str
    foreign: bool
    schema_version: int
    session_id: str | None
    head: HeadView | None
    checkpoint: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        """The documented JSON object."""
        out = {"path": str(self.path), "status": self.status, "foreign": self.foreign,
               "schema_version": self.schema_version, "session_id": self.session_id,
               "head_revision": self.head.revision if self.head else None,
               "head": self.head.document if self.head else None}
        if self.checkpoint is not None:
            out["checkpoint"] = self.checkpoint
        return out

    def require_readable_checkpoint(self) -> None:
        """Raise :class:`CheckpointUnreadable` when the decoded checkpoint section carries an error."""
        if self.checkpoint is not None and self.checkpoint.get("error"):
            raise CheckpointUnreadable(self.path, self.checkpoint["ref"], self.checkpoint["error"])


class CheckpointUnreadable(BlobError):
    """The head's checkpoint manifest, or a snapshot it points at, cannot be decoded."""

    def __init__(self, path: os.PathLike[str] | str, ref: str, reason: str):
        self.path = os.fspath(path)
        self.reason = reason
        super().__init__(ref, f"{self.path}: checkpoint {ref} cannot be read: {reason}",
                         hint="`lashdb blob verify` lists the damaged blobs; `head dump` without --checkpoint "
                              "shows the head")


def _blob_entry(c: Any, role: str, ref: str, limit: int) -> dict[str, Any]:
    stored = blobs.get_stored(session_tx(c), ref)
    if stored is None:
        return {"role": role, "ref": ref, "present": False, "kind": None, "compression": None,
                "stored_bytes": None, "logical_bytes": None}
    info = blobs.describe(ref, stored, limit)
    return {"role": role, "ref": ref, "present": True, "kind": info.kind, "compression": info.compression,
            "stored_bytes": info.stored_bytes, "logical_bytes": info.logical_bytes}


def _checkpoint_section(c: Any, ref: str | None, limit: int) -> dict[str, Any]:
    section: dict[str, Any] = {"ref": ref, "present": False, "format": None, "manifest": None,
                               "children": [], "error": None}
    if ref is None:
        return section
    try:
        decoded = blobs.get_decoded(session_tx(c), ref, limit)
        if decoded is None:
            return section
        section.update(present=True, format=decoded.envelope.format)
        value = codec.decode_value(decoded.content, decoded.envelope.format, ref)
    except BlobError as exc:
        section.update(present=blobs.get_stored(session_tx(c), ref) is not None, error=one_line(exc))
        return section
    section["manifest"] = jsonable(value)
    if isinstance(value, dict):
        # Every text ``*_ref`` field points at a snapshot blob (v4: tool state, plugin snapshot,
        # execution state); newer upstream names differ, so the rule is by shape, not by name.
        children = [_blob_entry(c, key[:-4], v, limit) for key, v in value.items()
                    if isinstance(key, str) and key.endswith("_ref") and isinstance(v, str)]
        components = value.get("components")  # newer upstream: {name: {"blob_ref": …}}
        if isinstance(components, dict):
            children += [_blob_entry(c, str(name), comp["blob_ref"], limit) for name, comp in components.items()
                         if isinstance(comp, dict) and isinstance(comp.get("blob_ref"), str)]
        section["children"] = children
        section["error"] = _first_unreadable_child(c, children, limit)
    return section


def _first_unreadable_child(c: Any, children: list[dict[str, Any]], limit: int) -> str | None:
    # A snapshot that hashes right but does not decode (e.g. nested past the reader's limit) would
    # fail every load_session; say so instead of listing it as present and healthy.
    for child in children:
        if child["present"] and child["kind"] in codec.VALUE_KINDS:
            try:
                blobs.get_value(session_tx(c), child["ref"], limit)
            except BlobError as exc:
                return f"{child['role']}: {one_line(exc)}"
    return None


def head_document(path: str | os.PathLike[str], with_checkpoint: bool = False) -> HeadDocument:
    """The head meta of a session (foreign schemas too); ``with_checkpoint`` decodes its manifest."""
    with Store.open_readonly(path) as store:
        limit = store.options.decompression_limit

        def read(c: Any) -> HeadDocument:
            head = read_head(c)
            meta = read_meta(c)
            session_id = (meta.session_id if meta else None) or (head.session_id if head else None)
            checkpoint = None
            if with_checkpoint:
                checkpoint = _checkpoint_section(c, head.checkpoint_ref if head else None, limit)
            return HeadDocument(as_target(path), status_of(store), store.foreign,
                                store.classification.user_version, session_id, head, checkpoint)
        return store.read(read)



__all__ = [
    "CheckpointUnreadable", "FileSizes", "HeadDocument", "HeadView", "database_files", "file_sizes",
    "head_document", "read_head", "read_meta", "short_ids", "status_of",
]
