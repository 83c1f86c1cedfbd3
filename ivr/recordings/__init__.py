"""Call recordings: consent, encrypted storage, audited access, retention and purge.

See the module docstrings: :mod:`~ivr.recordings.container` (file format),
:mod:`~ivr.recordings.keys` (IVR_RECORDING_KEY), :mod:`~ivr.recordings.index`
(Redis layout), :mod:`~ivr.recordings.purge` (retention), :mod:`~ivr.recordings.audit`,
:mod:`~ivr.recordings.consent_log` (the consent record of each call),
:mod:`~ivr.recordings.spool` (Asterisk's MixMonitor files), :mod:`~ivr.recordings.twilio`
(Twilio's recordings), :mod:`~ivr.recordings.wiring` (how the engine builds it all).
"""
