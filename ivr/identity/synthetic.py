"""Deterministic SYNTHETIC identifiers for tests and demos.

* Synthetic ИНН start with region code "00", which the FNS never assigns, so
  they cannot belong to a real taxpayer while still passing the checksum.
* СНИЛС have no such unassigned range: a synthetic СНИЛС is checksum-valid
  and above 001-001-998 but could coincide with a real number. Never use
  them outside tests and demos.

Numbers are derived from ``seed`` with SplitMix64, so they are identical
across Python versions and platforms.
"""

from __future__ import annotations

from typing import Literal

from .inn import inn_check_digits
from .snils import CHECKSUM_THRESHOLD, format_snils, snils_check_value

_MASK64 = (1 << 64) - 1
SYNTHETIC_INN_REGION = "00"


def _splitmix64(seed: int) -> int:
    z = (seed + 0x9E3779B97F4A7C15) & _MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return z ^ (z >> 31)


def synthetic_inn(seed: int, kind: Literal["person", "organisation"] = "person") -> str:
    """A valid, never-issued ИНН: 12 digits for 'person', 10 for 'organisation'."""
    if kind == "person":
        body = SYNTHETIC_INN_REGION + f"{_splitmix64(seed) % 10**8:08d}"
    elif kind == "organisation":
        body = SYNTHETIC_INN_REGION + f"{_splitmix64(seed) % 10**7:07d}"
    else:
        raise ValueError(f"kind must be 'person' or 'organisation', got {kind!r}")
    if body.strip("0") == "":  # avoid the reserved all-zero ИНН
        body = body[:-1] + "1"
    return body + inn_check_digits(body)


def synthetic_snils(seed: int) -> str:
    """A checksum-valid СНИЛС above 001-001-998, formatted ``XXX-XXX-XXX YY``."""
    span = 10**9 - (CHECKSUM_THRESHOLD + 1)
    first_nine = f"{CHECKSUM_THRESHOLD + 1 + _splitmix64(seed) % span:09d}"
    return format_snils(first_nine + f"{snils_check_value(first_nine):02d}")


def corrupt_checksum(number: str) -> str:
    """Return ``number`` with its last digit changed so the check fails.

    Works for ИНН (10/12), СНИЛС (any formatting) and appeal numbers: in each
    the last digit is fully determined by the others, so any other value is
    invalid. Formatting is preserved. Raises ``ValueError`` when there is no
    digit, or for a СНИЛС at or below 001-001-998, which has no checksum.
    """
    positions = [i for i, ch in enumerate(number) if "0" <= ch <= "9"]
    if not positions:
        raise ValueError("number has no digits to corrupt")
    digits = "".join(number[i] for i in positions)
    if len(digits) == 11 and int(digits[:9]) <= CHECKSUM_THRESHOLD:
        raise ValueError("СНИЛС at or below 001-001-998 has no checksum to corrupt")
    last = positions[-1]
    return number[:last] + str((int(number[last]) + 1) % 10) + number[last + 1 :]
