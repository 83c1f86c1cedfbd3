"""The real nginx in front of the engine, on loopback, from the shipped deploy/nginx template,
and a test CA for the corporate certificates (made with ``cryptography``).

nginx runs as one foreground process (``daemon off; master_process off``) with its own
prefix, pid, logs and temporary directories under the test's tmp directory; :meth:`stop`
ends it by its pid.
"""

from __future__ import annotations

import datetime as dt
import re
import socket
import subprocess
import time
from dataclasses import dataclass
from ipaddress import IPv4Address
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "deploy" / "nginx" / "ivr-console.conf.template"
NGINX = "/usr/sbin/nginx"
ORG = "Hotline Test"


def subject(cn: str, org: str = ORG) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn),
                      x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "Support"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, org)])


def dn(cn: str, org: str = ORG) -> str:
    """As nginx reports ``$ssl_client_s_dn`` (RFC 2253)."""
    return subject(cn, org).rfc4514_string()


@dataclass(frozen=True)
class Issued:
    cert: Path
    key: Path
    serial: int

    @property
    def pair(self) -> tuple[str, str]:
        return (str(self.cert), str(self.key))


class StaffCA:
    """An organisation's CA: server and staff certificates, a CRL."""

    def __init__(self, directory: Path, name: str = "Hotline Test CA") -> None:
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name),
                               x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORG)])
        now = dt.datetime.now(dt.UTC)
        self.cert = (x509.CertificateBuilder().subject_name(self.name).issuer_name(self.name)
                     .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
                     .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=30))
                     .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                     .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                                  content_commitment=False, key_encipherment=False,
                                                  data_encipherment=False, key_agreement=False,
                                                  encipher_only=False, decipher_only=False), critical=True)
                     .sign(self.key, hashes.SHA256()))
        self.path = self.dir / "ca.pem"
        self.path.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))
        self.revoked: list[int] = []

    def issue(self, file: str, name: x509.Name, *, server_ip: str | None = None,
              expired: bool = False) -> Issued:
        key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        start, end = ((now - dt.timedelta(days=30), now - dt.timedelta(days=1)) if expired
                      else (now - dt.timedelta(hours=1), now + dt.timedelta(days=10)))
        serial = x509.random_serial_number()
        builder = (x509.CertificateBuilder().subject_name(name).issuer_name(self.name)
                   .public_key(key.public_key()).serial_number(serial)
                   .not_valid_before(start).not_valid_after(end)
                   .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True))
        if server_ip:
            builder = (builder.add_extension(x509.SubjectAlternativeName([x509.IPAddress(IPv4Address(server_ip))]),
                                             critical=False)
                       .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False))
        else:
            builder = builder.add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH]),
                                            critical=False)
        cert = builder.sign(self.key, hashes.SHA256())
        cert_path, key_path = self.dir / f"{file}.pem", self.dir / f"{file}.key"
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
        return Issued(cert_path, key_path, serial)

    def revoke(self, issued: Issued) -> None:
        self.revoked.append(issued.serial)

    def crl(self) -> Path:
        now = dt.datetime.now(dt.UTC)
        builder = (x509.CertificateRevocationListBuilder().issuer_name(self.name)
                   .last_update(now - dt.timedelta(minutes=5)).next_update(now + dt.timedelta(days=1)))
        for serial in self.revoked:
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(now - dt.timedelta(minutes=1))
                .build())
        path = self.dir / "ca.crl.pem"
        path.write_bytes(builder.sign(self.key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM))
        return path


def render(template: str, values: dict[str, str]) -> str:
    for name, value in values.items():
        template = template.replace(f"@{name}@", value)
    left = re.findall(r"@[A-Z_]+@", "".join(line.split("#")[0] for line in template.splitlines()))
    assert not left, f"placeholders left: {left}"
    return template


class Nginx:
    """Debian's nginx with the shipped server block, in the foreground, on a free loopback port."""

    def __init__(self, prefix: Path, *, ca: StaffCA, server: Issued, crl: Path, engine: tuple[str, int]) -> None:
        self.prefix = prefix
        self.port = free_port()
        for sub in ("logs", "tmp/body", "tmp/proxy", "tmp/fastcgi", "tmp/uwsgi", "tmp/scgi"):
            (prefix / sub).mkdir(parents=True, exist_ok=True)
        site = render(TEMPLATE.read_text(), {
            "LISTEN": f"127.0.0.1:{self.port}", "SERVER_NAME": "127.0.0.1",
            "SERVER_CERT": str(server.cert), "SERVER_KEY": str(server.key),
            "CLIENT_CA": str(ca.path), "CLIENT_CRL": str(crl), "ENGINE": f"{engine[0]}:{engine[1]}"})
        (prefix / "ivr-console.conf").write_text(site)
        (prefix / "nginx.conf").write_text(f"""
daemon off;
master_process off;
pid {prefix}/nginx.pid;
error_log {prefix}/logs/error.log info;
events {{ worker_connections 64; }}
http {{
    access_log {prefix}/logs/access.log;
    client_body_temp_path {prefix}/tmp/body;
    proxy_temp_path {prefix}/tmp/proxy;
    fastcgi_temp_path {prefix}/tmp/fastcgi;
    uwsgi_temp_path {prefix}/tmp/uwsgi;
    scgi_temp_path {prefix}/tmp/scgi;
    include {prefix}/ivr-console.conf;
}}
""")
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def start(self) -> Nginx:
        conf = str(self.prefix / "nginx.conf")
        check = subprocess.run([NGINX, "-t", "-p", str(self.prefix), "-c", conf], capture_output=True, text=True,
                               check=False)
        assert check.returncode == 0, check.stderr
        with open(self.prefix / "logs" / "stderr", "wb") as stderr:  # the child keeps its own copy
            self.process = subprocess.Popen([NGINX, "-p", str(self.prefix), "-c", conf],
                                            stdout=subprocess.DEVNULL, stderr=stderr)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            assert self.process.poll() is None, (self.prefix / "logs" / "error.log").read_text()
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return self
            except OSError:
                time.sleep(0.05)
        raise AssertionError("nginx did not listen within 15 s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def error_log(self) -> str:
        return (self.prefix / "logs" / "error.log").read_text()
