"""Read-only inspection of session databases: what ``sessions list/show``, ``head dump`` and
``graph show`` print (CLI.md).

Contract:
- Read-only: every function opens its database through :meth:`Store.open_readonly` (``immutable=1``
  without a ``-wal``, ``mode=ro`` with one) and never writes, checkpoints or creates a file.
- Foreign schemas: session files of another ``user_version`` (e.g. upstream v38) are read where the
  columns allow. Each query first reads the table's columns (``PRAGMA table_info``) and degrades per
  column: an absent column gives ``None`` or a documented alias (v38's ``session_head.leaf_node_id``
  and ``checkpoint_ref`` columns, ``graph_nodes.parent_node_id``, ``session_meta.relation_kind``,
  ``usage_deltas.cache_read_input_tokens``/``reasoning_output_tokens``); an absent table gives an
  empty section. Every result carries ``foreign`` and ``status`` (``ok``, ``foreign vN``,
  ``unreadable: …``; a listed v4 session lacking a table or index of its schema, or holding one that
  is not, shows ``damaged schema: …``).
- This module is the stable import path; the work lives by role in :mod:`.sessions` (list),
  :mod:`.show` (details), :mod:`.views` (shared readers, head dump) and :mod:`.graph` (graph show).
  Their SQL lives behind :class:`~.ports.SessionReader` in the backend (none in ``lashdb.cli``). Results are frozen dataclasses whose
  ``to_json()`` gives the documented keys: sizes in bytes; every time as ``<name>`` (ISO 8601 UTC
  text) plus ``<name>_epoch_ms`` (integer milliseconds since the epoch).
- Failures are typed :class:`LashdbError`\\ s. :func:`list_sessions` turns a failure inside one
  session into that row's ``unreadable: …`` status instead of failing the whole list.
"""

from __future__ import annotations

from lashdb.engine.base.timing import iso_ms, parse_timestamp_ms, wall_clock_ms  # noqa: F401  (re-exported)
from lashdb.engine.session.meta_view import MetaView
from lashdb.engine.session.model import GraphNode, SessionRelation, TokenLedgerEntry, TokenUsage  # noqa: F401
from .graph import GraphView, NodeView, _Graph, _node_view, _resolve_leaf, _tree_order, _walk, graph_view  # noqa: F401
from .ports import read_meta
from .sessions import (  # noqa: F401  (the old private names too)
    _SIBLING_SUFFIXES,
    SORT_KEYS,
    SessionSummary,
    _fill_summary,
    _fill_v4_summary,
    _mark_damaged,
    _scan_base,
    _scan_item,
    _scan_summary,
    _unreadable,
    list_sessions,
    session_summary,
)
from .show import (  # noqa: F401
    BlobStats,
    LeaseView,
    SessionDetails,
    _attachments,
    _blob_stats,
    _ledger_json,
    _queued_work,
    _turn_commits,
    read_lease,
    session_details,
)
from .views import (  # noqa: F401
    _ABSENT,
    _HEAD_COLUMNS,
    SHORT_ID_MIN,
    CheckpointUnreadable,
    FileSizes,
    HeadDocument,
    HeadView,
    _blob_entry,
    _checkpoint_section,
    _file_size,
    _first_unreadable_child,
    _head_view,
    _mtime_ms,
    _node_counts,
    _time_pair,
    _usage,
    _user_messages,
    database_files,
    file_sizes,
    head_document,
    read_head,
    short_ids,
    status_of as _status,
)

__all__ = [
    "BlobStats", "FileSizes", "GraphView", "HeadDocument", "HeadView", "LeaseView", "MetaView", "NodeView",
    "SORT_KEYS", "SessionDetails", "SessionSummary", "database_files", "file_sizes", "graph_view",
    "head_document", "iso_ms", "list_sessions", "parse_timestamp_ms", "read_head", "read_meta",
    "session_details", "session_summary", "short_ids",
]
