"""SQLite statements of ``lashdb migrate``: one session file's rows out and in as plain records
(postgres.md §5; the contract lives in ``ops/migrate.py``).

Contract:
- Records are the neutral form every backend speaks: table → list of column → value dicts, with
  the session schema's table and column names (SPEC §3) minus the ``singleton`` key of the meta
  and head rows; ``graph_nodes.tombstoned`` is 0/1; blob ``content`` is the stored envelope bytes,
  unchanged.
- :meth:`SqliteTransfer.sessions` lists the session files directly under the root (sidecars and
  other kinds are not sessions), each with the refusal a writing command gives it (the cutover
  error for a foreign schema) or ``None``; its id is the one its meta stores.
- :meth:`SqliteTransfer.export` reads one file in one read snapshot (read-only: no byte changes);
  :meth:`SqliteTransfer.import_session` writes a session into the file the factory names for it
  (SPEC §7) in ONE ``BEGIN IMMEDIATE`` that also creates the schema, so an interrupted import
  leaves no half session; :meth:`SqliteTransfer.remove` deletes that file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import apsw

from lashdb.engine.base.errors import DatabaseError, LashdbError
from lashdb.engine.base.timing import wall_clock_ms
from lashdb.engine.session.factory import delete_database_files, safe_session_file_name

from .classify import REFUSALS, check_openable, classify, needs_schema
from .connection import columns, open_readonly, open_write, read_snapshot, translate, write_transaction
from .kinds import SESSION

Records = dict[str, list[dict[str, Any]]]

# The session tables in the order an import writes them (parents before children).
SESSION_TABLES = ("session_meta", "session_head", "blobs", "graph_nodes", "usage_deltas", "runtime_turn_commits",
                  "session_execution_leases", "queued_work_batches", "queued_work_items", "attachment_manifest",
                  "artifact_refs")
_SINGLETONS = ("session_meta", "session_head")


def _read_table(conn: apsw.Connection, table: str) -> list[dict[str, Any]]:
    cur = conn.execute(f"SELECT * FROM {table} ORDER BY rowid")
    rows = []
    names: list[str] | None = None
    for row in cur:
        if names is None:
            names = [d[0] for d in cur.getdescription()]
        doc = dict(zip(names, row))
        if table in _SINGLETONS:
            doc.pop("singleton", None)
        rows.append(doc)
    return rows


class SqliteTransfer:
    """:class:`~lashdb.engine.ops.ports.SessionTransfer` over a directory of session files."""

    def __init__(self, root: str | os.PathLike[str], *, readonly: bool = False) -> None:
        self.root = Path(root)
        self.readonly = readonly
        self.target = str(self.root)
        self._paths: dict[str, Path] = {}

    def path_for(self, session_id: str) -> Path:
        """The file of ``session_id``: where the listing found it, else the factory's name (SPEC §7)."""
        return self._paths.get(session_id) or self.root / safe_session_file_name(session_id)

    def sessions(self) -> list[tuple[str, str, LashdbError | None]]:
        """(session id, file, refusal or None) of every session file directly under the root."""
        if not self.root.is_dir():
            return []
        found = []
        for path in sorted(self.root.glob("*.db")):
            try:
                c = classify(path)
            except LashdbError as exc:
                found.append((path.name, str(path), exc))
                continue
            if c.kind is not SESSION:
                continue  # a sidecar or another kind: not a session
            refusal: LashdbError | None = None
            try:
                c.require(SESSION)
                check_openable(os.fspath(path), SESSION)
            except REFUSALS as exc:
                refusal = exc
            session_id = self._meta_id(path) or path.name
            self._paths.setdefault(session_id, path)
            found.append((session_id, str(path), refusal))
        return found

    @staticmethod
    def _meta_id(path: Path) -> str | None:
        try:
            conn = open_readonly(path)
        except LashdbError:
            return None
        try:
            row = next(iter(conn.execute("SELECT session_id FROM session_meta")), None)
        except apsw.Error:
            return None  # a foreign meta table without the column: named by its file
        finally:
            conn.close()
        return row[0] if row and isinstance(row[0], str) else None

    def export(self, session_id: str, tables: tuple[str, ...] | None = None) -> Records | None:
        """The session's rows (of ``tables``, default all) from one read snapshot; None when it holds no session."""
        path = self.path_for(session_id)
        if not path.exists():
            return None
        conn = open_readonly(path)
        try:
            with read_snapshot(conn, os.fspath(path)):
                present = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
                if "session_meta" not in present:
                    return None  # an empty file an interrupted import created: no session yet
                records = {t: _read_table(conn, t) for t in (tables or SESSION_TABLES) if t in present}
        except apsw.Error as exc:
            raise translate(exc, os.fspath(path)) from exc
        finally:
            conn.close()
        if not records.get("session_meta") and not records.get("session_head"):
            return None
        return records

    def import_session(self, session_id: str, records: Records) -> None:
        """Write ``records`` as ``session_id``'s new file in one transaction (schema included)."""
        path = self.root / safe_session_file_name(session_id)
        where = os.fspath(path)
        self.root.mkdir(parents=True, exist_ok=True)
        conn = open_write(path)
        try:
            with write_transaction(conn, where):
                if needs_schema(conn, SESSION, where):
                    conn.execute(SESSION.ddl)
                    conn.execute(f"PRAGMA user_version = {int(SESSION.version)}")
                elif next(iter(conn.execute("SELECT 1 FROM session_meta")), None) is not None:
                    raise DatabaseError(where, f"{where}: session {session_id!r} is already there",
                                        hint="migrate skips or reports a session already at the destination")
                for table in SESSION_TABLES:
                    rows = records.get(table) or []
                    if not rows:
                        continue
                    if table in _SINGLETONS:
                        rows = [{"singleton": 1, **row} for row in rows]
                    names = list(rows[0])
                    unknown = set(names) - columns(conn, table)
                    if unknown:  # names come from the source: only this schema's columns are written
                        raise DatabaseError(where, f"{where}: {table} has no column(s) {sorted(unknown)}",
                                            hint="the source is not a lashdb session of this version")
                    sql = (f"INSERT INTO {table} ({', '.join(names)}) "
                           f"VALUES ({', '.join('?' for _ in names)})")
                    conn.executemany(sql, [tuple(row[n] for n in names) for row in rows])
        finally:
            conn.close()
        self._paths[session_id] = path

    def remove(self, session_id: str) -> None:
        """Delete the session's file (and its ``-wal``/``-shm``): what an import wrote."""
        delete_database_files(self.root / safe_session_file_name(session_id))
        self._paths.pop(session_id, None)

    def now_ms(self) -> int:
        """The wall clock: files on one host share it."""
        return wall_clock_ms()

    def close(self) -> None:
        """Nothing is held open between calls."""


def open_transfer(root: str | os.PathLike[str], *, readonly: bool = False) -> SqliteTransfer:
    """The transfer of the sessions root ``root``."""
    return SqliteTransfer(root, readonly=readonly)
