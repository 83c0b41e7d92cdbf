"""Typed errors of lashdb.

Contract: every failure the engine reports is a subclass of :class:`LashdbError`. Each names the
thing it is about (file, session, blob hash) as an attribute and, through :attr:`hint`, says what
to do. Errors whose text is fixed by upstream (the runtime-contract store errors) keep that text
exactly in ``str()``; their advice lives only in ``hint``. Nothing is logged and dropped.
"""

from __future__ import annotations

import os
from typing import Protocol

RESTORE = "`lashdb sessions restore --force BACKUP` from a `lashdb sessions backup` copy"
"""How a damaged session is put back: the command hints name it wherever they say to restore."""


class VacuumOutcome(Protocol):
    """What :class:`CompactionFailed` reads of a vacuum report (``model.VacuumReport``); base imports no model."""

    removed_node_count: int
    compact_error: str | None


class LashdbError(Exception):
    """Root of every lashdb error; ``hint`` says what the operator or caller can do."""

    hint: str = ""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        if hint is not None:
            self.hint = hint

    def __reduce__(self):
        # Subclass constructors build their message from their fields; pickle's default calls the
        # constructor again with that message, which then repeats (fork_map sends errors by pickle).
        return _restore, (type(self), self.args, dict(self.__dict__))


def _restore(cls: type[LashdbError], args: tuple, state: dict) -> LashdbError:
    """Rebuild a pickled lashdb error as it was: same message, same attributes, no constructor run."""
    exc = cls.__new__(cls, *args)
    exc.args = args
    exc.__dict__.update(state)
    return exc


def one_line(exc: BaseException) -> str:
    """The exception's text on one line (whitespace runs collapsed); its type name when it has none."""
    return " ".join(str(exc).split()) or type(exc).__name__


# --- files and databases --------------------------------------------------------------------------


class DatabaseError(LashdbError):
    """A database file cannot be used: missing, unreadable, not SQLite, I/O failure."""

    def __init__(self, path: os.PathLike[str] | str | None, message: str, *, hint: str | None = None):
        self.path = None if path is None else os.fspath(path)
        super().__init__(message, hint=hint)


class DatabaseNotFound(DatabaseError):
    """The named database file does not exist."""

    def __init__(self, path: os.PathLike[str] | str):
        super().__init__(
            path,
            f"{os.fspath(path)}: no such database file",
            hint="check the path, or list sessions with `lashdb sessions list`",
        )


class NotALashDatabase(DatabaseError):
    """The file exists but is not a lash database of the expected kind."""

    def __init__(self, path: os.PathLike[str] | str, reason: str, *, expected: str | None = None):
        self.reason = reason
        self.expected = expected
        what = f"not a lash {expected} database" if expected else "not a lash database"
        super().__init__(
            path,
            f"{os.fspath(path)}: {what} ({reason})",
            hint=f"point lashdb at a {expected or 'session'} database written by lash or lashdb",
        )


class FileUnreadable(DatabaseError):
    """A file (or its ``-wal``/``-shm``) cannot be read at all: no permission, a symlink loop, a
    dangling symlink, an I/O error; ``reason`` is the OS's reason."""

    def __init__(self, path: os.PathLike[str] | str, reason: str):
        self.reason = reason
        super().__init__(path, f"{os.fspath(path)}: cannot read ({reason})",
                         hint="check the file's permissions and where its symlinks point")


class NotARegularFile(NotALashDatabase):
    """A path names a FIFO, socket, device or directory: never opened (SQLite would block on a FIFO)."""

    def __init__(self, path: os.PathLike[str] | str, what: str):
        self.what = what
        super().__init__(path, f"not a regular file: {what}")


class RootUnusable(LashdbError):
    """The sessions root does not exist, is not a directory, or cannot be listed."""

    def __init__(self, root: os.PathLike[str] | str, problem: str):
        self.path = os.fspath(root)
        self.problem = problem
        super().__init__(f"{self.path}: sessions root {problem}",
                         hint="pass --root DIR (or set LASHDB_ROOT) to the directory holding the session "
                              "databases; `lashdb demo DIR` creates one to explore")


class SchemaVersionError(LashdbError):
    """A database's ``PRAGMA user_version`` is not the one supported schema (no migrations)."""

    def __init__(self, kind: str, expected: int, found: int, path: os.PathLike[str] | str | None = None):
        self.kind = kind
        self.expected = expected
        self.found = found
        self.path = None if path is None else os.fspath(path)
        # Upstream's wording, so operators who know the Rust runtime recognise it.
        message = (
            f"Unsupported lash {kind} schema: this binary supports schema version {expected}, "
            f"but the database reports version {found}. There is no migration chain — delete the "
            f"{kind} database and start fresh."
        )
        if self.path:
            message = f"{self.path}: {message}"
        super().__init__(
            message,
            hint="inspect it read-only (blob ls/cat/verify, sessions show) or delete it and start fresh",
        )


class SchemaUpgradeRequired(SchemaVersionError):
    """A store at an older schema version that lashdb upgrades when it opens it for writing, opened
    read-only (a look never writes, so it cannot upgrade it)."""

    def __init__(self, kind: str, expected: int, found: int, path: os.PathLike[str] | str | None = None):
        self.kind = kind
        self.expected = expected
        self.found = found
        self.path = None if path is None else os.fspath(path)
        message = (f"the lash {kind} is at schema version {found}; this lashdb reads version {expected} and "
                   f"upgrades the store when it opens it for writing")
        if self.path:
            message = f"{self.path}: {message}"
        LashdbError.__init__(self, message, hint="open it for writing once, which upgrades it in one transaction: "
                             "the runtime does when it starts, and so does `lashdb migrate SOURCE URL` into it; "
                             "then look again")


class UnrecognisedSchema(SchemaVersionError):
    """The file reports a lash kind's own ``user_version`` but its objects are not that kind's schema:
    someone else's database, refused (the cutover rule) and left byte-identical."""

    def __init__(self, kind: str, version: int, reason: str, path: os.PathLike[str] | str | None = None,
                 objects: tuple[str, ...] = ()):
        self.kind = kind
        self.expected = version
        self.found = version
        self.reason = reason
        self.objects = tuple(objects)
        self.path = None if path is None else os.fspath(path)
        where = f"{self.path}: " if self.path else ""
        LashdbError.__init__(
            self,
            f"{where}Unsupported lash {kind} schema: the database reports schema version {version}, the one "
            f"this binary supports, but {reason}; it is not a lash {kind} database and lashdb does not write to it",
            hint=f"nothing was changed; point lashdb at a lash {kind} file (`lashdb doctor FILE` lists what differs)",
        )


class SchemaDamaged(DatabaseError):
    """A lash database at the supported version lacks (or has altered) objects of its schema; writes refuse
    it rather than recreate what is missing, which would hide the lost rows."""

    SHOWN = 6

    def __init__(self, path: os.PathLike[str] | str | None, kind: str | None, differences: tuple[str, ...] | list[str]):
        self.kind = kind
        self.differences = tuple(differences)
        shown = "; ".join(self.differences[: self.SHOWN])
        more = len(self.differences) - self.SHOWN
        if more > 0:
            shown += f"; and {more} more"
        what = f"damaged lash {kind} schema" if kind else "damaged schema"
        where = f"{os.fspath(path)}: " if path is not None else ""
        doctor = f"`lashdb doctor {os.fspath(path)}`" if path is not None else "`lashdb doctor FILE`"
        super().__init__(
            path,
            f"{where}{what}: {shown}",
            hint=f"{doctor} lists every difference; restore the file with {RESTORE}: lashdb does not recreate "
                 "missing objects, which would hide the rows they held",
        )


# --- blobs ------------------------------------------------------------------------------------------


class BlobError(LashdbError):
    """A problem with one stored blob, named by its hash."""

    def __init__(self, blob_hash: str | None, message: str, *, hint: str | None = None):
        self.blob_hash = blob_hash
        super().__init__(message, hint=hint)


class BlobNotFound(BlobError):
    """No blob row with that hash."""

    def __init__(self, blob_hash: str, where: str | None = None):
        self.where = where
        loc = f" in {where}" if where else ""
        super().__init__(blob_hash, f"blob {blob_hash}{loc}: not found",
                         hint="list blobs with `lashdb blob ls SESSION`")


class BlobDecodeError(BlobError):
    """A stored blob's envelope, compression stream or typed value cannot be decoded."""

    def __init__(self, blob_hash: str | None, reason: str):
        self.reason = reason
        name = blob_hash if blob_hash else "(unhashed)"
        super().__init__(
            blob_hash,
            f"blob {name}: cannot decode: {reason}",
            hint="run `lashdb blob verify` on the session; the row is damaged or not a lash envelope",
        )


class DecompressionLimitExceeded(BlobDecodeError):
    """A compressed blob inflates past the configured limit; refused before using the memory."""

    def __init__(self, blob_hash: str | None, limit: int):
        self.limit = limit
        super().__init__(blob_hash, f"content inflates past the {limit}-byte decompression limit")


class ChecksumMismatch(BlobError):
    """A blob's logical content does not hash to the row's hash."""

    def __init__(self, expected: str, got: str):
        self.expected = expected
        self.got = got
        super().__init__(
            expected,
            f"blob {expected}: content hashes to {got}",
            hint=f"the stored bytes were altered; restore the database with {RESTORE}",
        )


# --- session store (runtime contract, upstream display texts) ------------------------------------


class StoreError(LashdbError):
    """A session-store operation failed; ``str()`` is upstream's display text."""


class SessionBindingMismatch(StoreError):
    hint = "each database holds one session; open the database of the session you meant"

    def __init__(self, bound_session_id: str, attempted_session_id: str):
        self.bound_session_id = bound_session_id
        self.attempted_session_id = attempted_session_id
        super().__init__(
            f"store is already bound to session `{bound_session_id}` and cannot be reused for "
            f"`{attempted_session_id}`"
        )


class UnsupportedReadScope(StoreError):
    def __init__(self, scope: object):
        self.scope = scope
        super().__init__(f"store does not support read scope {scope!r}")


class HeadRevisionConflict(StoreError):
    hint = "reload the session head and retry the commit on the new revision"

    def __init__(self, expected: int | None, actual: int):
        self.expected = expected
        self.actual = actual
        shown = "None" if expected is None else f"Some({expected})"
        super().__init__(f"store head revision conflict: expected {shown}, actual {actual}")


class RuntimeTurnCommitConflict(StoreError):
    hint = "a turn id may be committed once; use a new turn id for different content"

    def __init__(self, session_id: str, turn_id: str):
        self.session_id = session_id
        self.turn_id = turn_id
        super().__init__(
            f"runtime turn `{turn_id}` for session `{session_id}` was already committed with a "
            f"different commit hash"
        )


class QueuedWorkClaimExpired(StoreError):
    hint = "claim the queued work again"

    def __init__(self, session_id: str, claim_id: str):
        self.session_id = session_id
        self.claim_id = claim_id
        super().__init__(
            f"queued work claim `{claim_id}` for session `{session_id}` is missing or expired"
        )


class SessionExecutionLeaseExpired(StoreError):
    hint = "claim the session execution lease again before committing"

    def __init__(self, session_id: str):
        self.session_id = session_id
        super().__init__(f"session execution lease for session `{session_id}` is missing or expired")


class UnsupportedRecordSchemaVersion(StoreError):
    def __init__(self, record_kind: str, actual: int, expected: int):
        self.record_kind = record_kind
        self.actual = actual
        self.expected = expected
        super().__init__(
            f"{record_kind} schema_version {actual} is not supported by this binary (expected {expected})"
        )


class BackendError(StoreError):
    """SQLite (or a stored row) failed underneath a store operation; the transaction rolled back."""

    def __init__(self, message: str, *, path: str | None = None, hint: str | None = None):
        self.message = message
        self.path = path
        super().__init__(f"store backend error: {message}", hint=hint)

    @property
    def driver_message(self) -> str:
        """The database driver's own text behind this error (its message when there is none)."""
        cause = self.__cause__
        if cause is not None and not isinstance(cause, LashdbError):
            return str(cause)
        return self.message


class DatabaseBusy(BackendError):
    """Another connection held the write lock past the busy timeout."""

    hint = "another process is writing this database; retry when it is done"


def _where(path: str | None) -> str:
    return path if path else "the in-memory database"


def _folder(path: str) -> str:
    return os.path.dirname(os.path.abspath(path))


class DiskFull(BackendError):
    """SQLite could not grow the file (SQLITE_FULL): the disk or its quota is full; nothing was written."""

    def __init__(self, path: str | None, reason: str = "database or disk is full"):
        self.reason = reason
        todo = (f"free space on {_folder(path)} and retry" if path
                else "the in-memory database hit its size limit; free memory and retry")
        super().__init__(f"{reason}: {_where(path)}", path=path, hint=f"{todo}; the transaction was rolled back")


class DatabaseCorrupt(BackendError):
    """SQLite found the file damaged (SQLITE_CORRUPT): some page cannot be read."""

    def __init__(self, path: str | None, reason: str = "database disk image is malformed"):
        self.reason = reason
        where = _where(path)
        todo = (f"run `lashdb doctor {path}` to see what is readable; restore it with {RESTORE}" if path
                else "the in-memory database is damaged; rebuild it")
        super().__init__(f"{where} is damaged: {reason}", path=path, hint=todo)


class DatabaseIOError(BackendError):
    """The operating system failed a read or write of the file (SQLITE_IOERR)."""

    def __init__(self, path: str | None, reason: str = "disk I/O error"):
        self.reason = reason
        todo = (f"check the disk and free space on {_folder(path)} (the kernel log says more), then retry; "
                f"if it keeps failing run `lashdb doctor {path}`" if path else "retry")
        super().__init__(f"{_where(path)}: {reason}", path=path, hint=todo)


class DatabaseReadOnly(BackendError):
    """SQLite may not write the file (SQLITE_READONLY / SQLITE_PERM): permissions or a read-only mount."""

    def __init__(self, path: str | None, reason: str = "attempt to write a readonly database"):
        self.reason = reason
        todo = (f"check that you may write {path}, its -wal/-shm and {_folder(path)} and that the file "
                f"system is not mounted read-only, then retry" if path else "open a writable store")
        super().__init__(f"{_where(path)}: {reason}", path=path, hint=todo)


class StoreClosed(LashdbError):
    """A store (or its asyncio facade) was used after ``close()``."""

    def __init__(self, path: str | None, what: str = "store"):
        self.path = path
        super().__init__(f"{_where(path)}: the {what} is closed",
                         hint="open the store again; a closed store cannot be used")


class GcAborted(BackendError):
    """GC found a live checkpoint manifest it cannot decode and deleted nothing."""

    hint = "run `lashdb blob verify` on the session; nothing was deleted"

    def __init__(self, blob_hash: str, reason: str):
        self.blob_hash = blob_hash
        self.reason = reason
        super().__init__(f"gc: live checkpoint manifest `{blob_hash}` could not be decoded ({reason})")


class MissingCheckpoint(BackendError):
    """The session head names a checkpoint manifest that is not in the blobs table: damage, never "none"."""

    hint = ("the head's checkpoint was deleted (e.g. by a GC forced past a live lease); restore it "
            f"with {RESTORE}, or run `lashdb doctor` to see what else is missing")

    def __init__(self, blob_hash: str, path: str | None = None):
        self.blob_hash = blob_hash
        super().__init__(f"session head names checkpoint `{blob_hash}`, which is missing from the blobs table",
                         path=path)
class CompactionFailed(StoreError):
    """``vacuum`` removed the tombstoned nodes (committed) but could not finish compacting the file.

    :attr:`report` is what happened: the nodes removed, ``compacted=False``, the reason, and the
    sizes on disk measured after the attempt.
    """

    def __init__(self, path: str | None, report: VacuumOutcome, *, hint: str):
        self.path = path
        self.report = report
        where = f"{path}: " if path else ""
        super().__init__(f"{where}removed {report.removed_node_count} tombstoned node(s); "
                         f"not compacted: {report.compact_error}", hint=hint)


class SessionNotMigrated(StoreError):
    """``lashdb migrate`` left one session uncopied: its execution lease is live, or its copy did not
    verify at the destination and was rolled back (a problem of that session: exit 1)."""

    def __init__(self, session_id: str, message: str, *, hint: str | None = None):
        self.session_id = session_id
        super().__init__(message, hint=hint)


class SessionInUse(StoreError):
    """A session's execution lease is live: a runtime is working on it, so it is not deleted."""

    hint = ("stop that runtime or wait until the lease expires (`lashdb sessions show` shows it), "
            "or pass --force to delete the session anyway")

    def __init__(self, path: os.PathLike[str] | str, session_id: str | None, owner_id: str | None,
                 expires_at_ms: int, expires_at: str):
        self.path = path if isinstance(path, str) else str(path) if not isinstance(path, os.PathLike) else os.fspath(path)
        self.session_id = session_id
        self.owner_id = owner_id
        self.expires_at_ms = expires_at_ms
        super().__init__(f"{self.path}: session `{session_id}` is in use: its execution lease is held by "
                         f"`{owner_id}` until {expires_at}; not deleted")


class LeaseLive(StoreError):
    """An operator remedy met a live lease: its holder may still be working, so nothing was changed."""

    hint = "wait until it expires, or pass --force if that holder is known to be dead"

    def __init__(self, what: str, owner_id: str | None, expires_at: str):
        self.what = what
        self.owner_id = owner_id
        self.expires_at = expires_at
        super().__init__(f"{what} is live: held by `{owner_id}` until {expires_at}; not changed")


class WorkerFailed(LashdbError):
    """A worker process of a parallel read died before it answered; nothing was written."""

    hint = "rerun with --jobs 1 to do the work in one process and see which file it stops at"

    def __init__(self, what: str, reason: str):
        self.what = what
        self.reason = reason
        super().__init__(f"{what}: a worker process failed ({reason})")


# --- deployment stores (deployment-stores §0.3: str() is upstream's bare message) ----------------


class ProcessRegistryError(StoreError):
    """A process-registry operation failed; nothing it started was committed."""


class TriggerStoreError(StoreError):
    """A trigger-store operation failed; nothing it started was committed."""


# --- values -------------------------------------------------------------------------------------------


class UnstorableValue(LashdbError, ValueError):
    """A caller's value cannot be stored (too deep, bytes, a set, a non-text key, a lone surrogate,
    NaN or infinity); refused before anything was written. ``field`` is the path to the culprit."""

    def __init__(self, field: str, reason: str):
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: cannot be stored: {reason}",
                         hint="store JSON data only: text map keys, finite numbers, valid UTF-8 text, "
                              "nesting within lashdb.engine.MAX_NESTING (256) levels")


# --- lookups ------------------------------------------------------------------------------------------


class LookupFailed(LashdbError):
    """A session, blob or file named by the caller could not be resolved to exactly one thing."""

    def __init__(self, query: str, message: str, candidates: list[str] | tuple[str, ...] = (), *,
                 hint: str | None = None):
        self.query = query
        self.candidates = tuple(candidates)
        super().__init__(message, hint=hint)


class UsageError(LashdbError):
    """The caller's input is malformed (a usage error: exit 2 in the CLI), as opposed to not found."""


class Cancelled(LashdbError):
    """The operator answered no when asked to confirm; nothing was done (exit 1 in the CLI)."""


class InvalidBlobHash(UsageError):
    """A blob hash or prefix that cannot name a blob: not hex, too short or too long."""

    def __init__(self, query: str, reason: str):
        self.query = query
        self.reason = reason
        shown = query if len(query) <= 80 else query[:40] + "…"  # a pasted file must not flood the line
        super().__init__(f"`{shown}` is not a blob hash: {reason}",
                         hint="give the lowercase hex SHA-256 or a unique prefix of 6+ hex digits")


class MissingExtra(LashdbError):
    """A feature needs an optional dependency set (a pip extra) that is not installed."""

    def __init__(self, extra: str, what: str):
        self.extra = extra
        self.what = what
        super().__init__(f"{what} needs the optional dependencies of lashdb[{extra}], which are not installed",
                         hint=f"pip install 'lashdb[{extra}]'")


class BackendUnavailable(BackendError):
    """The database server could not be reached, or the connection was lost mid-operation."""

    def __init__(self, where: str, reason: str):
        self.where = where
        self.reason = reason
        BackendError.__init__(self, f"{where}: the database server is unavailable: {reason}",
                              hint="check that the server is running and reachable, then retry; "
                                   "a transaction that was cut off rolled back")


class StatementTimeout(DatabaseBusy):
    """A statement ran past the backend's statement timeout and was cancelled (rolled back)."""

    hint = "the database was slow or a lock was held too long; retry, or raise statement_timeout"
