"""Effect errors (runtime contract §6): codes, display form and the stored ``error_json``."""

from __future__ import annotations

from lashdb.engine import EffectControllerError, StoreError


def test_controller_error_display_and_type():
    err = EffectControllerError("some_code", "some message")
    assert str(err) == "some_code: some message"
    assert isinstance(err, StoreError)
    assert err.to_json() == {"code": "some_code", "message": "some message"}

