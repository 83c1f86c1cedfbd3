"""Master keys and the wrapping of per-recording data keys.

Envelope encryption: every recording has its own random 256-bit data key; the data
key is *wrapped* (AES-256-GCM) by a master key, and the wrapped key sits in the
recording's header together with the master key's id and fingerprint.  Master keys
never touch audio, so rotating them is cheap:

* put a new key first in ``IVR_RECORDING_KEY`` (``k2:NEW,k1:OLD``): new recordings
  use ``k2``, old ones stay readable with ``k1``;
* optionally run ``RecordingStore.rewrap`` (``ivr recordings rewrap``): each old
  header is re-wrapped under ``k2``; the audio ciphertext is copied verbatim;
* once nothing names ``k1`` any more (``RecordingStore.key_usage()``), drop it.

Key format, in ``IVR_RECORDING_KEY`` or in the key file (the variable wins)::

    k2:3q2+7wAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=,k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=

entries separated by commas or whitespace (newlines in a file; ``#`` starts a
comment there), each ``ID:BASE64`` with ID matching ``[A-Za-z0-9_.-]{1,16}`` and
BASE64 decoding to exactly 32 bytes; the first entry is the *current* key.  A single
bare ``BASE64`` (the older documented form) is accepted as key id ``k0``.  Key ids
are written into every recording: never reuse an id for different key material.
Generate a key with ``python -c "import os,base64;print(base64.b64encode(os.urandom(32)).decode())"``.

The fingerprint is ``HMAC-SHA256(master, "ivr recording key fingerprint")[:8]``: it
reveals nothing of the key and lets a reader tell "this is the wrong key" from "this
header was altered" (see :meth:`Keyring.unwrap`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ivr.recordings.errors import (
    BadRecordingKey,
    NoRecordingKey,
    RecordingTampered,
    UnknownRecordingKey,
    WrongRecordingKey,
)

KEY_ID_RE = re.compile(r"\A[A-Za-z0-9_.-]{1,16}\Z")
KEY_BYTES = 32
WRAP_NONCE_BYTES = 12
WRAPPED_BYTES = KEY_BYTES + 16
FINGERPRINT_BYTES = 8
BARE_KEY_ID = "k0"


@dataclass(frozen=True)
class MasterKey:
    key_id: str
    secret: bytes = field(repr=False)

    @property
    def fingerprint(self) -> bytes:
        mac = hmac.new(self.secret, b"ivr recording key fingerprint", hashlib.sha256)
        return mac.digest()[:FINGERPRINT_BYTES]


@dataclass(frozen=True)
class WrappedKey:
    """What a recording's header stores about its data key."""

    key_id: str
    fingerprint: bytes
    nonce: bytes
    wrapped: bytes


class Keyring:
    """Master keys by id; the first is current (used for every new wrap)."""

    def __init__(self, keys: Sequence[MasterKey]) -> None:
        if not keys:
            raise NoRecordingKey("no recording master key configured")
        ids = [k.key_id for k in keys]
        if len(set(ids)) != len(ids):
            raise BadRecordingKey("duplicate key id in the recording keyring")
        if len({k.secret for k in keys}) != len(keys):
            raise BadRecordingKey("the same key material appears under two key ids")
        self._keys = tuple(keys)
        self._by_id = {k.key_id: k for k in keys}

    def __repr__(self) -> str:
        return f"Keyring(ids={[k.key_id for k in self._keys]})"

    @property
    def current(self) -> MasterKey:
        return self._keys[0]

    @property
    def masters(self) -> tuple[MasterKey, ...]:
        return self._keys

    @property
    def key_ids(self) -> tuple[str, ...]:
        return tuple(k.key_id for k in self._keys)

    @classmethod
    def parse(cls, text: str, *, source: str = "IVR_RECORDING_KEY") -> Keyring:
        """Parse the key format above; errors name the entry number, never the key."""
        lines = [line.split("#", 1)[0] for line in text.splitlines()]
        entries = [e for e in re.split(r"[\s,]+", " ".join(lines)) if e]
        if not entries:
            raise NoRecordingKey(f"{source} holds no key")
        keys: list[MasterKey] = []
        for n, entry in enumerate(entries, 1):
            key_id, sep, b64 = entry.rpartition(":")
            if not sep:
                if len(entries) != 1:
                    raise BadRecordingKey(f"{source}: entry {n} has no 'id:' (needed with several keys)")
                key_id, b64 = BARE_KEY_ID, entry
            if not KEY_ID_RE.match(key_id):
                raise BadRecordingKey(f"{source}: entry {n}: key id must match [A-Za-z0-9_.-]{{1,16}}")
            try:
                secret = base64.b64decode(b64, validate=True)
            except (binascii.Error, ValueError):
                raise BadRecordingKey(f"{source}: entry {n} ({key_id}): not valid base64") from None
            if len(secret) != KEY_BYTES:
                raise BadRecordingKey(
                    f"{source}: entry {n} ({key_id}): a key is {KEY_BYTES} bytes, got {len(secret)}"
                )
            keys.append(MasterKey(key_id, secret))
        return cls(keys)

    @classmethod
    def from_sources(cls, env_value: str | None, key_file: str | os.PathLike[str] | None) -> Keyring:
        """The environment value wins; else the key file; neither: NoRecordingKey."""
        if env_value and env_value.strip():
            return cls.parse(env_value)
        if key_file is not None:
            path = Path(key_file)
            try:
                text = path.read_text(encoding="ascii")
            except FileNotFoundError:
                raise NoRecordingKey(f"key file {path} does not exist") from None
            except (OSError, UnicodeDecodeError) as exc:
                raise BadRecordingKey(f"key file {path} cannot be read: {type(exc).__name__}") from None
            return cls.parse(text, source=f"key file {path}")
        raise NoRecordingKey("neither IVR_RECORDING_KEY nor recordings.key_file is set")

    # -- wrapping ---------------------------------------------------------------------

    def wrap(self, data_key: bytes, aad_without_key_id: bytes) -> WrappedKey:
        """Wrap ``data_key`` under the current key; AAD = header prefix + key id."""
        key = self.current
        nonce = os.urandom(WRAP_NONCE_BYTES)
        aad = aad_without_key_id + _key_id_field(key.key_id)
        wrapped = AESGCM(key.secret).encrypt(nonce, data_key, aad)
        return WrappedKey(key.key_id, key.fingerprint, nonce, wrapped)

    def unwrap(self, wk: WrappedKey, aad_without_key_id: bytes, *, recording_id: str | None = None) -> bytes:
        """Recover a data key, or say precisely why not.

        Candidates are the key named by the header's key id and any key whose
        fingerprint matches the header's.  The wrap's AAD binds the header's key id,
        so a renamed key still opens its recordings, and an altered key id does not.

        * a candidate opens it, fingerprint agrees       -> the data key
        * a candidate opens it, fingerprint disagrees    -> RecordingTampered
        * none opens it, but a fingerprint matched       -> RecordingTampered
        * none opens it, the key id is in the keyring    -> WrongRecordingKey
        * none opens it, the key id is unknown           -> UnknownRecordingKey
        """
        aad = aad_without_key_id + _key_id_field(wk.key_id)
        by_print = [k for k in self._keys if hmac.compare_digest(k.fingerprint, wk.fingerprint)]
        named = self._by_id.get(wk.key_id)
        candidates = by_print + ([named] if named is not None and named not in by_print else [])
        for key in candidates:
            try:
                data_key = AESGCM(key.secret).decrypt(wk.nonce, wk.wrapped, aad)
            except InvalidTag:
                continue
            if not hmac.compare_digest(key.fingerprint, wk.fingerprint):
                raise RecordingTampered("key fingerprint in the header was altered", recording_id=recording_id)
            return data_key
        if by_print:
            raise RecordingTampered(
                "header fails authentication (key-wrap tag)", recording_id=recording_id, key_id=wk.key_id
            )
        if named is not None:
            raise WrongRecordingKey(
                f"master key '{wk.key_id}' in the keyring is not the key this recording was written with",
                recording_id=recording_id,
                key_id=wk.key_id,
            )
        raise UnknownRecordingKey(
            f"recording was written with master key '{wk.key_id}', which is not in the keyring "
            f"(known: {', '.join(self.key_ids)})",
            recording_id=recording_id,
            key_id=wk.key_id,
        )


KEY_ID_FIELD = 16


def _key_id_field(key_id: str) -> bytes:
    raw = key_id.encode("ascii")
    return raw + b"\x00" * (KEY_ID_FIELD - len(raw))


def key_id_field(key_id: str) -> bytes:
    """The fixed 16-byte, NUL-padded header field for ``key_id``."""
    return _key_id_field(key_id)


def parse_key_id_field(raw: bytes) -> str | None:
    """The key id in a header field, or None if the field is malformed."""
    text = raw.rstrip(b"\x00")
    if b"\x00" in text:
        return None
    try:
        key_id = text.decode("ascii")
    except UnicodeDecodeError:
        return None
    return key_id if KEY_ID_RE.match(key_id) else None
