"""Recording ids and where their files live.

An id is 32 lowercase hex digits (128 random bits), e.g.
``3f9c0a1e5b7d4c2a8e6f0b1d2c3a4e5f``.  Ids come from us (``new_recording_id``) and
come back from the operator console, the CLI and the front ends; every id from
outside passes :func:`validate_id` *before* any path is built from it.  Anything
else - path separators, ``..``, NUL, upper case, whitespace, the wrong length -
raises :class:`BadRecordingId`.  Ids carry no personal data (no phone number, no
appeal number), so they may appear in logs and in the deletion log.

Layout: ``<id[:2]>/<id>.rec`` under the store (a directory's root or a bucket's prefix,
:mod:`ivr.recordings.blobs`); 256 shards keep directory sizes sane for a month of hotline
calls.  Temporary files are ``<id[:2]>/.<id>.<random>.tmp`` in the same directory as the
final file (:func:`ivr.recordings.blobs.temp_name`), so the final ``rename`` is atomic.
:func:`recording_path` re-checks that the resolved path stays inside the root
(a symlinked shard directory pointing elsewhere is refused too).
"""

from __future__ import annotations

import os
import re
import secrets
from pathlib import Path

from ivr.recordings.errors import BadRecordingId

ID_RE = re.compile(r"\A[0-9a-f]{32}\Z")
SUFFIX = ".rec"
TEMP_SUFFIX = ".tmp"
TEMP_RE = re.compile(r"\A\.([0-9a-f]{32})\.[0-9a-f]{16}\.tmp\Z")


def new_recording_id() -> str:
    return secrets.token_hex(16)


def _shown(raw: object) -> str:
    """A bounded, printable rendering of a rejected id for messages and logs."""
    text = repr(raw)
    return text if len(text) <= 80 else text[:77] + "..."


def validate_id(raw: object) -> str:
    """Return ``raw`` if it is a well-formed recording id, else raise BadRecordingId."""
    if not isinstance(raw, str):
        raise BadRecordingId("a recording id must be a string", given=_shown(raw))
    for bad, why in (("\x00", "NUL"), ("/", "path separator"), ("\\", "path separator"), ("..", "'..'")):
        if bad in raw:
            raise BadRecordingId(f"a recording id may not contain {why}", given=_shown(raw))
    if not ID_RE.match(raw):
        raise BadRecordingId("a recording id is 32 lowercase hex digits", given=_shown(raw))
    return raw


def recording_path(root: Path, recording_id: str) -> Path:
    """The container path of ``recording_id`` under ``root``; stays inside ``root``."""
    rid = validate_id(recording_id)
    path = root / rid[:2] / (rid + SUFFIX)
    real_root = os.path.realpath(root)
    real = os.path.realpath(path)
    if os.path.commonpath([real_root, real]) != real_root:
        raise BadRecordingId("recording path escapes the store root", recording_id=rid)
    return path


def id_from_filename(name: str) -> str | None:
    """``<id>.rec`` -> id; anything else -> None."""
    if name.endswith(SUFFIX) and ID_RE.match(name[: -len(SUFFIX)]):
        return name[: -len(SUFFIX)]
    return None


def id_from_tempname(name: str) -> str | None:
    m = TEMP_RE.match(name)
    return m.group(1) if m else None
