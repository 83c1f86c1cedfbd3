"""The Asterisk spool: finished MixMonitor files encrypted into the store, plaintext removed.

The dialplan (``dialplans/asterisk/extensions.conf``, ``[operator-handover]``) records
only when the engine said ``IVR_RECORD=1``, into a directory of ours alone::

    MixMonitor(${IVR_MONITOR_DIR}/${UNIQUEID}.wav,b,/usr/bin/touch ^{MIXMONITOR_FILENAME}.done)

``b``: audio only while bridged (the operator conversation, never the menu).  ``^{...}``
escapes the dialplan's own substitution; MixMonitor substitutes it after setting
``MIXMONITOR_FILENAME`` and runs the command only after it has closed the file (at the
end of the call), so ``<UNIQUEID>.wav.done`` says ``<UNIQUEID>.wav`` is complete.
``UNIQUEID`` is the channel the engine saw as ``agi_uniqueid``, i.e. the call id.

:meth:`SpoolIngest.scan` (the engine's background loop, every second) takes each finished
file - one with its ``.done`` marker, or one left unchanged for ``abandon_after`` seconds
(Asterisk died before the marker) - and decides by the call's consent record
(:mod:`ivr.recordings.consent_log`):

=================================  ===========================================================
no consent record, or not granted  POLICY VIOLATION: the file is overwritten and deleted at
                                   once, with a deletion-log line (its sha256) and an error
granted, no recording key          left in the spool, plaintext; an error, once per file
granted, key                       encrypted into the store (kind 'operator', the call's
                                   appeal, operator, queue, consent, the spans the operator
                                   paused it), then the plaintext and the marker are removed
store refuses (disk full, ...)     left; an error; tried again after ``retry_after`` seconds
=================================  ===========================================================

Only names shaped like ``<uniqueid>.<audio ext>`` are touched; anything else is reported
once and left alone, and a symlink is never followed.  Several engine processes may scan
one spool: a lease per file (``{P}:rec:claim:asterisk:<file>``) keeps them apart, and the
recording id is noted in the consent record before the store is written, so a crash at
any point never stores one file twice.

The engine must share the directory with Asterisk (same host or volume, same path) and be
able to read, write and unlink in it: run it in Asterisk's group, directory mode 2770.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path

from ivr.recordings.audit import Clock, DeletionLog
from ivr.recordings.consent_log import ConsentLog
from ivr.recordings.errors import RecordingError
from ivr.recordings.ids import new_recording_id
from ivr.recordings.pauses import RecordingPauses
from ivr.recordings.said import SaidOnce
from ivr.recordings.store import READ_PIECE, RecordingStore, secure_remove

log = logging.getLogger("ivr.recordings.spool")

MARKER = ".done"
# <UNIQUEID>.<ext>: '1718027123.42', or 'pbx1-1718027123.42' with systemname set.
AUDIO_FILE = re.compile(r"\A(?P<call>[A-Za-z0-9_\-]{1,64}\.[0-9]{1,12})\.(?P<ext>wav|WAV|gsm|sln|ulaw|alaw)\Z")


@dataclass
class SpoolReport:
    ingested: list[str] = field(default_factory=list)  # recording ids
    violations: list[str] = field(default_factory=list)  # file names deleted unstored
    left: list[str] = field(default_factory=list)  # no key, store refused, claimed elsewhere
    waiting: list[str] = field(default_factory=list)  # still being recorded


class SpoolIngest:
    def __init__(
        self,
        *,
        spool_dir: str | os.PathLike[str],
        store: RecordingStore,
        consent_log: ConsentLog,
        deletion_log: DeletionLog,
        clock: Clock,
        abandon_after: float = 6 * 3600,
        retry_after: float = 60.0,
        pauses: RecordingPauses | None = None,
    ) -> None:
        self.dir = Path(spool_dir)
        self.store = store
        self.consent_log = consent_log
        self.deletion_log = deletion_log
        self.clock = clock
        self.abandon_after = abandon_after
        self.retry_after = retry_after
        self.pauses = pauses  # where the operator paused the call's recording
        self._said = SaidOnce(log)  # the last thing logged about each file
        self._retry_at: dict[str, float] = {}

    def scan(self) -> SpoolReport:
        report = SpoolReport()
        entries = self._said.listing(self.dir, "recording spool")
        if entries is None:
            return report
        names = [entry.name for entry in entries]
        present = set(names)
        now = self.clock()
        for name in names:
            if name.endswith(MARKER):
                if name[: -len(MARKER)] not in present:
                    self._unlink_marker(name)  # its audio was handled (or never existed)
                continue
            if name.startswith("."):
                continue
            match = AUDIO_FILE.match(name)
            if match is None:
                self._said.say(name, "warning", f"spool: unexpected file left alone: {name}")
                continue
            path = self.dir / name
            try:
                st = os.lstat(path)
            except FileNotFoundError:
                continue
            if not stat.S_ISREG(st.st_mode):
                self._said.say(name, "error", f"spool: {name} is not a regular file; left alone")
                continue
            marked = name + MARKER in present
            if not marked and now - st.st_mtime < self.abandon_after:
                report.waiting.append(name)
                continue
            if not marked:
                self._said.say(name, "warning", f"spool: {name} has no completion marker but has not changed "
                          f"for {self.abandon_after:.0f} s: taken as finished (Asterisk restarted?)")
            try:
                self._take(path, match["call"], match["ext"].lower(), report)
            except Exception as exc:  # noqa: BLE001 - one bad file must not stop the others
                self._said.say(name, "error", f"spool: {name} could not be handled: {type(exc).__name__}: {exc}")
                report.left.append(name)
        for name in self._said.gone(present):
            self._retry_at.pop(name, None)
        return report

    # -- one finished file ------------------------------------------------------------------

    def _take(self, path: Path, call_id: str, ext: str, report: SpoolReport) -> None:
        name = path.name
        if self._retry_at.get(name, 0.0) > self.clock():
            report.left.append(name)
            return
        record = self.consent_log.get(call_id)
        consent = record.consent if record is not None else None
        if record is None or consent is None or not consent.granted:
            why = "no consent record for the call" if record is None else "the caller did not consent"
            self._violation(path, call_id, why)
            report.violations.append(name)
            return
        source = f"asterisk:{name}"
        intended = record.done.get(source)
        if intended is not None and self.store.index.exists(intended):
            if path.exists():
                secure_remove(path)  # stored before a crash (or by another process): plaintext left
            self._unlink_marker(name + MARKER)
            return
        if self.store.keyring is None:
            self._said.say(name, "error", f"spool: {name} (call {call_id}) is left in PLAINTEXT: no recording "
                      "key; set IVR_RECORDING_KEY and it is stored at the next scan")
            report.left.append(name)
            return
        with self.consent_log.claimed(source) as mine:
            if not mine:
                report.left.append(name)  # another engine process is storing it
                return
            try:
                rid = intended or new_recording_id()
                if intended is None:
                    self.consent_log.intend(call_id, source, rid)
                meta = self.store.ingest(
                    path, call_id=call_id, consent=consent,
                    appeal=record.appeal, operator=record.operator, queue=record.queue,
                    kind="operator", audio_format=ext, recording_id=rid, source=source,
                    paused=self.pauses.spans(call_id) if self.pauses is not None else (),
                )
            except RecordingError as exc:
                self._retry_at[name] = self.clock() + self.retry_after
                self._said.say(name, "error", f"spool: {name} (call {call_id}) not stored, left for a retry "
                          f"in {self.retry_after:.0f} s: {type(exc).__name__}: {exc}")
                report.left.append(name)
                return
        self._unlink_marker(name + MARKER)
        self._said.forget(name)
        self._retry_at.pop(name, None)
        report.ingested.append(meta.id)
        log.info("spool: %s of call %s stored as recording %s", name, call_id, meta.id)

    def _violation(self, path: Path, call_id: str, why: str) -> None:
        """A recording the caller did not consent to: destroy it now, with proof."""
        name = path.name
        digest = hashlib.sha256()
        size = 0
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
            with os.fdopen(fd, "rb") as f:
                while piece := f.read(READ_PIECE):
                    digest.update(piece)
                    size += len(piece)
        except OSError as exc:
            log.error("spool: %s could not be read before its deletion: %s", name, exc)
        self.deletion_log.deleted(
            recording=f"asterisk:{name}", sha256=digest.hexdigest() if size else None,
            why=f"recorded without consent ({why}): policy violation", intent=f"policy:{name}",
            call=call_id, size=size,
        )
        secure_remove(path)
        self._unlink_marker(name + MARKER)
        log.error("POLICY VIOLATION: spool file %s of call %s was recorded but %s; destroyed unstored "
                  "(deletion log, sha256 %s)", name, call_id, why, digest.hexdigest()[:16])

    # -- helpers ----------------------------------------------------------------------------

    def _unlink_marker(self, name: str) -> None:
        try:
            os.unlink(self.dir / name)
        except FileNotFoundError:
            pass
        except OSError as exc:
            self._said.say(name, "error", f"spool: marker {name} cannot be removed: {exc}")

