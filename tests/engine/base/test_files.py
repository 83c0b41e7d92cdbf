"""Sidecar names and OS-error/file-mode wording shared by every layer's messages."""

from __future__ import annotations

import errno
import os
import pathlib
import stat

from lashdb.engine.base.files import file_type, os_reason, sidecar


def test_sidecar_appends_the_suffix_to_the_file_name():
    assert sidecar("/d/s.db", "-wal") == "/d/s.db-wal"
    assert sidecar(pathlib.Path("/d/s.db"), ".effects.db") == "/d/s.db.effects.db"


def test_os_reason_names_symlink_loops_and_keeps_the_os_words_otherwise():
    assert os_reason(OSError(errno.ELOOP, "Too many levels of symbolic links")) == "symlink loop"
    assert os_reason(OSError(errno.EACCES, "Permission denied")) == "Permission denied"
    assert os_reason(OSError("bare")) == "bare"


def test_file_type_words_for_real_files(tmp_path):
    regular = tmp_path / "f"
    regular.write_bytes(b"")
    fifo = tmp_path / "p"
    os.mkfifo(fifo)
    assert file_type(regular.stat().st_mode) == "a regular file"
    assert file_type(tmp_path.stat().st_mode) == "a directory"
    assert file_type(fifo.stat().st_mode) == "a FIFO"
    assert file_type(os.stat("/dev/null").st_mode) == "a character device"
    assert file_type(stat.S_IFSOCK) == "a socket"
    assert file_type(stat.S_IFBLK) == "a block device"
    assert file_type(stat.S_IFLNK) == "a special file"


def test_sidecar_names_are_the_roles_suffixes_after_a_database_name():
    from lashdb.engine.base.files import SIDECAR_SUFFIXES, is_sidecar_name

    assert SIDECAR_SUFFIXES["effects"] == ".effects.db" and SIDECAR_SUFFIXES["host"] == ".host.json"
    for suffix in SIDECAR_SUFFIXES.values():
        assert is_sidecar_name(pathlib.Path(f"/r/s.db{suffix}")) and is_sidecar_name(f"s.db{suffix}")
    assert not is_sidecar_name(pathlib.Path("/r/s.db")) and not is_sidecar_name("s.effects.db")
    assert not is_sidecar_name(pathlib.Path("/r/s.db.effects.db/other.db"))  # the name, not the path


def test_sidecar_endings_are_the_suffixes_after_db():
    from lashdb.engine.base.files import SIDECAR_ENDINGS, SIDECAR_SUFFIXES

    assert SIDECAR_ENDINGS == tuple(".db" + s for s in SIDECAR_SUFFIXES.values())
    assert "x.db.processes.db".endswith(SIDECAR_ENDINGS) and not "x.db".endswith(SIDECAR_ENDINGS)
