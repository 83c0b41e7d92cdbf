"""The ``sessions list`` filter value: time parsing and each field's meaning (base/listing.py)."""

import pytest

from lashdb.engine.base.errors import UsageError
from lashdb.engine.base.listing import NO_FILTER, ListingFilter, parse_when, status_word

NOW = 1_767_225_600_000  # 2026-01-01T00:00:00Z


def test_parse_when_takes_spans_dates_and_date_times():
    assert parse_when("2h", now_ms=NOW) == NOW - 7_200_000
    assert parse_when("3D", now_ms=NOW) == NOW - 3 * 86_400_000
    assert parse_when("1w", now_ms=NOW) == NOW - 7 * 86_400_000
    assert parse_when("30s", now_ms=NOW) == NOW - 30_000
    assert parse_when("2026-01-01", now_ms=0) == NOW
    assert parse_when("2026-01-01T01:00:00Z", now_ms=0) == NOW + 3_600_000
    assert parse_when("2026-01-01T01:00:00+01:00", now_ms=0) == NOW


def test_parse_when_refuses_what_is_not_a_time():
    with pytest.raises(UsageError, match="--until 'soon': not a time") as info:
        parse_when("soon", now_ms=NOW, option="--until")
    assert "2h" in info.value.hint


def test_fields_mean_what_the_contract_says():
    assert not NO_FILTER.active and ListingFilter(children=False).active
    assert ListingFilter(since_ms=10, until_ms=20).time_ok(10) and ListingFilter(until_ms=20).time_ok(20)
    assert not ListingFilter(since_ms=10).time_ok(9) and not ListingFilter(since_ms=10).time_ok(None)
    assert NO_FILTER.time_ok(None)
    cwd = ListingFilter(cwd="/a/")
    assert cwd.cwd == "/a" and cwd.meta_ok(None, "/a/b", None) and not cwd.meta_ok(None, "/ab", None)
    assert ListingFilter(cwd="/").meta_ok(None, "/x", None)
    assert ListingFilter(parent="abcd").meta_ok(None, None, "abcd-1") and not ListingFilter(parent="x").meta_ok(None, None, None)
    assert ListingFilter(children=True).meta_ok(None, None, "p") and not ListingFilter(children=True).meta_ok(None, None, None)
    assert ListingFilter(children=False).meta_ok(None, None, None)
    assert ListingFilter(grep="DeP").text_ok(None, "a deploy") and not ListingFilter(grep="x").text_ok(None, None)
    assert status_word("unreadable: permission denied") == "unreadable" and status_word("foreign v3") == "foreign"
    assert ListingFilter(status="Damaged").status_ok("damaged schema: missing table x")


def test_an_unknown_status_is_a_usage_error_naming_the_choices():
    with pytest.raises(UsageError, match="not a status") as info:
        ListingFilter(status="broken")
    assert info.value.hint == "choose one of ok, foreign, unreadable, damaged"
