"""``doctor`` of a URL-addressed store (``lashdb --store postgresql://… doctor``, issue 13).

Contract:
- Read-only: the store is read through its backend's read-only database (the catalog, and
  ``Store.open_readonly(location)`` per session, one ``REPEATABLE READ READ ONLY`` snapshot per
  check); nothing is written.
- The result is the directory form's :class:`~.doctor.DoctorReport`: first one entry for the store
  itself (kind ``<backend> store``, its schema version, path its URL without password), then one
  per session (path the :class:`SessionLocation`, shown ``<url without password>#<session id>``;
  kind ``session``; ``db_bytes`` its blob and node bytes).
- The rules live once, in :mod:`.doctor`: a session runs the directory form's checks that read
  through a session reader or transaction (:data:`SESSION_CHECKS`: blob envelopes, the head's
  checkpoint, expired execution leases, old attachment intents, a missing parent session), the
  located-only :func:`listing_columns` (the counts the listing reads in O(1) equal a scan of the
  graph) and, for
  the deployment scopes holding rows for it, :func:`~.doctor.process_leases` and
  :func:`~.doctor.stale_effects` — same thresholds, same messages. File checks (WAL, quick check,
  SQLite schema shape) have no twin; the store's schema is checked once, in the store entry
  (version row and every table of the DDL).
- A check that raises is an ``error`` finding naming the check, as in the directory form. A store
  that cannot be connected to or read at all (server down, bad credentials, no privilege) is one
  ``connection`` error on the store entry naming host and database, never the password, and sets
  :attr:`DoctorReport.unusable` (exit 3). A store whose schema the cutover rule refuses is one
  ``schema`` error (exit 1); its sessions are not checked.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from lashdb.engine.base import kinds
from lashdb.engine.base.errors import LashdbError, SchemaUpgradeRequired, SchemaVersionError, one_line
from lashdb.engine.base.locator import LocatedClassification, LocatedSessionKind, SessionLocation
from lashdb.engine.session.store import Store

from . import discovery, doctor, verify
from .doctor import ERROR, Context, DoctorReport, FileReport, Finding
from .ports import StoreCatalog, session_reader

__all__ = ["DEPLOYMENT_CHECKS", "LocatedContext", "SESSION_CHECKS", "StoreTarget", "run_located"]



def listing_columns(found: discovery.Found, ctx: Context) -> list[Finding] | None:
    """The counts a listing reads in O(1) (``v4_summary``: a store keeps them beside the session) equal
    what the session's graph says (``node_counts``, ``user_messages``: a scan of it)."""
    reader = ctx.health(found.path).reader()
    row = reader.v4_summary()
    if row is None:
        return None
    stored = (int(row[8] or 0), int(row[9] or 0), int(row[10] or 0), row[11])
    scanned = (*reader.node_counts(), *reader.user_messages())
    names = ("live nodes", "tombstoned nodes", "user messages", "first user message")
    wrong = [f"{name}: stored {_short(a)}, graph {_short(b)}" for name, a, b in zip(names, stored, scanned) if a != b]
    if not wrong:
        return []
    return [Finding("listing_columns", ERROR, "the counts `sessions list` shows for this session differ from its "
                    "graph (" + "; ".join(wrong) + "): a writer that does not keep them wrote the graph (a lashdb "
                    "older than the store's schema still running?); `vacuum` of the session recounts them",
                    found.path.session_id)]


def _short(value: Any) -> str:
    text = "none" if value is None else str(value)
    return text if len(text) <= 40 else text[:37] + "..."


SESSION_CHECKS = (doctor.blob_envelopes, doctor.gc_roots, doctor.execution_leases, doctor.attachment_intents,
                  doctor.parent_session, listing_columns)
"""The directory form's checks that apply to a located session (each run in its own read snapshot), and
:func:`listing_columns`, which only a store that keeps listing counts beside the session needs."""
DEPLOYMENT_CHECKS = {
    "processes": (doctor.process_leases, kinds.PROCESS_REGISTRY, kinds.PROCESS_REGISTRY_VERSION),
    "effects": (doctor.stale_effects, kinds.EFFECT_REPLAY, kinds.EFFECT_REPLAY_VERSION),
}
"""Deployment role → (its directory-form check, the kind that check applies to, that kind's version)."""


@dataclass(frozen=True)
class StoreTarget:
    """The store itself as a report entry: shown (``str``, ``name``) as its URL without password."""

    display: str

    @property
    def name(self) -> str:
        return self.display

    def __str__(self) -> str:
        return self.display


class _Snapshot:
    """What the session checks read of a located session: the transaction of one read snapshot."""

    def __init__(self, tx: Any) -> None:
        self.connection = tx

    def reader(self) -> Any:
        return session_reader(self.connection)


class LocatedContext(Context):
    """The directory form's :class:`~.doctor.Context` over a store: the session in the running
    snapshot stands where a file's read-only connection does, and parents are looked up store-wide."""

    def __init__(self, now_ms: int, session_ids: Iterable[str], jobs: int = verify.DEFAULT_JOBS) -> None:
        super().__init__(now_ms, jobs)
        self._ids = set(session_ids)
        self._open: dict[Any, _Snapshot] = {}

    def health(self, path: Any) -> Any:
        """The running snapshot of ``path`` (only inside :meth:`in_snapshot`)."""
        return self._open[path]

    def neighbours(self, path: Any) -> tuple[set[str], str]:
        """Every session id of the store, which is where a parent lives."""
        return self._ids, f"in {path.store}"

    def in_snapshot(self, store: Store, fn: doctor.Check, found: discovery.Found) -> list[Finding] | None:
        """``fn(found, self)`` inside one read snapshot of ``found``'s session."""
        def body(tx: Any) -> list[Finding] | None:
            self._open[found.path] = _Snapshot(tx)
            try:
                return fn(found, self)
            finally:
                self._open.pop(found.path, None)
        return store.read(body)


def _scrub(text: str, url: str) -> str:
    """``text`` without the URL's password, should a driver message ever quote it."""
    try:
        password = urlsplit(url).password
    except ValueError:
        return text
    for secret in {password, unquote(password)} if password else ():
        text = text.replace(secret, "***")
    return text


def _store_entry(store: Any, target: StoreTarget) -> tuple[FileReport, StoreCatalog | None, str | None]:
    """The store's entry, its catalog when the schema is lashdb's, and why it is unusable (else ``None``)."""
    entry = FileReport(target, f"{store.kind} store")  # type: ignore[arg-type]
    try:
        cat = store.catalog()
        version, supported, missing, problem = cat.schema_check()
    except SchemaVersionError as exc:  # the cutover rule refused it at open: someone else's schema
        entry.checks["schema"] = "problems"
        tail = ("; a look cannot read it until then" if isinstance(exc, SchemaUpgradeRequired)
                else "; lashdb cannot read or write this store")
        entry.findings.append(Finding("schema", ERROR, f"{_scrub(one_line(exc), store.url)}{tail}", target.display))
        return entry, None, None
    except LashdbError as exc:
        reason = _scrub(one_line(exc), store.url)
        denied = "permission denied" in reason
        hint = "; grant this role read access to the lash_* tables (doctor only reads)" if denied else ""
        entry.unreadable_reason = reason
        entry.checks["connection"] = "problems"
        entry.findings.append(Finding("connection", ERROR, f"cannot read the store {target.display}: {reason}{hint}",
                                      target.display))
        return entry, None, reason
    entry.schema_version, entry.supported_version = version, supported
    findings = [Finding("schema", ERROR, f"table {table} is missing from the lashdb schema v{supported}: reads "
                        "of it fail, and the next writable open recreates it empty", table) for table in missing]
    if problem is not None:
        findings.append(Finding("schema", ERROR, _scrub(problem, store.url), target.display))
    entry.checks["schema"] = "problems" if findings else "ok"
    entry.findings.extend(findings)
    return entry, cat, None


def _run(checks: dict[str, Any], report: FileReport, name: str, call: Any) -> None:
    """One check into ``report``: skipped on ``None``, an error finding naming it when it raises."""
    try:
        got = call()
    except Exception as exc:  # noqa: BLE001 - one failing check must not stop doctor
        got = [doctor._failed(name, exc, report.path)]  # type: ignore[arg-type]
    if got is not None:
        checks[name] = "ok" if not got else "problems"
        report.findings.extend(got)


def _session_report(store: Any, cat: StoreCatalog, location: SessionLocation, ctx: LocatedContext) -> FileReport:
    found = discovery.Found(location, LocatedClassification(str(location)))  # type: ignore[arg-type]
    report = FileReport(location, kinds.SESSION, kinds.SESSION_VERSION, kinds.SESSION_VERSION)  # type: ignore[arg-type]
    try:
        report.db_bytes = cat.size_and_modified(location.session_id)[0]
        with Store.open_readonly(location) as session:
            for fn in SESSION_CHECKS:
                _run(report.checks, report, fn.__name__, lambda fn=fn: ctx.in_snapshot(session, fn, found))
        for role in store.sidecars(location):
            fn, kind, version = DEPLOYMENT_CHECKS.get(role, (None, None, None))
            if fn is None:
                continue
            scoped = discovery.Found(location, LocatedClassification(  # type: ignore[arg-type]
                str(location), LocatedSessionKind(kind, version), version))
            _run(report.checks, report, fn.__name__, lambda fn=fn, scoped=scoped: fn(scoped, ctx))
    except LashdbError as exc:  # the session could not be opened or sized at all
        report.unreadable_reason = _scrub(one_line(exc), store.url)
        report.checks["readable"] = "problems"
        report.findings.append(Finding("readable", ERROR, f"cannot be read: {report.unreadable_reason}"))
    return report


def run_located(store: Any, paths: Iterable[Any], *, now_ms: int, jobs: int = verify.DEFAULT_JOBS) -> DoctorReport:
    """Check the store's schema and every session of ``store`` (a :class:`~.url_store.UrlStore`), or the
    sessions named by ``paths`` (ids or unique prefixes; one that does not resolve raises)."""
    named = [p if isinstance(p, SessionLocation) else store.resolve(str(p)) for p in paths]
    target = StoreTarget(store.location("").store)
    entry, cat, unusable = _store_entry(store, target)
    roots: tuple[Any, ...] = tuple(named) or (target,)
    if cat is None:
        return DoctorReport(roots, (entry,), now_ms, unusable)
    try:
        ids = cat.session_ids()
    except LashdbError as exc:
        reason = _scrub(one_line(exc), store.url)
        entry.unreadable_reason = reason
        entry.findings.append(Finding("connection", ERROR, f"cannot list the sessions of {target.display}: {reason}",
                                      target.display))
        return DoctorReport(roots, (entry,), now_ms, reason)
    ctx = LocatedContext(now_ms, ids, jobs)
    locations = named or [store.location(sid) for sid in ids]
    return DoctorReport(roots, (entry, *(_session_report(store, cat, loc, ctx) for loc in locations)), now_ms)
