"""At start: is each configured master key the key the store knows under its id?

A wrong key under the right id (a typo in ``IVR_RECORDING_KEY``, the key file of another
installation) would otherwise be found only when someone asks for an old recording, while
new recordings are written under it.  So, for every key of the keyring:

* the store keeps a key-check record, ``{P}:rec:key-check`` (hash: key id -> the key's
  fingerprint, ``HMAC-SHA256(key, ...)[:8]``, which reveals nothing of the key and is in
  every recording's header anyway), written the first time a key id is used;
* at start the key's fingerprint must equal the record; with no record yet (a store from
  before this check, or a record lost with Redis), one of the newest recordings the index
  says was written under that id must open with the key (its wrapped data key is
  unwrapped, no audio is read);
* a key that passes, or that no recording names yet, gets its record (``HSETNX``: the
  first engine process to start decides, the others are checked against it).

A key that fails raises :class:`WrongRecordingKey`; the wiring logs it at ERROR and
``/readyz`` says not ready.
"""

from __future__ import annotations

from ivr.recordings.container import ContainerReader
from ivr.recordings.errors import ArchiveUnavailable, RecordingError, WrongRecordingKey
from ivr.recordings.keys import Keyring, MasterKey
from ivr.recordings.store import RecordingStore

SAMPLE = 200  # newest recordings looked at for a key id without a record
WHY = ("is not the key the stored recordings under that id were written with (IVR_RECORDING_KEY "
       "or the key file holds other key material under this id)")


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class KeyCheck:
    def __init__(self, *, store: RecordingStore, keyring: Keyring) -> None:
        self.store = store
        self.keyring = keyring
        self.redis = store.index.redis
        self.key = store.index.keys.key_check

    def verify(self) -> None:
        """Raise :class:`WrongRecordingKey` for the first key the store knows otherwise."""
        for key in self.keyring.masters:
            if self.redis.hget(self.key, key.key_id) is None:
                self._against_a_recording(key)
                self.redis.hsetnx(self.key, key.key_id, key.fingerprint.hex())
        for key in self.keyring.masters:  # another process may have written one meanwhile
            record = self.redis.hget(self.key, key.key_id)
            if record is None or _text(record) != key.fingerprint.hex():
                raise WrongRecordingKey(f"recording key '{key.key_id}' {WHY}", key_id=key.key_id)

    def _against_a_recording(self, key: MasterKey) -> None:
        """The newest recording written under ``key``'s id must open with the keyring."""
        for recording_id in self.store.index.newest(SAMPLE):
            meta = self.store.index.get(recording_id)
            if meta is None or meta.key_id != key.key_id or meta.state != "stored":
                continue
            try:
                blob = self.store.blobs.open(self.store.blob_name(recording_id))
                ContainerReader(blob, recording_id, self.keyring).close()
            except WrongRecordingKey as exc:
                raise WrongRecordingKey(f"recording key '{key.key_id}' {WHY}", recording_id=recording_id,
                                        key_id=key.key_id) from exc
            except ArchiveUnavailable:
                raise  # no record is written: the key is checked at the next start
            except (OSError, RecordingError):
                continue  # a missing or damaged file says nothing about the key: try another
            return
