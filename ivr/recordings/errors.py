"""One exception tree for recordings; every error carries the data a caller needs.

``RecordingError`` is the root.  Each error has ``recording_id`` (or None) and
``details`` (a dict of plain values, safe to log: never key material, never audio,
never a caller's personal data).  There is one error mode: raise.

    RecordingError
    ├── NoRecordingKey          no master key configured: recording is off
    ├── BadRecordingKey         IVR_RECORDING_KEY / key file is malformed
    ├── NoConsent               ingest without a granted consent
    ├── BadRecordingId          an id that is not ours (path separators, '..', NUL...)
    ├── UnknownRecording        no such recording (never stored, or purged)
    ├── AccessDenied            role not allowed, or no reason given
    ├── LegalHoldConflict       hold requested on a recording already being purged
    ├── StorageFull             ENOSPC / EDQUOT while writing; nothing was stored
    ├── StoreNotReady           the store root is missing or not initialised
    ├── ArchiveUnavailable      the object store (S3) cannot be reached, is too slow or
    │                           refuses (credentials, missing bucket): "archive unavailable"
    ├── FetchFailed             a recording could not be taken from its source (a Twilio
    │                           URL that is not ours, an HTTP error, a body too large)
    ├── PauseRefused            a pause or resume that does not fit the recording's state
    │   ├── AlreadyPaused       pause while paused (a double click)
    │   ├── NotPaused           resume while recording
    │   └── PauseBusy           another pause or resume of this call is under way
    └── UnreadableRecording     the container cannot be decrypted and authenticated
        ├── RecordingTampered   authentication failed: the file was altered
        ├── RecordingTruncated  the file ends early (crash, copy cut short)
        ├── WrongRecordingKey   the key with the file's key id is not the key used
        └── UnknownRecordingKey the file's key id is not in the keyring
"""

from __future__ import annotations

from typing import Any


class RecordingError(Exception):
    """Base of every recordings error."""

    def __init__(self, message: str, *, recording_id: str | None = None, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.recording_id = recording_id
        self.details: dict[str, Any] = dict(details)

    def __str__(self) -> str:
        where = f" [recording {self.recording_id}]" if self.recording_id else ""
        return f"{self.message}{where}"


class NoRecordingKey(RecordingError):
    pass


class BadRecordingKey(RecordingError):
    pass


class NoConsent(RecordingError):
    pass


class BadRecordingId(RecordingError):
    pass


class UnknownRecording(RecordingError):
    pass


class AccessDenied(RecordingError):
    pass


class LegalHoldConflict(RecordingError):
    pass


class StorageFull(RecordingError):
    pass


class StoreNotReady(RecordingError):
    pass


class ArchiveUnavailable(RecordingError):
    """The archive (object storage) is down, slow or refusing.  ``details``: ``archive``
    (bucket and endpoint, no credentials) and ``cause`` (the client's error code or class)."""


class FetchFailed(RecordingError):
    pass


class PauseRefused(RecordingError):
    """``details``: ``call`` and ``state`` (the state the recording was found in)."""


class AlreadyPaused(PauseRefused):
    pass


class NotPaused(PauseRefused):
    pass


class PauseBusy(PauseRefused):
    pass


class UnreadableRecording(RecordingError):
    pass


class RecordingTampered(UnreadableRecording):
    pass


class RecordingTruncated(UnreadableRecording):
    pass


class WrongRecordingKey(UnreadableRecording):
    pass


class UnknownRecordingKey(UnreadableRecording):
    pass
