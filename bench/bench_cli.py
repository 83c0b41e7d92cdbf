"""CLI benchmarks: `sessions list` over 2,000 sessions, `blob verify` over 200 MB, and start-up.

Each comparison is a ratio of two measurements taken in this same run, on this machine; nothing
here is a pass/fail test (the targets are printed beside the ratios). Run through ``bench/run``
(or directly: ``python bench/bench_cli.py [startup|sessions_list|blob_verify …]``);
``LASHDB_BENCH_QUICK=1`` shrinks the sizes.

- ``sessions list --json`` over N session databases (2,000; quick 200), the command run in-process
  with its JSON going to /dev/null, vs a bare loop that opens each file read-only and reads its
  meta row and head row. The sessions are one demo session copied N times, each copy given its own
  id through the engine (``Store.save_session_meta``). Target ≤ 1.5×. The command reads the files
  in ``parallel.DEFAULT_JOBS`` forked processes (the cores, at most 4), as an operator's run does;
  the ratio with ``--jobs 1`` is printed beside it.
- ``blob verify`` of one session holding 200 MB (quick 20 MB) of logical blob content, mostly
  zlib-compressed snapshots, in-process with ``--json`` to /dev/null, vs a bare single-threaded loop
  (select, CBOR-decode the envelope, inflate with zlib-ng, SHA-256, compare). Target ≤ 1.0×.
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


def _median_time(fn, repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples)


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


def bench_sessions_list(tmp: Path) -> dict:
    count = 200 if QUICK else 2000
    t0 = time.perf_counter()
    root = _sessions_root(tmp, count)
    build_s = time.perf_counter() - t0
    assert len(_bare_list(root)) == count
    with _stdout_to_devnull():
        assert _run_cli("--root", str(root), "sessions", "list", "--json") == 0  # warm the page cache
    repeat = 7

    def command(*extra: str) -> None:
        with _stdout_to_devnull():
            _run_cli("--root", str(root), "sessions", "list", "--json", *extra)
    # Interleaved so both sides see the same page cache and CPU frequency.
    bare_s, measured_s = [], []
    for _ in range(repeat):
        bare_s.append(_median_time(lambda: _bare_list(root), 1))
        measured_s.append(_median_time(command, 1))
    bare, measured = statistics.median(bare_s), statistics.median(measured_s)
    single = statistics.median(_median_time(lambda: command("--jobs", "1"), 1) for _ in range(3))
    return {"name": f"sessions list --json over {count:,} session databases vs a bare read of meta and head",
            "build_s": build_s, "bare_s": bare, "measured_s": measured, "ratio": measured / bare,
            "jobs": parallel.DEFAULT_JOBS, "jobs_1_s": single, "jobs_1_ratio": single / bare, "target": "<= 1.5"}


# --- blob verify ------------------------------------------------------------------------------------


def _snapshot_bytes(rng: random.Random, size: int) -> bytes:
    """JSON-like text about 3-4x compressible, as session snapshots are."""
    words = [rng.choice(("tool", "call", "result", "path", "line", "token", "state", "value")) + str(rng.randrange(999))
             for _ in range(512)]
    parts, total = [], 0
    while total < size:
        chunk = ('{"' + '": "'.join(rng.sample(words, 8)) + f'", "n": {rng.randrange(1 << 30)}}},\n').encode()
        parts.append(chunk)
        total += len(chunk)
    return b"".join(parts)[:size]


def _verify_session(tmp: Path, total: int) -> Path:
    path = tmp / "verify.db"
    rng = random.Random(42)
    written = 0
    kinds = (Descriptor.plugin_session_snapshot(), Descriptor.tool_state(), Descriptor.execution_state_snapshot(),
             Descriptor.checkpoint_manifest(), Descriptor.generic())
    with Store.open_with_options(path, StoreOptions(blob_profile=BlobProfile.BALANCED)) as store:
        while written < total:
            size = rng.choice((2_000, 60_000, 250_000, 1_000_000, 2_000_000))
            content = _snapshot_bytes(rng, size) + written.to_bytes(8, "big")
            store.put_artifact_blob(rng.choice(kinds), content)
            written += len(content)
    return path


def _bare_verify(path: Path) -> tuple[int, int]:
    ok = bad = 0
    conn = _ro(str(path))
    try:
        for blob_hash, stored in conn.execute("SELECT hash, content FROM blobs"):
            env = cbor2.loads(stored)
            content = zlib_ng.decompress(env["content"]) if env["compression"] == "Zlib" else env["content"]
            if hashlib.sha256(content).hexdigest() == blob_hash:
                ok += 1
            else:
                bad += 1
    finally:
        conn.close()
    return ok, bad


def bench_blob_verify(tmp: Path) -> dict:
    total = (20 if QUICK else 200) * 1_000_000
    t0 = time.perf_counter()
    path = _verify_session(tmp, total)
    build_s = time.perf_counter() - t0
    ok, bad = _bare_verify(path)
    assert bad == 0
    with _stdout_to_devnull():
        assert _run_cli("--root", str(tmp), "blob", "verify", str(path), "--json") == 0
    repeat = 5 if QUICK else 3

    def command() -> None:
        with _stdout_to_devnull():
            _run_cli("--root", str(tmp), "blob", "verify", str(path), "--json")
    # Interleaved so both sides see the same page cache and CPU frequency.
    bare_s, measured_s = [], []
    for _ in range(repeat):
        bare_s.append(_median_time(lambda: _bare_verify(path), 1))
        measured_s.append(_median_time(command, 1))
    bare, measured = statistics.median(bare_s), statistics.median(measured_s)
    return {"name": f"blob verify of {total // 1_000_000} MB logical in {ok} blobs "
                    f"({path.stat().st_size // 1_000_000} MB stored) vs a bare single-threaded loop",
            "build_s": build_s, "bare_s": bare, "measured_s": measured, "ratio": measured / bare,
            "bare_MB_per_s": total / 1e6 / bare, "target": "<= 1.0"}


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
    chosen = [b for b in (bench_startup, bench_sessions_list, bench_blob_verify)
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
