"""What a caller hears, and what a supervisor is told while making it: the journeys of
defects 7, 13-17 of issue 17 (language, prompt build, hold music, numbers, estimates,
a skipped name)."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

from tests.journeys.product import IVR, Product, free_port, newcomer_env


def test_prompts_build_without_ffmpeg_or_espeak_says_which_program_is_missing_once(
        product: Product, tmp_path: Path) -> None:
    bare = tmp_path / "bin"  # a PATH with neither ffmpeg nor espeak-ng on it
    bare.mkdir()
    done = product.ivr("prompts", "build", env=newcomer_env(PATH=str(bare)))
    said = done.stdout + done.stderr
    assert done.returncode == 1, said
    assert said.count("ffmpeg is not installed (apt-get install ffmpeg)") == 1, said
    assert said.count("espeak-ng is not installed (apt-get install espeak-ng)") == 1, said
    assert "failed:" not in said and "] failed " not in said, said
    assert len(said.splitlines()) <= 5, said


def asked(phone: Any, prompt: str, text: str = "") -> None:
    """Wait until the softphone shows the question ``prompt`` (``♪ [prompt] its text``,
    starting with ``text``; the whole line), as a person waits to hear it before pressing a key."""
    phone.expect(re.escape(f"[{prompt}] {text}".rstrip()) + r"[^\r\n]*\r\n")


def test_an_english_caller_hears_english_and_the_channel_speaks_english(product: Product) -> None:
    serving = product.serve()
    phone = product.call(serving)
    screen = phone.logfile_read = io.StringIO()
    asked(phone, "language.choose")
    phone.send("2")  # For English, press 2
    chosen = len(screen.getvalue())
    phone.expect_exact("· language: en")  # the engine set CHANNEL(language)=en on the channel
    phone.expect_exact("[identity.say_name] Please say your surname")
    phone.expect_exact("● recording")
    phone.send("John Smith\r")
    asked(phone, "identity.enter_number", "Enter your twelve-digit taxpayer number")
    phone.send("#")  # skip the number
    asked(phone, "menu.main", "Choose a topic.")
    phone.send("0")  # an operator
    asked(phone, "consent.ask_keys")
    phone.send("1")
    phone.expect_exact("[consent.yes] Thank you")
    phone.expect_exact("[queue.position] Your position in the queue")
    phone.expect_exact("[number.1] one")  # the product's own number prompts, in English
    phone.expect_exact("♫ music on hold")
    phone.send("h")
    phone.expect_exact("Call ended.")
    shown = screen.getvalue()[chosen:]
    assert not re.search("[а-яА-ЯёЁ]", shown), shown  # not a word of Russian after choosing English


def test_a_russian_caller_with_nobody_on_duty_is_promised_no_wait(product: Product) -> None:
    serving = product.serve()
    phone = product.call(serving)
    screen = phone.logfile_read = io.StringIO()
    asked(phone, "language.choose")
    phone.send("1")
    phone.expect_exact("[identity.say_name] Назовите")
    phone.expect_exact("● recording")
    phone.send("Иванов Иван Иванович\r")
    asked(phone, "identity.enter_number")
    phone.send("#")
    asked(phone, "menu.main", "Выберите тему обращения.")
    phone.send("0")
    asked(phone, "consent.ask_keys")
    phone.send("1")
    phone.expect_exact("♫ music on hold")  # nobody logged in: no operator on duty
    phone.send("h")
    phone.expect_exact("Call ended.")
    announced = screen.getvalue().split("[consent.yes]", 1)[1]
    assert "[queue.position] Ваш номер в очереди\r\n  ♪ [number.1] один\r\n" in announced, announced
    assert "[queue.no_estimate] Сейчас на линии нет операторов" in announced, announced
    assert "wait_minutes" not in announced and "минут" not in announced, announced


def test_a_name_skipped_with_hash_is_not_kept_as_a_recording(product: Product) -> None:
    """``ivr call`` with no engine running starts one in its own process and, at the end,
    shows what the menu collected: a name skipped with '#' is no "(recorded clip)"."""
    import pexpect

    phone = pexpect.spawn(IVR, ["call", "--fastagi", f"127.0.0.1:{free_port()}"], cwd=str(product.root),
                          env=newcomer_env(), encoding="utf-8", timeout=60, dimensions=(50, 200))
    screen = phone.logfile_read = io.StringIO()
    try:
        asked(phone, "language.choose")
        phone.send("1")
        phone.expect_exact("● recording")
        phone.send("#")  # the name skipped at once: RECORD FILE ends "(dtmf) endpos=0"
        asked(phone, "identity.enter_number")
        phone.send("#")
        asked(phone, "menu.main")
        phone.send("h")
        phone.expect_exact("What the menu collected:")
        phone.expect(pexpect.EOF)
    finally:
        phone.close(force=True)
    collected = screen.getvalue().split("What the menu collected:", 1)[1]
    assert "ФИО: —" in collected, collected
    assert "recorded clip" not in collected and "ask_name(key)" in collected, collected


def test_silence_at_the_readback_is_told_it_was_not_heard(product: Product) -> None:
    """Found trying a softphone call: after the number was read back, saying nothing got
    "Извините, я не понял" (a wrong key's answer), where every other question says that it
    cannot hear the caller."""
    import pexpect

    from ivr.identity.synthetic import synthetic_inn

    phone = pexpect.spawn(IVR, ["call", "--fastagi", f"127.0.0.1:{free_port()}"], cwd=str(product.root),
                          env=newcomer_env(), encoding="utf-8", timeout=60, dimensions=(50, 200))
    try:
        asked(phone, "language.choose")
        phone.send("1")
        phone.expect_exact("● recording")
        phone.send("#")
        asked(phone, "identity.enter_number")
        phone.send(synthetic_inn(7))  # twelve digits end the entry by themselves
        asked(phone, "common.confirm")  # then nothing pressed: the wait runs out
        phone.expect(r"\[common\.no_(input|match)\]")
        heard = phone.match.group(0)
        phone.send("h")
        phone.expect(pexpect.EOF)
    finally:
        phone.close(force=True)
    assert heard == "[common.no_input]", heard


def test_silence_at_the_language_question_goes_on_in_russian_as_it_promises(product: Product) -> None:
    """Found trying ``ivr call --language en``: the question says "stay on the line for
    Russian", and staying on the line went on in English."""
    import pexpect

    phone = pexpect.spawn(IVR, ["call", "--language", "en", "--fastagi", f"127.0.0.1:{free_port()}"],
                          cwd=str(product.root), env=newcomer_env(), encoding="utf-8", timeout=60,
                          dimensions=(50, 200))
    try:
        asked(phone, "language.choose", "Для продолжения на русском языке оставайтесь на линии")
        # nothing pressed: the wait runs out
        phone.expect_exact("· language: ru")
        asked(phone, "identity.say_name", "Назовите")
        phone.send("h")
        phone.expect(pexpect.EOF)
    finally:
        phone.close(force=True)
