"""Build the recordings feature from the configuration: the one place it is wired.

The engine's composition root calls :func:`build_recordings` once at start-up, prints
``recordings.startup_message``, calls :meth:`Recordings.start` (the store root is
created or checked) and then :meth:`Recordings.tick` from its background loop (the
reconciliation once, the purge schedule, the Asterisk spool scan, the voice-clip janitor,
front ends' retries).  Every call's end goes to :meth:`Recordings.call_ended`: the consent
record (``consent_log``), then the call's voice clips (``clips``: the spoken name
encrypted, every other clip destroyed); the Twilio front end gets its recording hook
from :func:`ivr.recordings.twilio.twilio_recording_hook`.  Whether a
call is recorded is decided by the flow engine (``CallStarted.recording`` =
``recordings.enabled``); the operator's screen shows it.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from redis import Redis

from ivr.audit.logs import RECORDINGS_ACCESS, RECORDINGS_DELETED, AuditLogs, audit_logs
from ivr.config.schema import Config, RecordingSettings
from ivr.config.secrets import Secrets
from ivr.flow.context import CallContext
from ivr.recordings.audit import AuditLog, Clock, DeletionLog
from ivr.recordings.clips import CallClips
from ivr.recordings.consent_log import ConsentLog
from ivr.recordings.errors import (
    ArchiveUnavailable,
    BadRecordingKey,
    NoRecordingKey,
    RecordingError,
    WrongRecordingKey,
)
from ivr.recordings.keycheck import KeyCheck
from ivr.recordings.keys import Keyring
from ivr.recordings.outbox import Outbox
from ivr.recordings.pauses import RecordingPauses
from ivr.recordings.purge import Purger, PurgeReport, PurgeSchedule
from ivr.recordings.spool import SpoolIngest
from ivr.recordings.storage import build_blobs, storage_message
from ivr.recordings.store import RecordingStore, Retention

log = logging.getLogger("ivr.recordings")
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


@dataclass
class Recordings:
    store: RecordingStore
    purger: Purger
    schedule: PurgeSchedule
    startup_message: str
    consent_log: ConsentLog
    clips: CallClips
    # Where operators paused each call's recording, until it is ingested (pauses.py).
    pauses: RecordingPauses
    spool: SpoolIngest | None = None
    # Containers waiting for the archive (S3 down): uploaded from tick().
    outbox: Outbox | None = None
    orphan_grace: float = 3600.0
    # More background work from front ends (the Twilio hook's retries), run by tick().
    background: list[Callable[[], None]] = field(default_factory=list)
    reconciled: bool = False
    reconcile_failure: str | None = None  # the last failure said
    # Told of each scheduled purge (the metrics count recordings purged).
    on_purged: Callable[[PurgeReport], None] | None = None
    # The level of startup_message: ERROR for a malformed key.
    startup_level: int = logging.INFO
    # Why the configured key is not the store's (keycheck.py), found at start; None: it is.
    key_problem: str | None = None

    @property
    def enabled(self) -> bool:
        return self.store.keyring is not None

    @property
    def key_ready(self) -> bool:
        """A key, and the one the store's recordings were written with (``/readyz``)."""
        return self.enabled and self.key_problem is None

    def start(self) -> None:
        """At engine start: create the store root, or check it is the one Redis knows; check
        the key against the store."""
        if self.store.keyring is None:
            return
        try:
            self.store.initialise()
        except ArchiveUnavailable as exc:
            then = ("recordings wait encrypted in the outbox until it is back" if self.store.known()
                    else "a new store: ingests are refused until it is reachable")
            log.error("recordings: %s at start; %s", exc, then)
        except RecordingError as exc:
            log.error("recordings: the store is not ready (%s); ingests will be refused until it is", exc)
        try:
            KeyCheck(store=self.store, keyring=self.store.keyring).verify()
        except WrongRecordingKey as exc:
            self.key_problem = exc.message
            log.error("recordings: %s; the engine is not ready (/readyz 503) until the right key is "
                      "configured", exc)
        except ArchiveUnavailable as exc:
            log.warning("recordings: the key could not be checked against the archive (%s); "
                        "checked at the next start", exc)

    def call_ended(self, ctx: CallContext, at: float) -> None:
        """The engine is done with a call: its consent record, then its voice clips (which
        read that record).  Never raises."""
        self.consent_log.call_ended(ctx, at)
        self.clips.call_ended(ctx, at)

    def operator_joined(self, call_id: str, operator: str) -> None:
        """An operator took the call after the engine was done with it (a callback the citizen
        answered): the call's consent record (which the conversation's recording is ingested
        by) and its stored name now name them.  Never raises."""
        try:
            self.consent_log.operator_joined(call_id, operator)
            self.clips.operator_joined(call_id, operator)
        except Exception:  # the conversation goes on; the record keeps no operator
            log.exception("call %s: the callback's operator could not be added to its records", call_id)

    def tick(self) -> None:
        """Background work (about once a second): finish what a crash left (once), the purge
        when due, the spool scan, the clip janitor (every minute), front ends' retries."""
        if self.enabled and not self.reconciled:
            try:
                self.purger.reconcile(orphan_grace=self.orphan_grace)
                self.reconciled = True
            except (RecordingError, OSError) as exc:  # OSError: the deletion log cannot be written
                # said once per cause: an archive may be away for hours
                said = f"{type(exc).__name__}: {getattr(exc, 'details', {}).get('cause', exc)}"
                if said != self.reconcile_failure:
                    self.reconcile_failure = said
                    log.error("recordings: reconciliation failed (%s); tried again at the next tick", exc)
        if self.enabled:
            try:
                report = self.schedule.run_pending()
            except OSError as exc:  # no deletion without its proof: the purge waits for the log
                log.error("recordings: purge stopped: the deletion log cannot be written (%s); "
                          "see ivr audit verify", exc)
                report = None
            if report is not None and self.on_purged is not None:
                self.on_purged(report)
        if self.outbox is not None:
            self.outbox.run_pending()
        if self.spool is not None:  # also without a key: consent violations are destroyed
            self.spool.scan()
        try:  # also without a key: old clips are destroyed
            self.clips.sweep()
        except Exception:
            log.exception("recordings: the clip janitor failed; tried again at its next run")
        for job in self.background:
            try:
                job()
            except Exception:  # one failing job must not starve the others
                log.exception("recordings: background work failed; retried at the next tick")


def build_recordings(config: Config, secrets: Secrets, redis: Redis, *, clock: Clock = time.time,
                     logs: AuditLogs | None = None) -> Recordings:
    settings = config.recordings
    logs = logs or audit_logs(config, redis, secrets=secrets, clock=clock)
    message = check_recording_key(secrets, settings, base_dir=config.root)
    level = logging.INFO
    try:
        keyring: Keyring | None = load_keyring(secrets, settings, base_dir=config.root)
    except NoRecordingKey:
        keyring = None
    except BadRecordingKey:
        keyring, level = None, logging.ERROR  # a key was meant to be there
    retention = Retention(
        default_days=settings.retention_days,
        per_queue={
            name: queue.retention_days
            for name, queue in config.queues.items()
            if queue.retention_days is not None
        },
    )
    blobs = build_blobs(config, secrets, clock=clock)
    if config.recordings.storage == "s3":
        message += "; " + storage_message(config, secrets, blobs)
    store = RecordingStore(
        blobs=blobs,
        keyring=keyring,
        redis=redis,
        audit=logs.get(RECORDINGS_ACCESS, AuditLog),
        clock=clock,
        prefix=config.redis.prefix,
        retention=retention,
    )
    deletion_log = logs.get(RECORDINGS_DELETED, DeletionLog)
    purger = Purger(store=store, deletion_log=deletion_log)
    schedule = PurgeSchedule(purger, every_seconds=settings.purge_every, clock=clock)
    consent_log = ConsentLog(
        store=store, redis=redis, prefix=config.redis.prefix, clock=clock,
        clip_dir=config.path(settings.clip_dir) if settings.clip_dir else None,
    )
    clips = CallClips(
        store=store, consent_log=consent_log, deletion_log=deletion_log, clock=clock,
        clip_dir=config.path(settings.clip_dir) if settings.clip_dir else None, max_age=settings.clip_max_age,
    )
    pauses = RecordingPauses(redis=redis, prefix=config.redis.prefix, clock=clock)
    spool = None
    if settings.spool_dir:
        spool = SpoolIngest(
            spool_dir=config.path(settings.spool_dir), store=store, consent_log=consent_log,
            deletion_log=deletion_log, clock=clock, abandon_after=settings.spool_abandon_after,
            pauses=pauses,
        )
    outbox = Outbox(store=store, deletion_log=deletion_log, grace=settings.orphan_grace, clock=clock,
                    retry_every=settings.s3.retry_every if settings.s3 is not None else 10)
    return Recordings(store=store, purger=purger, schedule=schedule, startup_message=message,
                      startup_level=level,
                      consent_log=consent_log, clips=clips, pauses=pauses, spool=spool, orphan_grace=settings.orphan_grace,
                      outbox=outbox)
