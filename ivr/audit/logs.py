"""Every audit log of the product, by name, and what is done to all of them (anchor, checkpoint, verify).

    recordings-access    recordings.audit_log     who asked for which recording, and the outcome
    recordings-deleted   recordings.deletion_log  proof that each recording was destroyed
    console-access       console.audit_log        personal data shown in the console, account changes

Built once by the engine (:func:`audit_logs`); the recordings and the console take their
logs from here.  ``tick()`` (the engine's background loop) signs a checkpoint of each log
that moved, every ``audit.checkpoint_every`` seconds, when ``IVR_AUDIT_KEY`` is set.
"""

from __future__ import annotations

import fcntl
import logging
import os
import socket
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from redis.exceptions import RedisError

from ivr.audit.anchor import Anchor
from ivr.audit.chain import ChainedLog, Clock, iso, last_line, line_hash
from ivr.audit.checkpoint import Checkpoint, Signer, Verifier, append_checkpoint
from ivr.audit.errors import AuditError, BadAuditKey
from ivr.audit.verify import LogReport, snapshot, verify_log
from ivr.config.schema import Config
from ivr.config.secrets import Secrets

log = logging.getLogger("ivr.audit")

RECORDINGS_ACCESS = "recordings-access"
RECORDINGS_DELETED = "recordings-deleted"
CONSOLE_ACCESS = "console-access"
RECORDINGS_LOGS = (RECORDINGS_ACCESS, RECORDINGS_DELETED)


def log_paths(config: Config) -> dict[str, Path]:
    return {
        RECORDINGS_ACCESS: Path(config.path(config.recordings.audit_log)),
        RECORDINGS_DELETED: Path(config.path(config.recordings.deletion_log)),
        CONSOLE_ACCESS: Path(config.path(config.console.audit_log)),
    }


def audit_keys(secrets: Secrets) -> tuple[Signer | None, Verifier | None]:
    """The signer (``IVR_AUDIT_KEY``) and verifier (it, or ``IVR_AUDIT_PUBLIC_KEY``).  Raises BadAuditKey."""
    secret, public = secrets.audit_key, secrets.audit_public_key
    signer = Signer.from_secret(secret) if secret else None
    if signer is not None:
        if public and Verifier.from_public(public).key_id != signer.verifier.key_id:
            raise BadAuditKey("IVR_AUDIT_PUBLIC_KEY is not the public key of IVR_AUDIT_KEY")
        return signer, signer.verifier
    return None, Verifier.from_public(public) if public else None


@dataclass
class AuditLogs:
    paths: dict[str, Path]
    redis: Any
    prefix: str
    node: str
    clock: Clock
    signer: Signer | None = None
    verifier: Verifier | None = None
    checkpoint_every: float = 300.0
    _logs: dict[str, ChainedLog] = field(default_factory=dict)
    _next_checkpoint: float = 0.0

    def anchor(self, name: str) -> Anchor:
        return Anchor(redis=self.redis, prefix=self.prefix, node=self.node, log=name)

    def get(self, name: str, cls: type[ChainedLog] = ChainedLog) -> Any:
        """The log ``name`` as ``cls`` (AuditLog, DeletionLog, ConsoleAudit: one instance each)."""
        made = self._logs.get(name)
        if made is None or not isinstance(made, cls):
            made = cls(self.paths[name], clock=self.clock, anchor=self.anchor(name), name=name)
            self._logs[name] = made
        return made

    def start(self) -> None:
        """At engine start: each log settled with its anchor (see ChainedLog.settle)."""
        for name in self.paths:
            try:
                self.get(name).settle()
            except (OSError, RedisError) as exc:
                log.error("audit log %s could not be checked against its anchor at start (%s)", name, exc)

    # -- checkpoints ------------------------------------------------------------------------

    def tick(self) -> None:
        if self.signer is None or self.clock() < self._next_checkpoint:
            return
        self._next_checkpoint = self.clock() + self.checkpoint_every
        for name in self.paths:
            try:
                self.checkpoint(name)
            except (OSError, RedisError, AuditError) as exc:
                log.error("audit log %s: no checkpoint signed (%s)", name, exc)

    def checkpoint(self, name: str, *, force: bool = False) -> Checkpoint | None:
        """Sign the log's anchored head if it moved since the last checkpoint (or ``force``).
        Nothing is signed for a log that does not match its anchor."""
        if self.signer is None:
            raise BadAuditKey("IVR_AUDIT_KEY is not set: no checkpoint can be signed", log=name)
        path, anchor = self.paths[name], self.anchor(name)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # no append between reading the file and the anchor
            state = anchor.read()
            last = last_line(fd)
            if not state.known or state.pending is not None or last is None:
                return None
            if line_hash(last) != state.head:
                log.error("audit log %s does not match its anchor: no checkpoint signed (ivr audit verify)", name)
                return None
            try:
                previous = Checkpoint.parse(state.checkpoint) if state.checkpoint else None
            except (ValueError, KeyError, TypeError):
                previous = None  # garbled in Redis: ivr audit verify says so; sign again
            if previous is not None and previous.lines == state.lines and not force:
                return None
            checkpoint = self.signer.sign(log=name, node=self.node, lines=state.lines, head=state.head,
                                          at=iso(self.clock()))
            append_checkpoint(path, checkpoint)
            anchor.save_checkpoint(checkpoint.document())
            # also to the journal, which can be shipped off the host: a third copy
            log.info("audit checkpoint %s", checkpoint.document())
            return checkpoint
        finally:
            os.close(fd)

    # -- verification -----------------------------------------------------------------------

    def verify(self, names: Iterable[str] | None = None) -> list[LogReport]:
        return [verify_log(log=name, path=self.paths[name], anchor=None, verifier=self.verifier,
                           taken=snapshot(self.paths[name], self.anchor(name).read))
                for name in (names or self.paths)]


def audit_logs(config: Config, redis: Any, *, secrets: Secrets, clock: Clock) -> AuditLogs:
    """The product's audit logs; a malformed key is logged at ERROR and no checkpoint is signed."""
    try:
        signer, verifier = audit_keys(secrets)
    except BadAuditKey as exc:
        log.error("audit: %s; the logs are anchored but no checkpoint is signed or checked", exc)
        signer, verifier = None, None
    if signer is not None:
        log.info("audit: logs anchored in Redis; checkpoints signed with key %s every %d s",
                 signer.verifier.key_id, config.audit.checkpoint_every)
    else:
        log.info("audit: logs anchored in Redis; IVR_AUDIT_KEY not set, so no signed checkpoints")
    return AuditLogs(paths=log_paths(config), redis=redis, prefix=config.redis.prefix,
                     node=config.audit.node or socket.gethostname(), clock=clock, signer=signer,
                     verifier=verifier, checkpoint_every=config.audit.checkpoint_every)
