from __future__ import annotations

import hashlib

import pytest

from ivr.identity import synthetic_inn, synthetic_snils
from ivr.identity.pseudonym import IdentityHasher


def test_identity_keys_are_keyed_hashes_of_the_documents() -> None:
    snils, inn = synthetic_snils(5), synthetic_inn(5)
    hasher = IdentityHasher(b"k" * 32)
    keys = hasher.documents(inn=inn, snils=snils)
    assert [k.split(":")[0] for k in keys] == ["inn", "snils"]
    digits = "".join(ch for ch in snils if ch.isdigit())
    assert hasher.documents(inn=None, snils=digits) == keys[1:]  # formatting does not matter
    assert not any(inn in k or digits in k for k in keys)
    assert "snils:" + hashlib.sha256(f"snils:{digits}".encode()).hexdigest() not in keys
    assert IdentityHasher(b"j" * 32).documents(inn=inn, snils=snils) != keys
    assert hasher.documents(inn=None, snils=None) == ()
    assert hasher.phone("+79990000001").startswith("tel:")


def test_an_identity_key_is_long_enough_and_never_printed() -> None:
    with pytest.raises(ValueError):
        IdentityHasher(b"short")
    assert "secret" not in repr(IdentityHasher(b"secret" * 4))
