"""Build the recordings feature from the configuration: the one place it is wired.

The engine's composition root calls :func:`build_recordings` once at start-up, prints
``recordings.startup_message``, calls ``recordings.purger.reconcile()`` and then
``recordings.schedule.run_pending()`` from its background loop.  Front ends receive
``recordings.store`` and call :meth:`RecordingStore.ingest` (only when
``recordings.enabled``; otherwise the operator screen shows "not recorded").
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from redis import Redis

from ivr.config.schema import Config, RecordingSettings
from ivr.config.secrets import Secrets
from ivr.recordings.audit import AuditLog, Clock, DeletionLog
from ivr.recordings.errors import BadRecordingKey, NoRecordingKey
from ivr.recordings.keys import Keyring
from ivr.recordings.purge import Purger, PurgeSchedule
from ivr.recordings.store import RecordingStore, Retention

OFF = "recording is OFF; calls proceed without recording"


def _key_file(settings: RecordingSettings, base_dir: str | os.PathLike[str]) -> Path | None:
    if settings.key_file is None:
        return None
    path = Path(settings.key_file)
    return path if path.is_absolute() else Path(base_dir) / path


def load_keyring(
    secrets: Secrets, settings: RecordingSettings, *, base_dir: str | os.PathLike[str] = "."
) -> Keyring:
    """The keyring from IVR_RECORDING_KEY (wins) or ``recordings.key_file``.

    Raises NoRecordingKey (none configured) or BadRecordingKey (malformed).
    """
    return Keyring.from_sources(secrets.recording_key, _key_file(settings, base_dir))


def check_recording_key(
    secrets: Secrets, settings: RecordingSettings, *, base_dir: str | os.PathLike[str] = "."
) -> str:
    """A one-line start-up message about the recording key; never shows key material."""
    try:
        keyring = load_keyring(secrets, settings, base_dir=base_dir)
    except NoRecordingKey:
        return f"recordings: NO KEY — {OFF}"
    except BadRecordingKey as exc:
        return f"recordings: BAD KEY ({exc.message}) — {OFF}"
    source = "IVR_RECORDING_KEY" if secrets.recording_key else "key file"
    others = list(keyring.key_ids[1:])
    message = f"recordings: key present (id {keyring.current.key_id}, from {source})"
    if others:
        message += f"; older keys for reading: {', '.join(others)}"
    key_file = _key_file(settings, base_dir)
    if not secrets.recording_key and key_file is not None and key_file.stat().st_mode & 0o077:
        message += f"; WARNING: {key_file} is readable by group or others (chmod 600)"
    return message


@dataclass(frozen=True)
class Recordings:
    store: RecordingStore
    purger: Purger
    schedule: PurgeSchedule
    startup_message: str

    @property
    def enabled(self) -> bool:
        return self.store.keyring is not None


def build_recordings(config: Config, secrets: Secrets, redis: Redis, *, clock: Clock = time.time) -> Recordings:
    settings = config.recordings
    message = check_recording_key(secrets, settings, base_dir=config.root)
    try:
        keyring: Keyring | None = load_keyring(secrets, settings, base_dir=config.root)
    except (NoRecordingKey, BadRecordingKey):
        keyring = None
    retention = Retention(
        default_days=settings.retention_days,
        per_queue={
            name: queue.retention_days
            for name, queue in config.queues.items()
            if queue.retention_days is not None
        },
    )
    store = RecordingStore(
        root=config.path(settings.dir),
        keyring=keyring,
        redis=redis,
        audit=AuditLog(config.path(settings.audit_log), clock=clock),
        clock=clock,
        prefix=config.redis.prefix,
        retention=retention,
    )
    purger = Purger(store=store, deletion_log=DeletionLog(config.path(settings.deletion_log), clock=clock))
    schedule = PurgeSchedule(purger, every_seconds=settings.purge_every, clock=clock)
    return Recordings(store=store, purger=purger, schedule=schedule, startup_message=message)
