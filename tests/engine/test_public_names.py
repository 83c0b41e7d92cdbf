"""The public names of lashdb.engine are frozen: a move never drops or adds one silently."""

from pathlib import Path

import lashdb.engine

FROZEN = Path(__file__).with_name("public_names.txt").read_text().split()


def test_all_is_the_frozen_list():
    assert sorted(lashdb.engine.__all__) == sorted(FROZEN)


def test_every_frozen_name_resolves():
    missing = [n for n in FROZEN if not hasattr(lashdb.engine, n)]
    assert missing == []
