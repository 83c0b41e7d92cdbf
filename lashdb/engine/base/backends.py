"""Where storage backends register their openers (the seam between the rules and the statements).

Contract:
- The layers above the seam (``session``, ``deployment``, ``ops``) never import a backend package;
  they ask this registry for an opener by name (``"sqlite.session"``, ``"sqlite.trigger_store"``,
  ``"postgres"``…). A backend package registers its openers when it is imported; the composition
  root (``lashdb.engine``) imports the SQLite backend, so a plain ``import lashdb.engine`` is enough.
- An opener may be registered as a ``"module:function"`` string, imported on first use, so that
  registering costs nothing (psycopg is never imported until a Postgres target is opened).
- Asking for a name nobody registered raises :class:`BackendError` naming it and what is known.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable
from typing import Any

from .errors import BackendError

_OPENERS: dict[str, Callable[..., Any] | str] = {}
_LOCK = threading.Lock()


def register(name: str, opener: Callable[..., Any] | str) -> None:
    """Make ``opener`` (a callable or a lazy ``"module:function"``) the one answering ``name``."""
    with _LOCK:
        _OPENERS[name] = opener


def opener(name: str) -> Callable[..., Any]:
    """The opener registered as ``name`` (importing it on first use); BackendError if none is."""
    with _LOCK:
        found = _OPENERS.get(name)
    if found is None:
        known = ", ".join(sorted(_OPENERS)) or "none"
        raise BackendError(f"no storage backend is registered as {name!r} (known: {known})",
                           hint="import lashdb.engine, which registers the built-in backends")
    if isinstance(found, str):
        module, _, attr = found.partition(":")
        found = importlib.import_module(module)
        for part in attr.split("."):  # "module:Class.method" names a classmethod
            found = getattr(found, part)
        with _LOCK:
            _OPENERS[name] = found
    return found


def open_with(name: str, *args: Any, **kwargs: Any) -> Any:
    """Call the opener registered as ``name``."""
    return opener(name)(*args, **kwargs)


def registered() -> list[str]:
    """Every registered name, sorted."""
    with _LOCK:
        return sorted(_OPENERS)
