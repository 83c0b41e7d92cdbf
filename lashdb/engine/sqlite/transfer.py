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
from .kinds import EFFECT_REPLAY, PROCESS_REGISTRY, SESSION, TRIGGER_STORE, SchemaKind

Records = dict[str, list[dict[str, Any]]]

# The session tables in the order an import writes them (parents before children).
SESSION_TABLES = ("session_meta", "session_head", "blobs", "graph_nodes", "usage_deltas", "runtime_turn_commits",
                  "session_execution_leases", "queued_work_batches", "queued_work_items", "attachment_manifest",
                  "artifact_refs")
_SINGLETONS = ("session_meta", "session_head")
# Sidecar files beside a session file (``<file>.db.<role>.db``), their kind and tables (records name
# them ``<role>.<table>``). The trigger store's AUTOINCREMENT sequence travels as one row,
# ``{"last_number": N}``: the next subscription number continues from it on either backend.
SIDECARS: dict[str, tuple[SchemaKind, tuple[str, ...]]] = {
    "effects": (EFFECT_REPLAY, ("runtime_effect_replay",)),
    "processes": (PROCESS_REGISTRY, ("processes", "process_events", "process_wake_acks", "process_handle_grants",
                                     "process_leases")),
    "triggers": (TRIGGER_STORE, ("trigger_subscription_seq", "trigger_subscriptions", "trigger_occurrences",
                                 "trigger_deliveries")),
}
_SEQ = "trigger_subscription_seq"


def sidecar_path(path: Path, role: str) -> Path:
    """The ``role`` sidecar of the session file ``path``."""
    return Path(f"{os.fspath(path)}.{role}.db")


def _read_table(conn: apsw.Connection, table: str) -> list[dict[str, Any]]:
    if table == _SEQ:
        row = next(iter(conn.execute("SELECT seq FROM sqlite_sequence WHERE name = ?", (_SEQ,))), None)
        return [{"last_number": int(row[0])}] if row and row[0] else []
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


def _insert(conn: apsw.Connection, where: str, table: str, rows: list[dict[str, Any]]) -> None:
    """Insert ``rows`` into ``table`` (column names checked against the table: they come from the source)."""
    if not rows:
        return
    if table == _SEQ:
        # Setting the AUTOINCREMENT high-water mark: the next number is last_number + 1.
        conn.execute(f"INSERT INTO {_SEQ} (id) VALUES (?)", (int(rows[0]["last_number"]),))
        return
    if table in _SINGLETONS:
        rows = [{"singleton": 1, **row} for row in rows]
    names = list(rows[0])
    unknown = set(names) - columns(conn, table)
    if unknown:
        raise DatabaseError(where, f"{where}: {table} has no column(s) {sorted(unknown)}",
                            hint="the source is not a lashdb store of this version")
    sql = f"INSERT INTO {table} ({', '.join(names)}) VALUES ({', '.join('?' for _ in names)})"
    conn.executemany(sql, [tuple(row.get(n) for n in names) for row in rows])


class SqliteTransfer:
    """:class:`~lashdb.engine.ops.ports.SessionTransfer` over a directory of session files."""

    def __init__(self, root: str | os.PathLike[str], *, readonly: bool = False) -> None:
        self.root = Path(root)
        self.readonly = readonly
        self.target = str(self.root)
        self._paths: dict[str, Path] = {}
        self._listed = False

    def path_for(self, session_id: str) -> Path:
        """The file of ``session_id``: where the listing found it, else the factory's name (SPEC §7)."""
        if not self._listed:
            self.sessions()  # a session kept under another file name is still found (and not copied twice)
        return self._paths.get(session_id) or self.root / safe_session_file_name(session_id)

    def sessions(self) -> list[tuple[str, str, LashdbError | None]]:
        """(session id, file, refusal or None) of every session file directly under the root."""
        self._listed = True
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
                for role, (kind, _tables) in SIDECARS.items():
                    side = sidecar_path(path, role)
                    if side.exists():
                        check_openable(os.fspath(side), kind)  # a foreign sidecar refuses its session
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
        for role, (_kind, names) in SIDECARS.items():
            wanted = [t for t in names if tables is None or f"{role}.{t}" in tables]
            side = sidecar_path(path, role)
            if wanted and side.exists():
                records.update(self._export_file(side, role, wanted))
        return records

    @staticmethod
    def _export_file(path: Path, role: str, tables: list[str]) -> Records:
        conn = open_readonly(path)
        try:
            with read_snapshot(conn, os.fspath(path)):
                return {f"{role}.{t}": _read_table(conn, t) for t in tables}
        except apsw.Error as exc:
            raise translate(exc, os.fspath(path)) from exc
        finally:
            conn.close()

    def import_session(self, session_id: str, records: Records) -> None:
        """Write ``records`` as ``session_id``'s new file in one transaction (schema included)."""
        path = self.root / safe_session_file_name(session_id)
        where = os.fspath(path)
        self.root.mkdir(parents=True, exist_ok=True)
        # Sidecars first, each complete under a temporary name and then renamed into place; the
        # session file's commit comes last and is what makes the session "there". A run killed in
        # between leaves sidecars without their session, which the rerun replaces.
        for role, (kind, names) in SIDECARS.items():
            if any(records.get(f"{role}.{t}") for t in names):
                self._import_sidecar(path, role, kind, names, records)
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
                    _insert(conn, where, table, records.get(table) or [])
        finally:
            conn.close()
        self._paths[session_id] = path

    @staticmethod
    def _import_sidecar(path: Path, role: str, kind: SchemaKind, names: tuple[str, ...], records: Records) -> None:
        final = sidecar_path(path, role)
        temp = Path(f"{os.fspath(final)}.migrating")
        delete_database_files(temp)
        conn = open_write(temp)
        try:
            with write_transaction(conn, os.fspath(temp)):
                conn.execute(kind.ddl)
                conn.execute(f"PRAGMA user_version = {int(kind.version)}")
                for table in names:
                    _insert(conn, os.fspath(final), table, records.get(f"{role}.{table}") or [])
        finally:
            conn.close()  # the last connection checkpoints and removes the -wal
        delete_database_files(final)
        os.replace(temp, final)
        delete_database_files(temp)  # a -wal/-shm the close left behind

    def remove(self, session_id: str) -> None:
        """Delete the session's file and its sidecars (each with its ``-wal``/``-shm``): what an import wrote."""
        path = self.root / safe_session_file_name(session_id)
        delete_database_files(path)
        for role in SIDECARS:
            delete_database_files(sidecar_path(path, role))
        self._paths.pop(session_id, None)

    def now_ms(self) -> int:
        """The wall clock: files on one host share it."""
        return wall_clock_ms()

    def close(self) -> None:
        """Nothing is held open between calls."""


def open_transfer(root: str | os.PathLike[str], *, readonly: bool = False) -> SqliteTransfer:
    """The transfer of the sessions root ``root``."""
    return SqliteTransfer(root, readonly=readonly)
