"""One clock, one ISO rendering, and the integer checks every TTL/revision/timestamp passes first."""

from __future__ import annotations

import time

import pytest

from lashdb.engine.base import timing as T


def test_wall_clock_is_epoch_milliseconds():
    before = time.time_ns() // 1_000_000
    now = T.wall_clock_ms()
    assert before <= now <= time.time_ns() // 1_000_000
    assert T.DURABLE == "durable" and T.MAX_MS == 2**63 - 1


@pytest.mark.parametrize("ms, text", [
    (0, "1970-01-01T00:00:00Z"),
    (1_700_000_000_000, "2023-11-14T22:13:20Z"),
    (1_700_000_000_123, "2023-11-14T22:13:20.123Z"),
    (None, None),
    (T.MAX_MS, None),
    (-1, "1969-12-31T23:59:59.999Z"),
    (-62_135_596_800_000, "0001-01-01T00:00:00Z"),
    (-62_135_596_800_001, None),
    (253_402_300_799_999, "9999-12-31T23:59:59.999Z"),  # a float division gave .998 here
    (253_402_300_800_000, None),
    (203_716_219_437_219, "8425-07-05T14:43:57.219Z"),
])
def test_iso_ms(ms, text):
    assert T.iso_ms(ms) == text


def test_iso_ms_agrees_with_datetime_to_the_millisecond():
    import datetime as dt
    import random

    rng = random.Random(7)
    epoch = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
    for ms in [rng.randrange(-10**12, 5 * 10**12) for _ in range(2000)] + [86_399_999, 86_400_000, 951_782_400_000]:
        moment = epoch + dt.timedelta(milliseconds=ms)  # exact: timedelta is integer arithmetic
        want = moment.isoformat(timespec="milliseconds" if ms % 1000 else "seconds").replace("+00:00", "Z")
        assert T.iso_ms(ms) == want, ms


@pytest.mark.parametrize("stored, ms", [
    ("unix:1700000000", 1_700_000_000_000),
    ("unix:17.5", 17_500), (" unix:5", 5_000), ("unix:", None), ("unix:+5", 5_000), ("unix:²", None),
    ("1700000000.5", 1_700_000_000_500),
    (1700000000, 1_700_000_000_000),
    ("2023-11-14T22:13:20Z", 1_700_000_000_000),
    ("2023-11-14T22:13:20.123456789z", 1_700_000_000_123),
    ("2023-11-14T22:13:20", 1_700_000_000_000),
    ("2023-11-14T23:13:20+01:00", 1_700_000_000_000),
    ("", None), ("  ", None), ("yesterday", None), (True, None), (None, None), ([1], None),
])
def test_parse_timestamp_ms(stored, ms):
    assert T.parse_timestamp_ms(stored) == ms


def test_stored_values_are_non_negative_ints_that_fit_sqlite():
    assert T.stored("revision", 0) == 0 and T.stored("revision", T.MAX_MS) == T.MAX_MS
    with pytest.raises(TypeError, match="revision must be an int, not bool"):
        T.stored("revision", True)
    with pytest.raises(TypeError, match="revision must be an int, not float"):
        T.stored("revision", 1.0)
    with pytest.raises(ValueError, match=r"revision must not be negative \(got -1\)"):
        T.stored("revision", -1)
    with pytest.raises(ValueError, match="does not fit in a SQLite INTEGER"):
        T.stored("revision", T.MAX_MS + 1)


def test_a_ttl_may_be_any_size_and_its_deadline_saturates():
    huge = 2**80
    assert T.ttl("ttl_ms", huge) == huge
    assert T.deadline(1000, huge) == T.MAX_MS
    assert T.deadline(1000, 500) == 1500
    with pytest.raises(ValueError):
        T.ttl("ttl_ms", -5)


def test_a_clock_reading_is_checked_and_clamped():
    assert T.clock_now(5) == 5
    assert T.clock_now(2**70) == T.MAX_MS
    with pytest.raises(ValueError, match="clock reading must not be negative"):
        T.clock_now(-1)
    with pytest.raises(TypeError, match="clock reading must be an int"):
        T.clock_now("5")
