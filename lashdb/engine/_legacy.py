"""Old dotted module paths of moved engine modules (issue 11), kept for outside callers.

Contract: importing an old path (``lashdb.engine.codec``) gives the SAME module object as the new
one (``lashdb.engine.base.codec``), so ``monkeypatch.setattr(lashdb.engine.codec, ...)`` patches the
real code and ``isinstance`` checks agree. Resolution is lazy: a ``sys.meta_path`` finder answers
only the names in :data:`MOVED`, importing the new module on first use. Drop in a later release.
An old module split in two (:data:`SPLIT`: ``effects`` lost its read-only inspection to
``ops.effects``) gets the other half's public names put back on it when it is reached by its old
name, so ``lashdb.engine.effects.list_effects`` keeps working.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import sys
import types

# old dotted name -> new dotted name
MOVED: dict[str, str] = {
    **{f"lashdb.engine.{name}": f"lashdb.engine.base.{name}"
       for name in ("errors", "timing", "jsonread", "canonical", "codec", "parallel", "values")},
    "lashdb.engine.connection": "lashdb.engine.sqlite.connection",
    "lashdb.engine.schema": "lashdb.engine.sqlite.schema",
    "lashdb.engine.session_rows": "lashdb.engine.sqlite.session_rows",
    "lashdb.engine.session_read": "lashdb.engine.sqlite.session_read",
    "lashdb.engine.deployment_common": "lashdb.engine.sqlite.deployment_common",
    "lashdb.engine.model": "lashdb.engine.session.model",
    "lashdb.engine.store": "lashdb.engine.session.store",
    "lashdb.engine.commit": "lashdb.engine.session.commit",
    "lashdb.engine.graph": "lashdb.engine.session.graph",
    "lashdb.engine.blobs": "lashdb.engine.session.blobs",
    "lashdb.engine.gc": "lashdb.engine.session.gc",
    "lashdb.engine.leases": "lashdb.engine.session.leases",
    "lashdb.engine.queued_work": "lashdb.engine.session.queued_work",
    "lashdb.engine.attachments": "lashdb.engine.session.attachments",
    "lashdb.engine.factory": "lashdb.engine.session.factory",
    "lashdb.engine.checkpoints": "lashdb.engine.session.checkpoints",
    "lashdb.engine.store_aio": "lashdb.engine.session.aio",
    "lashdb.engine.process_model": "lashdb.engine.deployment.process_model",
    "lashdb.engine.process_semantics": "lashdb.engine.deployment.semantics",
    "lashdb.engine.process_registry": "lashdb.engine.deployment.process_registry",
    "lashdb.engine.triggers": "lashdb.engine.deployment.triggers",
    "lashdb.engine.effects": "lashdb.engine.deployment.effects",
    "lashdb.engine.deployment_aio": "lashdb.engine.deployment.aio",
    "lashdb.engine.discovery": "lashdb.engine.ops.discovery",
    "lashdb.engine.inspect": "lashdb.engine.ops.inspect",
    "lashdb.engine.verify": "lashdb.engine.ops.verify",
    "lashdb.engine.doctor": "lashdb.engine.ops.doctor",
    "lashdb.engine.maintenance": "lashdb.engine.ops.maintenance",
    "lashdb.engine.deployment_inspect": "lashdb.engine.ops.deployment_inspect",
}


# old dotted name -> the module whose ``__all__`` was split off it (put back on the old name's module)
SPLIT: dict[str, str] = {"lashdb.engine.effects": "lashdb.engine.ops.effects"}


def _resolve(old: str) -> types.ModuleType:
    """The module ``old`` stands for, with what was split off it put back."""
    real = importlib.import_module(MOVED[old])
    half = SPLIT.get(old)
    if half is not None:
        # The composition root's job (deployment may not import ops): done here, on first use.
        other = importlib.import_module(half)
        for name in other.__all__:
            setattr(real, name, getattr(other, name))
    return real


# Plain classes, not importlib.abc subclasses: importlib.abc imports importlib.resources (~10 ms).
class _AliasLoader:
    def __init__(self, real: types.ModuleType) -> None:
        self.real = real
        self.real_spec = real.__spec__

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        return self.real

    def exec_module(self, module: types.ModuleType) -> None:
        # The import system stamped the alias spec on the shared module; give it back its own, so
        # the module still names its real home (reload, pickling, tracebacks).
        module.__spec__ = self.real_spec
        module.__loader__ = self.real_spec.loader


class _AliasFinder:
    def find_spec(self, fullname: str, path: object = None, target: object = None):  # noqa: ANN201
        if fullname not in MOVED:
            return None
        real = _resolve(fullname)
        return importlib.machinery.ModuleSpec(fullname, _AliasLoader(real), origin=real.__spec__.origin)


def install() -> None:
    """Put the alias finder on ``sys.meta_path`` (once)."""
    if not any(isinstance(f, _AliasFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _AliasFinder())


def module(name: str) -> types.ModuleType:
    """The module an old attribute name of ``lashdb.engine`` stands for (``codec`` -> base.codec)."""
    return _resolve(f"lashdb.engine.{name}")
