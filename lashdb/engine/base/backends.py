"""Where storage backends register their openers (the seam between the rules and the statements).

Contract:
- The layers above the seam (``session``, ``deployment``, ``ops``) never import a backend package;
  they ask this registry for an opener by name (``"sqlite.session"``, ``"sqlite.trigger_store"``,
  ``"postgres"``…). A backend package registers its openers when it is imported.
- The built-in backends (:data:`BUILTIN_PROVIDERS`) are imported by module name on the first lookup
  that needs them — a name under their prefix, a name nobody registered, or :func:`registered` —
  so nothing has to import them beforehand and ``import lashdb.engine`` loads neither. Base names
  them only as strings: it imports no backend package (``tests/test_source.py``).
- An opener may be registered as a ``"module:function"`` string, imported on first use, so that
  registering costs nothing (psycopg is never imported until a Postgres target is opened).
- Asking for a name nobody registered, once the built-ins are loaded, raises
  :class:`BackendError` naming it and what is known.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable
from typing import Any

from .errors import BackendError

BUILTIN_PROVIDERS: dict[str, str] = {"sqlite": "lashdb.engine.sqlite", "postgres": "lashdb.engine.postgres"}
"""Name prefix → the package that registers the openers under it when imported."""

_OPENERS: dict[str, Callable[..., Any] | str] = {}
_LOCK = threading.Lock()
_LOADED: set[str] = set()


def register(name: str, opener: Callable[..., Any] | str) -> None:
    """Make ``opener`` (a callable or a lazy ``"module:function"``) the one answering ``name``."""
    with _LOCK:
        _OPENERS[name] = opener


def _load(prefixes: tuple[str, ...] | None = None) -> None:
    """Import the built-in providers of ``prefixes`` (all when None), each at most once: a provider's
    openers an owner later removes (a test, an install without a backend) are not put back."""
    for prefix, module in BUILTIN_PROVIDERS.items():
        if (prefixes is None or prefix in prefixes) and module not in _LOADED:
            # Not under _LOCK: the provider's register() calls take it.
            importlib.import_module(module)
            _LOADED.add(module)


def _lookup(name: str) -> Callable[..., Any] | str | None:
    with _LOCK:
        return _OPENERS.get(name)


def opener(name: str) -> Callable[..., Any]:
    """The opener registered as ``name`` (importing it on first use); BackendError if none is."""
    found = _lookup(name)
    if found is None:
        _load((name.partition(".")[0],))
        found = _lookup(name)
    if found is None:
        _load()
        found = _lookup(name)
    if found is None:
        known = ", ".join(registered()) or "none"
        raise BackendError(f"no storage backend is registered as {name!r} (known: {known})",
                           hint="a backend package registers its openers with "
                                "lashdb.engine.base.backends.register when imported")
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
    """Every registered name, the built-in backends' included, sorted."""
    _load()
    with _LOCK:
        return sorted(_OPENERS)
