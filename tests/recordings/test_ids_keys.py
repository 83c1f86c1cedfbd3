from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ivr.recordings.errors import BadRecordingId, BadRecordingKey, NoRecordingKey
from ivr.recordings.ids import ID_RE, new_recording_id, recording_path, validate_id
from ivr.recordings.keys import Keyring

from .conftest import b64key


@pytest.mark.parametrize(
    "bad",
    [
        "../etc/passwd",
        "..",
        "a" * 30 + "..",
        "ab/" + "c" * 29,
        "ab\\" + "c" * 29,
        "a" * 31 + "\x00",
        "/" + "a" * 31,
        "A" * 32,
        "a" * 33,
        "",
        " " + "a" * 31,
        "a" * 32 + "\n",
        "%2e%2e%2fetc%2fpasswd",
    ],
)
def test_hostile_ids_are_refused_before_any_path_is_built(bad: str, tmp_path: Path) -> None:
    with pytest.raises(BadRecordingId):
        validate_id(bad)
    with pytest.raises(BadRecordingId):
        recording_path(tmp_path, bad)


def test_non_string_id_is_refused() -> None:
    with pytest.raises(BadRecordingId):
        validate_id(b"a" * 32)


@given(st.text(max_size=40))
def test_only_32_lower_hex_pass(raw: str) -> None:
    if ID_RE.match(raw):
        assert validate_id(raw) == raw
    else:
        with pytest.raises(BadRecordingId):
            validate_id(raw)


def test_generated_ids_are_valid_and_stay_inside_root(tmp_path: Path) -> None:
    rid = new_recording_id()
    path = recording_path(tmp_path, rid)
    assert path.parent.parent == tmp_path and path.name == rid + ".rec"


def test_symlinked_shard_escaping_the_root_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    rid = new_recording_id()
    (root / rid[:2]).symlink_to(outside)
    with pytest.raises(BadRecordingId, match="escapes"):
        recording_path(root, rid)


# -- keys ---------------------------------------------------------------------------


def test_key_list_first_is_current() -> None:
    ring = Keyring.parse(f" k2:{b64key()} , k1:{b64key()}")
    assert ring.current.key_id == "k2" and ring.key_ids == ("k2", "k1")


def test_bare_key_is_k0_and_key_file_with_comments(tmp_path: Path) -> None:
    assert Keyring.parse(b64key()).key_ids == ("k0",)
    f = tmp_path / "keys"
    f.write_text(f"# rotated 2026-05\nk2:{b64key()}\nk1:{b64key()}  # old\n")
    assert Keyring.from_sources(None, f).key_ids == ("k2", "k1")


def test_environment_wins_over_key_file(tmp_path: Path) -> None:
    f = tmp_path / "keys"
    f.write_text(f"file:{b64key()}\n")
    assert Keyring.from_sources(f"env:{b64key()}", f).current.key_id == "env"


@pytest.mark.parametrize(
    "text, message",
    [
        ("k1:" + base64.b64encode(os.urandom(16)).decode(), "32 bytes"),
        ("k1:not base64!", "base64"),
        ("bad$id:" + base64.b64encode(os.urandom(32)).decode(), "key id"),
        ("k1:{k},k1:{k2}", "duplicate"),
        ("{k},{k2}", "no 'id:'"),
    ],
)
def test_malformed_keys_are_named_but_never_shown(text: str, message: str) -> None:
    k, k2 = b64key(), b64key()
    text = text.format(k=k, k2=k2)
    with pytest.raises(BadRecordingKey, match=message) as info:
        Keyring.parse(text)
    assert k not in str(info.value) and k2 not in str(info.value)


def test_no_key_anywhere(tmp_path: Path) -> None:
    with pytest.raises(NoRecordingKey):
        Keyring.from_sources(None, None)
    with pytest.raises(NoRecordingKey):
        Keyring.from_sources("  ", tmp_path / "missing")
    with pytest.raises(NoRecordingKey):
        Keyring.parse("# only a comment\n")


def test_repr_never_shows_key_material() -> None:
    k = b64key()
    ring = Keyring.parse(f"k1:{k}")
    assert k not in repr(ring) and "secret" not in repr(ring.current)
