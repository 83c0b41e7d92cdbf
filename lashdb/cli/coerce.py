"""Command-line values coerced as Typer does, without pydantic where it is not needed (start-up speed).

Contract: :func:`runtime_param` gives a Typer parameter the value Typer's own coercion would give
for a ``str``, ``Path``, ``int`` or Enum parameter, or a list of one: strings as they are, paths and
choices through Typer's own ``coerce_cli_path``/``coerce_cli_choice`` (so their checks are
unchanged), decimal integers within their bounds by ``int``. Every other value (clamped numbers,
floats, custom parsers, files, a value Typer must refuse, so its message is Typer's) goes to Typer's
coercion, built on first need. Why: Typer 0.29 builds a pydantic ``TypeAdapter`` for each
parameter of the command being run, even one not given, and importing pydantic costs about what
importing Typer does (~60 ms), paid by every command and every TAB of shell completion.
"""

from __future__ import annotations

import os
import re
from enum import Enum
from pathlib import Path
from typing import Any, get_args, get_origin

from typer._coercion import build_runtime_param
from typer._param_types import coerce_cli_choice, coerce_cli_path

_TYPERS = object()  # marker: the value needs Typer's own coercion


class _Coercion:
    """The runtime coercion of one parameter: :func:`_quick` where it answers, else Typer's."""

    def __init__(self, descriptor: Any) -> None:
        self.descriptor = descriptor
        self._typer: Any = None

    def coerce(self, value: Any, param: Any, ctx: Any) -> Any:
        if value is None:  # as Typer's RuntimeParam.coerce: nothing given
            return () if param.multiple or param.nargs == -1 else None
        quick = _quick(self.descriptor, value, param, ctx)
        if quick is not _TYPERS:
            return quick
        if self._typer is None:
            self._typer = build_runtime_param(self.descriptor)
        return self._typer.coerce(value, param=param, ctx=ctx)


def _quick(descriptor: Any, value: Any, param: Any, ctx: Any) -> Any:
    """``value`` coerced as Typer would for a plain parameter of a type below (or a list of one), else _TYPERS."""
    info = descriptor.parameter_info
    if info.parser is not None or descriptor.file_annotation is not None:
        return _TYPERS
    annotation = descriptor.annotation
    multi = param.multiple or param.nargs == -1
    is_list = get_origin(annotation) is list
    if is_list != multi or (multi and not isinstance(value, (list, tuple))):
        return _TYPERS
    leaf = get_args(annotation)[0] if is_list else annotation
    out = [_leaf(leaf, info, v, param, ctx) for v in (value if multi else [value])]
    if any(v is _TYPERS for v in out):
        return _TYPERS
    return out if multi else out[0]


_INT = re.compile(r"[+-]?[0-9]+")


def _leaf(leaf: Any, info: Any, value: Any, param: Any, ctx: Any) -> Any:
    """One value as Typer coerces it for ``leaf``, where that needs no pydantic; else _TYPERS."""
    if leaf is str:
        return value if isinstance(value, str) else _TYPERS
    if leaf is Path:
        if info.path_type not in (None, Path) or not isinstance(value, (str, Path)):
            return _TYPERS
        path = Path(value)
        if os.fspath(path) != os.fspath(value):
            return _TYPERS  # "" or "a/": Typer's messages quote the text as typed
        # Given a Path, Typer's own check skips its pydantic step and does the rest (stat, flags).
        return coerce_cli_path(path, info, path_type=Path, param=param, ctx=ctx)
    if leaf is int:
        if isinstance(value, str) and _INT.fullmatch(value):
            value = int(value)
        if info.clamp or not isinstance(value, int) or isinstance(value, bool):
            return _TYPERS
        if (info.min is not None and value < info.min) or (info.max is not None and value > info.max):
            return _TYPERS  # out of bounds: Typer's refusal
        return value
    if isinstance(leaf, type) and issubclass(leaf, Enum):
        if isinstance(value, leaf):  # a default: Typer hands the member back as it is
            return value
        if not isinstance(value, str):
            return _TYPERS
        try:
            return coerce_cli_choice(value, choices=list(leaf), case_sensitive=info.case_sensitive, ctx=ctx)
        except ValueError:
            return _TYPERS  # Typer's own coercion words the refusal
    return _TYPERS


def runtime_param(param: Any) -> Any:
    """A Typer parameter's ``get_runtime_param()``: its :class:`_Coercion`, made once."""
    if param._runtime_param is None:
        param._runtime_param = _Coercion(param.type_descriptor)
    return param._runtime_param
