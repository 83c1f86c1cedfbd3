"""Transfer, supervision and recording pause on a live Twilio call (issue 18, sections 2-4,
Twilio's side): the engine's own app, routing on a real Redis, the real twilio library
whose HTTP client is Twilio's REST API played by :class:`FakeTwilio`.  Each test asserts
the exact REST requests (method, URL, form fields) and the TwiML the webhooks answer.

FakeTwilio answers as Twilio's API does and, like Twilio, follows the TwiML it is given:
an operator leg given ``<Dial><Conference>`` joins that conference, so the caller's
``<Dial>`` ends and its ``action`` is posted (signed), and the conference's status
callback reports both joins.  It can answer a request with an error or time out.
"""

from __future__ import annotations

import base64
import dataclasses
import itertools
import json
import logging
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from twilio.http import HttpClient
from twilio.http.response import Response as TwilioResponse

from ivr.aftermenu import ConsultStarted
from ivr.aftermenu.control import CallNotLive, LiveCallError, TelephonyFailed, Unsupported
from ivr.aftermenu.legs import Legs
from ivr.config import Config, Secrets
from ivr.engine import Engine, build_engine
from ivr.twilio.control import TwilioControl
from ivr.web.app import create_app
from tests.embedded import embedded_redis
from tests.twilio.test_engine_app import BASE, PUBLIC, SID, T0, TOKEN, post, walk_to_queue

ACCOUNT = "AC" + "1" * 32
API = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT}"
LEG = "CA" + "ef" * 16  # op102's leg, the <Dial>'s child
CONF = "CF" + "c0" * 16
ROOM = f"hotline-{SID}"
HOTLINE = "+78005553535"


@dataclasses.dataclass(frozen=True)
class Sent:
    method: str
    url: str
    data: dict[str, Any]


class FakeTwilio(HttpClient):
    def __init__(self) -> None:
        super().__init__(logger=logging.getLogger("tests.twilio.fake"), is_async=False)
        self.sent: list[Sent] = []
        self.failures: dict[tuple[str, str], Exception | tuple[int, int]] = {}
        self.follow = True  # join the conferences it is told to
        self.caller_gone = False  # the caller hangs up just as the operator's leg moves
        self.app_client: Any = None
        self.dial_action = ""  # the caller's <Dial action>, from the bridge's TwiML
        self.caller_twiml: ET.Element | None = None  # what the engine told the caller's call
        self.new_calls = (f"CA{n:032x}" for n in itertools.count(0xA1))

    def fail(self, method: str, url: str, answer: Exception | tuple[int, int]) -> None:
        """``answer``: an exception (a timeout) or (HTTP status, Twilio error code)."""
        self.failures[(method, url)] = answer

    def request(self, method: str, uri: str, params: Any = None, data: Any = None, headers: Any = None,
                auth: Any = None, timeout: Any = None, allow_redirects: bool = False) -> TwilioResponse:
        # As the form goes on the wire (requests url-encodes 15 as "15").
        form = {k: v if isinstance(v, list) else str(v) for k, v in dict(data or {}).items()}
        self.sent.append(Sent(method, uri, form))
        failure = self.failures.get((method, uri))
        if isinstance(failure, Exception):
            raise failure
        if failure is not None:
            status, code = failure
            return TwilioResponse(status, json.dumps({"code": code, "message": "refused (test)", "status": status}))
        path = uri.removeprefix(API)
        if method == "DELETE":
            return TwilioResponse(204, "")
        if path.startswith("/Calls/") and path.count("/") == 2:
            sid = path.split("/")[2].removesuffix(".json")
            if self.follow and "<Conference" in str(form.get("Twiml", "")):
                self._join(sid, ET.fromstring(form["Twiml"]))
            return TwilioResponse(200, json.dumps({"sid": sid, "account_sid": ACCOUNT, "status": "in-progress"}))
        if path.startswith(f"/Conferences/{CONF}/Participants"):
            sid = path.rsplit("/", 1)[-1].removesuffix(".json")
            sid = next(self.new_calls) if sid == "Participants" else sid
            return TwilioResponse(200 if sid in uri else 201, json.dumps(
                {"call_sid": sid, "conference_sid": CONF, "account_sid": ACCOUNT, "status": "connected",
                 "label": form.get("Label"), "muted": form.get("Muted") == "true",
                 "hold": form.get("Hold") == "true", "coaching": form.get("Coaching") == "true"}))
        if path.endswith("/Recordings/Twilio.CURRENT.json"):
            return TwilioResponse(200, json.dumps({"sid": "RE" + "0" * 32, "account_sid": ACCOUNT,
                                                   "status": form.get("Status")}))
        return TwilioResponse(404, json.dumps({"code": 20404, "message": "not found", "status": 404}))

    def _join(self, leg: str, operator_twiml: ET.Element) -> None:
        """What Twilio does next: the operator's leg joins; the caller's <Dial> is over and
        its action answered; the caller joins; the conference reports both."""
        status = operator_twiml.find("Dial/Conference").attrib["statusCallback"].removeprefix(PUBLIC)  # type: ignore[union-attr]
        over = post(self.app_client, self.dial_action,
                    {**BASE, "CallStatus": "completed" if self.caller_gone else "in-progress",
                     "DialCallStatus": "completed", "DialCallSid": leg})
        assert over.status_code == 200
        self.caller_twiml = ET.fromstring(over.data)
        if self.caller_gone:
            return
        for who in (leg, SID):
            joined = post(self.app_client, status, {"AccountSid": ACCOUNT, "ConferenceSid": CONF,
                                                    "FriendlyName": ROOM, "CallSid": who,
                                                    "StatusCallbackEvent": "participant-join",
                                                    "Muted": "false", "Hold": "false", "Coaching": "false"})
            assert joined.status_code == 204


@pytest.fixture()
def make_engine(tmp_path: Path, config: Config) -> Any:
    def build(*, recording_key: bool = True) -> Engine:
        operators = {op: dataclasses.replace(spec, endpoint=f"client:{op}") for op, spec in config.operators.items()}
        moved = dataclasses.replace(
            config,
            engine=dataclasses.replace(config.engine, public_url=PUBLIC),
            twilio=dataclasses.replace(config.twilio, account_sid=ACCOUNT, caller_id=HOTLINE),
            recordings=dataclasses.replace(config.recordings, dir=str(tmp_path / "rec")),
            operators=operators,
        )
        key = f"k1:{base64.b64encode(b'k' * 32).decode()}" if recording_key else None
        return build_engine(moved, Secrets(twilio_auth_token=TOKEN, recording_key=key),
                            redis=embedded_redis(str(tmp_path / "r.db")), clock=lambda: T0)

    return build


@dataclasses.dataclass
class Talk:
    """A Twilio call the operator op102 has answered."""

    engine: Engine
    twilio: FakeTwilio
    client: Any
    legs: Legs
    control: TwilioControl
    dial: ET.Element

    def rest(self) -> list[tuple[str, str, dict[str, Any]]]:
        """The REST requests sent since the last look, with the API's prefix cut."""
        out = [(s.method, s.url.removeprefix(API), s.data) for s in self.twilio.sent]
        self.twilio.sent.clear()
        return out


def talking(engine: Engine) -> Talk:
    twilio = FakeTwilio()
    client = create_app(engine, twilio_http_client=twilio).test_client()
    twilio.app_client = client
    walk_to_queue(client)
    engine.router.set_operator_state("op102", "available")
    engine.tick()  # routing reserves op102; the engine bridges the caller with the REST API
    [bridge] = [s for s in twilio.sent if s.url == f"{API}/Calls/{SID}.json"]
    dial = ET.fromstring(bridge.data["Twiml"]).find("Dial")
    assert dial is not None
    twilio.dial_action = dial.attrib["action"].removeprefix(PUBLIC)
    answered = post(client, "/twilio/operator-leg?operator=op102",
                    {"CallSid": LEG, "ParentCallSid": SID, "CallStatus": "in-progress", "AccountSid": ACCOUNT})
    assert answered.status_code == 204
    assert engine.router.status(SID).state == "connected"
    twilio.sent.clear()
    legs, control = engine.controls.of(SID)
    assert isinstance(control, TwilioControl)
    assert (legs.caller, legs.operator, legs.operator_id) == (SID, LEG, "op102")
    return Talk(engine, twilio, client, legs, control, dial)


@pytest.fixture()
def talk(make_engine: Any) -> Talk:
    return talking(make_engine())


def attrs(element: ET.Element | None) -> dict[str, str]:
    assert element is not None
    return dict(element.attrib)


RECORDED = f"{PUBLIC}/twilio/recording-status?clip=operator-op102-room&call={SID}"
OPERATOR_CONFERENCE = {
    "beep": "false", "startConferenceOnEnter": "true", "endConferenceOnExit": "true", "waitUrl": "",
    "statusCallback": f"{PUBLIC}/twilio/room?call={SID}", "statusCallbackEvent": "start end join leave",
    "statusCallbackMethod": "POST", "record": "record-from-start", "recordingStatusCallback": RECORDED,
    "recordingStatusCallbackMethod": "POST", "recordingStatusCallbackEvent": "completed",
}


def moved_into_the_conference(talk: Talk, sent: list[tuple[str, str, dict[str, Any]]]) -> None:
    """The first request moved op102's leg into the conference, and the caller followed."""
    method, url, data = sent[0]
    assert (method, url, set(data)) == ("POST", f"/Calls/{LEG}.json", {"Twiml"})
    twiml = ET.fromstring(data["Twiml"])
    assert [child.tag for child in twiml] == ["Dial"] and attrs(twiml.find("Dial")) == {}
    conference = twiml.find("Dial/Conference")
    assert attrs(conference) == OPERATOR_CONFERENCE and conference.text == ROOM  # type: ignore[union-attr]
    caller = talk.twilio.caller_twiml
    assert caller is not None and [child.tag for child in caller] == ["Dial"]
    step = parse_qs(urlsplit(talk.dial.attrib["action"]).query)["step"][0]
    assert attrs(caller.find("Dial")) == {"action": f"/twilio/dialled?step={step}&operator=op102&room=1",
                                          "method": "POST"}
    assert attrs(caller.find("Dial/Conference")) == {
        **OPERATOR_CONFERENCE, "statusCallback": f"/twilio/room?call={SID}",
        "recordingStatusCallback": f"/twilio/recording-status?clip=operator-op102-room&call={SID}"}
    assert caller.find("Dial/Conference").text == ROOM  # type: ignore[union-attr]


def consult_call(talk: Talk, endpoint: str) -> dict[str, Any]:
    """The next operator's call in a warm transfer, as the form Twilio receives."""
    return {"From": HOTLINE, "To": endpoint, "Label": "consult", "EarlyMedia": "true", "Beep": "false",
            "StartConferenceOnEnter": "true", "EndConferenceOnExit": "false",
            "StatusCallback": f"{PUBLIC}/twilio/consult-leg?call={SID}", "StatusCallbackMethod": "POST",
            "StatusCallbackEvent": ["completed"], "Timeout": str(talk.engine.config.routing.ring_seconds)}


def participant(sid: str) -> str:
    return f"/Conferences/{CONF}/Participants/{sid}.json"


# -- supervision -------------------------------------------------------------------------------


def test_a_supervisor_listens_whispers_and_barges_in_through_the_conference(talk: Talk) -> None:
    listen = talk.control.spy(talk.legs, "client:sup1", "listen")
    sent = talk.rest()
    moved_into_the_conference(talk, sent)
    supervisor = {"From": HOTLINE, "To": "client:sup1", "Label": "supervisor", "Beep": "false",
                  "EndConferenceOnExit": "false"}
    assert sent[1:] == [("POST", f"/Conferences/{CONF}/Participants.json", {**supervisor, "Muted": "true"})]
    whisper = talk.control.spy(talk.legs, "client:sup1", "whisper")
    barge = talk.control.spy(talk.legs, "+79160000009", "barge")
    assert talk.rest() == [  # in the conference already: no second move
        ("POST", f"/Conferences/{CONF}/Participants.json", {**supervisor, "Coaching": "true", "CallSidToCoach": LEG}),
        ("POST", f"/Conferences/{CONF}/Participants.json", {**supervisor, "To": "+79160000009", "Muted": "false"}),
    ]
    assert len({listen, whisper, barge}) == 3 and all(h.startswith("CA") for h in (listen, whisper, barge))
    talk.control.stop_spying(talk.legs, whisper)
    assert talk.rest() == [("DELETE", participant(whisper), {})]
    # All along routing saw one conversation with op102.
    assert talk.engine.router.status(SID).state == "connected"
    assert talk.engine.router.operator_status("op102").state == "on_call"


def test_the_conversation_in_the_conference_ends_as_one_bridged_by_dial(talk: Talk) -> None:
    talk.control.spy(talk.legs, "client:sup1", "listen")
    caller = talk.twilio.caller_twiml
    assert caller is not None
    action = caller.find("Dial").attrib["action"]  # type: ignore[union-attr]
    over = post(talk.client, action, {**BASE, "CallStatus": "in-progress", "DialCallStatus": "completed"})
    assert [child.tag for child in ET.fromstring(over.data)] == ["Hangup"]
    assert talk.engine.router.status(SID).state == "gone"
    assert talk.engine.router.operator_status("op102").state == "wrap_up"
    assert talk.engine.redis.keys("*twilio:live*") == []


def test_a_supervisor_action_on_a_call_that_ended_is_refused(talk: Talk) -> None:
    ended = post(talk.client, talk.dial.attrib["action"].removeprefix(PUBLIC),
                 {**BASE, "CallStatus": "completed", "DialCallStatus": "completed"})
    assert [child.tag for child in ET.fromstring(ended.data)] == ["Hangup"]
    with pytest.raises(CallNotLive):
        talk.engine.controls.of(SID)  # the legs went with the conversation
    with pytest.raises(CallNotLive):  # the console held on to them: Twilio says it is over
        talk.twilio.fail("POST", f"{API}/Calls/{LEG}.json", (400, 21220))
        talk.control.spy(talk.legs, "client:sup1", "listen")
    assert talk.engine.redis.keys("*twilio:live*") == []


# -- warm transfer ------------------------------------------------------------------------------


def test_warm_transfer_holds_the_caller_consults_then_hands_the_caller_over(talk: Talk) -> None:
    talk.control.consult(talk.legs, "op101", "client:op101")
    sent = talk.rest()
    moved_into_the_conference(talk, sent)
    assert sent[1:] == [
        ("POST", participant(SID), {"Hold": "true"}),
        ("POST", participant(LEG), {"EndConferenceOnExit": "false"}),
        ("POST", f"/Conferences/{CONF}/Participants.json", consult_call(talk, "client:op101")),
    ]
    talk.control.consult(talk.legs, "op101", "client:op101")  # a double click
    assert talk.rest() == []
    with pytest.raises(LiveCallError, match="op101"):
        talk.control.consult(talk.legs, "op103", "client:op103")
    op101 = "CA" + f"{0xA1:032x}"
    talk.control.complete_consult(talk.legs)
    assert talk.rest() == [
        ("POST", participant(op101), {"EndConferenceOnExit": "true"}),
        ("POST", participant(SID), {"Hold": "false"}),
        ("DELETE", participant(LEG), {}),
    ]
    # op101 talks to the caller now: a whisper coaches op101's leg.
    talk.control.spy(talk.legs, "client:sup1", "whisper")
    [(_, _, whisper)] = talk.rest()
    assert whisper["CallSidToCoach"] == op101
    with pytest.raises(LiveCallError, match="no consultation"):
        talk.control.complete_consult(talk.legs)
    # The end of the conversation is op101's (the caller's room <Dial action>).
    action = talk.twilio.caller_twiml.find("Dial").attrib["action"]  # type: ignore[union-attr]
    over = post(talk.client, action, {**BASE, "CallStatus": "in-progress", "DialCallStatus": "completed"})
    assert [child.tag for child in ET.fromstring(over.data)] == ["Hangup"]
    assert talk.engine.redis.keys("*twilio:live*") == []


def test_warm_transfer_cancelled_brings_the_caller_back_to_the_first_operator(talk: Talk) -> None:
    talk.control.consult(talk.legs, "op101", "client:op101")
    talk.rest()
    talk.control.cancel_consult(talk.legs)
    op101 = "CA" + f"{0xA1:032x}"
    assert talk.rest() == [
        ("DELETE", participant(op101), {}),
        ("POST", participant(SID), {"Hold": "false"}),
        ("POST", participant(LEG), {"EndConferenceOnExit": "true"}),
    ]
    talk.control.consult(talk.legs, "op103", "client:op103")  # another try: no move, a new consult
    assert [(m, u) for m, u, _ in talk.rest()] == [
        ("POST", participant(SID)), ("POST", participant(LEG)), ("POST", f"/Conferences/{CONF}/Participants.json")]


def test_a_second_action_while_one_is_under_way_is_refused(talk: Talk) -> None:
    """Another engine process (or a double click) is moving the call: its lease is held."""
    with talk.control.live.action(SID, 5) as held:
        assert held
        with pytest.raises(LiveCallError, match="under way"):
            talk.control.consult(talk.legs, "op101", "client:op101")
        with pytest.raises(LiveCallError, match="under way"):
            talk.control.pause_recording(talk.legs)
    assert talk.rest() == []
    talk.control.consult(talk.legs, "op101", "client:op101")  # the lease is given back after each action
    talk.control.cancel_consult(talk.legs)
    assert talk.engine.redis.keys("*live-busy*") == []


def test_a_next_operator_who_does_not_answer_gives_the_caller_back_to_the_first(talk: Talk) -> None:
    talk.control.consult(talk.legs, "op101", "client:op101")
    talk.rest()
    op101 = "CA" + f"{0xA1:032x}"
    over = {"CallSid": op101, "AccountSid": ACCOUNT, "From": HOTLINE, "To": "client:op101", "CallStatus": "no-answer"}
    assert post(talk.client, f"/twilio/consult-leg?call={SID}", over, token="forged").status_code == 403
    assert talk.rest() == []
    assert post(talk.client, f"/twilio/consult-leg?call={SID}", over).status_code == 204
    assert talk.rest() == [
        ("POST", participant(SID), {"Hold": "false"}),
        ("POST", participant(LEG), {"EndConferenceOnExit": "true"}),
    ]
    assert post(talk.client, f"/twilio/consult-leg?call={SID}", over).status_code == 204  # Twilio retries
    assert talk.rest() == []
    with pytest.raises(LiveCallError, match="no consultation"):
        talk.control.complete_consult(talk.legs)
    # A transfer completed: the end of the next operator's call is the conversation's, not a consult's.
    talk.control.consult(talk.legs, "op103", "client:op103")
    talk.control.complete_consult(talk.legs)
    talk.rest()
    op103 = "CA" + f"{0xA2:032x}"
    done = {**over, "CallSid": op103, "To": "client:op103", "CallStatus": "completed"}
    assert post(talk.client, f"/twilio/consult-leg?call={SID}", done).status_code == 204
    assert talk.rest() == []


def test_routing_releases_a_next_operator_whose_phone_does_not_answer_the_consultation(talk: Talk) -> None:
    """The consultation as the console starts it (routing reserves op101, the control
    rings him); his leg ends unanswered: the caller is op102's again and op101 is free."""
    router = talk.engine.router
    router.set_operator_state("op101", "available")
    talk.engine.call_life.apply(ConsultStarted(SID, by="op102", operator="op101", transfer_id="x1"))
    assert router.operator_status("op101").state == "reserved"
    talk.control.consult(talk.legs, "op101", "client:op101")
    talk.rest()
    over = {"CallSid": "CA" + f"{0xA1:032x}", "AccountSid": ACCOUNT, "From": HOTLINE, "To": "client:op101",
            "CallStatus": "no-answer"}
    assert post(talk.client, f"/twilio/consult-leg?call={SID}", over).status_code == 204
    assert router.consultation(SID) is None
    assert router.operator_status("op101").state == "available"
    status = router.status(SID)
    assert status.state == "connected" and status.assignment is not None
    assert status.assignment.operator_id == "op102"


@pytest.mark.parametrize("answer", [(500, 20500), requests.exceptions.ReadTimeout("read timed out")],
                         ids=["http-500", "timeout"])
def test_twilio_failing_midway_through_a_consult_leaves_the_call_as_it_was(talk: Talk, answer: Any) -> None:
    talk.control.spy(talk.legs, "client:sup1", "listen")  # in the conference
    talk.rest()
    talk.twilio.fail("POST", f"{API}/Conferences/{CONF}/Participants.json", answer)
    with pytest.raises(TelephonyFailed, match="call the next operator") as failed:
        talk.control.consult(talk.legs, "op101", "client:op101")
    assert ("500" in str(failed.value)) if isinstance(answer, tuple) else ("ReadTimeout" in str(failed.value))
    assert talk.rest()[1:] == [  # held, flag changed, the call refused; then both undone, in reverse
        ("POST", participant(LEG), {"EndConferenceOnExit": "false"}),
        ("POST", f"/Conferences/{CONF}/Participants.json", consult_call(talk, "client:op101")),
        ("POST", participant(LEG), {"EndConferenceOnExit": "true"}),
        ("POST", participant(SID), {"Hold": "false"}),
    ]
    with pytest.raises(LiveCallError, match="no consultation"):
        talk.control.cancel_consult(talk.legs)  # nothing was left half-made
    assert talk.engine.router.operator_status("op102").state == "on_call"


def test_twilio_refusing_the_move_into_the_conference_leaves_the_dial_bridge(talk: Talk) -> None:
    talk.twilio.fail("POST", f"{API}/Calls/{LEG}.json", (500, 20500))
    with pytest.raises(TelephonyFailed, match="move the call into a conference"):
        talk.control.spy(talk.legs, "client:sup1", "listen")
    assert [(m, u) for m, u, _ in talk.rest()] == [("POST", f"/Calls/{LEG}.json")]  # no participant added
    live = talk.engine.redis.hgetall(f"{{ivr}}:twilio:live:{SID}")
    assert b"room" not in live
    talk.twilio.failures.clear()
    talk.control.spy(talk.legs, "client:sup1", "listen")  # the next click tries the move again
    moved_into_the_conference(talk, talk.rest())


def test_a_call_that_does_not_reach_its_conference_is_reported(talk: Talk) -> None:
    talk.twilio.follow = False  # Twilio accepted the TwiML but nobody joined (yet)
    talk.control.room_wait = 0.3
    with pytest.raises(TelephonyFailed, match="did not reach its conference"):
        talk.control.spy(talk.legs, "client:sup1", "listen")
    assert [(m, u) for m, u, _ in talk.rest()] == [("POST", f"/Calls/{LEG}.json")]


def test_a_caller_who_hangs_up_as_the_call_moves_ends_the_conversation(talk: Talk) -> None:
    talk.twilio.caller_gone = True
    talk.control.room_wait = 0.3
    with pytest.raises(TelephonyFailed):
        talk.control.spy(talk.legs, "client:sup1", "listen")
    assert talk.twilio.caller_twiml is not None and [c.tag for c in talk.twilio.caller_twiml] == ["Hangup"]
    assert talk.engine.router.status(SID).state == "gone"
    assert talk.engine.router.operator_status("op102").state == "wrap_up"
    assert talk.engine.redis.keys("*twilio:live*") == []


def test_an_endpoint_twilio_cannot_call_is_refused_before_any_request(talk: Talk) -> None:
    with pytest.raises(Unsupported, match="Asterisk channel"):
        talk.control.spy(talk.legs, "PJSIP/sup1", "listen")
    with pytest.raises(Unsupported):
        talk.control.consult(talk.legs, "op101", "PJSIP/op101")
    with pytest.raises(Unsupported, match="listen, whisper or barge"):
        talk.control.spy(talk.legs, "client:sup1", "eavesdrop")  # type: ignore[arg-type]
    assert talk.rest() == []


# -- blind transfer ----------------------------------------------------------------------------


def test_blind_transfer_redirects_the_caller_back_to_hold_at_the_head_of_the_line(talk: Talk) -> None:
    step = parse_qs(urlsplit(talk.dial.attrib["action"]).query)["step"][0]
    talk.control.redirect_to_line(talk.legs)
    url = f"{PUBLIC}/twilio/back-in-line?step={step}"
    assert talk.rest() == [("POST", f"/Calls/{SID}.json", {"Url": url, "Method": "POST"})]
    forged = post(talk.client, url.removeprefix(PUBLIC), {**BASE, "CallStatus": "in-progress"}, token="forged")
    assert forged.status_code == 403
    back = post(talk.client, url.removeprefix(PUBLIC), {**BASE, "CallStatus": "in-progress"})
    twiml = ET.fromstring(back.data)
    assert twiml.find("Dial") is None and twiml.find("Hangup") is None  # on hold again
    assert twiml[-1].tag == "Redirect" and twiml[-1].text.startswith(f"/twilio/wait?step={int(step) + 1}")  # type: ignore[union-attr]
    again = post(talk.client, url.removeprefix(PUBLIC), {**BASE, "CallStatus": "in-progress"})  # Twilio retries
    assert again.data == back.data


def test_blind_transfer_of_a_call_that_just_hung_up_is_refused(talk: Talk) -> None:
    talk.twilio.fail("POST", f"{API}/Calls/{SID}.json", (400, 21220))
    with pytest.raises(CallNotLive, match="over at Twilio"):
        talk.control.redirect_to_line(talk.legs)


# -- recording pause ---------------------------------------------------------------------------


def test_the_recording_pauses_and_resumes_on_the_dial_bridge(talk: Talk) -> None:
    talk.control.pause_recording(talk.legs)
    talk.control.resume_recording(talk.legs)
    current = f"/Calls/{SID}/Recordings/Twilio.CURRENT.json"
    assert talk.rest() == [("POST", current, {"Status": "paused", "PauseBehavior": "silence"}),
                           ("POST", current, {"Status": "in-progress"})]
    assert talk.engine.redis.keys("*twilio:live*") != []
    ended = post(talk.client, "/twilio/status", {**BASE, "CallStatus": "completed"})  # the caller hung up
    assert ended.status_code == 204
    assert talk.engine.redis.keys("*twilio:live*") == []


def test_the_recording_pauses_in_the_conference_and_a_paused_call_is_not_moved(talk: Talk) -> None:
    talk.control.pause_recording(talk.legs)
    talk.rest()
    with pytest.raises(Unsupported, match="resume the recording first"):
        talk.control.spy(talk.legs, "client:sup1", "listen")
    assert talk.rest() == []
    talk.control.resume_recording(talk.legs)
    talk.control.spy(talk.legs, "client:sup1", "barge")
    talk.rest()
    talk.control.pause_recording(talk.legs)
    current = f"/Conferences/{CONF}/Recordings/Twilio.CURRENT.json"
    assert talk.rest() == [("POST", current, {"Status": "paused", "PauseBehavior": "silence"})]


def test_a_call_without_a_recording_has_nothing_to_pause(make_engine: Any) -> None:
    talk = talking(make_engine(recording_key=False))  # consent given, but no key: nothing recorded
    assert talk.dial.get("record") is None
    with pytest.raises(Unsupported, match="not recorded"):
        talk.control.pause_recording(talk.legs)
    talk.control.spy(talk.legs, "client:sup1", "listen")
    conference = ET.fromstring(talk.rest()[0][2]["Twiml"]).find("Dial/Conference")
    assert "record" not in attrs(conference)  # the conference is not recorded either
    assert "record" not in attrs(talk.twilio.caller_twiml.find("Dial/Conference"))  # type: ignore[union-attr]


# -- the new webhooks ---------------------------------------------------------------------------


def test_the_conference_webhook_is_signed_and_checked(talk: Talk) -> None:
    joined = {"AccountSid": ACCOUNT, "ConferenceSid": CONF, "FriendlyName": ROOM, "CallSid": LEG,
              "StatusCallbackEvent": "participant-join"}
    assert post(talk.client, f"/twilio/room?call={SID}", joined, token="forged").status_code == 403
    assert post(talk.client, f"/twilio/room?call={SID}", {**joined, "ConferenceSid": "CF1"}).status_code == 400
    assert post(talk.client, "/twilio/room?call=x", joined).status_code == 400
    assert talk.engine.redis.keys("*twilio:live*") == []  # nothing recorded for a call not moving
    assert post(talk.client, f"/twilio/room?call={SID}", joined).status_code == 204
    assert talk.engine.redis.keys("*twilio:live*") == []


def test_a_conference_recording_is_handed_over_for_the_callers_call(twilio: Any, app: Any) -> None:
    """A conference's recording callback: the call whose consent covers it is the one the URL
    the engine gave names, not a CallSid Twilio may add."""
    url = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT}/Recordings/RE{'1' * 32}"
    done = {"AccountSid": ACCOUNT, "ConferenceSid": CONF, "RecordingSid": "RE" + "1" * 32, "RecordingUrl": url,
            "RecordingStatus": "completed", "RecordingDuration": "42"}
    clip = f"/twilio/recording-status?clip=operator-op102-room&call={twilio.call_sid}"
    assert twilio.post(clip, raw=True, **done).status_code == 204
    assert twilio.post(clip, raw=True, **done, CallSid=LEG).status_code == 204  # the operator's leg named
    assert [(sid, u, c) for sid, u, c, _ in app.extensions["recordings"]] == [
        (twilio.call_sid, url, "operator-op102-room")] * 2
    assert twilio.post("/twilio/recording-status?clip=operator-op102-room", raw=True, **done).status_code == 400


def test_the_production_rest_client_gives_up_on_a_silent_twilio() -> None:
    """Without an injected client the library's own is used, with a timeout (the library's
    default has none: a console request would wait for ever), which ends as TelephonyFailed."""
    from ivr.twilio.dialer import REST_TIMEOUT, make_client

    client = make_client(account_sid=ACCOUNT, auth_token=TOKEN)
    assert client.http_client.timeout == REST_TIMEOUT == 10.0  # type: ignore[attr-defined]
