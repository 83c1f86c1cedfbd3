"""The corporate certificate that opens the archive (issue 20).

«Доступ к архиву предоставляется только сотрудникам службы поддержки после авторизации по
корпоративному сертификату» (seed 001).

TLS ends at nginx (``deploy/nginx/``), which asks for a client certificate
(``ssl_verify_client optional``), checks it against the organisation's CA and CRL, and
tells the engine what it found in headers it sets itself (a client's own are replaced)::

    X-SSL-Client-Verify: SUCCESS                 or  FAILED:certificate revoked  or  NONE
    X-SSL-Client-S-DN:   CN=anton,OU=Support,O=Hotline
    X-SSL-Client-Serial: 1F3A

The engine believes these headers only from a peer in ``console.trusted_proxies`` (the same
list that makes ``X-Forwarded-For`` believed); from anyone else there is no certificate.
With ``console.archive_certificate: true`` every auditor page and every recording access
needs a verified certificate bound to the signed-in user: the user's ``certificate``
(subject DN) or ``cert_serial`` (``ivr users add NAME --role auditor --certificate
"CN=...,O=..."``).  This module only reads and compares; the refusal is answered, logged,
audited and counted towards a block by :mod:`ivr.console.auditor`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ivr.console.throttle import Network, is_trusted

VERIFY = "X-SSL-Client-Verify"
SUBJECT = "X-SSL-Client-S-DN"
SERIAL = "X-SSL-Client-Serial"
HEADERS = (VERIFY, SUBJECT, SERIAL)


@dataclass(frozen=True)
class ClientCertificate:
    """What the trusted proxy said of the client's certificate."""

    verify: str  # "SUCCESS", "NONE", "FAILED:<reason>"
    subject: str
    serial: str

    @property
    def verified(self) -> bool:
        return self.verify == "SUCCESS"


def normal_dn(dn: str) -> str:
    """``O=Hotline,CN=anton`` (nginx's RFC 2253 order: the last RDN of the certificate first),
    ``CN=anton, o=Hotline`` (as a person types it) are one subject: attribute names in any case,
    spaces around the separators and the order of the RDNs ignored; values compared as written."""
    parts = []
    for rdn in _split(dn.strip()):
        name, _, value = rdn.partition("=")
        parts.append(f"{name.strip().upper()}={value.strip()}")
    return ",".join(sorted(parts))


def _split(dn: str) -> list[str]:
    """Split at the commas that separate RDNs (not an escaped ``\\,`` inside a value)."""
    out, current, escaped = [], "", False
    for ch in dn:
        if escaped:
            current += ch
            escaped = False
        elif ch == "\\":
            current += ch
            escaped = True
        elif ch == ",":
            out.append(current)
            current = ""
        else:
            current += ch
    if current or out:
        out.append(current)
    return [part for part in out if part.strip()]


def normal_serial(serial: str) -> str:
    """``1F:3A``, ``0x1f3a`` and ``001F3A`` are one serial number."""
    text = serial.strip().lower().replace(":", "")
    text = text.removeprefix("0x")
    return text.lstrip("0") or "0"


def from_proxy(peer: str, headers: Mapping[str, str], trusted: Sequence[Network]) -> ClientCertificate | None:
    """The certificate a trusted proxy reports; None when the peer is not one (the headers are ignored)."""
    if not trusted or not is_trusted(peer, trusted):
        return None
    return ClientCertificate(verify=headers.get(VERIFY, "NONE").strip()[:200] or "NONE",
                             subject=headers.get(SUBJECT, "").strip()[:500],
                             serial=headers.get(SERIAL, "").strip()[:100])


def refusal(cert: ClientCertificate | None, *, subject: str | None, serial: str | None) -> str | None:
    """Why ``cert`` does not open the archive for a user bound to ``subject``/``serial``; None if it does.

    ``no_proxy``: not through the trusted proxy; ``none``: no certificate; ``failed``: nginx could
    not verify it (revoked, expired, another CA); ``unbound``: the user has no certificate bound;
    ``other_user``: a good certificate, but not this user's.
    """
    if cert is None:
        return "no_proxy"
    if cert.verify == "NONE":
        return "none"
    if not cert.verified:
        return "failed"
    if not subject and not serial:
        return "unbound"
    if subject and normal_dn(cert.subject) != normal_dn(subject):
        return "other_user"
    if serial and (not cert.serial or normal_serial(cert.serial) != normal_serial(serial)):
        return "other_user"
    return None
