"""The recordings spool and clip folder on a machine without Asterisk's.

``config.yaml`` names Asterisk's folders (``/var/spool/asterisk/monitor/ivr``,
``/var/spool/asterisk/ivr``).  On a trial checkout where one is missing or not writable
(no Asterisk here, or its spool not set up as ``dialplans/asterisk/README-asterisk.md``
says), the engine uses ``var/spool/monitor`` or ``var/spool/clips`` instead, made with
mode 0700, and says so at start: the softphone's clips then work on any machine.  A
deployment (its own Redis) keeps the configured folder and is warned at every start.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from typing import Any

from ivr.config.schema import Config

FALLBACKS = {"spool_dir": "var/spool/monitor", "clip_dir": "var/spool/clips"}


@dataclass(frozen=True)
class Folders:
    config: Config
    warnings: tuple[str, ...]
    # The fallback clip folder when clip_dir was replaced: the softphone, on this machine,
    # must then be told to record there (Asterisk is told its own path otherwise).
    record_dir: str | None = None


def usable(path: str) -> bool:
    return os.path.isdir(path) and os.access(path, os.W_OK | os.X_OK)


def local_folders(config: Config, *, trial: bool) -> Folders:
    """``config`` with each missing recordings folder replaced by its fallback under
    ``var/`` (on a trial checkout), and the warnings to log."""
    changes: dict[str, Any] = {}
    warnings: list[str] = []
    for name, fallback in FALLBACKS.items():
        configured = getattr(config.recordings, name)
        if configured is None or usable(config.path(configured)):
            continue
        if not trial:
            warnings.append(f"recordings.{name} {configured} is missing or not writable: "
                            "create it as dialplans/asterisk/README-asterisk.md says")
            continue
        local = config.path(fallback)
        os.makedirs(local, mode=0o700, exist_ok=True)
        changes[name] = local
        warnings.append(f"recordings.{name} {configured} is missing or not writable (no Asterisk "
                        f"on this machine?): using {local} instead for this trial checkout")
    if not changes:
        return Folders(config, tuple(warnings))
    settings = dataclasses.replace(config.recordings, **changes)
    return Folders(dataclasses.replace(config, recordings=settings), tuple(warnings),
                   record_dir=changes.get("clip_dir"))
