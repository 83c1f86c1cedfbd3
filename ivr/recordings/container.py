"""The encrypted recording file (``.rec``), version 1.

Strategy: envelope encryption (see :mod:`ivr.recordings.keys`) and chunked AES-256-GCM,
so a ten-minute call streams to a listener chunk by chunk, never whole in memory,
and every way of damaging a file is detected.

Layout (all integers big-endian; the header has a fixed size of 140 bytes)::

    offset size  field
         0    6  magic  b"IVRREC"
         6    1  format version = 1
         7    1  flags = 0 (reserved, must be 0)
         8   32  recording id, ASCII (binds the file to its name: a file copied over
                 another recording's path fails)
        40    4  chunk size C: plaintext bytes per chunk (1 .. 16 MiB; 65536 by default)
        44   12  nonce base N (random per file)
    ---- 56: end of the *stable header* S = bytes 0..56 ----
        56   16  master key id, ASCII, NUL-padded
        72    8  master key fingerprint (HMAC, see keys.py)
        80   12  wrap nonce
        92   48  wrapped data key: AES-GCM(master, wrap nonce, data key, AAD = bytes 0..72)
       140       chunks

    chunk i = AES-GCM(data key, nonce = N XOR i, plaintext_i, AAD = S || u64 i || u8 final)

Every chunk but the last holds exactly C plaintext bytes; the last holds 0..C bytes
and is sealed with final = 1 (an empty recording is one empty final chunk).  So:

* any altered byte fails a GCM tag -> :class:`RecordingTampered` (the key-wrap part is
  checked by :meth:`Keyring.unwrap`, which also tells a wrong key from an altered header);
* chunks swapped or moved -> tag fails (the index is in the nonce and the AAD);
* the file cut at a chunk boundary -> the last chunk present was sealed final = 0
  -> :class:`RecordingTruncated`; cut mid-chunk -> shorter than the length the index
  predicts from the plaintext size (``expected_size``) -> :class:`RecordingTruncated`
  before a single byte is returned (without ``expected_size`` a chunk cut mid-way is
  indistinguishable from an altered one and reported as tampered);
* bytes appended after the final chunk -> :class:`RecordingTampered`.

The key-wrap fields are outside the chunk AAD, so a key rotation re-wraps the data
key (:func:`rewrap_container`) and copies the chunk bytes verbatim, no re-encryption.

Writes go through :meth:`Blobs.put_atomically` (blobs.py): a temporary file fsynced and
renamed into place, or staged and uploaded as one object; a reader sees a whole
container or none.  ENOSPC/EDQUOT become :class:`StorageFull`.  ``write`` (default
``os.write``) is injectable for tests.  Reading takes a :class:`Blob` (a file or an
object's body) and its length.
"""

from __future__ import annotations

import errno
import hashlib
import os
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import Literal, Self

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ivr.recordings.blobs import Blob, Blobs, Writer
from ivr.recordings.errors import RecordingError, RecordingTampered, RecordingTruncated
from ivr.recordings.ids import validate_id
from ivr.recordings.keys import (
    FINGERPRINT_BYTES,
    KEY_BYTES,
    WRAP_NONCE_BYTES,
    WRAPPED_BYTES,
    Keyring,
    WrappedKey,
    key_id_field,
    parse_key_id_field,
)

MAGIC = b"IVRREC"
VERSION = 1
STABLE_SIZE = 56
WRAP_AAD_SIZE = 72
HEADER_SIZE = 140
TAG_BYTES = 16
NONCE_BYTES = 12
DEFAULT_CHUNK_SIZE = 64 * 1024
MAX_CHUNK_SIZE = 16 * 1024 * 1024

Rewrapped = Literal["unchanged", "archived", "staged"]


def container_length(plain_size: int, chunk_size: int) -> int:
    """Bytes on disk for ``plain_size`` bytes of audio."""
    chunks = max(1, -(-plain_size // chunk_size))
    return HEADER_SIZE + plain_size + TAG_BYTES * chunks


def _nonce(base: bytes, index: int) -> bytes:
    return (int.from_bytes(base, "big") ^ index).to_bytes(NONCE_BYTES, "big")


def _chunk_aad(stable: bytes, index: int, final: bool) -> bytes:
    return stable + struct.pack(">QB", index, 1 if final else 0)


@dataclass(frozen=True)
class Header:
    recording_id: str
    chunk_size: int
    nonce_base: bytes
    wrapped: WrappedKey
    raw: bytes

    @property
    def stable(self) -> bytes:
        return self.raw[:STABLE_SIZE]


def _build_header(recording_id: str, chunk_size: int, nonce_base: bytes, keyring: Keyring, data_key: bytes) -> bytes:
    stable = MAGIC + bytes([VERSION, 0]) + recording_id.encode("ascii") + struct.pack(">I", chunk_size) + nonce_base
    assert len(stable) == STABLE_SIZE
    wk = keyring.wrap(data_key, stable)
    raw = stable + key_id_field(wk.key_id) + wk.fingerprint + wk.nonce + wk.wrapped
    assert len(raw) == HEADER_SIZE
    return raw


def parse_header(raw: bytes, recording_id: str) -> Header:
    """Check the fixed header of ``recording_id``'s file (no key needed)."""
    if len(raw) < HEADER_SIZE:
        raise RecordingTruncated("file ends inside the header", recording_id=recording_id, length=len(raw))
    if raw[:6] != MAGIC:
        raise RecordingTampered("not a recording container (bad magic)", recording_id=recording_id)
    if raw[6] != VERSION or raw[7] != 0:
        raise RecordingTampered(
            f"unknown container version {raw[6]} / flags {raw[7]}", recording_id=recording_id
        )
    if raw[8:40] != recording_id.encode("ascii"):
        raise RecordingTampered("file belongs to another recording id", recording_id=recording_id)
    (chunk_size,) = struct.unpack(">I", raw[40:44])
    key_id = parse_key_id_field(raw[56:72])
    if not 0 < chunk_size <= MAX_CHUNK_SIZE or key_id is None:
        raise RecordingTampered("malformed header field", recording_id=recording_id)
    off = 72
    fingerprint = raw[off : off + FINGERPRINT_BYTES]
    off += FINGERPRINT_BYTES
    wrap_nonce = raw[off : off + WRAP_NONCE_BYTES]
    off += WRAP_NONCE_BYTES
    wrapped = raw[off : off + WRAPPED_BYTES]
    return Header(
        recording_id=recording_id,
        chunk_size=chunk_size,
        nonce_base=raw[44:56],
        wrapped=WrappedKey(key_id, fingerprint, wrap_nonce, wrapped),
        raw=raw[:HEADER_SIZE],
    )


@dataclass(frozen=True)
class Written:
    size: int  # plaintext bytes
    sha256: str  # of the plaintext
    key_id: str
    archived: bool = True  # False: kept encrypted in the local outbox, upload pending


def _write_all(write: Writer, fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = write(fd, view.tobytes())
        if n <= 0:
            raise OSError(errno.EIO, "short write")
        view = view[n:]


def write_container(
    blobs: Blobs,
    name: str,
    recording_id: str,
    audio: Iterable[bytes],
    keyring: Keyring,
    *,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    write: Writer = os.write,
) -> Written:
    """Encrypt ``audio`` (any-sized byte pieces) into the blob ``name``, atomically."""
    validate_id(recording_id)
    if not 0 < chunk_size <= MAX_CHUNK_SIZE:
        raise ValueError(f"chunk size must be 1..{MAX_CHUNK_SIZE}")
    data_key = AESGCM.generate_key(bit_length=KEY_BYTES * 8)
    nonce_base = os.urandom(NONCE_BYTES)
    header = _build_header(recording_id, chunk_size, nonce_base, keyring, data_key)
    stable = header[:STABLE_SIZE]
    aead = AESGCM(data_key)
    digest = hashlib.sha256()
    total = 0

    def body(fd: int) -> None:
        nonlocal total
        _write_all(write, fd, header)
        buf = bytearray()
        index = 0
        for piece in audio:
            digest.update(piece)
            total += len(piece)
            buf += piece
            while len(buf) > chunk_size:  # more follows: this chunk is not final
                chunk = bytes(buf[:chunk_size])
                del buf[:chunk_size]
                _write_all(write, fd, aead.encrypt(_nonce(nonce_base, index), chunk, _chunk_aad(stable, index, False)))
                index += 1
        _write_all(write, fd, aead.encrypt(_nonce(nonce_base, index), bytes(buf), _chunk_aad(stable, index, True)))

    archived = blobs.put_atomically(name, body, recording_id=recording_id)
    return Written(size=total, sha256=digest.hexdigest(), key_id=keyring.current.key_id, archived=archived)


def _read_exact(f: Blob, n: int) -> bytes:
    out = bytearray()
    while len(out) < n:
        piece = f.read(n - len(out))
        if not piece:
            break
        out += piece
    return bytes(out)


class ContainerReader:
    """Decrypted audio of one container, chunk by chunk.  Use as a context manager.

    Opening reads and authenticates the header and checks the file length; iterating
    yields plaintext chunks, each authenticated before it is yielded.  An error part
    way through (tampering in a later chunk) is raised from the iteration: a consumer
    that streams must discard what it got (``RecordingStore.export_copy`` does).
    """

    def __init__(self, blob: Blob, recording_id: str, keyring: Keyring, *, expected_size: int | None = None) -> None:
        self.recording_id = validate_id(recording_id)
        self._f = blob  # closed by close()/__exit__
        try:
            self.header = parse_header(_read_exact(self._f, HEADER_SIZE), recording_id)
            self._key = keyring.unwrap(self.header.wrapped, self.header.stable, recording_id=recording_id)
            self.key_id = self.header.wrapped.key_id
            actual = blob.size
            if expected_size is not None:
                expected = container_length(expected_size, self.header.chunk_size)
                if actual < expected:
                    raise RecordingTruncated(
                        "file is shorter than its recorded size", recording_id=recording_id,
                        length=actual, expected=expected,
                    )
                if actual > expected:
                    raise RecordingTampered(
                        "file is longer than its recorded size", recording_id=recording_id,
                        length=actual, expected=expected,
                    )
            elif actual < HEADER_SIZE + TAG_BYTES:
                raise RecordingTruncated("file ends before its first chunk", recording_id=recording_id)
        except BaseException:
            self._f.close()
            raise

    def __enter__(self) -> Self:
        return self

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        self._f.close()

    def __iter__(self) -> Iterator[bytes]:
        rid = self.recording_id
        aead = AESGCM(self._key)
        stable = self.header.stable
        block = self.header.chunk_size + TAG_BYTES
        index = 0
        current = _read_exact(self._f, block)
        while True:
            following = _read_exact(self._f, block)
            last = not following
            nonce = _nonce(self.header.nonce_base, index)
            try:
                plain = aead.decrypt(nonce, current, _chunk_aad(stable, index, last))
            except InvalidTag:
                plain = None
            if plain is None:
                other = _try(aead, nonce, current, _chunk_aad(stable, index, not last))
                if last and other is not None:
                    raise RecordingTruncated(
                        f"file ends after chunk {index} without its final chunk", recording_id=rid, chunk=index
                    )
                if not last and other is not None:
                    raise RecordingTampered("data after the final chunk", recording_id=rid, chunk=index)
                raise RecordingTampered(f"chunk {index} fails authentication", recording_id=rid, chunk=index)
            if not last and len(plain) != self.header.chunk_size:
                raise RecordingTampered(f"chunk {index} has the wrong size", recording_id=rid, chunk=index)
            yield plain
            if last:
                return
            current = following
            index += 1


def _try(aead: AESGCM, nonce: bytes, data: bytes, aad: bytes) -> bytes | None:
    try:
        return aead.decrypt(nonce, data, aad)
    except InvalidTag:
        return None


def read_key_id(blob: Blob, recording_id: str) -> str:
    """The master key id named in a container's header (no key needed, not authenticated)."""
    try:
        return parse_header(_read_exact(blob, HEADER_SIZE), recording_id).wrapped.key_id
    finally:
        blob.close()


def rewrap_container(
    blobs: Blobs, name: str, recording_id: str, keyring: Keyring, *, write: Writer = os.write
) -> Rewrapped:
    """Re-wrap the data key under the current master key; the chunks are copied verbatim.

    ``"unchanged"`` when the container already uses the current key.  The new header is
    checked to unwrap before the blob is replaced; the replacement is atomic
    (``"staged"``: the new container waits in the outbox for the archive).
    """
    f = blobs.open(name)
    try:
        header = parse_header(_read_exact(f, HEADER_SIZE), recording_id)
        data_key = keyring.unwrap(header.wrapped, header.stable, recording_id=recording_id)
        if header.wrapped.key_id == keyring.current.key_id:
            return "unchanged"
        new_header = _build_header_from(header, keyring, data_key)
        keyring.unwrap(parse_header(new_header, recording_id).wrapped, header.stable, recording_id=recording_id)

        def body(fd: int) -> None:
            _write_all(write, fd, new_header)
            while True:
                piece = f.read(1 << 20)
                if not piece:
                    break
                _write_all(write, fd, piece)

        archived = blobs.put_atomically(name, body, recording_id=recording_id)
    finally:
        f.close()
    return "archived" if archived else "staged"


def _build_header_from(header: Header, keyring: Keyring, data_key: bytes) -> bytes:
    wk = keyring.wrap(data_key, header.stable)
    raw = header.stable + key_id_field(wk.key_id) + wk.fingerprint + wk.nonce + wk.wrapped
    if len(raw) != HEADER_SIZE:
        raise RecordingError("internal: bad header length")
    return raw
