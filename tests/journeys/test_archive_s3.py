"""Recordings in object storage, as an operations team sets it up and an auditor uses it.

The copy's ``config.yaml`` is edited the way docs/scale-out.md says (``recordings.storage:
s3`` and its ``s3`` section), the bucket's credentials are in the environment, and the
S3 server is moto's on loopback, spoken to over HTTP by boto3 as MinIO would be.  A
caller consents on the softphone; the file Asterisk's MixMonitor would leave at the end
of the operator conversation appears in the spool; the engine encrypts it into the
bucket.  The auditor logs in and listens through HTTP; when the archive goes down the
auditor is told "archive unavailable", and the access log says so.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.console.live import log_in
from tests.journeys.product import Product, Serving, auditor_session, listen, newcomer_env, until
from tests.journeys.test_newcomer import printed_passwords
from tests.s3server import ACCESS_KEY, REGION, SECRET_KEY, S3Server

WAV = b"RIFF\x24\x10\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00\x01\x00\x40\x1f\x00\x00" + os.urandom(8000)
# What the softphone's caller answers to each prompt, keys acting at once: Russian, the ИНН,
# confirmed, "operator" (the duty operator if the queue is closed at this hour), consent to
# record; at the recording beep, a name; once the consent is thanked for, the caller hangs
# up while waiting.
ANSWERS = {"language.choose": "1", "identity.enter_number": "000082246517#", "common.confirm": "1",
           "menu.main": "0", "hours.closed": "1", "consent.ask_keys": "1", "consent.yes": "h"}
_PROMPT = re.compile(r"♪ \[([\w.]+)\]|● recording, up to|Call ended")


def consenting_call(product: Product, serving: Serving, *, caller: str) -> tuple[str, str]:
    """A softphone caller who walks to a queue and says yes to the recording, then hangs up;
    the call's id (Asterisk's uniqueid, the name MixMonitor gives the file) and all it saw."""
    import pexpect

    phone = product.call(serving, "--caller", caller)
    seen: list[str] = []
    try:
        phone.expect(r"\(call ([^)\s]+)\)", timeout=30)
        call_id = phone.match.group(1)
        while True:
            index = phone.expect([_PROMPT.pattern, pexpect.EOF], timeout=60)
            seen.append(phone.before + (phone.after if index == 0 else ""))
            if index == 1 or phone.after == "Call ended":
                break
            prompt = phone.match.group(1)
            if prompt is None:  # the recording beep: a name, said (typed)
                phone.sendline("Иванов Иван Иванович")
            elif prompt in ANSWERS:
                phone.send(ANSWERS[prompt])  # keys act at once, no Enter (Enter would be silence)
    finally:
        phone.close(force=True)
    return call_id, "".join(seen).replace("\r\n", "\n")


@pytest.fixture
def archive() -> Iterator[S3Server]:
    server = S3Server().start()
    yield server
    server.stop()


def select_s3(product: Product, server: S3Server, bucket: str) -> None:
    """What docs/scale-out.md tells an operator to add under ``recordings:``."""
    config = product.root / "config.yaml"
    text = config.read_text()
    section = (
        "  storage: s3\n"
        "  s3:\n"
        f"    bucket: {bucket}\n"
        f"    endpoint: {server.endpoint}\n"
        f"    region: {REGION}\n"
        "    path_style: true\n"
        "    retry_every: 1\n"
        "    connect_timeout: 1\n"
        "    read_timeout: 3\n"
        "    attempts: 1\n"
    )
    line = re.search(r"^  storage: directory.*\n", text, re.MULTILINE)
    assert line is not None, "config.yaml names the recordings' storage"
    config.write_text(text[: line.start()] + section + text[line.end():])


def objects(server: S3Server, bucket: str) -> dict[str, bytes]:
    client = server.client()
    listed = client.list_objects_v2(Bucket=bucket).get("Contents", [])
    return {o["Key"]: client.get_object(Bucket=bucket, Key=o["Key"])["Body"].read() for o in listed}


def auditor_page_listens(browser: Any, serving: Serving, password: str, rid: str, reason: str) -> str:
    """In Chromium: the auditor's page, a reason typed in the recording's row, "Слушать";
    what the page then shows: the player's source, or the status line."""
    from selenium.webdriver.common.by import By

    if "/auditor/recordings" not in browser.current_url:
        log_in(browser, serving.base_url, "auditor", password)
        until(lambda: "/auditor/recordings" in browser.current_url, 15, what="the auditor's page")
    browser.get(serving.base_url + "/auditor/recordings")
    row = until(lambda: browser.find_elements(By.ID, f"rec-{rid}"), 15, what="the recording's row")[0]
    row.find_element(By.CSS_SELECTOR, "input.reason").send_keys(reason)
    row.find_element(By.CSS_SELECTOR, "button.listen").click()

    def shown() -> str | None:
        players = browser.find_elements(By.CSS_SELECTOR, "#player audio")
        if players:
            return str(players[0].get_attribute("src"))
        status = browser.find_element(By.ID, "rec-status").text
        return status or None

    result: str = until(shown, 20, what="the player or a message on the auditor's page")
    return result


def test_a_consented_call_is_archived_encrypted_in_the_bucket_and_the_auditor_listens(
    product: Product, archive: S3Server, browser: Any
) -> None:
    chromium = browser
    bucket = archive.new_bucket()
    select_s3(product, archive, bucket)
    serving = product.serve(env=newcomer_env(AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY=SECRET_KEY),
                            terminal=True)  # the start-up log as a person reads it, passwords included
    serving.wait_log(rf"archive s3://{bucket}/recordings/ at {re.escape(archive.endpoint)}")
    assert SECRET_KEY not in serving.log()
    passwords = printed_passwords(serving)

    call_id, seen = consenting_call(product, serving, caller="79990002001")
    assert "[consent.yes]" in seen, seen

    # Asterisk's MixMonitor leaves the operator conversation and, once closed, its marker.
    spool = product.root / "var" / "spool" / "monitor"
    (spool / f"{call_id}.wav").write_bytes(WAV)
    (spool / f"{call_id}.wav.done").write_bytes(b"")
    # The conversation, and the name the caller said at the beep (the softphone speaks it into
    # the clip), both encrypted in the bucket.
    until(lambda: sum(k.endswith(".rec") for k in objects(archive, bucket)) == 2, 30,
          what="the conversation and the spoken name in the bucket")
    stored = {k: v for k, v in objects(archive, bucket).items() if k.endswith(".rec")}
    for key, body in stored.items():
        assert re.fullmatch(r"recordings/[0-9a-f]{2}/[0-9a-f]{32}\.rec", key)
        assert body.startswith(b"IVRREC") and b"RIFF" not in body and b"WAVE" not in body and WAV[64:128] not in body
    until(lambda: not (spool / f"{call_id}.wav").exists(), 10, what="the plaintext gone from the spool")
    assert not list((product.root / "var" / "spool" / "recordings-outbox").rglob("*.rec"))

    http, csrf = auditor_session(serving, passwords["auditor"])
    listed = http.get(serving.base_url + "/auditor/api/recordings", timeout=10).json()["recordings"]
    kinds = {r["kind"]: r["id"] for r in listed if r["call_id"] == call_id}
    assert set(kinds) == {"operator", "name"}, kinds
    assert {key.rsplit("/", 1)[1][:-4] for key in stored} == set(kinds.values())
    rid = kinds["operator"]
    heard = listen(serving, http, csrf, rid, "жалоба гражданина №12")
    assert heard.status_code == 200 and heard.content == WAV
    # The same in Chromium: the page fetches the audio and plays it from memory.
    src = auditor_page_listens(chromium, serving, passwords["auditor"], rid, "жалоба №12")
    assert src.startswith("blob:")
    entries = http.get(serving.base_url + "/auditor/api/audit?log=recordings", timeout=10).json()["entries"]
    assert [(e["reason"], e["outcome"]) for e in entries if e["action"] == "listen"][:2] == [
        ("жалоба №12", "allowed"), ("жалоба гражданина №12", "allowed")]

    # The archive goes down: the auditor is told so, and the access log records the failure.
    archive.stop()
    refused = listen(serving, http, csrf, rid, "жалоба гражданина №12, повторно")
    assert refused.status_code == 503 and "archive unavailable" in refused.json()["message"]
    assert "archive unavailable" in auditor_page_listens(chromium, serving, passwords["auditor"], rid, "повторно")
    tail = http.get(serving.base_url + "/auditor/api/audit?log=recordings", timeout=10).json()
    last = tail["entries"][0]  # newest first
    assert (last["actor"], last["outcome"]) == ("auditor", "failed") and "ArchiveUnavailable" in last["detail"]
    assert tail["chain"] == "ok"

    # `ivr recordings purge --dry-run` beside the engine sees the recording (not due yet).
    archive.start()
    dry = product.ivr("recordings", "purge", "--dry-run",
                      env=newcomer_env(AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY=SECRET_KEY))
    assert dry.returncode == 0, dry.stderr
    assert "dry run" in dry.stdout
    assert serving.stop() < 10
    assert "Иванов" not in serving.log() and "000082246517" not in serving.log()


def test_ingest_while_the_archive_is_down_waits_encrypted_in_the_outbox_then_uploads(
    product: Product, archive: S3Server
) -> None:
    bucket = archive.new_bucket()
    select_s3(product, archive, bucket)
    serving = product.serve(env=newcomer_env(AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY=SECRET_KEY))
    serving.wait_log(r"archive s3://")
    call_id, seen = consenting_call(product, serving, caller="79990002002")
    assert "[consent.yes]" in seen, seen
    # The spoken name is stored as the call ends, while the archive is up.
    until(lambda: sum(k.endswith(".rec") for k in objects(archive, bucket)) == 1, 30,
          what="the spoken name in the bucket")
    named = [k for k in objects(archive, bucket) if k.endswith(".rec")]

    archive.stop()
    spool = product.root / "var" / "spool" / "monitor"
    (spool / f"{call_id}.wav").write_bytes(WAV)
    (spool / f"{call_id}.wav.done").write_bytes(b"")
    outbox = product.root / "var" / "spool" / "recordings-outbox"
    until(lambda: list(outbox.rglob("*.rec")), 30, what="the container in the outbox")
    until(lambda: not (spool / f"{call_id}.wav").exists(), 10, what="the plaintext gone from the spool")
    [waiting] = list(outbox.rglob("*.rec"))
    assert b"RIFF" not in waiting.read_bytes() and WAV[64:128] not in waiting.read_bytes()
    serving.wait_log(r"kept encrypted in the outbox")

    archive.start()
    until(lambda: not list(outbox.rglob("*.rec")), 30, what="the outbox emptied into the bucket")
    stored = [k for k in objects(archive, bucket) if k.endswith(".rec")]
    assert sorted(stored) == sorted([*named, f"recordings/{waiting.parent.name}/{waiting.name}"])
    assert serving.stop() < 10
