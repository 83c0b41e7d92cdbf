"""MetaView: session_meta as inspection reads it; created_at parsed leniently into ISO text and epoch ms."""

from __future__ import annotations

import pytest

from lashdb.engine.session.meta_view import MetaView
from lashdb.engine.session.model import SessionRelation


@pytest.mark.parametrize("raw, iso, ms", [
    ("unix:1779958800", "2026-05-28T09:00:00Z", 1_779_958_800_000),
    ("2026-05-28T09:00:00.250Z", "2026-05-28T09:00:00.250Z", 1_779_958_800_250),
    (None, None, None),
    ("not a time", None, None),
])
def test_created_at_is_parsed_leniently(raw, iso, ms):
    view = MetaView("s", "name", "m", None, raw, SessionRelation.root())
    assert view.created_ms == ms
    assert view.to_json() == {"session_id": "s", "session_name": "name", "model": "m", "cwd": None,
                              "created_at": iso, "created_at_epoch_ms": ms, "created_at_raw": raw}


def test_fields_a_foreign_schema_lacks_are_none():
    view = MetaView(None, None, None, None, None, SessionRelation.child("p"))
    assert set(view.to_json().values()) == {None}
    assert view.relation.parent_session_id == "p"
