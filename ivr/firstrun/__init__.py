"""A newcomer's first run: what ``ivr serve`` does so that its first command alone gives a
hotline to call, log in to and listen back to.

Only for a **trial checkout**: the embedded Redis (neither ``REDIS_URL`` nor
``redis.url``), one machine.  A deployment with its own Redis gets none of it, since a
key or a folder under one machine's ``var/`` would split the hotline:

* ``devkey``: a development recording key, generated once in ``var/``, announced as such
  (never when ``IVR_RECORDING_KEY`` or ``recordings.key_file`` is set);
* ``folders``: the recordings spool and the clip folder fall back to ``var/spool/`` when
  the configured ones (Asterisk's ``/var/spool/asterisk/...``) are missing, with a warning;
* ``users``: the first console users with one-time passwords in the start-up log (the
  first supervisor for any deployment that has no user at all; a trial operator and
  auditor too on a trial checkout).
"""

from __future__ import annotations

from ivr.config.schema import Config
from ivr.config.secrets import Secrets


def is_trial(config: Config, secrets: Secrets) -> bool:
    """True with the embedded Redis: a trial on one machine, not a deployment."""
    return not (secrets.redis_url or config.redis.url)
