"""Signed checkpoints: "log X had N lines ending in hash H at time T", signed with Ed25519.

Why Ed25519 and not an HMAC: a checkpoint is checked with the *public* key, so whoever
verifies the logs (the security officer, an external auditor, a host that only runs
``ivr audit verify`` with ``IVR_AUDIT_PUBLIC_KEY``) cannot forge one, and a signed checkpoint
handed out stays proof of what the log held.  With an HMAC every verifier would hold the
signing secret.  The engine alone holds the private key (``IVR_AUDIT_KEY``, base64 of a
32-byte Ed25519 seed; generate one with ``ivr audit keygen``).

Checkpoints protect what Redis alone would not: a Redis that lost its data (the anchor is
adopted again from the file), or an attacker who can write Redis as well as the file (the
anchor rewritten to fit a shortened log).  Each is one JSON line appended (fsynced) to the
log's sidecar ``<log>.checkpoints``, and the latest is also kept in the anchor, so losing
the sidecar is seen too.
"""

from __future__ import annotations

import base64
import binascii
import fcntl
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from ivr.audit.chain import encode
from ivr.audit.errors import BadAuditKey


def _key_id(public: bytes) -> str:
    return hashlib.sha256(public).hexdigest()[:16]


def _b64_32(text: str, what: str) -> bytes:
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise BadAuditKey(f"{what} is not base64") from None
    if len(raw) != 32:
        raise BadAuditKey(f"{what} must decode to 32 bytes, not {len(raw)}")
    return raw


class Verifier:
    def __init__(self, public: bytes) -> None:
        self.public = public
        self.key_id = _key_id(public)
        self._key = Ed25519PublicKey.from_public_bytes(public)

    @classmethod
    def from_public(cls, text: str) -> Verifier:
        return cls(_b64_32(text, "IVR_AUDIT_PUBLIC_KEY"))

    def valid(self, checkpoint: Checkpoint) -> bool:
        if checkpoint.key != self.key_id:
            return False
        try:
            self._key.verify(base64.b64decode(checkpoint.sig), checkpoint.payload())
        except (InvalidSignature, binascii.Error, ValueError):
            return False
        return True


class Signer:
    def __init__(self, seed: bytes) -> None:
        self._key = Ed25519PrivateKey.from_private_bytes(seed)
        public = self._key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.verifier = Verifier(public)

    @classmethod
    def from_secret(cls, text: str) -> Signer:
        return cls(_b64_32(text, "IVR_AUDIT_KEY"))

    @staticmethod
    def new_secret() -> str:
        return base64.b64encode(os.urandom(32)).decode()

    def public_b64(self) -> str:
        return base64.b64encode(self.verifier.public).decode()

    def sign(self, *, log: str, node: str, lines: int, head: str, at: str) -> Checkpoint:
        unsigned = Checkpoint(log=log, node=node, lines=lines, head=head, at=at, key=self.verifier.key_id, sig="")
        sig = base64.b64encode(self._key.sign(unsigned.payload())).decode()
        return Checkpoint(log=log, node=node, lines=lines, head=head, at=at, key=self.verifier.key_id, sig=sig)


@dataclass(frozen=True)
class Checkpoint:
    log: str
    node: str
    lines: int
    head: str
    at: str
    key: str
    sig: str

    def fields(self) -> dict[str, Any]:
        return {"log": self.log, "node": self.node, "lines": self.lines, "head": self.head,
                "at": self.at, "key": self.key}

    def payload(self) -> bytes:
        return b"ivr audit checkpoint\n" + encode(self.fields())

    def document(self) -> str:
        return encode({**self.fields(), "sig": self.sig}).decode()

    @classmethod
    def parse(cls, text: str | bytes) -> Checkpoint:
        """Raises ValueError, KeyError or TypeError for anything that is not a checkpoint."""
        d = json.loads(text)
        if not isinstance(d, dict):
            raise TypeError("not an object")
        return cls(log=str(d["log"]), node=str(d["node"]), lines=int(d["lines"]), head=str(d["head"]),
                   at=str(d["at"]), key=str(d["key"]), sig=str(d["sig"]))


def sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".checkpoints")


def append_checkpoint(path: Path, checkpoint: Checkpoint) -> None:
    fd = os.open(sidecar(path), os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.write(fd, checkpoint.document().encode() + b"\n")
        os.fsync(fd)
    finally:
        os.close(fd)


def read_checkpoints(path: Path) -> list[Checkpoint | None] | None:
    """The sidecar's checkpoints in order (None for a line that is not one); None: no sidecar."""
    try:
        raw = sidecar(path).read_bytes()
    except FileNotFoundError:
        return None
    out: list[Checkpoint | None] = []
    for line in raw.splitlines():
        try:
            out.append(Checkpoint.parse(line))
        except (ValueError, KeyError, TypeError):
            out.append(None)
    return out
