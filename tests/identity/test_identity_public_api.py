from __future__ import annotations

import ivr.identity

EXPECTED = {
    "validate_inn",
    "validate_snils",
    "validate_appeal_number",
    "validate_phone",
    "InvalidIdentity",
    "spoken_digits",
    "normalize_fio",
    "FullName",
    "mask_inn",
    "mask_snils",
    "mask_phone",
    "mask_name",
    "mask_text",
    "make_appeal_number",
    "synthetic_inn",
    "synthetic_snils",
}


def test_documented_names_are_exported() -> None:
    from ivr.identity import validate_inn, validate_snils

    assert callable(validate_inn) and callable(validate_snils)
    assert EXPECTED <= set(ivr.identity.__all__)
    for name in ivr.identity.__all__:
        assert hasattr(ivr.identity, name), name
