"""The archive opens only with the auditor's own corporate certificate (seed 001, issue 20).

The real nginx (Debian's) runs the shipped ``deploy/nginx/ivr-console.conf.template`` in front
of the engine's own HTTP server on loopback; a test CA signs the staff certificates, revokes one
in the CRL nginx loads, and lets one expire.  ``requests`` is the client.  No certificate,
another auditor's, a revoked, an expired or a foreign CA's certificate: refused (403), in the
security log and the console's audit, counted towards blocking the account; the right one:
the auditor lists the recordings and listens.
"""

from __future__ import annotations

import argparse
import base64
import dataclasses
import http.client
import io
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from ipaddress import ip_network
from pathlib import Path
from typing import Any

import pytest
import requests

from ivr.config import Config, Secrets
from ivr.config.schema import UserConfig
from ivr.console.auth import Auth
from ivr.console.cli import add_parser as add_users_parser
from ivr.console.cli import users_command
from ivr.engine import Engine, build_engine
from ivr.recordings.meta import Consent
from ivr.web.app import create_app
from ivr.web.server import HttpServer
from routing.redis_conn import connect
from tests.console.conftest import PASSWORD, Clock, console_config
from tests.console.nginx import Issued, Nginx, StaffCA, dn, subject

AUDIO = b"RIFF" + os.urandom(3000)


@dataclass
class Site:
    engine: Engine
    auth: Auth
    web: HttpServer
    nginx: Nginx
    ca: StaffCA
    certs: dict[str, Issued]
    recording: str

    def session(self, user: str, cert: Issued | None) -> requests.Session:
        """A browser of ``user``, signed in with the password, offering ``cert``."""
        s = requests.Session()
        s.trust_env = False  # this CA, not REQUESTS_CA_BUNDLE; no proxy from the environment
        s.verify = str(self.ca.path)
        if cert is not None:
            s.cert = cert.pair
        page = s.get(f"{self.nginx.url}/login", timeout=10)
        assert page.status_code == 200, page.text
        token = s.cookies.get("ivr_console")
        assert token
        csrf = _csrf(page.text)
        signed = s.post(f"{self.nginx.url}/login", data={"username": user, "password": PASSWORD, "csrf_token": csrf},
                        allow_redirects=False, timeout=10)
        assert signed.status_code == 302, signed.text
        return s

    def security(self) -> list[dict[str, Any]]:
        key = "{" + self.engine.config.redis.prefix + "}:console:security"
        return [json.loads(f[b"e"]) for _, f in self.engine.redis.xrange(key)]

    def console_audit(self) -> list[dict[str, Any]]:
        path = Path(self.engine.config.path(self.engine.config.console.audit_log))
        return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []

    def recordings_audit(self) -> list[dict[str, Any]]:
        path = Path(self.engine.config.path(self.engine.config.recordings.audit_log))
        return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html) or re.search(
        r'<meta name="csrf-token" content="([^"]+)"', html)
    assert found, "no CSRF token on the log-in page"
    return found.group(1)


@pytest.fixture()
def site(config: Config, tmp_path: Path, redis_server: Any, user_hashes: dict[str, UserConfig],
         clock: Clock, request: pytest.FixtureRequest) -> Iterator[Site]:
    ca = StaffCA(tmp_path / "pki")
    server = ca.issue("server", subject("127.0.0.1"), server_ip="127.0.0.1")
    certs = {
        "anton": ca.issue("anton", subject("anton")),
        "arina": ca.issue("arina", subject("arina")),
        "anton-revoked": ca.issue("anton-revoked", subject("anton")),
        "anton-expired": ca.issue("anton-expired", subject("anton"), expired=True),
        "anton-foreign": StaffCA(tmp_path / "rogue", name="Rogue CA").issue("anton-foreign", subject("anton")),
    }
    ca.revoke(certs["anton-revoked"])
    users = dict(user_hashes)
    # bound as a person types it (nginx reports "O=Hotline Test,OU=Support,CN=anton")
    users["anton"] = dataclasses.replace(users["anton"], certificate="CN=anton, OU=Support, O=Hotline Test")
    users["arina"] = dataclasses.replace(users["anton"], certificate=dn("arina"))
    (tmp_path / "clips").mkdir()
    base = console_config(config, tmp_path, users)
    cfg = dataclasses.replace(base, console=dataclasses.replace(
        base.console, archive_certificate=True, trusted_proxies=(ip_network("127.0.0.1/32"),),
        block_after=getattr(request, "param", 20)))
    key = "k1:" + base64.b64encode(os.urandom(32)).decode()
    engine = build_engine(cfg, Secrets(secret_key="k", recording_key=key),
                          redis=connect(redis_server.url, embedded_dir=str(tmp_path)), clock=clock)
    engine.recordings.store.initialise()
    meta = engine.recordings.store.ingest(AUDIO, call_id="call-c1", consent=Consent(True, clock(), "key", "1"),
                                          appeal="0000000018", operator="op102", queue="payments")
    app = create_app(engine)
    web = HttpServer(app, address=("127.0.0.1", 0), settings=cfg.http).start()
    nginx = Nginx(tmp_path / "nginx", ca=ca, server=server, crl=ca.crl(), engine=web.address).start()
    try:
        yield Site(engine, app.extensions["ivr.console.auth"], web, nginx, ca, certs, meta.id)
    finally:
        nginx.stop()
        web.shutdown()


def listen(site: Site, s: requests.Session) -> requests.Response:
    grant = s.post(f"{site.nginx.url}/auditor/api/recordings/{site.recording}/access",
                   json={"action": "listen", "reason": "жалоба №17"}, timeout=10)
    if grant.status_code != 200:
        return grant
    return s.get(site.nginx.url + grant.json()["url"], timeout=10)


def test_the_auditor_with_their_own_certificate_lists_and_listens(site: Site) -> None:
    anton = site.session("anton", site.certs["anton"])
    page = anton.get(f"{site.nginx.url}/auditor/recordings", timeout=10)
    assert page.status_code == 200
    anton.headers["X-CSRF-Token"] = _csrf(page.text)
    listed = anton.get(f"{site.nginx.url}/auditor/api/recordings", timeout=10)
    assert listed.status_code == 200 and [r["id"] for r in listed.json()["recordings"]] == [site.recording]
    audio = listen(site, anton)
    assert audio.status_code == 200 and audio.content == AUDIO
    assert [(x["actor"], x["outcome"]) for x in site.recordings_audit()] == [("anton", "allowed")]
    assert not [e for e in site.security() if e["kind"] == "certificate_refused"]
    assert "Server" not in audio.headers or "nginx/" not in audio.headers["Server"]  # server_tokens off


@pytest.mark.parametrize(("offered", "why", "verify"), [
    (None, "none", "NONE"),
    ("arina", "other_user", "SUCCESS"),
    ("anton-revoked", "failed", "FAILED:certificate revoked"),
    ("anton-expired", "failed", "FAILED:certificate has expired"),
    ("anton-foreign", "failed", "FAILED:unable to verify the first certificate"),
])
def test_without_the_auditors_own_valid_certificate_the_archive_is_refused_and_audited(
        site: Site, offered: str | None, why: str, verify: str) -> None:
    anton = site.session("anton", site.certs[offered] if offered else None)
    for path in ("/auditor/recordings", "/auditor/api/recordings"):
        refused = anton.get(site.nginx.url + path, timeout=10)
        assert refused.status_code == 403, (path, refused.text)
    # a recording: whatever the link, the certificate is asked for first
    audio = anton.get(f"{site.nginx.url}/auditor/recordings/{site.recording}/audio?grant=guessed", timeout=10)
    assert audio.status_code == 403 and audio.content != AUDIO
    # the security log: who, from where, why, what nginx said
    seen = [e for e in site.security() if e["kind"] == "certificate_refused"]
    assert len(seen) == 3
    assert {(e["user"], e["why"], e["verify"], e["ip"]) for e in seen} == {("anton", why, verify, "127.0.0.1")}
    # the console's hash-chained audit, and the recordings audit for the recording asked for
    audited = [x for x in site.console_audit() if x["action"] == "certificate_refused"]
    assert len(audited) == 3 and {x["actor"] for x in audited} == {"anton"}
    assert [(x["actor"], x["recording"], x["outcome"]) for x in site.recordings_audit()] == [
        ("anton", site.recording, "refused")]
    # counted towards blocking the account
    assert int(site.engine.redis.get(site.auth.blocks.key_refusals("anton")) or 0) == 3


def test_certificate_headers_a_client_writes_are_not_believed(site: Site) -> None:
    """Through nginx, the client's own X-SSL-* headers are replaced; straight to the engine
    from a peer outside console.trusted_proxies, they are ignored."""
    forged = {"X-SSL-Client-Verify": "SUCCESS", "X-SSL-Client-S-DN": dn("anton"),
              "X-SSL-Client-Serial": format(site.certs["anton"].serial, "X")}
    anton = site.session("anton", None)
    through = anton.get(f"{site.nginx.url}/auditor/api/recordings", headers=forged, timeout=10)
    assert through.status_code == 403 and through.json()["error"] == "certificate_refused"
    # straight to the engine, from 127.0.0.3 (nginx, the trusted proxy, is 127.0.0.1)
    cookie = anton.cookies.get("ivr_console")
    direct = http.client.HTTPConnection(*site.web.address, timeout=10, source_address=("127.0.0.3", 0))
    direct.request("GET", "/auditor/api/recordings", headers={**forged, "Cookie": f"ivr_console={cookie}"})
    reply = direct.getresponse()
    assert reply.status == 403 and json.loads(reply.read())["error"] == "certificate_refused"
    direct.close()
    seen = [(e["why"], e["ip"]) for e in site.security() if e["kind"] == "certificate_refused"]
    assert seen == [("none", "127.0.0.1"), ("no_proxy", "127.0.0.3")]


def test_a_certificate_bound_by_serial_number_with_ivr_users_add(site: Site) -> None:
    """``ivr users add irina --role auditor --cert-serial 1F:3A:...``: her certificate opens the archive."""
    serial = f"{site.certs['arina'].serial:X}"
    typed = ":".join(serial[i:i + 2] for i in range(0, len(serial), 2)).lower()
    parser = argparse.ArgumentParser(prog="ivr")
    add_users_parser(parser.add_subparsers(dest="command"))
    out = io.StringIO()
    args = parser.parse_args(["users", "add", "irina", "--role", "auditor", "--cert-serial", typed])
    assert users_command(site.engine.config, args, stdin=io.StringIO(PASSWORD + "\n"), out=out,
                         redis=site.engine.redis) == 0
    assert users_command(site.engine.config, parser.parse_args(["users", "list"]), out=out,
                         redis=site.engine.redis) == 0
    assert f"irina\tauditor cert-serial={typed}\t(redis)" in out.getvalue()
    irina = site.session("irina", site.certs["arina"])
    assert irina.get(f"{site.nginx.url}/auditor/api/recordings", timeout=10).status_code == 200
    other = site.session("irina", site.certs["anton"])
    refused = other.get(f"{site.nginx.url}/auditor/api/recordings", timeout=10)
    assert refused.status_code == 403 and refused.json()["error"] == "certificate_refused"
    bad = parser.parse_args(["users", "add", "ivan", "--role", "auditor", "--cert-serial", "not hex"])
    assert users_command(site.engine.config, bad, stdin=io.StringIO(PASSWORD + "\n"), out=out,
                         redis=site.engine.redis) == 1


@pytest.mark.parametrize("site", [3], indirect=True)
def test_refusals_for_want_of_a_certificate_block_the_account(site: Site) -> None:
    """console.block_after (3 here) refusals: blocked, the session ends, log-in refused."""
    anton = site.session("anton", None)
    for _ in range(3):
        assert anton.get(f"{site.nginx.url}/auditor/api/recordings", timeout=10).status_code == 403
    assert [e["last"] for e in site.security() if e["kind"] == "account_blocked"] == ["certificate"]
    assert anton.get(f"{site.nginx.url}/auditor/api/recordings", timeout=10).status_code == 401
    again = requests.Session()
    again.trust_env = False
    again.verify = str(site.ca.path)
    again.cert = site.certs["anton"].pair
    page = again.get(f"{site.nginx.url}/login", timeout=10)
    refused = again.post(f"{site.nginx.url}/login", data={"username": "anton", "password": PASSWORD,
                                                          "csrf_token": _csrf(page.text)}, timeout=10)
    assert refused.status_code == 403  # blocked, even with the right certificate, until a supervisor unblocks
