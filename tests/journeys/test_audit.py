"""A provable audit as the security officer meets it (issue 20): the README's ``ivr serve``, an
auditor's audited attempts over HTTP, and ``ivr audit verify`` beside the engine after each thing
someone might do to a log file: cut its tail, empty it, delete it, restore it."""

from __future__ import annotations

import shutil
from pathlib import Path

import requests

from ivr.audit.checkpoint import Signer
from tests.journeys.product import Product, Serving, auditor_session, newcomer_env, until

PASSWORD = "the auditor's long password"
AUDIT_KEY = Signer.new_secret()


def env() -> dict[str, str]:
    return newcomer_env(IVR_AUDIT_KEY=AUDIT_KEY)


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
    browser, csrf = auditor_session(serving, PASSWORD, name="olga")
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


def test_a_log_lost_beyond_restoring_is_resealed_and_the_loss_stays_on_record(product: Product) -> None:
    """The security officer's incident: the recordings' access log is deleted and no backup has
    it.  ``ivr audit verify`` says so and the engine refuses to audit (so to serve recordings);
    ``ivr audit reseal`` records the loss as the new chain's line 1; from then on verify passes,
    saying what was lost, by whom and why, and the auditor's requests are audited again."""
    added = product.ivr("users", "add", "olga", "--role", "auditor", input=PASSWORD + "\n", env=env())
    assert added.returncode == 0, added.stderr
    serving = product.serve(env=env())
    browser, csrf = auditor_session(serving, PASSWORD, name="olga")
    for n in range(3):
        asks_for_a_recording(serving, browser, csrf, f"{n:032x}")
    access = product.root / "var" / "audit" / "recordings-access.jsonl"
    until(lambda: access.exists() and len(access.read_text().splitlines()) == 3, 10, what="three audit lines")
    assert product.ivr("audit", "checkpoint", env=env()).returncode == 0

    not_yet = product.ivr("audit", "reseal", "recordings-access", "--reason", "just curious", env=env())
    assert not_yet.returncode == 1 and "nothing to reseal" in not_yet.stdout, not_yet.stdout + not_yet.stderr

    access.unlink()  # lost, and no backup has it
    status, said = verify(product)
    assert status == 1 and any(line.startswith("recordings-access: BROKEN at line 0: deleted:") for line in said)
    grant = browser.post(f"{serving.base_url}/auditor/api/recordings/{'f' * 32}/access", timeout=10,
                         json={"reason": "complaint 18", "action": "listen"}, headers={"X-CSRF-Token": csrf})
    refused = browser.get(serving.base_url + grant.json()["url"], timeout=10)
    assert refused.status_code == 503 and refused.json()["error"] == "audit_unavailable", refused.text

    no_reason = product.ivr("audit", "reseal", "recordings-access", "--reason", " ", env=env())
    assert no_reason.returncode == 1 and not access.exists()
    done = product.ivr("audit", "reseal", "recordings-access", "--reason", "disk replaced; incident 114", env=env())
    assert done.returncode == 0, done.stdout + done.stderr
    assert "recordings-access: re-sealed: line 1 of" in done.stdout and "deleted; anchored 3 line(s)" in done.stdout
    assert "recordings-access: checkpoint signed at line 1" in done.stdout, done.stdout

    status, said = verify(product)
    assert status == 0, said
    [line] = [s for s in said if s.startswith("recordings-access:")]
    assert line.startswith("recordings-access: ok, 1 line(s), chain intact, anchored at line 1, last signed "
                           "checkpoint at line 1"), line
    assert "chain re-sealed at" in line and "after deleted (its anchor said 3 line(s)" in line, line
    assert "reason: disk replaced; incident 114" in line, line

    asks_for_a_recording(serving, browser, csrf, "e" * 32)  # audited again: 404, a 'failed' line
    until(lambda: len(access.read_text().splitlines()) == 2, 10, what="the new chain's second line")
    status, said = verify(product)
    assert status == 0 and any(s.startswith("recordings-access: ok, 2 line(s)") for s in said), said
    console = (product.root / "var" / "audit" / "console-access.jsonl").read_text()
    assert '"action":"audit_resealed"' in console and "incident 114" in console
    assert serving.stop() < 10
