"""SessionLocation: the non-file twin of a session path never shows a password."""

from __future__ import annotations

import pickle

from lashdb.engine.base.locator import SessionLocation, is_location


def test_location_shows_the_redacted_url_and_the_session_id():
    loc = SessionLocation("postgres", "postgresql://ops:s3cret@db.example:5433/lash", "sess-1")
    assert str(loc) == loc.display == "postgresql://ops:***@db.example:5433/lash#sess-1"
    assert "s3cret" not in repr(loc) and "s3cret" not in str(loc)
    assert loc.name == "sess-1" and loc.store == "postgresql://ops:***@db.example:5433/lash"
    assert loc.url.endswith(":s3cret@db.example:5433/lash")


def test_location_is_hashable_picklable_and_rebinds_its_session():
    loc = SessionLocation("postgres", "postgresql://h/db", "a")
    other = loc.with_session("b")
    assert other == SessionLocation("postgres", "postgresql://h/db", "b") and other != loc
    assert pickle.loads(pickle.dumps(loc)) == loc and len({loc, other, loc}) == 2
    assert is_location(loc) and not is_location("postgresql://h/db#a")
