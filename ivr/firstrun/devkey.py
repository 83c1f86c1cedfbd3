"""The development recording key of a trial checkout: ``var/recording-dev.key``.

Generated once (``O_EXCL``, mode 0600: two first starts at once share one key), used while
neither ``IVR_RECORDING_KEY`` nor ``recordings.key_file`` is set, and announced at every
start as a development key: recordings made with it are as safe as that file.
"""

from __future__ import annotations

import base64
import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path

from ivr.config.schema import Config
from ivr.config.secrets import Secrets

DEV_KEY_FILE = "var/recording-dev.key"
KEY_ID = "dev"


@dataclass(frozen=True)
class DevelopmentKey:
    """The configuration to run with, and what to say about the key at start."""

    config: Config
    warning: str | None


def development_key(config: Config, secrets: Secrets) -> DevelopmentKey:
    """``config`` with ``recordings.key_file`` set to the development key (made when
    missing), or ``config`` unchanged when a key is configured."""
    if secrets.recording_key or config.recordings.key_file:
        return DevelopmentKey(config, None)
    path = Path(config.path(DEV_KEY_FILE))
    made = _make_once(path)
    settings = dataclasses.replace(config.recordings, key_file=str(path))
    verb = "GENERATED NOW" if made else "in use"
    warning = (f"recordings: DEVELOPMENT KEY {verb}: {path} (mode 0600). For trying the product on "
               "this machine only; not for real calls: set IVR_RECORDING_KEY or recordings.key_file "
               "(README, Secrets) and recordings made with this key stay readable only with this file")
    return DevelopmentKey(dataclasses.replace(config, recordings=settings), warning)


def _make_once(path: Path) -> bool:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w", encoding="ascii") as out:
        out.write(f"# development recording key of this checkout (ivr serve made it)\n"
                  f"{KEY_ID}:{base64.b64encode(os.urandom(32)).decode()}\n")
    return True
