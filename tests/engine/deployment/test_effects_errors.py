"""Effect errors (runtime contract §6): codes, display form and the stored ``error_json``."""

from __future__ import annotations

import pickle

import pytest

from lashdb.engine import EffectControllerError, StoreError
from lashdb.engine.base.errors import LashdbError
from lashdb.engine.deployment.effects.errors import (
    EffectCancelled,
    _blank,
    _decode_error,
    _encode_error,
    _parse_error_json,
)


def test_controller_error_display_and_type():
    err = EffectControllerError("some_code", "some message")
    assert str(err) == "some_code: some message"
    assert isinstance(err, StoreError)
    assert err.to_json() == {"code": "some_code", "message": "some message"}



def test_controller_error_survives_pickling_and_refuses_non_text_parts():
    err = EffectControllerError("plugin", "plugin session error: unknown process `ghost`")
    back = pickle.loads(pickle.dumps(err))
    assert (type(back), back.code, back.message, str(back)) == (EffectControllerError, err.code, err.message,
                                                               str(err))
    with pytest.raises(TypeError):
        EffectControllerError(3, "message")


def test_stored_error_json_parses_back_and_a_malformed_one_is_named():
    assert _parse_error_json('{"code":"transient_error","message":"flaky network"}').to_json() == \
        {"code": "transient_error", "message": "flaky network"}
    with pytest.raises(ValueError, match="missing text field `message`"):
        _parse_error_json('{"code":"c"}')
    with pytest.raises(ValueError, match="got list"):
        _parse_error_json("[1]")
    assert str(_decode_error("bad byte")) == \
        "sqlite_effect_replay_decode: failed to decode runtime effect replay row: bad byte"
    assert _encode_error("set").code == "sqlite_effect_replay_encode"


def test_cancelled_names_the_effect_and_says_what_happens_next():
    err = EffectCancelled("turn-1", "key-1")
    assert str(err).startswith("runtime effect `key-1` in scope `turn-1` was cancelled by its caller")
    assert (err.scope_id, err.replay_key) == ("turn-1", "key-1")
    assert isinstance(err, LashdbError) and not isinstance(err, EffectControllerError)
    assert "next request" in err.hint


def test_blank_means_rust_whitespace_or_not_text():
    assert [_blank(v) for v in ("", " \t\u3000", "a", None, 3)] == [True, True, False, True, True]
