"""SqliteHealth: read-only health answers as plain values, lazily opened, typed errors naming the file."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from lashdb.engine.base.errors import LashdbError, NotALashDatabase
from lashdb.engine.sqlite.deployment_backend import open_process_registry
from lashdb.engine.sqlite.health import open_health, require_session_file
from lashdb.engine.sqlite.inspect_session import SqliteSessionReader, open_session_file
from lashdb.engine.sqlite.kinds import SESSION
from lashdb.engine.sqlite.session_backend import open_session

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "upstream-v38"


def _session(tmp_path):
    path = tmp_path / "s.db"
    open_session(path).close()
    return path


def test_sound_session(tmp_path):
    path = _session(tmp_path)
    h = open_health(path)
    try:
        assert h._conn is None  # nothing opened until a read needs it
        assert h.schema_differences(SESSION) == []
        assert h.singleton_problems(SESSION) == []
        assert h.quick_check(10) == []
        assert h.claimed_kind() is SESSION
        assert isinstance(h.reader(), SqliteSessionReader) and h.reader().conn is h.connection
    finally:
        h.close()
    h.close()  # twice is fine


def test_differences_are_name_sentence_pairs(tmp_path):
    path = shutil.copy(FIXTURES / "durable-core.db", tmp_path / "durable-core.db")
    before = Path(path).read_bytes()
    h = open_health(path)
    try:
        diffs = h.schema_differences(SESSION)
        assert diffs and all(isinstance(n, str) and isinstance(s, str) and s for n, s in diffs)
    finally:
        h.close()
    assert Path(path).read_bytes() == before


def test_require_session_file(tmp_path):
    path = _session(tmp_path)
    f = open_session_file(path)
    found = f.classify()
    f.close()
    require_session_file(found, path)  # sound: no error
    reg = str(tmp_path / "p.db")
    open_process_registry(reg).close()
    f = open_session_file(reg)
    other = f.classify()
    f.close()
    with pytest.raises(NotALashDatabase):
        require_session_file(other, reg)


def test_unopenable_file_is_typed_and_names_it(tmp_path):
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"x" * 4096)
    h = open_health(junk)
    try:
        with pytest.raises(LashdbError) as info:
            h.quick_check(5)
        assert str(junk) in str(info.value)
    finally:
        h.close()
