"""CLI benchmarks: `sessions list` over 2,000 sessions, `blob verify` over 200 MB, their peak memory, start-up.

Each comparison is a ratio of two measurements taken in this same run, on this machine; nothing
here is a pass/fail test (the targets are printed beside the ratios). Run through ``bench/run``
(or directly: ``python bench/bench_cli.py [startup|sessions_list|blob_verify …]``);
``LASHDB_BENCH_QUICK=1`` shrinks the sizes.

Ratios are of interleaved rounds (A B B A, see ``_interleaved``): ``ratio`` is the median over
rounds, ``worst_round_ratio`` the worst single round, ``cpu_ratio`` the same in CPU seconds (this
process and its forked workers), which other load on the machine disturbs far less than wall time.

- ``sessions list --json`` over N session databases (2,000; quick 200), the command run in-process
  with its JSON going to /dev/null, vs a bare loop that opens each file ``immutable=1`` (``mode=ro``
  beside a ``-wal``, as SPEC §2 prescribes) and reads its meta row and head row. The sessions are one
  demo session copied N times, each copy given its own id through the engine
  (``Store.save_session_meta``). Target ≤ 1.5× with the default jobs (``parallel.DEFAULT_JOBS``: the
  cores, at most 4); ``--jobs 1`` is printed beside it. ``process_ratio``: both as fresh processes
  (start-up included: ``lashdb`` against the loop as a script of its own), with ``lashdb --version``'s
  wall time beside it, so the ratio can be read with and without start-up.
- peak RSS of ``lashdb sessions list --json`` over 10,000 sessions (quick 1,000; hard links to 500),
  a fresh process measured by ``wait4`` (its forked workers included). Target < 150 MB.
- ``blob verify`` of one session holding 200 MB (quick 20 MB) of logical content in opaque blobs
  (2 KB-2 MB; four in five zlib-compressed), in-process with ``--json`` to /dev/null, vs a bare
  single-threaded loop (select, CBOR-decode the envelope, inflate with zlib-ng, SHA-256, compare).
  Target ≤ 1.0× in every round. Also a session of 50 MB (quick 5 MB) of typed values (snapshots and
  manifests, CBOR maps of text lines), which verification must also decode: against the same loop
  and against the loop that decodes them too.
- peak RSS of ``lashdb blob verify`` of a session of 1 GB logical (quick 100 MB) in 4 MB blobs, a
  fresh process. Target < 150 MB.
- start-up: ``lashdb --version`` vs ``python -c 'import typer'`` (target ≤ 1.3×), ``lashdb --help``
  vs ``python -c 'import typer, rich.console'`` (target ≤ 1.5×), shell completion of a SESSION
  (``lashdb --root R sessions show <TAB>`` through the bash protocol the scripts in completions/
  use, on a root of 2,000 session files — hard links of one demo session under factory names —
  every id printed) vs ``python -c 'import typer'`` (target: within 300 ms, issue 14), and
  ``python -c 'import lashdb.engine'`` vs ``python -c pass``: wall time of fresh processes,
  medians of 21 (quick 15) runs each, the two sides interleaved, with bytecode caching on (as in
  an installed package) even when the shell sets ``PYTHONDONTWRITEBYTECODE``. Absolute ms are
  printed beside each ratio.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import apsw
import cbor2
import zlib_ng.zlib_ng as zlib_ng

from lashdb.engine.ops.demo import build_demo
from lashdb.engine import Descriptor, SessionMeta, Store, StoreOptions
from lashdb.engine import parallel
from lashdb.engine.codec import BlobProfile

QUICK = os.environ.get("LASHDB_BENCH_QUICK") == "1"
PYTHON = sys.executable
LASHDB = str(Path(sys.executable).parent / "lashdb")


@contextlib.contextmanager
def _stdout_to_devnull():
    """Point fd 1 (and sys.stdout) at /dev/null, so a command's output costs what a pipe would."""
    sys.stdout.flush()
    saved = os.dup(1)
    with open(os.devnull, "w") as null:
        os.dup2(null.fileno(), 1)
        try:
            yield
        finally:
            sys.stdout.flush()
            os.dup2(saved, 1)
            os.close(saved)


def _run_cli(*args: str) -> int:
    """The `lashdb` command in this process, as the console script runs it; returns its exit code."""
    from lashdb.cli.main import app_for

    try:
        app_for(list(args))(list(args), prog_name="lashdb", standalone_mode=False)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def _ro(path: str) -> apsw.Connection:
    uri = "file:" + path + ("?mode=ro" if os.path.exists(path + "-wal") else "?immutable=1")
    return apsw.Connection(uri, flags=apsw.SQLITE_OPEN_READONLY | apsw.SQLITE_OPEN_URI)


# --- sessions list ----------------------------------------------------------------------------------


def _sessions_root(tmp: Path, count: int) -> Path:
    seed = build_demo(tmp / "seed", 1).sessions[0]
    root = tmp / "many"
    root.mkdir()
    with Store.open(seed.path) as store:
        meta = store.load_session_meta()
    for i in range(count):
        path = root / f"2026{i // 1000:02d}{i % 1000:03d}_session.db"
        shutil.copyfile(seed.path, path)
        with Store.open(path) as store:
            store.save_session_meta(SessionMeta(f"bench-{i:05d}-{seed.session_id}", f"{meta.session_name} #{i}",
                                                meta.created_at, meta.model, meta.cwd, meta.relation))
    return root


def _bare_list(root: Path) -> list[tuple]:
    out = []
    for name in sorted(os.listdir(root)):
        if not name.endswith(".db"):
            continue
        conn = _ro(os.path.join(root, name))
        try:
            meta = conn.execute("SELECT session_id, session_name, created_at, model, cwd, relation_json "
                                "FROM session_meta WHERE singleton = 1").fetchall()
            head = conn.execute("SELECT head_json, head_revision FROM session_head WHERE singleton = 1").fetchall()
            out.append((meta, json.loads(head[0][0]) if head else None))
        finally:
            conn.close()
    return out


# The same loop as a program of its own: the floor of a whole `lashdb sessions list` process.
_BARE_LIST_SCRIPT = """
import json, os, sys
import apsw
root = sys.argv[1]
rows = []
for name in sorted(os.listdir(root)):
    if not name.endswith(".db"):
        continue
    path = os.path.join(root, name)
    uri = "file:" + path + ("?mode=ro" if os.path.exists(path + "-wal") else "?immutable=1")
    conn = apsw.Connection(uri, flags=apsw.SQLITE_OPEN_READONLY | apsw.SQLITE_OPEN_URI)
    meta = conn.execute("SELECT session_id, session_name, created_at, model, cwd, relation_json "
                        "FROM session_meta WHERE singleton = 1").fetchall()
    head = conn.execute("SELECT head_json, head_revision FROM session_head WHERE singleton = 1").fetchall()
    rows.append((meta, json.loads(head[0][0]) if head else None))
    conn.close()
sys.stdout.write(json.dumps(len(rows)))
"""


def _cpu() -> float:
    """CPU seconds of this process and of the children it has waited for (forked workers included)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def _interleaved(sides: dict, rounds: int) -> dict[str, list[tuple[float, float]]]:
    """(wall, cpu) seconds of each side in each of ``rounds`` rounds. A round runs the sides in
    order and then in reverse (A B B A), each side's figure being the sum of its two runs, so that
    every side sees the same page cache, CPU frequency and load from whatever else runs on the
    machine, and a drift within the round falls on both sides alike."""
    out: dict[str, list[tuple[float, float]]] = {k: [] for k in sides}
    order = list(sides) + list(reversed(sides))
    for _ in range(rounds):
        spent = {k: [0.0, 0.0] for k in sides}
        for key in order:
            w, c = time.perf_counter(), _cpu()
            sides[key]()
            spent[key][0] += time.perf_counter() - w
            spent[key][1] += _cpu() - c
        for key, (wall, cpu) in spent.items():
            out[key].append((wall / 2, cpu / 2))
    return out


def _ratios(runs: dict[str, list[tuple[float, float]]], floor: str, side: str) -> dict:
    """Median wall ratio, worst round's wall ratio and median CPU ratio of ``side`` over ``floor``."""
    pairs = list(zip(runs[floor], runs[side]))
    return {"ratio": statistics.median(m[0] for _b, m in pairs) / statistics.median(b[0] for b, _m in pairs),
            "worst_round_ratio": max(m[0] / b[0] for b, m in pairs),
            "cpu_ratio": statistics.median(m[1] for _b, m in pairs) / statistics.median(b[1] for b, _m in pairs)}


def _peak_rss_mb(argv: list[str]) -> float:
    """Peak resident set of a fresh process and the children it waited for (its forked workers), in MB."""
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=_ENV)
    _pid, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode not in (0, 1):  # blob verify exits 1 when a blob fails: still a measurement
        raise RuntimeError(f"{argv}: exit {proc.returncode}")
    return usage.ru_maxrss / 1024  # KiB on Linux


def bench_sessions_list(tmp: Path) -> dict:
    count = 200 if QUICK else 2000
    t0 = time.perf_counter()
    root = _sessions_root(tmp, count)
    build_s = time.perf_counter() - t0
    assert len(_bare_list(root)) == count
    with _stdout_to_devnull():
        assert _run_cli("--root", str(root), "sessions", "list", "--json") == 0  # warm the page cache

    def command(*extra: str):
        def run() -> None:
            with _stdout_to_devnull():
                _run_cli("--root", str(root), "sessions", "list", "--json", *extra)
        return run
    runs = _interleaved({"bare": lambda: _bare_list(root), "default": command(), "jobs_1": command("--jobs", "1")},
                        3 if QUICK else 5)
    out = {"name": f"sessions list --json over {count:,} session databases vs a bare loop opening each "
                   "immutable=1 (no -wal) and reading meta and head",
           "build_s": build_s, "jobs": parallel.DEFAULT_JOBS,
           "bare_ms": 1000 * statistics.median(w for w, _c in runs["bare"])}
    for side in ("default", "jobs_1"):
        out[f"{side}_ms"] = 1000 * statistics.median(w for w, _c in runs[side])
        out.update({f"{side}_{k}": v for k, v in _ratios(runs, "bare", side).items()})
    # Whole processes, start-up included: `lashdb` against the bare loop as a program of its own.
    script = tmp / "bare_list.py"
    script.write_text(_BARE_LIST_SCRIPT)
    whole = _interleaved({"bare": lambda: _wall([PYTHON, str(script), str(root)]),
                          "lashdb": lambda: _wall([LASHDB, "--root", str(root), "sessions", "list", "--json"])},
                         3)
    out["process_bare_ms"] = 1000 * statistics.median(w for w, _c in whole["bare"])
    out["process_lashdb_ms"] = 1000 * statistics.median(w for w, _c in whole["lashdb"])
    out["process_ratio"] = _ratios(whole, "bare", "lashdb")["ratio"]
    out["startup_version_ms"] = 1000 * statistics.median(_wall([LASHDB, "--version"]) for _ in range(5))
    out["target"] = "<= 1.5 (default jobs, in-process; process_ratio includes start-up)"
    return out


def bench_list_memory(tmp: Path) -> dict:
    """Peak RSS of `lashdb sessions list --json` over 10,000 sessions (1,000 quick): hard links to
    500 sessions (each its own id), so the build costs no copy."""
    count = 1000 if QUICK else 10_000
    (tmp / "seed").mkdir()
    seeds = _sessions_root(tmp / "seed", min(count, 500))
    root = tmp / "many"
    root.mkdir()
    names = sorted(os.listdir(seeds))
    for i in range(count):
        os.link(seeds / names[i % len(names)], root / f"{i // len(names)}_{names[i % len(names)]}")
    argv = [LASHDB, "--root", str(root), "sessions", "list", "--json"]
    return {"name": f"peak RSS of sessions list --json over {count:,} sessions (fresh process, workers included)",
            "default_jobs_MB": _peak_rss_mb(argv), "jobs_1_MB": _peak_rss_mb(argv + ["--jobs", "1"]),
            "lashdb_version_MB": _peak_rss_mb([LASHDB, "--version"]), "target": "< 150"}


# --- blob verify ------------------------------------------------------------------------------------


def _snapshot_bytes(rng: random.Random, size: int) -> bytes:
    """JSON-like text about 3-4x compressible, as session snapshots are."""
    return "".join(_snapshot_lines(rng, size)).encode()[:size]


def _snapshot_lines(rng: random.Random, size: int) -> list[str]:
    words = [rng.choice(("tool", "call", "result", "path", "line", "token", "state", "value")) + str(rng.randrange(999))
             for _ in range(512)]
    parts, total = [], 0
    while total < size:
        chunk = '{"' + '": "'.join(rng.sample(words, 8)) + f'", "n": {rng.randrange(1 << 30)}}},\n'
        parts.append(chunk)
        total += len(chunk)
    return parts


_SIZES = (2_000, 60_000, 250_000, 1_000_000, 2_000_000)


def _verify_session(tmp: Path, total: int, typed: bool = False) -> Path:
    """A session of ``total`` logical bytes in blobs of 2 KB-2 MB. Opaque (the default): four in five
    are compressible module bytes (zlib), one in five generic bytes stored as they are. ``typed``:
    tool state, plugin and execution snapshots and manifests, each a CBOR value (a map of ~80-byte
    text lines), which verification must also decode."""
    path = tmp / ("verify-typed.db" if typed else "verify.db")
    rng = random.Random(42)
    written = 0
    opaque = (Descriptor.lashlang_module(),) * 4 + (Descriptor.generic(),)
    values = (Descriptor.plugin_session_snapshot(), Descriptor.tool_state(), Descriptor.execution_state_snapshot(),
              Descriptor.checkpoint_manifest())
    with Store.open_with_options(path, StoreOptions(blob_profile=BlobProfile.BALANCED)) as store:
        while written < total:
            size = rng.choice(_SIZES)
            if typed:
                value = {"seq": written, "lines": _snapshot_lines(rng, size)}
                store.put_typed_artifact_blob(rng.choice(values), value)
                written += size
            else:
                content = _snapshot_bytes(rng, size) + written.to_bytes(8, "big")
                store.put_artifact_blob(rng.choice(opaque), content)
                written += len(content)
    return path


def _bare_verify(path: Path, decode_values: bool = False) -> tuple[int, int]:
    ok = bad = 0
    conn = _ro(str(path))
    try:
        for blob_hash, stored in conn.execute("SELECT hash, content FROM blobs"):
            env = cbor2.loads(stored)
            content = zlib_ng.decompress(env["content"]) if env["compression"] == "Zlib" else env["content"]
            if hashlib.sha256(content).hexdigest() == blob_hash:
                ok += 1
                if decode_values and env["descriptor"]["kind"] != "GenericBlob":
                    cbor2.loads(content)
            else:
                bad += 1
    finally:
        conn.close()
    return ok, bad


def _verify_command(tmp: Path, path: Path):
    def run() -> None:
        with _stdout_to_devnull():
            code = _run_cli("--root", str(tmp), "blob", "verify", str(path), "--json")
        assert code == 0, f"blob verify {path}: exit {code}"
    return run


def bench_blob_verify(tmp: Path) -> dict:
    total = (20 if QUICK else 200) * 1_000_000
    t0 = time.perf_counter()
    path = _verify_session(tmp, total)
    typed = _verify_session(tmp, total // 4, typed=True)
    build_s = time.perf_counter() - t0
    ok, bad = _bare_verify(path)
    assert bad == 0
    command, typed_command = _verify_command(tmp, path), _verify_command(tmp, typed)
    command(), typed_command()  # warm the page cache; each must verify clean (exit 0)
    rounds = 3 if QUICK else 5
    runs = _interleaved({"bare": lambda: _bare_verify(path), "lashdb": command}, rounds)
    typed_runs = _interleaved({"bare": lambda: _bare_verify(typed), "bare_decode": lambda: _bare_verify(typed, True),
                               "lashdb": typed_command}, 2)
    out = {"name": f"blob verify of {total // 1_000_000} MB logical in {ok} opaque blobs "
                   f"({path.stat().st_size // 1_000_000} MB stored) vs a bare single-threaded "
                   "select+inflate+SHA-256 loop, interleaved rounds",
           "build_s": build_s, "bare_ms": 1000 * statistics.median(w for w, _c in runs["bare"]),
           "lashdb_ms": 1000 * statistics.median(w for w, _c in runs["lashdb"]),
           **_ratios(runs, "bare", "lashdb"),
           "round_ratios": " ".join(f"{m[0] / b[0]:.3f}" for b, m in zip(runs["bare"], runs["lashdb"])),
           "bare_MB_per_s": total / 1e6 / statistics.median(w for w, _c in runs["bare"]),
           "target": "<= 1.0 in every round (worst_round_ratio)"}
    out["typed_values_ratio"] = _ratios(typed_runs, "bare", "lashdb")["ratio"]
    out["typed_values_vs_bare_with_decode_ratio"] = _ratios(typed_runs, "bare_decode", "lashdb")["ratio"]
    return out


def bench_verify_memory(tmp: Path) -> dict:
    """Peak RSS of `lashdb blob verify` of a session of 1 GB logical (100 MB quick), built quickly
    from 4 MB blobs: half compressible text (inflated in chunks), half generic bytes stored as they are."""
    total = (100 if QUICK else 1000) * 1_000_000
    path = tmp / "big.db"
    rng = random.Random(7)
    block = _snapshot_bytes(rng, 1 << 20)
    t0 = time.perf_counter()
    with Store.open_with_options(path, StoreOptions(blob_profile=BlobProfile.BALANCED)) as store:
        for i in range(total // (4 << 20)):
            kind = Descriptor.lashlang_module() if i % 2 else Descriptor.generic()
            store.put_artifact_blob(kind, block * 4 + i.to_bytes(8, "big"))
    build_s = time.perf_counter() - t0
    argv = [LASHDB, "--root", str(tmp), "blob", "verify", str(path), "--json"]
    return {"name": f"peak RSS of blob verify of {total // 1_000_000} MB logical in 4 MB blobs "
                    f"({path.stat().st_size // 1_000_000} MB stored; fresh process)",
            "build_s": build_s, "peak_MB": _peak_rss_mb(argv), "target": "< 150"}


# --- start-up ---------------------------------------------------------------------------------------


# An installed package has its bytecode compiled; PYTHONDONTWRITEBYTECODE (set in some dev shells and
# CI images) would make every `lashdb` start compile its modules from source, and not typer's.
_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def _wall(argv: list[str], env: dict[str, str] | None = None) -> float:
    t0 = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, env=env or _ENV)
    return time.perf_counter() - t0


def _completion_root(tmp: Path, count: int) -> Path:
    """``count`` session files named as the factory names them (``<id>-<16 hex>.db``): hard links of
    one demo session (completion reads names only; links keep the root small)."""
    seed = build_demo(tmp / "seed", 1).sessions[0].path
    root = tmp / "complete"
    root.mkdir()
    rng = random.Random(7)
    for _ in range(count):
        sid = f"{rng.getrandbits(128):032x}"
        sid = f"{sid[:8]}-{sid[8:12]}-{sid[12:16]}-{sid[16:20]}-{sid[20:]}"
        path = root / f"{sid}-{hashlib.sha256(sid.encode()).hexdigest()[:16]}.db"
        try:
            os.link(seed, path)
        except OSError:
            shutil.copyfile(seed, path)
    return root


def bench_startup(tmp: Path) -> dict:
    runs = 15 if QUICK else 21
    root = _completion_root(tmp, 2000)
    complete_env = dict(_ENV, _LASHDB_COMPLETE="complete_bash", COMP_WORDS=f"lashdb --root {root} sessions show ",
                        COMP_CWORD="5")
    out_lines = subprocess.run([LASHDB], env=complete_env, capture_output=True, text=True, check=True).stdout.split()
    assert len(out_lines) >= 2000, len(out_lines)  # every id (short forms, then the longer whole ids)
    pairs = {"version": (([LASHDB, "--version"], None), ([PYTHON, "-c", "import typer"], None)),
             "help": (([LASHDB, "--help"], None), ([PYTHON, "-c", "import typer, rich.console"], None)),
             "complete": (([LASHDB], complete_env), ([PYTHON, "-c", "import typer"], None)),
             "import_engine": (([PYTHON, "-c", "import lashdb.engine"], None), ([PYTHON, "-c", "pass"], None))}
    out: dict = {"name": f"start-up, median of {runs} fresh processes each "
                         f"(complete: sessions show <TAB> on 2,000 sessions, {len(out_lines):,} candidates)"}
    for label, (ours, base) in pairs.items():
        _wall(*ours), _wall(*base)  # warm the file cache and write lashdb's bytecode
        mine, theirs = [], []
        for _ in range(runs):
            mine.append(_wall(*ours))
            theirs.append(_wall(*base))
        m, b = statistics.median(mine), statistics.median(theirs)
        out[f"{label}_ms"] = 1000 * m
        out[f"{label}_baseline_ms"] = 1000 * b
        out[f"{label}_ratio"] = m / b
    out["baselines"] = ("version, complete: python -c 'import typer'; help: python -c 'import typer, rich.console'; "
                        "import_engine: python -c pass")
    out["targets"] = ("version <= 1.3, help <= 1.5 (ratios); complete within 300 ms; "
                      "import_engine: no target (was ~100-200 ms when it imported every store module)")
    return out


def main() -> None:
    chosen = [b for b in (bench_startup, bench_sessions_list, bench_list_memory, bench_blob_verify, bench_verify_memory)
              if len(sys.argv) < 2 or b.__name__.removeprefix("bench_") in sys.argv[1:]]
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        for bench in chosen:
            work = tmp / bench.__name__
            work.mkdir()
            result = bench(work)
            name = result.pop("name")
            print(f"{name}:")
            for key, value in result.items():
                print(f"  {key}: {value:.4g}" if isinstance(value, float) else f"  {key}: {value}")
            sys.stdout.flush()
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
