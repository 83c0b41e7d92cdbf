"""`import lashdb.engine` is cheap: it imports none of what it re-exports, no driver and no backend
package; each public name is imported on first use and is the object its home module holds.
(Speed itself is measured in bench/, never asserted here.)"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys

import lashdb.engine

HEAVY = ["apsw", "psycopg", "psycopg_pool", "cbor2", "zlib_ng", "msgpack", "orjson", "asyncio", "typer", "rich",
         "lashdb.engine.sqlite", "lashdb.engine.postgres", "lashdb.engine.sqlbase", "lashdb.engine.session",
         "lashdb.engine.deployment", "lashdb.engine.ops", "lashdb.engine.base.codec"]


def _fresh(code: str) -> object:
    """Run ``code`` in a new interpreter; it prints one JSON document, returned decoded."""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert (out.returncode, out.stderr) == (0, "")
    return json.loads(out.stdout)


def _loaded_after(statement: str) -> list[str]:
    return _fresh(f"import sys, json\n{statement}\n"
                  f"print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))")


def test_importing_the_package_imports_no_store_module_driver_or_backend():
    assert _loaded_after("import lashdb.engine") == []
    lashdb_modules = _fresh("import sys, json, lashdb.engine\n"
                            "print(json.dumps(sorted(m for m in sys.modules if m.startswith('lashdb'))))")
    assert lashdb_modules == ["lashdb", "lashdb.engine", "lashdb.engine._legacy"]


def test_a_name_imports_its_home_module_only_as_far_as_it_needs():
    # the errors need nothing but base.errors; Store needs the session layer and the codec, not
    # the PostgreSQL backend or its driver; open_backend needs neither backend until a store is opened
    assert _loaded_after("from lashdb.engine import LashdbError, DatabaseBusy") == []
    store = _loaded_after("from lashdb.engine import Store")
    assert {"lashdb.engine.session", "lashdb.engine.base.codec", "cbor2"} <= set(store)
    assert not {"psycopg", "lashdb.engine.postgres", "lashdb.engine.deployment", "typer"} & set(store)
    opened = _loaded_after("from lashdb.engine import open_backend")
    assert not {"apsw", "psycopg", "lashdb.engine.sqlite", "lashdb.engine.postgres"} & set(opened)


def test_every_public_name_resolves_in_a_fresh_interpreter_to_its_home_modules_object():
    code = (
        "import importlib, json, lashdb.engine as e\n"
        "bad = [n for n in e.__all__ if getattr(e, n) is not (\n"
        "    getattr(importlib.import_module(e._HOME[n], 'lashdb.engine'), n) if n in e._HOME\n"
        "    else importlib.import_module('lashdb.engine.' + n))]\n"
        "print(json.dumps([len(e.__all__), bad, 'postgres' in __import__('sys').modules]))\n"
    )
    count, bad, _ = _fresh(code)
    assert (count, bad) == (len(lashdb.engine.__all__), [])


def test_the_table_names_only_real_homes_and_all_is_the_table_plus_the_old_module_names():
    for name, home in lashdb.engine._HOME.items():
        assert hasattr(importlib.import_module(home, "lashdb.engine"), name), (name, home)
    assert set(lashdb.engine.__all__) - set(lashdb.engine._HOME) <= lashdb.engine._OLD_SUBMODULES
    assert len(lashdb.engine._HOME) == sum(len(v) for v in lashdb.engine._EXPORTS.values())  # no name twice


def test_dir_lists_every_public_name_before_and_after_use():
    names = _fresh("import json, lashdb.engine as e\nbefore = dir(e)\ne.Store\n"
                   "print(json.dumps([before, dir(e)]))")
    for listing in names:
        assert set(lashdb.engine.__all__) <= set(listing) and listing == sorted(listing)
        assert "_HOME" in listing and "__getattr__" in listing


def test_a_resolved_name_is_kept_on_the_package():
    from lashdb.engine.session.model import SessionMeta

    assert lashdb.engine.SessionMeta is SessionMeta
    assert lashdb.engine.__dict__["SessionMeta"] is SessionMeta


def test_the_old_effects_path_has_the_inspection_names_in_a_fresh_interpreter():
    got = _fresh(
        "import json, sys\n"
        "from lashdb.engine.effects import list_effects, EffectHost\n"
        "from lashdb.engine.ops import effects as ops\n"
        "from lashdb.engine.deployment import effects as dep\n"
        "import lashdb.engine.effects as old\n"
        "print(json.dumps([list_effects is ops.list_effects, old is dep, EffectHost is dep.EffectHost,\n"
        "                  all(getattr(old, n) is getattr(ops, n) for n in ops.__all__)]))\n"
    )
    assert got == [True, True, True, True]
    attr = _fresh("import json, lashdb.engine as e\nprint(json.dumps([e.effects.replay_plan is "
                  "__import__('lashdb.engine.ops.effects', fromlist=['x']).replay_plan]))")
    assert attr == [True]


def test_star_import_gives_every_public_name():
    namespace: dict[str, object] = {}
    exec("from lashdb.engine import *", namespace)
    assert set(lashdb.engine.__all__) <= set(namespace)


def test_the_type_stub_names_every_public_name_from_its_home():
    # lashdb/engine/__init__.pyi is what type checkers and IDEs read in place of the lazy __init__
    import ast
    from pathlib import Path

    from lashdb.engine import _legacy

    stub = ast.parse(Path(lashdb.engine.__file__).with_suffix(".pyi").read_text())
    seen: dict[str, str] = {}
    for node in stub.body:
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            for alias in node.names:
                assert alias.asname is not None, alias.name  # `X as X`: re-exported, not private
                assert alias.asname not in seen, alias.asname
                seen[alias.asname] = f".{node.module or ''}:{alias.name}"
    assert set(seen) == set(lashdb.engine.__all__)
    for name, where in seen.items():
        module, attr = where.split(":")
        if name in lashdb.engine._HOME:
            assert (module, attr) == (lashdb.engine._HOME[name], name), name
        else:  # an old submodule name: the module it stands for
            real = _legacy.MOVED.get(f"lashdb.engine.{name}", f"lashdb.engine.{name}")
            assert f"lashdb.engine{module}.{attr}".replace("engine..", "engine.") == real, name
