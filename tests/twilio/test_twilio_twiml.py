"""Engine actions -> TwiML, compared as parsed XML (pure: no app, no Redis)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from ivr.flow import actions as a
from ivr.twilio import FilePromptSource, UnknownPrompt, UnsupportedEndpoint
from ivr.twilio.twiml import Urls, dial, polite_goodbye, render

TEXTS = {"ru": {"welcome": "Здравствуйте!", "menu.main": "Выберите тему.", "q.pos": "Ваш номер",
                "connecting": "Соединяем.", "bye": "До свидания!"},
         "en": {"welcome": "Hello!"}}


def S(text: str, lang: str = "ru-RU") -> tuple:
    return ("Say", (("language", lang),), text, ())


def redirect(url: str) -> tuple:
    return ("Redirect", (("method", "POST"),), url, ())


@pytest.fixture
def prompts(tmp_path: Path) -> FilePromptSource:
    return FilePromptSource(texts=TEXTS, sounds_dir=tmp_path)


def parsed(actions: list, prompts: FilePromptSource, **kwargs) -> ET.Element:
    return ET.fromstring(str(render(actions, prompts=prompts, **{"urls": Urls(4), **kwargs})))


def test_barge_in_prompts_go_inside_the_gather_and_silence_redirects(prompts, h) -> None:
    actions = [
        a.Play("connecting", "ru", barge_in=False),
        a.Play("welcome", "ru"),
        a.CollectDigits((a.Play("menu.main", "ru"),), 1, 1, 6.0, 6.0, terminator=""),
    ]
    assert h.shape(parsed(actions, prompts)) == ("Response", (), "", (
        S("Соединяем."),
        ("Gather", (("action", "/twilio/gather?step=4"), ("finishOnKey", ""), ("input", "dtmf"),
                    ("method", "POST"), ("numDigits", "1"), ("timeout", "6")), "",
         (S("Здравствуйте!"), S("Выберите тему."))),
        redirect("/twilio/gather?step=4&timeout=1"),
    ))


def test_number_entry_uses_max_digits_and_terminator(prompts, h) -> None:
    root = parsed([a.CollectDigits((a.Play("welcome", "ru"),), 10, 12, 10.0, 5.0, "#")], prompts)
    gather = root.find("Gather")
    assert gather is not None
    assert (gather.get("numDigits"), gather.get("finishOnKey"), gather.get("timeout")) == ("12", "#", "10")


def test_readback_digits_are_spaced_and_interruptible(prompts, h) -> None:
    actions = [a.SayDigits("500100732259", "ru"),
               a.CollectDigits((a.Play("welcome", "ru"),), 1, 1, 6.0, 6.0, terminator="")]
    gather = parsed(actions, prompts).find("Gather")
    assert gather is not None
    assert [h.shape(child) for child in gather] == [S("5 0 0 1 0 0 7 3 2 2 5 9"), S("Здравствуйте!")]


def test_speech_gather_has_language_hints_and_auto_timeout(prompts, h) -> None:
    action = a.CollectSpeech((a.Play("welcome", "ru"),), "yes_no", "ru", 6.0, 4.0,
                             grammar=("да", "нет"), keys="12")
    root = parsed([action], prompts)
    assert h.verbs(root) == ["Gather", "Redirect"]
    assert dict(root[0].attrib) == {
        "action": "/twilio/gather?step=4", "method": "POST", "input": "dtmf speech", "language": "ru-RU",
        "hints": "да, нет", "speechTimeout": "auto", "timeout": "6", "numDigits": "1", "finishOnKey": "",
    }


def test_free_speech_without_keys_listens_for_speech_only(prompts) -> None:
    action = a.CollectSpeech((a.Play("welcome", "en"),), "name", "en", 6.0, 6.0)
    gather = parsed([action], prompts).find("Gather")
    assert gather is not None
    assert gather.get("input") == "speech" and gather.get("language") == "en-GB"
    assert "hints" not in gather.attrib and "numDigits" not in gather.attrib


def test_record_names_the_clip_in_its_callbacks(prompts, h) -> None:
    root = parsed([a.Record((a.Play("welcome", "ru"),), 6.0, "CA1-ask_name")], prompts)
    assert h.verbs(root) == ["Say", "Record", "Redirect"]
    assert dict(root[1].attrib) == {
        "action": "/twilio/recorded?step=4&clip=CA1-ask_name", "method": "POST", "maxLength": "6",
        "timeout": "2", "playBeep": "true", "finishOnKey": "#",
        "recordingStatusCallback": "/twilio/recording-status?clip=CA1-ask_name",
        "recordingStatusCallbackMethod": "POST",
    }
    assert root[2].text == "/twilio/gather?step=4&timeout=1"


def test_hold_with_callback_key_gathers_one_key_then_polls(prompts, h) -> None:
    actions = [a.Play("q.pos", "ru"), a.SayNumber(3, "ru"), a.HoldMusic(5.0, keys="1")]
    assert h.shape(parsed(actions, prompts)) == ("Response", (), "", (
        ("Gather", (("action", "/twilio/gather?step=4"), ("input", "dtmf"), ("method", "POST"),
                    ("numDigits", "1"), ("timeout", "1")), "",
         (S("Ваш номер"), S("3"), ("Pause", (("length", "5"),), "", ()))),
        redirect("/twilio/wait?step=4"),
    ))


def test_hold_without_keys_plays_music_and_polls(prompts, h) -> None:
    root = parsed([a.HoldMusic(1.0)], prompts, hold_music="/static/hold.wav")
    assert [h.shape(child) for child in root] == [("Play", (), "/static/hold.wav", ()),
                                                  redirect("/twilio/wait?step=4")]


@pytest.mark.parametrize(("endpoint", "noun", "text"), [
    ("client:op101", "Client", "op101"),
    ("sip:op101@pbx.example.ru", "Sip", "sip:op101@pbx.example.ru"),
    ("+74951234567", "Number", "+74951234567"),
])
def test_connect_dials_the_operator_endpoint(prompts, h, endpoint: str, noun: str, text: str) -> None:
    actions = [a.Play("connecting", "ru", barge_in=False), a.Connect("op101", endpoint, record=False)]
    root = parsed(actions, prompts)
    leg = (("statusCallback", "/twilio/operator-leg?operator=op101"),
           ("statusCallbackEvent", "answered completed"), ("statusCallbackMethod", "POST"))
    dial = (("action", "/twilio/dialled?step=4&operator=op101"), ("method", "POST"))
    assert [h.shape(child) for child in root] == [S("Соединяем."), ("Dial", dial, "", ((noun, leg, text, ()),))]


def test_connect_with_consent_records_both_sides(prompts) -> None:
    root = parsed([a.Connect("op101", "client:op101", record=True)], prompts)
    assert dict(root[0].attrib) == {"action": "/twilio/dialled?step=4&operator=op101", "method": "POST",
                                    "record": "record-from-answer-dual",
                                    "recordingStatusCallback": "/twilio/recording-status?clip=operator-op101",
                                    "recordingStatusCallbackMethod": "POST"}


def test_asterisk_endpoint_is_refused_clearly() -> None:
    with pytest.raises(UnsupportedEndpoint, match="Asterisk channel"):
        dial("PJSIP/op101", record=False)
    with pytest.raises(UnsupportedEndpoint, match="expected client:"):
        dial("operator", record=False)


def test_transfer_and_hangup(prompts, h) -> None:
    root = parsed([a.SetVariable("IVR_TRANSFER", "+74950000000"), a.Transfer("+74950000000")], prompts)
    assert [h.shape(child) for child in root] == [("Dial", (), "", (("Number", (), "+74950000000", ()),))]
    root = parsed([a.Play("bye", "ru", barge_in=False), a.Hangup()], prompts)
    assert h.verbs(root) == ["Say", "Hangup"]


def test_prompts_with_nothing_after_them_redirect_back(prompts, h) -> None:
    root = parsed([a.Play("bye", "ru")], prompts)
    assert [h.shape(child) for child in root] == [S("До свидания!"), redirect("/twilio/gather?step=4&timeout=1")]


def test_rendered_audio_wins_over_text(prompts, tmp_path: Path) -> None:
    (tmp_path / "ru").mkdir()
    (tmp_path / "ru" / "welcome.wav").write_bytes(b"RIFF")
    root = parsed([a.Play("welcome", "ru"), a.Hangup()], prompts, urls=Urls(2, "https://ivr.example.ru"))
    assert root[0].tag == "Play" and root[0].text == "https://ivr.example.ru/twilio/prompts/ru/welcome.wav"
    assert prompts.audio_url("menu.main", "ru") is None
    assert prompts.audio_url("../../etc/passwd", "ru") is None


def test_a_prompt_without_text_or_audio_is_an_error(prompts) -> None:
    with pytest.raises(UnknownPrompt):
        render([a.Play("nope", "ru"), a.Hangup()], urls=Urls(1), prompts=prompts)


def test_polite_goodbye() -> None:
    root = ET.fromstring(str(polite_goodbye()))
    assert [child.tag for child in root] == ["Say", "Hangup"]
    assert root[0].get("language") == "ru-RU"
