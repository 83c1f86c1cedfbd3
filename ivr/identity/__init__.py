"""Validation, normalisation and masking of caller identifiers.

ИНН, СНИЛС, appeal numbers, phone numbers, spoken digits and ФИО. Pure
functions, no I/O. Every validator raises ``InvalidIdentity`` whose ``reason``
the IVR maps to a Russian prompt.
"""

from __future__ import annotations

from .appeal import make_appeal_number, validate_appeal_number
from .errors import IdentityKind, InvalidIdentity, Reason
from .inn import inn_kind, validate_inn, validate_person_inn
from .mask import mask_inn, mask_name, mask_phone, mask_snils, mask_text
from .names import FullName, normalize_fio
from .phone import validate_phone
from .snils import snils_digits, validate_snils
from .spoken import spoken_digits
from .synthetic import corrupt_checksum, synthetic_inn, synthetic_snils

__all__ = [
    "FullName",
    "IdentityKind",
    "InvalidIdentity",
    "Reason",
    "corrupt_checksum",
    "inn_kind",
    "make_appeal_number",
    "mask_inn",
    "mask_name",
    "mask_phone",
    "mask_snils",
    "mask_text",
    "normalize_fio",
    "snils_digits",
    "spoken_digits",
    "synthetic_inn",
    "synthetic_snils",
    "validate_appeal_number",
    "validate_inn",
    "validate_person_inn",
    "validate_phone",
    "validate_snils",
]
