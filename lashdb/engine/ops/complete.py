"""Candidates for shell completion: the ids an operator can pass back to the command they complete.

Contract: every function only reads and never raises — a store that cannot be read completes
nothing (a TAB must not print an error into the operator's command line). Answers are ordered short
forms first (the unique short prefix ``sessions list`` and ``blob ls`` print, which every command
accepts), then the whole ids. A directory root is read by file name only (``<id>-<16 hex>.db``, the
factory's naming), so a root of thousands of sessions completes without opening a database; a
PostgreSQL store answers from its catalog in one query. Importing this module loads only base's
errors and file naming (a TAB starts a fresh process each time): the rest is imported where used.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from lashdb.engine.base.errors import LashdbError
from lashdb.engine.base.files import SIDECAR_ENDINGS, SIDECAR_SUFFIXES

SESSION_SHORT = 8
HASH_SHORT = 12
BLOB_BUDGET_S = 0.2
"""How long ``blob cat <Tab>`` without ``--session`` reads sessions (newest first) for hashes."""
_FACTORY_NAME = re.compile(r"^(?P<id>.+)-[0-9a-f]{16}$")


def blob_kinds() -> tuple[str, ...]:
    """The blob kinds this lashdb knows (``blob ls --kind``)."""
    from lashdb.engine.base.codec import KNOWN_KINDS  # the codec loads cbor2 and zlib-ng: only here

    return KNOWN_KINDS


def short_first(ids: Iterable[str], incomplete: str, width: int) -> list[str]:
    """The ids starting with ``incomplete``: each one's unique prefix of at least ``width`` characters
    first (in the order given), then each whole id that is longer than its short form."""
    ids = list(dict.fromkeys(i for i in ids if i))
    short = _unique_prefixes(ids, width)
    shorts = [short[i] for i in ids if short[i].startswith(incomplete)]
    taken = set(shorts)
    whole = [i for i in ids if i.startswith(incomplete) and i != short[i] and i not in taken]
    return list(dict.fromkeys(shorts + whole))


def _unique_prefixes(ids: list[str], width: int) -> dict[str, str]:
    out = {}
    ordered = sorted(ids)
    for n, ident in enumerate(ordered):
        size = width
        for other in (ordered[n - 1] if n else None, ordered[n + 1] if n + 1 < len(ordered) else None):
            if other is not None:
                common = len(os.path.commonprefix([ident, other]))
                size = max(size, common + 1)
        out[ident] = ident[:size]
    return out


def _session_entries(root: Path, recursive: bool) -> list[tuple[float, str, str]]:
    """(mtime, path, file name) of each session-looking ``*.db`` under root, newest first, by
    directory entry only; kept as text (a TAB on 2,000 files: Path objects and per-name
    sidecar checks on Paths cost more than the directory walk)."""
    found: list[tuple[float, str, str]] = []
    pending = [os.fspath(root)]
    while pending:
        directory = pending.pop()
        try:
            with os.scandir(directory) as it:
                entries = list(it)
        except OSError:
            continue
        for d in entries:
            try:
                if recursive and d.is_dir(follow_symlinks=False):
                    pending.append(d.path)
                elif d.name.endswith(".db") and not d.name.endswith(SIDECAR_ENDINGS):
                    found.append((d.stat().st_mtime, d.path, d.name))
            except OSError:
                continue
    found.sort(key=lambda item: (-item[0], item[1]))
    return found


def _session_files(root: Path, recursive: bool) -> list[tuple[float, Path]]:
    """(mtime, path) of each session-looking ``*.db`` under root, newest first, by directory entry only."""
    return [(mtime, Path(path)) for mtime, path, _name in _session_entries(root, recursive)]


def _id_of_name(name: str) -> str:
    stem = name[:-3]
    match = _FACTORY_NAME.match(stem)
    return match.group("id") if match else stem


def session_ids(backend: Any, *, recursive: bool = False) -> list[str]:
    """The ids of the sessions in ``backend``'s store, most recently modified first where known:
    on a directory the id the factory's file name carries (or the file name without ``.db``)."""
    root = getattr(backend, "root", None)
    try:
        if isinstance(root, Path):
            return [_id_of_name(name) for _m, _p, name in _session_entries(root, recursive)]
        return list(backend.catalog().session_ids())
    except (LashdbError, OSError):
        return []


def session_candidates(backend: Any, incomplete: str, *, recursive: bool = False) -> list[str]:
    """``SESSION`` completions: short forms first, then whole ids."""
    return short_first(session_ids(backend, recursive=recursive), incomplete, SESSION_SHORT)


def _hex(incomplete: str) -> str | None:
    text = incomplete.lower()
    return text if re.fullmatch(r"[0-9a-f]*", text) else None


def _hashes(target: Any, prefix: str) -> list[str]:
    from lashdb.engine.session import blobs
    from lashdb.engine.session.store import Store

    with Store.open_readonly(target) as store:
        return store.snapshot(lambda tx: blobs.hashes_with_prefix(tx, prefix))


def blob_candidates(backend: Any, incomplete: str, session: Any | None = None, *, recursive: bool = False,
                    clock: Callable[[], float] = time.monotonic, budget_s: float = BLOB_BUDGET_S) -> list[str]:
    """``blob cat HASH`` completions: the hashes of ``session`` (a resolved target), or of the
    sessions of the store newest first until ``budget_s`` has passed; short forms first."""
    prefix = _hex(incomplete)
    if prefix is None:
        return []
    if session is not None:
        targets: list[Any] = [session]
    else:
        root = getattr(backend, "root", None)
        if isinstance(root, Path):
            targets = [p for _m, p in _session_files(root, recursive)]
        else:
            targets = [backend.location(sid) for sid in session_ids(backend)]
    found: list[str] = []
    start = clock()
    for target in targets:
        try:
            found.extend(_hashes(target, prefix))
        except LashdbError:
            continue
        if clock() - start > budget_s:
            break
    return short_first(sorted(set(found)), prefix, HASH_SHORT)


def deployment_file(backend: Any, role: str, *, recursive: bool = False) -> Any | None:
    """The only ``role`` sidecar under a directory root, by file name (``None`` for none or several);
    on a URL store the store itself (its deployment rows span the database)."""
    root = getattr(backend, "root", None)
    if not isinstance(root, Path):
        try:
            return backend.deployment_store(role, recursive=recursive)
        except LashdbError:
            return None
    suffix = ".db" + SIDECAR_SUFFIXES[role]
    found: list[Path] = []
    pending = [root]
    while pending:
        directory = pending.pop()
        try:
            with os.scandir(directory) as it:
                for d in it:
                    if d.name.endswith(suffix):
                        found.append(directory / d.name)
                    elif recursive and d.is_dir(follow_symlinks=False):
                        pending.append(directory / d.name)
        except OSError:
            continue
    return found[0] if len(found) == 1 else None


def process_candidates(backend: Any, where: Any, incomplete: str, now_ms: int) -> list[str]:
    """``processes show ID`` completions from the process registry ``where``: short forms first."""
    if where is None:
        return []
    try:
        with backend.inspector("processes", where) as inspector:
            ids = [p.process_id for p in inspector.list_processes(now_ms=now_ms)]
    except LashdbError:
        return []
    return short_first(ids, incomplete, SESSION_SHORT)


def scope_candidates(where: Any, incomplete: str) -> list[str]:
    """``effects replay --scope S`` completions: the scopes of the effect journal ``where``, in order."""
    if where is None:
        return []
    from .effects import list_effects

    try:
        scopes = dict.fromkeys(r.scope_id for r in list_effects(where))
    except LashdbError:
        return []
    return [s for s in scopes if s and s.startswith(incomplete)]
