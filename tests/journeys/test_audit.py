"""A provable audit as the security officer meets it (issue 20): the README's ``ivr serve``, an
auditor's audited attempts over HTTP, and ``ivr audit verify`` beside the engine after each thing
someone might do to a log file: cut its tail, empty it, delete it, restore it."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import requests

from ivr.audit.checkpoint import Signer
from tests.journeys.product import Product, Serving, newcomer_env, until

PASSWORD = "the auditor's long password"
AUDIT_KEY = Signer.new_secret()


def env() -> dict[str, str]:
    return newcomer_env(IVR_AUDIT_KEY=AUDIT_KEY)


def auditor_session(serving: Serving) -> tuple[requests.Session, str]:
    browser = requests.Session()
    page = browser.get(serving.base_url + "/login", timeout=10)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token is not None, page.text[:500]
    done = browser.post(serving.base_url + "/login", timeout=10, allow_redirects=False,
                        data={"username": "olga", "password": PASSWORD, "csrf_token": token[1]})
    assert done.status_code == 302, done.text[:500]
    page = browser.get(serving.base_url + "/auditor/recordings", timeout=10)
    csrf = re.search(r'<meta name="csrf-token" content="([^"]+)"', page.text)
    assert csrf is not None, page.text[:500]
    return browser, csrf[1]


def asks_for_a_recording(serving: Serving, browser: requests.Session, csrf: str, recording: str) -> None:
    """The auditor asks to listen (with a reason), then follows the one-time link: audited."""
    grant = browser.post(f"{serving.base_url}/auditor/api/recordings/{recording}/access", timeout=10,
                         json={"reason": "complaint 17", "action": "listen"}, headers={"X-CSRF-Token": csrf})
    assert grant.status_code == 200, grant.text
    link = browser.get(serving.base_url + grant.json()["url"], timeout=10)
    assert link.status_code == 404  # no such recording: the attempt is audited as failed


def verify(product: Product) -> tuple[int, list[str]]:
    done = product.ivr("audit", "verify", env=env())
    return done.returncode, [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]


def test_audit_verify_finds_a_cut_tail_an_emptied_and_a_deleted_log(product: Product) -> None:
    added = product.ivr("users", "add", "olga", "--role", "auditor", input=PASSWORD + "\n", env=env())
    assert added.returncode == 0, added.stderr
    serving = product.serve(env=env())
    browser, csrf = auditor_session(serving)
    for n in range(3):
        asks_for_a_recording(serving, browser, csrf, f"{n:032x}")
    access = product.root / "var" / "audit" / "recordings-access.jsonl"
    until(lambda: access.exists() and len(access.read_text().splitlines()) == 3, 10, what="three audit lines")
    assert "complaint 17" in access.read_text()

    status, said = verify(product)
    assert status == 0, said
    assert len(said) == 3 and all(": ok, " in line for line in said), said
    assert any(line.startswith("recordings-access: ok, 3 line(s), chain intact, anchored at line 3") for line in said)
    signed = product.ivr("audit", "checkpoint", env=env())
    assert signed.returncode == 0 and "recordings-access: checkpoint signed at line 3" in signed.stdout, signed.stdout

    kept = access.read_bytes()
    access.write_bytes(b"".join(kept.splitlines(keepends=True)[:2]))  # the last attempt hidden
    status, said = verify(product)
    assert status == 1
    assert any(line.startswith("recordings-access: BROKEN at line 3: cut tail:") for line in said), said
    # ... and the engine audits nothing more into it: the auditor is refused rather than unaudited
    grant = browser.post(f"{serving.base_url}/auditor/api/recordings/{'f' * 32}/access", timeout=10,
                         json={"reason": "complaint 18", "action": "listen"}, headers={"X-CSRF-Token": csrf})
    link = browser.get(serving.base_url + grant.json()["url"], timeout=10)
    assert link.status_code == 503 and link.json()["error"] == "audit_unavailable", link.text
    assert len(access.read_bytes().splitlines()) == 2

    access.write_bytes(kept)  # restored from the backup
    assert verify(product)[0] == 0

    access.write_bytes(b"")
    status, said = verify(product)
    assert status == 1 and any(line.startswith("recordings-access: BROKEN at line 0: emptied:") for line in said)

    shutil.move(access, access.with_suffix(".moved"))
    status, said = verify(product)
    assert status == 1 and any(line.startswith("recordings-access: BROKEN at line 0: deleted:") for line in said)

    Path(access.with_suffix(".moved")).replace(access)
    access.write_bytes(kept)
    status, said = verify(product)
    assert status == 0, said
    asks_for_a_recording(serving, browser, csrf, "e" * 32)  # appends go on after the restore
    status, said = verify(product)
    assert status == 0 and any(line.startswith("recordings-access: ok, 4 line(s)") for line in said), said
    only = product.ivr("recordings", "verify-logs", env=env())
    assert only.returncode == 0 and {line.split(":")[0] for line in only.stdout.splitlines()} == {
        "recordings-access", "recordings-deleted"}, only.stdout
    assert serving.stop() < 10
