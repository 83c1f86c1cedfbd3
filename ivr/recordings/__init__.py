"""Call recordings: consent, encrypted storage, audited access, retention and purge.

See the module docstrings: :mod:`~ivr.recordings.container` (file format),
:mod:`~ivr.recordings.keys` (IVR_RECORDING_KEY), :mod:`~ivr.recordings.index`
(Redis layout), :mod:`~ivr.recordings.purge` (retention), :mod:`~ivr.recordings.audit`.
"""
