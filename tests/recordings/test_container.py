"""The container with the real cipher and real files: round trip, damage, keys."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ivr.recordings.blobs import DirectoryBlobs, FileBlob
from ivr.recordings.container import (
    HEADER_SIZE,
    TAG_BYTES,
    ContainerReader,
    container_length,
    read_key_id,
    rewrap_container,
    write_container,
)
from ivr.recordings.errors import (
    RecordingTampered,
    RecordingTruncated,
    UnknownRecordingKey,
    UnreadableRecording,
    WrongRecordingKey,
)
from ivr.recordings.ids import new_recording_id, recording_path
from ivr.recordings.keys import Keyring, MasterKey

from .conftest import b64key

C = 64


def name_of(rid: str) -> str:
    return f"{rid[:2]}/{rid}.rec"


def write(tmp: Path, ring: Keyring, data: bytes, pieces: int = 3) -> tuple[Path, str]:
    rid = new_recording_id()
    path = recording_path(tmp, rid)
    step = max(1, len(data) // pieces)
    chunks = [data[i : i + step] for i in range(0, len(data), step)] or [b""]
    written = write_container(DirectoryBlobs(root=tmp), name_of(rid), rid, chunks, ring, chunk_size=C)
    assert written.size == len(data)
    return path, rid


def read(path: Path, rid: str, ring: Keyring, expected: int | None = None) -> bytes:
    with ContainerReader(FileBlob(path), rid, ring, expected_size=expected) as reader:
        return b"".join(reader)


@pytest.mark.parametrize("size", [0, 1, C - 1, C, C + 1, 2 * C, 2 * C + 1, 10 * C + 17])
def test_round_trip_across_chunk_boundaries(tmp_path: Path, keyring: Keyring, size: int) -> None:
    data = os.urandom(size)
    path, rid = write(tmp_path, keyring, data)
    assert os.path.getsize(path) == container_length(size, C)
    assert read(path, rid, keyring, size) == data
    assert read(path, rid, keyring) == data
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]


def test_ten_minutes_stream_in_64k_chunks(tmp_path: Path, keyring: Keyring) -> None:
    ten_minutes = 8000 * 2 * 600  # 8 kHz, 16-bit mono
    rid = new_recording_id()
    path = recording_path(tmp_path, rid)
    block = os.urandom(4000)
    write_container(DirectoryBlobs(root=tmp_path), name_of(rid), rid, (block for _ in range(ten_minutes // 4000)), keyring)
    with ContainerReader(FileBlob(path), rid, keyring, expected_size=ten_minutes) as reader:
        sizes = [len(p) for p in reader]
    assert sum(sizes) == ten_minutes and max(sizes) == 64 * 1024


def test_plaintext_never_on_disk(tmp_path: Path, keyring: Keyring) -> None:
    marker = b"CITIZEN-SAYS-INN-500100732259" * 10
    path, _ = write(tmp_path, keyring, marker)
    assert b"CITIZEN" not in path.read_bytes()


def test_flipping_any_byte_is_tampering(tmp_path: Path, keyring: Keyring) -> None:
    data = os.urandom(2 * C + 10)
    path, rid = write(tmp_path, keyring, data)
    original = path.read_bytes()
    for pos in range(len(original)):
        damaged = bytearray(original)
        damaged[pos] ^= 0x01
        path.write_bytes(bytes(damaged))
        for expected in (len(data), None):
            with pytest.raises(RecordingTampered):
                read(path, rid, keyring, expected)


def test_truncation_anywhere_is_reported_as_truncation(tmp_path: Path, keyring: Keyring) -> None:
    data = os.urandom(3 * C + 5)
    path, rid = write(tmp_path, keyring, data)
    original = path.read_bytes()
    for cut in range(len(original)):
        path.write_bytes(original[:cut])
        with pytest.raises(RecordingTruncated):
            read(path, rid, keyring, len(data))


def test_cut_at_a_chunk_boundary_is_truncation_even_without_the_size(tmp_path: Path, keyring: Keyring) -> None:
    data = os.urandom(3 * C + 5)
    path, rid = write(tmp_path, keyring, data)
    original = path.read_bytes()
    for chunks in (1, 2, 3):
        path.write_bytes(original[: HEADER_SIZE + chunks * (C + TAG_BYTES)])
        with pytest.raises(RecordingTruncated, match=f"after chunk {chunks - 1}"):
            read(path, rid, keyring)


def test_reordered_chunks_and_appended_bytes_are_tampering(tmp_path: Path, keyring: Keyring) -> None:
    data = os.urandom(3 * C)
    path, rid = write(tmp_path, keyring, data)
    raw = path.read_bytes()
    b = C + TAG_BYTES
    head, c0, c1, rest = raw[:HEADER_SIZE], raw[HEADER_SIZE : HEADER_SIZE + b], raw[HEADER_SIZE + b : HEADER_SIZE + 2 * b], raw[HEADER_SIZE + 2 * b :]
    path.write_bytes(head + c1 + c0 + rest)
    with pytest.raises(RecordingTampered):
        read(path, rid, keyring, len(data))
    path.write_bytes(raw + b"\x00" * (C + TAG_BYTES))
    with pytest.raises(RecordingTampered):
        read(path, rid, keyring)


def test_a_file_moved_to_another_recordings_name_is_refused(tmp_path: Path, keyring: Keyring) -> None:
    path_a, _ = write(tmp_path, keyring, b"a" * 10)
    path_b, rid_b = write(tmp_path, keyring, b"b" * 10)
    path_b.write_bytes(path_a.read_bytes())
    with pytest.raises(RecordingTampered, match="another recording"):
        read(path_b, rid_b, keyring, 10)


def test_wrong_and_unknown_keys_are_named(tmp_path: Path, keyring: Keyring) -> None:
    path, rid = write(tmp_path, keyring, b"hello")
    with pytest.raises(WrongRecordingKey, match="'k1'.*not the key"):
        read(path, rid, Keyring.parse(f"k1:{b64key()}"))
    with pytest.raises(UnknownRecordingKey, match="'k1'.*not in the keyring"):
        read(path, rid, Keyring.parse(f"k9:{b64key()}"))


def test_rotation_keeps_old_recordings_readable_and_rewrap_moves_them(tmp_path: Path, keyring: Keyring) -> None:
    old_path, old_rid = write(tmp_path, keyring, b"old call" * 50)
    rotated = Keyring([MasterKey("k2", os.urandom(32)), keyring.current])
    new_path, new_rid = write(tmp_path, rotated, b"new call")
    assert read_key_id(FileBlob(old_path), old_rid) == "k1" and read_key_id(FileBlob(new_path), new_rid) == "k2"
    assert read(old_path, old_rid, rotated) == b"old call" * 50

    chunks_before = old_path.read_bytes()[HEADER_SIZE:]
    blobs = DirectoryBlobs(root=tmp_path)
    assert rewrap_container(blobs, name_of(old_rid), old_rid, rotated) == "archived"
    assert old_path.read_bytes()[HEADER_SIZE:] == chunks_before  # audio untouched
    assert read_key_id(FileBlob(old_path), old_rid) == "k2"
    assert rewrap_container(blobs, name_of(old_rid), old_rid, rotated) == "unchanged"
    only_k2 = Keyring([rotated.current])
    assert read(old_path, old_rid, only_k2) == b"old call" * 50
    with pytest.raises(UnreadableRecording):
        read(old_path, old_rid, keyring)


def test_a_renamed_key_still_opens_its_recordings(tmp_path: Path, keyring: Keyring) -> None:
    path, rid = write(tmp_path, keyring, b"x" * 100)
    renamed = Keyring([MasterKey("main", keyring.current.secret)])
    assert read(path, rid, renamed) == b"x" * 100
