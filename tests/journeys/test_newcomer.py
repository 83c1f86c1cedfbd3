"""A newcomer's first ten minutes: the README's first command alone, in a terminal, then
log in with what the start-up log printed and call the hotline from the softphone."""

from __future__ import annotations

import io
import json
import re
import stat
import wave
from typing import Any

from tests.console.live import log_in
from tests.journeys.product import Product, Serving, auditor_session, http_log_in, listen, until

# "    supervisor (supervisor)  password: abcde-fghjk-mnpqr"
FIRST_USER = re.compile(r"^\s*(?P<name>[a-z0-9._-]+) \((?P<role>\w+)[^)]*\)\s+password: (?P<password>[a-z-]+)\s*$",
                        re.MULTILINE)


def shows(phone: Any, shown: str) -> None:
    """Wait until the softphone shows ``shown`` (a question's ``[prompt.id]``, "● recording"),
    its whole line, as a person waits to hear it before pressing a key; a line that waits
    for the person ("● recording, up to 6 s; say (type) it> ") up to its prompt: its end
    comes only when the recording has."""
    phone.expect(re.escape(shown) + r"[^\r\n>]*(\r\n|> )")


def printed_passwords(serving: Serving) -> dict[str, str]:
    """The users and passwords the start-up log printed (text lines, or a JSON line's msg)."""
    serving.wait_log("FIRST START", timeout=30)
    said = [json.loads(line)["msg"] if line.startswith("{") else line for line in serving.log().splitlines()]
    return {m["name"]: m["password"] for m in FIRST_USER.finditer("\n".join(said))}


def test_the_readmes_first_command_gives_a_hotline_to_log_in_to_and_call(product: Product, browser: Any) -> None:
    serving = product.serve(terminal=True)

    # A terminal gets text lines, not JSON.
    started = serving.wait_log(r"fastagi: listening on", timeout=30)
    first_lines = serving.log()[: started.end()].splitlines()
    assert first_lines and not any(line.lstrip().startswith("{") for line in first_lines), first_lines[:5]

    # Ready to take recorded calls: a development recording key, made once, private, said to be one.
    ready = serving.get("/readyz")
    assert ready.status == 200, ready.text
    assert all(ready.json()["checks"].values()), ready.text
    key = product.root / "var" / "recording-dev.key"
    assert key.is_file()
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert re.search(r"DEVELOPMENT KEY GENERATED NOW: .*recording-dev\.key", serving.log())

    # The first users and their one-time passwords, in the start-up log.
    passwords = printed_passwords(serving)
    assert {"supervisor", "op101", "auditor"} <= set(passwords), serving.log()[-3000:]
    users = product.ivr("users", "list")
    assert users.returncode == 0, users.stderr
    assert re.search(r"^supervisor\tsupervisor\b", users.stdout, re.MULTILINE), users.stdout

    # The supervisor logs in with the printed password and sees the desk.
    log_in(browser, serving.base_url, "supervisor", passwords["supervisor"])
    until(lambda: browser.current_url.endswith("/supervisor"), 15, what=f"the supervisor desk ({browser.current_url})")
    # The trial operator and auditor log in with theirs too.
    for name, page in (("op101", "/operator"), ("auditor", "/auditor")):
        reply = http_log_in(serving, name, passwords[name])
        assert reply.status_code == 302 and page in reply.headers["Location"], (name, reply.status_code)

    call_and_say_a_name(product, serving)
    # The engine kept the caller's consent; the terminal carries no audio of a conversation,
    # so none is said to be recorded (the spoken name is: below).
    serving.wait_log(r"consent record kept \(granted, no_recorder\)")

    # ... and the name the caller said (typed, spoken by espeak-ng as the softphone's voice):
    # the auditor finds it and listens back (seen: the README's trial had nothing to listen to).
    auditor, csrf = auditor_session(serving, passwords["auditor"])
    names = until(lambda: [r for r in listed(serving, auditor) if r["kind"] == "name"], 15,
                  what="the spoken name in the auditor's list")
    heard = listen(serving, auditor, csrf, names[0]["id"], "trying the product")
    assert heard.status_code == 200, heard.text[:300]
    with wave.open(io.BytesIO(heard.content)) as clip:
        assert clip.getframerate() == 8000 and clip.getnframes() / 8000 > 0.5  # a spoken name, not silence
    assert serving.get("/readyz").status == 200
    assert serving.stop() < 10


def call_and_say_a_name(product: Product, serving: Serving) -> None:
    """A recorded call from the softphone: greeting, Russian by staying silent, a name, no
    number, "operator", consent to record, a moment in the queue, hang up."""
    phone = product.call(serving)
    phone.expect("Здравствуйте! Вы позвонили на единую линию поддержки")
    # (what the caller waits to see, the keys then pressed); nothing pressed: silence, waited out.
    for shown, keys in (("[language.choose]", ""), ("[identity.say_name]", ""),
                        ("● recording", "Тестов Тест Тестович\r"), ("[identity.enter_number]", "#"),
                        ("[menu.main]", "0"), ("[consent.ask_keys]", "1")):
        shows(phone, shown)
        phone.send(keys)
    phone.expect("Спасибо, разговор будет записан")
    phone.expect_exact("♫ music on hold")
    phone.send("h")
    phone.expect("Call ended")
    phone.close()


def listed(serving: Serving, auditor: Any) -> list[dict[str, Any]]:
    reply = auditor.get(serving.base_url + "/auditor/api/recordings", timeout=10)
    assert reply.status_code == 200, reply.text[:500]
    return list(reply.json()["recordings"])


def test_a_second_start_keeps_the_key_and_makes_no_more_users(product: Product) -> None:
    first = product.serve()
    printed_passwords(first)
    key = (product.root / "var" / "recording-dev.key").read_bytes()
    assert first.stop() < 10

    again = product.serve()
    again.wait_log("fastagi: listening on")
    assert "FIRST START" not in again.log()
    assert re.search(r"DEVELOPMENT KEY in use", again.log())
    assert (product.root / "var" / "recording-dev.key").read_bytes() == key
    assert again.get("/readyz").status == 200
    assert again.stop() < 10


def test_without_a_terminal_the_log_is_json_lines(product: Product) -> None:
    serving = product.serve()
    serving.wait_log("fastagi: listening on")
    lines = [line for line in serving.log().splitlines() if line.strip()]
    assert lines
    for line in lines:
        json.loads(line)
    assert serving.stop() < 10


def test_a_configured_recording_key_is_used_and_no_development_key_made(product: Product) -> None:
    from tests.journeys.product import newcomer_env

    key = "k1:" + "A" * 43 + "="
    serving = product.serve(env=newcomer_env(IVR_RECORDING_KEY=key))
    serving.wait_log("fastagi: listening on")
    assert not (product.root / "var" / "recording-dev.key").exists()
    assert "DEVELOPMENT KEY" not in serving.log()
    assert serving.get("/readyz").status == 200
    assert serving.stop() < 10


def test_without_asterisk_the_recordings_folders_fall_back_under_var(product: Product) -> None:
    serving = product.serve()
    serving.wait_log("fastagi: listening on")
    log = serving.log()
    for name, local in (("spool_dir", "var/spool/monitor"), ("clip_dir", "var/spool/clips")):
        assert re.search(rf"recordings\.{name} /var/spool/asterisk/\S+ is missing .*{local}", log), log[-3000:]
        assert (product.root / local).is_dir()
    # The caller's name is recorded into the folder the engine reads clips from.
    phone = product.call(serving)
    shows(phone, "[language.choose]")
    phone.send("\r")  # Enter on an empty line: silence
    shows(phone, "[identity.say_name]")
    shows(phone, "● recording")
    phone.send("Тестов Тест Тестович\r")
    shows(phone, "[identity.enter_number]")
    phone.send("h")
    phone.expect("Call ended")
    phone.close()
    ended = json.loads(serving.wait_log(r'\{[^\n]*"logger": "ivr.calls"[^\n]*\n')[0])
    clip = ended["context"]["name"]["clip"]
    assert clip.startswith(str(product.root / "var" / "spool" / "clips") + "/"), clip
    assert serving.stop() < 10


def test_validate_takes_the_menus_directory(product: Product) -> None:
    done = product.ivr("validate", "dialplans/")
    assert done.returncode == 0, done.stderr
    assert "ok: dialplans/hotline.yaml: menu 'hotline'" in done.stdout


def test_a_deployment_with_its_own_redis_gets_a_first_supervisor_and_no_trial_aids(product: Product) -> None:
    from tests.journeys.product import newcomer_env
    from tests.redis_servers import RedisServer

    redis = RedisServer()
    redis.start()
    try:
        serving = product.serve(env=newcomer_env(REDIS_URL=redis.url))
        serving.wait_log("fastagi: listening on")
        passwords = printed_passwords(serving)
        assert set(passwords) == {"supervisor"}, serving.log()[-3000:]
        assert http_log_in(serving, "supervisor", passwords["supervisor"]).status_code == 302
        assert not (product.root / "var" / "recording-dev.key").exists()
        assert not (product.root / "var" / "spool").exists()
        log = serving.log()
        assert "DEVELOPMENT KEY" not in log
        assert re.search(r"recordings\.clip_dir /var/spool/asterisk/ivr is missing or not writable: create it", log)
        assert serving.stop() < 10
    finally:
        redis.stop()


def test_a_deployment_without_a_recording_key_asks_no_caller_to_consent(product: Product) -> None:
    """With no recording key nothing can be recorded: the citizen is not asked to consent, and
    is never told "разговор будет записан" (found trying the product: they were)."""
    from tests.journeys.product import newcomer_env
    from tests.redis_servers import RedisServer

    redis = RedisServer()
    redis.start()
    try:
        serving = product.serve(env=newcomer_env(REDIS_URL=redis.url))  # a deployment: no trial key
        serving.wait_log("fastagi: listening on")
        phone = product.call(serving)
        phone.expect_exact("[language.choose]")
        phone.sendline("1")
        phone.expect_exact("● recording")
        phone.sendline("")
        phone.expect_exact("[identity.enter_number]")
        phone.send("#")
        phone.expect_exact("[menu.main]")
        phone.send("0")  # an operator
        phone.expect_exact("[queue.position]")
        heard = str(phone.before)
        assert "[consent." not in heard and "будет записан" not in heard, heard
        phone.send("h")
        phone.expect_exact("Call ended.")
        phone.close()
    finally:
        redis.stop()
