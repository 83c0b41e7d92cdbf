"""parallel.fork_map, and `sessions list` read by forked processes: same rows as one process."""

from __future__ import annotations

import json
import os
import shutil
import threading

import pytest
from typer.testing import CliRunner

from lashdb.cli.main import app
from lashdb.engine.ops.demo import build_demo
from lashdb.engine import WorkerFailed, parallel
from lashdb.engine.ops import inspect

pytestmark = pytest.mark.skipif(not parallel.can_fork(), reason="fork_map forks only on Linux, single-threaded")


def _pid_and_square(n: int) -> tuple[int, int]:
    return os.getpid(), n * n


def _die_in_a_child(n: int) -> int:
    # The calling process runs the first share itself; the last item is always a child's.
    if n == 19:
        os._exit(3)
    return n


def _raise_on(item: tuple[int, int]) -> int:
    n, bad = item
    if n == bad:
        raise KeyError(f"item {n}")
    return n


def test_results_in_order_from_other_processes():
    out = parallel.fork_map(_pid_and_square, range(40), jobs=2, min_items=2)
    assert [sq for _pid, sq in out] == [n * n for n in range(40)]
    assert {pid for pid, _sq in out} - {os.getpid()}, "nothing ran in a worker"


def test_small_inputs_and_one_job_stay_in_this_process():
    for kwargs in ({"jobs": 1, "min_items": 2}, {"jobs": 4}):  # 40 < MIN_ITEMS
        out = parallel.fork_map(_pid_and_square, range(40), **kwargs)
        assert {pid for pid, _sq in out} == {os.getpid()}


def test_a_threaded_process_does_not_fork():
    stop = threading.Event()
    helper = threading.Thread(target=stop.wait)
    helper.start()
    try:
        assert not parallel.can_fork()
        out = parallel.fork_map(_pid_and_square, range(10), jobs=2, min_items=2)
        assert {pid for pid, _sq in out} == {os.getpid()}
    finally:
        stop.set()
        helper.join()


def test_a_worker_that_dies_is_a_typed_error():
    with pytest.raises(WorkerFailed) as info:
        parallel.fork_map(_die_in_a_child, range(20), jobs=2, min_items=2, what="test work")
    assert str(info.value).startswith("test work: a worker process failed")
    assert "exited with status 3" in str(info.value)
    assert "--jobs 1" in info.value.hint


def test_an_exception_in_fn_reaches_the_caller():
    for n in (5, 15):  # raised in this process's share, and in a child's
        with pytest.raises(KeyError, match=f"item {n}"):
            parallel.fork_map(_raise_on, [(i, n) for i in range(20)], jobs=2, min_items=2)


def test_progress_counts_every_item_once_across_processes():
    heard = []
    out = parallel.fork_map(_pid_and_square, range(300), jobs=3, min_items=2, advance=heard.append)
    assert [sq for _pid, sq in out] == [n * n for n in range(300)]
    assert sum(heard) == 300 and all(n > 0 for n in heard)
    assert len({pid for pid, _sq in out}) == 3


class _Unpicklable(Exception):
    def __reduce__(self):
        raise TypeError("not picklable")


def _raise_unpicklable(n: int) -> int:
    if n == 19:
        raise _Unpicklable("boom")
    return n


def test_an_exception_that_does_not_pickle_still_reaches_the_caller_as_text():
    with pytest.raises(RuntimeError, match="_Unpicklable: boom"):
        parallel.fork_map(_raise_unpicklable, range(20), jobs=2, min_items=2)


def test_jobs_below_one_is_refused():
    with pytest.raises(ValueError, match="at least 1"):
        parallel.fork_map(_pid_and_square, [1], jobs=0)


@pytest.fixture(scope="module")
def many(tmp_path_factory):
    """A demo root plus copies of its first session, past MIN_ITEMS files, and two damaged files."""
    built = build_demo(tmp_path_factory.mktemp("many") / "root")
    first = built.sessions[0].path
    for i in range(parallel.MIN_ITEMS):
        shutil.copyfile(first, built.root / f"copy-{i:03d}.db")
    (built.root / "noise.db").write_bytes(os.urandom(3000))
    (built.root / "empty.db").write_bytes(b"")
    return built.root


def test_list_sessions_forked_equals_one_process(many):
    for include_all in (False, True):
        for sort in inspect.SORT_KEYS:
            one = inspect.list_sessions(many, include_all=include_all, sort=sort, jobs=1)
            two = inspect.list_sessions(many, include_all=include_all, sort=sort, jobs=2)
            assert two == one
    assert len(one) > parallel.MIN_ITEMS
    kinds = {r.path.name: r.kind for r in one}
    assert kinds["noise.db"] == "unreadable" and kinds["empty.db"] == "not lash"


def test_cli_jobs_option(many):
    runner = CliRunner()
    docs = {}
    for jobs in ("1", "2"):
        result = runner.invoke(app, ["--root", str(many), "sessions", "list", "--json", "--jobs", jobs])
        assert result.exit_code == 0, result.output
        docs[jobs] = json.loads(result.stdout)
    assert docs["1"] == docs["2"] == [r.to_json() for r in inspect.list_sessions(many)]
    assert len(docs["1"]) > parallel.MIN_ITEMS
    bad = runner.invoke(app, ["--root", str(many), "sessions", "list", "--jobs", "0"])
    assert bad.exit_code == 2


def test_installed_script_forks_and_prints_one_document(many):
    import subprocess

    from conftest import console_script

    done = subprocess.run([console_script(), "--root", str(many), "sessions", "list", "--json", "--jobs", "2"],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    assert json.loads(done.stdout) == [r.to_json() for r in inspect.list_sessions(many)]
