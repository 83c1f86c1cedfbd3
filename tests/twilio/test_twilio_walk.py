"""A whole call on hotline.yaml through Twilio's webhooks, and the same path
straight through the CallRunner: same context, same queue decision."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass

from ivr.call.runner import CallRunner
from ivr.flow import events as e
from ivr.prompts.numbers import digit_prompts

VALID_INN = "500100732259"
BAD_INN = "500100732258"  # last check digit wrong


@dataclass(frozen=True)
class Move:
    """One thing the caller does: the webhook, its parameters, the seconds before it."""

    url: str
    params: dict[str, str]
    wait: float = 2.0


# The path: Russian, name by voice, ИНН with a wrong checksum then corrected and
# confirmed, topic "sign-in problems", consent by voice, two polls in the queue,
# the callback offer taken and the number confirmed.
PATH = [
    Move("/twilio/gather", {"Digits": "1"}),
    Move("/twilio/gather", {"SpeechResult": "Иванов Иван Иванович", "Confidence": "0.92"}),
    Move("/twilio/gather", {"Digits": BAD_INN}),
    Move("/twilio/gather", {"Digits": VALID_INN}),
    Move("/twilio/gather", {"Digits": "1"}),
    Move("/twilio/gather", {"Digits": "1"}),
    Move("/twilio/gather", {"Digits": "1"}),
    Move("/twilio/gather", {"SpeechResult": "да", "Confidence": "0.9"}),
    Move("/twilio/wait", {}, wait=50.0),
    Move("/twilio/wait", {}, wait=5.0),
    Move("/twilio/gather", {"Digits": "1"}),
    Move("/twilio/gather", {"Digits": "1"}),
]


def script(world):
    """The routing engine's answers to the two polls: second in line, about two minutes."""
    world.polls = [{"position": 2, "expected_wait": 120.0}, {"position": 2, "expected_wait": 120.0}]
    return world


def as_event(move: Move, at: float) -> e.Event:
    """What the blueprint makes of a move, written out by hand for the direct run."""
    if "SpeechResult" in move.params:
        return e.SpeechHeard(move.params["SpeechResult"], float(move.params["Confidence"]), at)
    if "Digits" in move.params:
        return e.DigitsEntered(move.params["Digits"], at)
    return e.NoInput(at)


def says(root: ET.Element) -> list[str]:
    return [(el.text or "") for el in root.iter("Say")]


def walk_webhooks(twilio, clock, world, h) -> list[ET.Element]:
    script(world)
    responses = [twilio.twiml("/twilio/voice")]
    for move in PATH:
        clock.advance(move.wait)
        step = h.next_step(responses[-1])
        responses.append(twilio.twiml(f"{move.url}?step={step}", **move.params))
    return responses


def test_full_call_through_webhooks(twilio, clock, world, redis, texts, h) -> None:
    ru = texts["ru"]
    r = walk_webhooks(twilio, clock, world, h)

    # language: both prompts inside a one-key Gather
    assert h.verbs(r[0]) == ["Gather", "Redirect"] and r[0][0].get("numDigits") == "1"
    # ФИО: Twilio's recogniser, Russian
    assert r[1][0].get("input") == "speech" and r[1][0].get("language") == "ru-RU"
    assert says(r[1]) == [ru["identity.say_name"]]
    # ИНН: up to 12 keys ended by #
    assert (r[2][0].get("numDigits"), r[2][0].get("finishOnKey")) == ("12", "#")
    # wrong checksum: told why, asked again
    assert says(r[3])[:2] == [ru["invalid.checksum"], ru["identity.enter_number"]]
    # read back, digit by digit, then "1 - верно"
    assert says(r[4]) == [ru["common.you_entered"], *(ru[p] for p in digit_prompts(VALID_INN)), ru["common.confirm"]]
    # main menu: keys or keywords
    assert r[5][0].get("input") == "dtmf speech" and "вход" in r[5][0].get("hints", "")
    assert says(r[6]) == [ru["menu.signin"]]
    # consent asked by voice with a yes/no vocabulary
    assert r[7][0].get("input") == "dtmf speech" and "да" in r[7][0].get("hints", "")
    # queued: the appeal number, position, expected wait, callback offer, hold; key 1
    # accepted during all of it
    gather = r[8].find("Gather")
    assert gather is not None and gather.get("numDigits") == "1"
    assert says(r[8]) == [ru["consent.yes"], ru["common.your_appeal"], *(ru[p] for p in digit_prompts("2603100001")),
                          ru["queue.position"], "три", ru["queue.wait_minutes"],
                          "четыре", "минуты", ru["queue.callback_offer"]]
    assert r[8][-1].tag == "Redirect" and r[8][-1].text.startswith("/twilio/wait?step=")
    # 50 s later the poll announces again (every 45 s); 5 s later it only holds
    assert says(r[9]) == [ru["queue.position"], "два", ru["queue.wait_minutes"], "две", "минуты",
                          ru["queue.callback_offer"]]
    assert says(r[10]) == []
    # callback: the caller's own number read back
    assert says(r[11]) == [ru["callback.number_is"], *(ru[p] for p in digit_prompts("79161234567")),
                           ru["callback.confirm_number"]]
    # booked: appeal number, goodbye, hang up
    assert says(r[12])[0] == ru["callback.booked"] and r[12][-1].tag == "Hangup"
    heard = says(r[12])
    appeal = [ru[p] for p in digit_prompts(world.ended[0].appeal)]
    start = heard.index(ru["common.your_appeal"]) + 1
    assert heard[start:start + len(appeal)] == appeal

    assert [action.queue for action in world.enqueued] == ["signin"]
    assert world.callbacks == ["+79161234567"] and world.polled == 2
    [ctx] = world.ended
    assert ctx.channel == "twilio" and ctx.language == "ru"
    assert ctx.name is not None and ctx.name.text == "Иванов Иван Иванович"
    assert ctx.inn == VALID_INN and ctx.identity_confirmed
    assert ctx.topic == "signin.login" and ctx.skills == ("signin",)
    assert ctx.consent is not None and ctx.consent.granted and ctx.consent.method == "voice"
    assert ctx.consent.heard == "да"
    assert ctx.callback_number == "+79161234567" and ctx.outcome == "callback"
    ask_number = next(step for step in ctx.path if step.node == "ask_number")
    assert ask_number.failures == ("checksum",)

    # Twilio reports the end of the call: the state goes, nothing is recorded twice.
    response = twilio.post("/twilio/status", CallStatus="completed")
    assert response.status_code == 204
    assert redis.exists(f"{{ivr}}:twilio:call:{h.CALL_SID}") == 0
    assert len(world.ended) == 1


def test_same_path_through_webhooks_and_engine_gives_same_result(twilio, clock, world, menu, h) -> None:
    walk_webhooks(twilio, clock, world, h)
    [via_twilio] = world.ended

    direct_world, direct_clock = script(h.ScriptedWorld()), h.Clock()
    runner = CallRunner(menu=menu, services=direct_world, clock=direct_clock)
    runner.start(e.CallStarted(call_id=h.CALL_SID, caller=h.CALLER, dialled=h.HOTLINE, at=direct_clock(),
                               appeal=direct_world.allocate_appeal(), speech=True, channel="twilio"))
    for move in PATH:
        direct_clock.advance(move.wait)
        runner.handle(as_event(move, direct_clock()))
    [direct] = direct_world.ended

    for name in ("language", "name", "inn", "snils", "identity_confirmed", "topic", "queue", "skills",
                 "priority", "consent", "callback_number", "outcome", "appeal"):
        assert getattr(via_twilio, name) == getattr(direct, name), name
    assert via_twilio.path == direct.path  # every node, exit, failure, at the same moments
    assert world.enqueued == direct_world.enqueued  # the same queue decision, context included
    assert world.callbacks == direct_world.callbacks


def test_name_recorded_when_speech_is_off(make_app, clock, world, redis, h) -> None:
    twilio = h.Twilio(make_app(speech=False).test_client())
    root = twilio.twiml("/twilio/voice")
    root = twilio.twiml(f"/twilio/gather?step={h.next_step(root)}", Digits="2")  # English
    assert h.verbs(root) == ["Say", "Record", "Redirect"]
    assert root[0].get("language") == "en-GB"
    record = root.find("Record")
    assert record is not None
    action = record.get("action", "")
    clip = f"{h.CALL_SID}-ask_name"
    assert action == f"/twilio/recorded?step=2&clip={clip}"
    root = twilio.twiml(action, RecordingUrl=f"https://api.twilio.com/2010-04-01/Accounts/{h.ACCOUNT}"
                        f"/Recordings/RE{'1' * 32}", RecordingSid=f"RE{'1' * 32}", RecordingDuration="3")
    gather = root.find("Gather")
    assert gather is not None and gather.get("numDigits") == "12"  # on to the ИНН
    stored = redis.hget(f"{{ivr}}:twilio:call:{h.CALL_SID}", "state").decode()
    assert clip in stored and '"language":"en"' in stored


def test_empty_recording_counts_as_silence(make_app, h) -> None:
    twilio = h.Twilio(make_app(speech=False).test_client())
    root = twilio.twiml("/twilio/voice")
    root = twilio.twiml(f"/twilio/gather?step={h.next_step(root)}", Digits="1")
    action = root.find("Record").get("action")  # type: ignore[union-attr]
    root = twilio.twiml(action, RecordingDuration="0")
    assert h.verbs(root) == ["Say", "Say", "Record", "Redirect"]  # "Я вас не слышу", asked again
