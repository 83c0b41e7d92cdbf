"""Architecture rules read from the source with ``ast`` (nothing is imported).

The allowlists below are ratchets: they name what is true today and may only shrink. A new cycle,
a new SQL module or a new oversized file fails; so does an allowlisted entry that is no longer true,
so the lists never claim more than the code does.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

SQLITE = "lashdb.engine.sqlite."
BACKENDS = ("lashdb.engine.sqlite.", "lashdb.engine.postgres.", "lashdb.engine.sqlbase.")
PKG = Path(__file__).resolve().parent.parent / "lashdb"

# Import cycles over every edge (top level, TYPE_CHECKING and function-local), as sorted members.
ALLOWED_CYCLES: set[tuple[str, ...]] = set()  # none left: keep it that way

# Engine modules outside ``sqlite/`` that still hold SQL text (issue 11's seam moves it out).
# Everything under ``engine/sqlite/``, ``engine/postgres/`` and their shared ``engine/sqlbase/`` may;
# nothing else (the CLI above all) may.
SQL_MODULES: set[str] = set()  # none left: SQL lives only in the backend packages

MAX_LINES = 600
# Files over MAX_LINES today, relative to lashdb/.
LONG_FILES: set[str] = set()  # none left

SQL = re.compile(r"\b(SELECT|INSERT|UPDATE|DELETE|CREATE|PRAGMA|BEGIN)\b")


def _name(path: Path) -> str:
    parts = list(path.relative_to(PKG.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _short(name: str) -> str:
    return name.removeprefix("lashdb.engine.").removeprefix("lashdb.")


MODULES = {_name(p): p for p in sorted(PKG.rglob("*.py"))}
TREES = {name: ast.parse(path.read_text(), str(path)) for name, path in MODULES.items()}


def _imports(name: str) -> set[str]:
    """Every module of ``name``'s imports, at any depth; ``lashdb.x`` targets resolved to known modules."""
    is_pkg = MODULES[name].name == "__init__.py"
    out: set[str] = set()
    for node in ast.walk(TREES[name]):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".")[: None if is_pkg else -1]
                base = base[: len(base) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            targets = [f"{mod}.{a.name}" if f"{mod}.{a.name}" in MODULES else mod for a in node.names]
        else:
            continue
        out.update(targets)
    return out


def _graph() -> dict[str, set[str]]:
    adj: dict[str, set[str]] = {}
    for name in MODULES:
        edges = set()
        for target in _imports(name):
            while target and target not in MODULES:
                target = target.rpartition(".")[0]
            # a package re-exporting its own children is not a cycle edge
            if target and target != name and not target.startswith(name + "."):
                edges.add(target)
        adj[name] = edges
    return adj


def _cycles(adj: dict[str, set[str]]) -> set[tuple[str, ...]]:
    """Strongly connected components of more than one module (Tarjan, recursive: the graph is small)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: set[tuple[str, ...]] = set()

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in adj[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while not comp or comp[-1] != v:
                comp.append(stack.pop())
            if len(comp) > 1:
                found.add(tuple(sorted(_short(c) for c in comp)))

    for v in sorted(adj):
        if v not in index:
            visit(v)
    return found


def _sql_strings(name: str) -> list[tuple[int, str]]:
    tree = TREES[name]
    docs = {id(n.body[0].value) for n in ast.walk(tree)
            if isinstance(n, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
            and n.body and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)}
    return [(n.lineno, n.value) for n in ast.walk(tree)
            if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docs
            and SQL.search(n.value)]


def test_import_cycles_only_shrink():
    found = _cycles(_graph())
    assert not found - ALLOWED_CYCLES, f"new import cycle(s): {sorted(found - ALLOWED_CYCLES)}"
    assert not ALLOWED_CYCLES - found, f"cycle(s) gone, remove from ALLOWED_CYCLES: {sorted(ALLOWED_CYCLES - found)}"


def test_engine_never_imports_the_cli_stack_and_cli_never_imports_drivers():
    for name in MODULES:
        roots = {t.split(".")[0] for t in _imports(name)}
        if name.startswith("lashdb.engine"):
            assert not roots & {"typer", "rich", "click"}, name
            if not name.startswith("lashdb.engine.postgres"):
                assert not roots & {"psycopg", "psycopg_pool", "psycopg2"}, name
            assert not any(t.startswith("lashdb.cli") for t in _imports(name)), name
        if name.startswith("lashdb.engine.sqlbase"):  # shared by both backends: no driver of either
            assert not roots & {"apsw", "sqlite3", "psycopg", "psycopg_pool", "psycopg2"}, name
        if name.startswith("lashdb.cli"):
            assert not roots & {"apsw", "sqlite3", "psycopg", "psycopg2"}, name


def test_sql_text_only_in_allowlisted_engine_modules():
    holders = {name for name in MODULES if _sql_strings(name)}
    engine = {_short(n) for n in holders if n.startswith("lashdb.engine.") and not n.startswith(BACKENDS)}
    others = sorted(n for n in holders if not n.startswith("lashdb.engine."))
    assert not others, f"SQL outside the engine: {[(n, _sql_strings(n)[:2]) for n in others]}"
    assert not engine - SQL_MODULES, f"SQL in new module(s): {sorted(engine - SQL_MODULES)}"
    assert not SQL_MODULES - engine, f"no SQL left, remove from SQL_MODULES: {sorted(SQL_MODULES - engine)}"


BASE = "lashdb.engine.base"


def _outside_base(adj: dict[str, set[str]]) -> dict[str, set[str]]:
    """Edges from a base module to any lashdb module outside base."""
    out = {}
    for name, targets in adj.items():
        if name == BASE or name.startswith(BASE + "."):
            bad = {t for t in targets if t.startswith("lashdb") and not (t == BASE or t.startswith(BASE + "."))}
            if bad:
                out[_short(name)] = bad
    return out


def test_base_imports_no_other_lashdb_package():
    # a rule, not a ratchet: base is the bottom layer (every edge counts, TYPE_CHECKING and local too)
    assert any(name.startswith(BASE + ".") for name in MODULES), "no lashdb/engine/base package found"
    assert not _outside_base(_graph()), f"base imports upward: {_outside_base(_graph())}"


# Module names base holds as strings (for importlib): only the built-in backend providers, which
# base.backends imports on the first lookup. A rule, not a ratchet: a string naming any other lashdb
# module outside base would be an upward import the edge rule above cannot see.
BASE_STRING_IMPORTS = {("base.backends", "lashdb.engine.sqlite"), ("base.backends", "lashdb.engine.postgres")}
_MODULE_NAME = re.compile(r"^lashdb(\.\w+)+(:[\w.]+)?$")


def _module_strings(name: str) -> set[str]:
    """Every string constant of ``name`` that names a lashdb module (``"pkg.mod"`` or ``"pkg.mod:attr"``)."""
    return {n.value.partition(":")[0] for n in ast.walk(TREES[name])
            if isinstance(n, ast.Constant) and isinstance(n.value, str) and _MODULE_NAME.match(n.value)
            and n.value.partition(":")[0] in MODULES}


def test_base_names_no_other_lashdb_module_as_a_string_but_the_backend_providers():
    found = {(_short(name), target) for name in MODULES if name == BASE or name.startswith(BASE + ".")
             for target in _module_strings(name) if not target.startswith(BASE)}
    assert found == BASE_STRING_IMPORTS, f"base names modules above it: {sorted(found - BASE_STRING_IMPORTS)}"


def test_module_line_limit():
    long = {str(p.relative_to(PKG)) for p in MODULES.values() if len(p.read_text().splitlines()) > MAX_LINES}
    assert not long - LONG_FILES, f"over {MAX_LINES} lines: {sorted(long - LONG_FILES)}"
    assert not LONG_FILES - long, f"now short, remove from LONG_FILES: {sorted(LONG_FILES - long)}"


def test_the_rules_see_what_they_claim_to():
    # guards against a scanner that silently finds nothing
    assert ("commit", "store") in _cycles({"lashdb.engine.commit": {"lashdb.engine.store"},
                                           "lashdb.engine.store": {"lashdb.engine.commit"}})
    assert "lashdb.engine.base.errors" in _graph()["lashdb.engine.session.store"]
    assert _outside_base({"lashdb.engine.base.codec": {"lashdb.engine.model", "lashdb.engine.base.errors"}}) \
        == {"base.codec": {"lashdb.engine.model"}}
    assert _sql_strings("lashdb.engine.sqlite.schema")
    # a string is not an import edge: base.backends names the providers and imports none of them ...
    assert not {t for t in _graph()["lashdb.engine.base.backends"] if not t.startswith(BASE)}
    # ... while a real import of one from base is still caught
    assert _outside_base({"lashdb.engine.base.backends": {"lashdb.engine.sqlite"}}) == \
        {"base.backends": {"lashdb.engine.sqlite"}}
    assert ("lashdb.engine.sqlite" in _module_strings("lashdb.engine.base.backends")
            and "lashdb.engine.sqlite.schema" in _module_strings("lashdb.engine.sqlite"))
    assert "typer" in {t.split(".")[0] for t in _imports("lashdb.cli.main")}


# --- layers -----------------------------------------------------------------------------------
# cli -> ops -> {session, deployment} -> base; sqlite and postgres implement the ports of
# session/deployment (so they may import them and base) and build on sqlbase, the statements both
# write once over a dialect, which sits right above base and knows no port and no driver. ``lashdb.engine`` itself (the facade, composition root) may
# import anything; the CLI may import only ops, base.errors and the facade.
LAYERS = {
    "cli": {"cli", "ops", "engine", "base.errors"},
    "ops": {"ops", "session", "deployment", "base"},
    "session": {"session", "base"},
    "deployment": {"deployment", "base"},
    "sqlite": {"sqlite", "sqlbase", "session", "deployment", "base"},
    "postgres": {"postgres", "sqlbase", "session", "deployment", "base"},
    "sqlbase": {"sqlbase", "base"},
    "base": {"base"},
}

# Edges that break the layer rule today (the seam removes them); may only shrink.
LAYER_EXCEPTIONS: set[tuple[str, str]] = set()  # none left


def _layer(name: str) -> str | None:
    short = _short(name)
    if name.startswith("lashdb.cli"):
        return "cli"
    head = short.split(".")[0]
    return head if head in LAYERS and name.startswith("lashdb.engine." + head) else None


def _allowed(src: str, dst: str) -> bool:
    layer = _layer(src)
    if layer is None or not dst.startswith("lashdb"):
        return True
    short = _short(dst)
    if dst in ("lashdb.engine", "lashdb"):
        return layer == "cli"
    for ok in LAYERS[layer]:
        if short == ok or short.startswith(ok + "."):
            return True
    return False


def _layer_violations() -> set[tuple[str, str]]:
    return {(_short(a), _short(b)) for a, targets in _graph().items() for b in targets if not _allowed(a, b)}


def test_imports_follow_the_layers():
    found = _layer_violations()
    assert not found - LAYER_EXCEPTIONS, f"layer rule broken: {sorted(found - LAYER_EXCEPTIONS)}"
    assert not LAYER_EXCEPTIONS - found, f"fixed, remove from LAYER_EXCEPTIONS: {sorted(LAYER_EXCEPTIONS - found)}"


def test_the_layer_rule_sees_a_wrong_edge():
    assert not _allowed("lashdb.engine.session.store", "lashdb.engine.deployment.triggers")
    assert not _allowed("lashdb.engine.session.store", "lashdb.engine.sqlite.connection")
    assert not _allowed("lashdb.cli.main", "lashdb.engine.sqlite.schema")
    assert not _allowed("lashdb.cli.main", "lashdb.engine.base.codec")
    assert _allowed("lashdb.cli.main", "lashdb.engine.base.errors")
    assert _allowed("lashdb.engine.sqlite.graph", "lashdb.engine.session.model")
    assert _allowed("lashdb.engine.postgres.inspect_effects", "lashdb.engine.sqlbase.inspect_effects")
    assert not _allowed("lashdb.engine.sqlbase.inspect_effects", "lashdb.engine.sqlite.connection")
    assert not _allowed("lashdb.engine.sqlbase.inspect_deployment", "lashdb.engine.deployment.ports")
    assert not _allowed("lashdb.engine.ops.processes", "lashdb.engine.sqlbase.dialect")


# --- the test tree mirrors the package tree ------------------------------------------------------
TESTS = Path(__file__).resolve().parent


def test_tests_are_filed_where_the_code_they_cover_lives():
    misplaced = []
    for path in sorted(TESTS.rglob("test_*.py")):
        rel = path.relative_to(TESTS).parts
        if rel == ("test_source.py",):
            continue  # the architecture rules cover the whole package
        if rel[0] in ("cli", "system") and len(rel) == 2:
            continue
        if rel[0] == "engine" and (len(rel) == 2 or (len(rel) == 3 and (PKG / "engine" / rel[1]).is_dir())):
            continue
        misplaced.append("/".join(rel))
    assert misplaced == [], f"put these under tests/engine/<package>/, tests/cli/ or tests/system/: {misplaced}"
    names = [p.name for p in TESTS.rglob("test_*.py")]
    assert len(names) == len(set(names)), "test module basenames must stay unique (rootdir import mode)"


# Engine modules with no test module of their own at the mirrored path. A ratchet: it may only
# shrink. The rule, for a module under ``lashdb/engine/<pkg>/`` (basenames are unique across tests/):
# - ``<pkg>/<module>.py`` is mapped by ``tests/engine/<pkg>/test_<module>.py`` or, where the name
#   repeats across packages (blobs, graph, triggers, ...), ``test_<pkg>_<module>.py``;
# - ``<pkg>/<sub>/<module>.py`` (a sub-package) is mapped by ``tests/engine/<pkg>/test_<sub>_<module>.py``,
#   or by ``test_<module>.py`` only when no other module of ``<pkg>`` at any depth has that name, so
#   ``ops/demo/sessions.py`` needs ``test_demo_sessions.py`` (``test_sessions.py`` covers
#   ``ops/sessions.py``) while ``deployment/process_model/scope.py`` may use ``test_scope.py``.
UNMAPPED: set[str] = set()  # none left: keep it that way


def _mapping_tests(rel: Path, stems: list[str]) -> list[str]:
    """The test basenames that map engine module ``rel`` (``<pkg>/[<sub>/]<module>.py``); ``stems`` are
    the names of every module in ``<pkg>``, at any depth."""
    pkg, module = rel.parts[0], rel.stem
    if len(rel.parts) == 2:
        return [f"test_{module}.py", f"test_{pkg}_{module}.py"]
    names = [f"test_{rel.parts[-2]}_{module}.py"]
    if stems.count(module) == 1:
        names.append(f"test_{module}.py")
    return names


def _unmapped(tests: Path | None = None) -> set[str]:
    out = set()
    engine, tests = PKG / "engine", tests or TESTS
    for pkg in sorted(p for p in engine.iterdir() if p.is_dir() and (p.name in LAYERS or p.name == "postgres")):
        modules = [m for m in sorted(pkg.rglob("*.py")) if m.name != "__init__.py"]
        stems = [m.stem for m in modules]
        for path in modules:
            rel = path.relative_to(engine)
            folder = tests / "engine" / pkg.name
            if not any((folder / name).exists() for name in _mapping_tests(rel, stems)):
                out.add("/".join(rel.with_suffix("").parts))
    return out


def test_every_engine_module_has_its_test_module_or_is_listed():
    found = _unmapped()
    assert not found - UNMAPPED, f"add tests/engine/<package>/test_<module>.py for: {sorted(found - UNMAPPED)}"
    assert not UNMAPPED - found, f"now mapped, remove from UNMAPPED: {sorted(UNMAPPED - found)}"


def test_the_test_map_rule_flags_a_missing_sub_package_test(tmp_path):
    # a same-named test of another module, or one in the wrong folder, does not map a sub-package module
    assert _mapping_tests(Path("ops/demo/sessions.py"), ["sessions", "sessions"]) == ["test_demo_sessions.py"]
    assert _mapping_tests(Path("deployment/process_model/scope.py"), ["scope"]) == \
        ["test_process_model_scope.py", "test_scope.py"]
    assert _mapping_tests(Path("ops/graph.py"), ["graph"]) == ["test_graph.py", "test_ops_graph.py"]
    assert "ops/demo/sessions" in _unmapped(tmp_path)
    (tmp_path / "engine" / "ops").mkdir(parents=True)
    (tmp_path / "engine" / "ops" / "test_sessions.py").touch()
    (tmp_path / "engine" / "ops" / "test_effects_host.py").touch()  # the right name in the wrong package
    found = _unmapped(tmp_path)
    assert {"ops/demo/sessions", "deployment/effects/host"} <= found and "ops/sessions" not in found
