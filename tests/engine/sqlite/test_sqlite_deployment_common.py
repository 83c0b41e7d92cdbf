"""The old ``deployment_common`` home keeps re-exporting the casts and clock, and driver_message reads the cause."""

from __future__ import annotations

from lashdb.engine.base import ints, timing
from lashdb.engine.base.errors import BackendError
from lashdb.engine.sqlite import deployment_common


def test_reexports_are_the_base_objects():
    assert deployment_common.to_i64 is ints.to_i64
    assert deployment_common.from_i64 is ints.from_i64
    assert deployment_common.clamp_cursor is ints.clamp_cursor
    assert (deployment_common.U64_MAX, deployment_common.I64_MAX) == (2**64 - 1, 2**63 - 1)
    assert deployment_common.Clock is timing.Clock and deployment_common.DURABLE is timing.DURABLE
    assert deployment_common.wall_clock_ms is timing.wall_clock_ms


def test_u64_casts_round_trip():
    assert deployment_common.to_i64(2**64 - 1) == -1
    assert deployment_common.from_i64(-1) == 2**64 - 1
    assert deployment_common.to_i64(5) == 5 and deployment_common.from_i64(5) == 5


def test_driver_message_is_the_driver_text():
    exc = BackendError("UNIQUE constraint failed: processes.process_id", path="/x/processes.db")
    assert deployment_common.driver_message(exc) == exc.driver_message
    assert "UNIQUE constraint failed" in deployment_common.driver_message(exc)
