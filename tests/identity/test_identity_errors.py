from __future__ import annotations

import pickle

import pytest

from ivr.identity import InvalidIdentity, validate_inn


def test_carries_kind_reason_and_english_message() -> None:
    with pytest.raises(InvalidIdentity) as info:
        validate_inn("77070838931")
    assert info.value.kind == "inn"
    assert info.value.reason == "length"
    assert str(info.value) == "ИНН must have 10 or 12 digits, got 11"


def test_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        validate_inn("abc")


def test_message_never_echoes_the_input() -> None:
    secret = "770708389"
    with pytest.raises(InvalidIdentity) as info:
        validate_inn(secret)
    assert secret not in str(info.value)
    assert secret not in repr(info.value)


def test_survives_pickling() -> None:
    error = InvalidIdentity("snils", "checksum", "СНИЛС check value does not match")
    clone = pickle.loads(pickle.dumps(error))
    assert (clone.kind, clone.reason, str(clone)) == (
        "snils",
        "checksum",
        "СНИЛС check value does not match",
    )
