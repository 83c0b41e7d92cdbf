"""Old dotted module paths of moved engine modules keep working (lashdb/engine/_legacy.py).

A moved module must be the SAME object under its old name: a copy would make
``monkeypatch.setattr(lashdb.engine.codec, ...)`` patch nothing and ``except old.X`` miss new errors.
"""

from __future__ import annotations

import importlib
import pickle
import subprocess
import sys

import pytest

import lashdb.engine
from lashdb.engine import _legacy

MOVED_TO_BASE = ["errors", "timing", "jsonread", "canonical", "codec", "parallel", "values"]


MOVED_ELSEWHERE = {
    "connection": "sqlite.connection",
    "schema": "sqlite.schema",
    "session_rows": "sqlite.session_rows",
    "session_read": "sqlite.session_read",
    "deployment_common": "sqlite.deployment_common",
    "model": "session.model",
    "store": "session.store",
    "commit": "session.commit",
    "graph": "session.graph",
    "blobs": "session.blobs",
    "gc": "session.gc",
    "leases": "session.leases",
    "queued_work": "session.queued_work",
    "attachments": "session.attachments",
    "factory": "session.factory",
    "checkpoints": "session.checkpoints",
    "store_aio": "session.aio",
    "process_model": "deployment.process_model",
    "process_semantics": "deployment.semantics",
    "process_registry": "deployment.process_registry",
    "triggers": "deployment.triggers",
    "effects": "deployment.effects",
    "deployment_aio": "deployment.aio",
    "discovery": "ops.discovery",
    "inspect": "ops.inspect",
    "verify": "ops.verify",
    "doctor": "ops.doctor",
    "maintenance": "ops.maintenance",
    "deployment_inspect": "ops.deployment_inspect",
}


def test_the_alias_table_names_every_moved_module():
    expected = {f"lashdb.engine.{m}": f"lashdb.engine.base.{m}" for m in MOVED_TO_BASE}
    expected.update({f"lashdb.engine.{old}": f"lashdb.engine.{new}" for old, new in MOVED_ELSEWHERE.items()})
    assert _legacy.MOVED == expected


def test_lashdb_demo_is_the_moved_demo_module():
    import lashdb.demo
    from lashdb.engine.ops import demo

    assert lashdb.demo is demo


@pytest.mark.parametrize("old, new", sorted(_legacy.MOVED.items()))
def test_old_path_is_the_moved_module_itself(old, new):
    real = importlib.import_module(new)
    assert importlib.import_module(old) is real
    assert sys.modules[old] is real
    assert getattr(lashdb.engine, old.rpartition(".")[2]) is real
    # the alias does not rename the real module
    assert real.__name__ == new
    assert real.__spec__.name == new


def test_old_paths_work_in_a_fresh_interpreter_before_anything_else():
    code = (
        "import sys\n"
        "from lashdb.engine.errors import BackendError\n"
        "import lashdb.engine.codec as old_codec\n"
        "import lashdb.engine\n"
        "from lashdb.engine.base import codec, errors, parallel\n"
        "assert old_codec is codec and BackendError is errors.BackendError\n"
        "assert lashdb.engine.parallel is parallel\n"  # attribute access without an import
        "assert sys.modules['lashdb.engine.parallel'] is parallel\n"
        "assert not {'typer', 'rich', 'click'} & set(sys.modules)\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert (out.returncode, out.stdout.strip(), out.stderr) == (0, "ok", "")


def test_monkeypatching_the_old_path_patches_the_code_that_runs(monkeypatch):
    from lashdb.engine.base import timing

    import lashdb.engine.timing as old_timing

    monkeypatch.setattr(old_timing, "wall_clock_ms", lambda: 1_700_000_000_123)
    assert timing.wall_clock_ms() == 1_700_000_000_123


def test_errors_raised_by_moved_code_are_caught_by_their_old_names():
    from lashdb.engine.base import codec
    from lashdb.engine.errors import BlobDecodeError

    with pytest.raises(BlobDecodeError) as caught:
        codec.parse_envelope(b"\xa1", "ab" * 32)  # a CBOR map cut short
    assert type(caught.value).__module__ == "lashdb.engine.base.errors"


def test_moved_errors_pickle_under_their_real_module():
    from lashdb.engine.errors import DatabaseNotFound

    err = DatabaseNotFound("/tmp/nowhere.db")
    assert type(err).__module__ == "lashdb.engine.base.errors"
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is DatabaseNotFound  # (message round-trip is a separate, pre-existing matter)


def test_aio_is_a_reexport_of_the_facade_and_the_helpers():
    from lashdb.engine import aio
    from lashdb.engine.deployment import aio as deployment_aio
    from lashdb.engine.session import aio as store_aio
    from lashdb.engine.base import aio as base_aio

    assert aio.AsyncFacade is base_aio.AsyncFacade
    assert aio.WorkerIterator is base_aio.WorkerIterator
    assert aio.open_store is store_aio.open_store and aio.memory_store is store_aio.memory_store
    for name in ("open_process_registry", "memory_process_registry", "open_trigger_store",
                 "memory_trigger_store", "open_effect_host", "memory_effect_host"):
        assert getattr(aio, name) is getattr(deployment_aio, name)
    # the facade itself no longer reaches up for them
    assert not hasattr(base_aio, "open_store")


def test_u64_casts_stay_importable_from_deployment_common():
    from lashdb.engine.sqlite import deployment_common
    from lashdb.engine.base import ints

    for name in ("I64_MAX", "U64_MAX", "to_i64", "from_i64", "clamp_cursor"):
        assert getattr(deployment_common, name) is getattr(ints, name)
    assert ints.to_i64(2**64 - 1) == -1 and ints.from_i64(-1) == 2**64 - 1


def test_facade_all_still_lists_the_old_submodule_names_but_not_the_new_package():
    names = set(lashdb.engine.__all__)
    assert {"aio", "errors", "timing", "jsonread", "canonical", "codec", "values"} <= names
    assert "base" not in names and "parallel" not in names
    namespace: dict[str, object] = {}
    exec("from lashdb.engine import *", namespace)
    assert namespace["codec"] is importlib.import_module("lashdb.engine.base.codec")


def test_unknown_old_names_still_fail_normally():
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("lashdb.engine.no_such_module")
    with pytest.raises(AttributeError):
        lashdb.engine.no_such_module  # noqa: B018
