"""Engine media actions -> TwiML, built with the twilio library.  Pure: no I/O.

How each action becomes TwiML, and how Twilio's answer comes back as an event:

=================  =============================================  ==========================
action             TwiML                                          comes back as
=================  =============================================  ==========================
Play               <Play>/twilio/prompts/ru/<id>.wav</Play>, or   (nothing: part of a step)
                   <Say language="ru-RU">text</Say> with no file
SayDigits          <Say language="ru-RU">1 2 3 4</Say>
SayNumber          <Say language="ru-RU">3</Say>
CollectDigits      <Gather input="dtmf" numDigits finishOnKey     Digits -> DigitsEntered
                   timeout action="/twilio/gather?step=n">
CollectSpeech      <Gather input="dtmf speech" language="ru-RU"   SpeechResult, Confidence ->
                   hints speechTimeout="auto">                    SpeechHeard; Digits ->
                                                                  DigitsEntered
(after a Gather)   <Redirect>/twilio/gather?step=n&timeout=1      NoInput (Twilio falls
                                                                  through on silence)
Record             <Record maxLength playBeep                     Recorded; an empty
                   action="/twilio/recorded?step=n&clip=..."      recording falls through
                   recordingStatusCallback=...>                   to the Redirect: NoInput
HoldMusic          <Gather numDigits="1"><Play>music</Play> or    Digits -> DigitsEntered
                   <Pause/></Gather><Redirect>/twilio/wait</..>   /twilio/wait -> NoInput
Connect            <Dial record><Client>|<Sip>|<Number></Dial>    (the call is bridged)
Transfer           <Dial><Number>...</Number></Dial>
Hangup             <Hangup/>
SetVariable,       nothing: Asterisk channel variables; Twilio
StartRecording     records through <Dial record>
=================  =============================================  ==========================

Barge-in: the prompts that end a step right before a Gather and may be
interrupted (``Play(barge_in=True)``, read-back digits and numbers) are nested
*inside* the Gather, so a key pressed during them is the Gather's first key,
exactly as the flow engine's actions promise.  A response that does not end
with a Gather, Record, hold, Dial or Hangup gets a Redirect back, so the engine
always hears how the step ended.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlencode

from twilio.twiml.voice_response import Dial, Gather, VoiceResponse

from ivr.flow import actions as a
from ivr.twilio.errors import UnsupportedEndpoint
from ivr.twilio.prompts import PromptSource

# BCP-47 tags Twilio's <Say> and speech recogniser use for the menu languages.
TWILIO_LANGUAGES = {"ru": "ru-RU", "en": "en-GB"}
POLITE_GOODBYE = "Извините, произошла техническая ошибка. Пожалуйста, позвоните позже. До свидания!"


def twilio_language(language: str) -> str:
    return TWILIO_LANGUAGES.get(language, "ru-RU")


@dataclass(frozen=True)
class Urls:
    """Where one step's TwiML points back to; every URL carries ``step=<n>``.

    ``base`` is empty for a webhook's answer (Twilio resolves relative URLs
    against the document's own URL) and the public base URL for TwiML handed
    over by the REST API, which has no document URL.
    """

    step: int
    base: str = ""

    def _url(self, path: str, **query: str | int) -> str:
        return f"{self.base}{path}?{urlencode({'step': self.step, **query})}"

    def absolute(self, path: str) -> str:
        return f"{self.base}{path}" if path.startswith("/") else path

    def gather(self, *, timeout: bool = False) -> str:
        return self._url("/twilio/gather", timeout=1) if timeout else self._url("/twilio/gather")

    def wait(self) -> str:
        return self._url("/twilio/wait")

    def recorded(self, clip: str) -> str:
        return self._url("/twilio/recorded", clip=clip)

    def dialled(self, operator: str, *, room: bool = False) -> str:
        """``<Dial action>``: the bridge to ``operator`` is over (DialCallStatus); ``room``:
        the caller's ``<Dial><Conference>`` after the call moved into a conference."""
        if room:
            return self._url("/twilio/dialled", operator=operator, room=1)
        return self._url("/twilio/dialled", operator=operator)

    def back_in_line(self) -> str:
        """Where a caller taken from the operator (a blind transfer) comes back to."""
        return self._url("/twilio/back-in-line")

    def consult_leg(self, caller: str) -> str:
        """The status callback of the next operator's call in a warm transfer of ``caller``."""
        return f"{self.base}/twilio/consult-leg?{urlencode({'call': caller})}"

    def room_status(self, caller: str) -> str:
        """The conference's status callback (start, end, join, leave) of ``caller``'s call."""
        return f"{self.base}/twilio/room?{urlencode({'call': caller})}"

    def operator_leg(self, operator: str) -> str:
        """The operator leg's status callback (answered, completed)."""
        return f"{self.base}/twilio/operator-leg?{urlencode({'operator': operator})}"

    def recording_status(self, clip: str, *, call: str = "") -> str:
        """``call``: the caller's CallSid, for a conference recording (its callback has no
        CallSid of its own)."""
        query = {"clip": clip, **({"call": call} if call else {})}
        return f"{self.base}/twilio/recording-status?{urlencode(query)}"


def render(
    actions: Sequence[a.MediaAction],
    *,
    urls: Urls,
    prompts: PromptSource,
    hold_music: str | None = None,
    ring_seconds: int | None = None,
) -> VoiceResponse:
    """The TwiML for one step of the engine.  ``ring_seconds``: how long ``<Dial>`` rings an
    operator before Twilio reports ``no-answer`` (within routing's reservation)."""
    response = VoiceResponse()
    pending: list[a.Prompt] = []
    ended = False
    for action in actions:
        if isinstance(action, (a.Play, a.SayDigits, a.SayNumber)):
            pending.append(action)
            continue
        if isinstance(action, (a.SetVariable, a.StartRecording)):
            continue
        if isinstance(action, (a.CollectDigits, a.CollectSpeech)):
            outside, inside = _split_barge_in([*pending, *action.prompts])
            _say_all(response, outside, urls, prompts)
            gather = response.gather(**_gather_attributes(action, urls))
            _say_all(gather, inside, urls, prompts)
            response.redirect(urls.gather(timeout=True), method="POST")
        elif isinstance(action, a.Record):
            _say_all(response, [*pending, *action.prompts], urls, prompts)
            response.record(
                action=urls.recorded(action.clip),
                method="POST",
                max_length=max(1, round(action.max_seconds)),
                timeout=max(1, round(action.silence)),
                play_beep=True,
                finish_on_key="#",
                recording_status_callback=urls.recording_status(action.clip),
                recording_status_callback_method="POST",
            )
            response.redirect(urls.gather(timeout=True), method="POST")
        elif isinstance(action, a.HoldMusic):
            _hold(response, action, pending, urls, prompts, hold_music)
        elif isinstance(action, a.Connect):
            _say_all(response, pending, urls, prompts)
            response.append(
                dial(action.endpoint, record=action.record, recording_status=urls.recording_status(
                    f"operator-{action.operator}"), action=urls.dialled(action.operator),
                    leg_status=urls.operator_leg(action.operator), ring_seconds=ring_seconds)
            )
        elif isinstance(action, a.Transfer):
            _say_all(response, pending, urls, prompts)
            response.append(dial(action.target, record=False))
        elif isinstance(action, a.Hangup):
            _say_all(response, pending, urls, prompts)
            response.hangup()
        pending = []
        ended = True
    if pending or not ended:
        _say_all(response, pending, urls, prompts)
        response.redirect(urls.gather(timeout=True), method="POST")
    return response


def dial(endpoint: str, *, record: bool, recording_status: str | None = None,
         action: str | None = None, leg_status: str | None = None, ring_seconds: int | None = None) -> Dial:
    """``<Dial>`` to an operator: ``client:op101``, ``sip:op101@pbx.example``, ``+7...``.

    ``action``: where Twilio posts ``DialCallStatus`` when the bridge is over (then the
    caller's call goes on with that answer's TwiML); ``leg_status``: the operator leg's
    status callback, told when the operator answers and when the leg ends::

        <Dial action="/twilio/dialled?step=7&amp;operator=op101" method="POST">
          <Client statusCallbackEvent="answered completed" statusCallback="/twilio/operator-leg?operator=op101"
                  statusCallbackMethod="POST">op101</Client>
        </Dial>
    """
    attributes: dict[str, str] = {}
    if record:
        attributes = {"record": "record-from-answer-dual"}
        if recording_status:
            attributes["recording_status_callback"] = recording_status
            attributes["recording_status_callback_method"] = "POST"
    if action:
        attributes.update(action=action, method="POST")
    if ring_seconds:
        attributes["timeout"] = str(ring_seconds)
    leg: dict[str, str] = {}
    if leg_status:
        leg = {"status_callback_event": "answered completed", "status_callback": leg_status,
               "status_callback_method": "POST"}
    verb = Dial(**attributes)
    kind, _, rest = endpoint.partition(":")
    if kind == "client" and rest:
        verb.client(rest, **leg)
    elif kind in ("sip", "sips") and rest:
        verb.sip(endpoint, **leg)
    elif endpoint.lstrip("+").isdigit() and 3 <= len(endpoint.lstrip("+")) <= 15:
        verb.number(endpoint, **leg)
    elif "/" in endpoint:
        raise UnsupportedEndpoint(endpoint, "this is an Asterisk channel; for Twilio use "
                                            "client:<identity>, sip:<uri> or a +7... number")
    else:
        raise UnsupportedEndpoint(endpoint, "expected client:<identity>, sip:<uri> or a +7... number")
    return verb


def conference(room: str, *, status: str, action: str | None = None,
               recording_status: str | None = None) -> VoiceResponse:
    """A leg of a conversation moved into a conference (warm transfer, supervision)::

        <Response><Dial action="/twilio/dialled?step=7&amp;operator=op101&amp;room=1" method="POST">
          <Conference beep="false" endConferenceOnExit="true" startConferenceOnEnter="true"
                      waitUrl="" statusCallback="/twilio/room?call=CA..." statusCallbackMethod="POST"
                      statusCallbackEvent="start end join leave"
                      record="record-from-start" recordingStatusCallback="...">hotline-CA...</Conference>
        </Dial></Response>

    Both the caller and the operator end the conference when they leave (a warm transfer
    changes the operator's flag with the REST API); no beep, no music while alone.
    ``recording_status``: the caller consented, the conference is recorded."""
    verb = Dial(**({"action": action, "method": "POST"} if action else {}))
    attributes: dict[str, object] = {
        "start_conference_on_enter": True, "end_conference_on_exit": True, "beep": False, "wait_url": "",
        "status_callback": status, "status_callback_event": "start end join leave",
        "status_callback_method": "POST",
    }
    if recording_status:
        attributes.update(record="record-from-start", recording_status_callback=recording_status,
                          recording_status_callback_method="POST", recording_status_callback_event="completed")
    verb.conference(room, **attributes)
    response = VoiceResponse()
    response.append(verb)
    return response


def bridge_response(endpoint: str, *, record: bool, recording_status: str | None = None) -> VoiceResponse:
    response = VoiceResponse()
    response.append(dial(endpoint, record=record, recording_status=recording_status))
    return response


def polite_goodbye() -> VoiceResponse:
    """What a caller hears when the engine cannot go on (never a bare HTTP error)."""
    response = VoiceResponse()
    response.say(POLITE_GOODBYE, language="ru-RU")
    response.hangup()
    return response


# -- helpers ---------------------------------------------------------------------------------


def _interruptible(prompt: a.Prompt) -> bool:
    return prompt.barge_in if isinstance(prompt, a.Play) else True


def _split_barge_in(prompts: list[a.Prompt]) -> tuple[list[a.Prompt], list[a.Prompt]]:
    """(played before the Gather, nested inside it): the interruptible tail goes inside."""
    cut = len(prompts)
    while cut > 0 and _interruptible(prompts[cut - 1]):
        cut -= 1
    return prompts[:cut], prompts[cut:]


def _say_all(parent: VoiceResponse | Gather, prompts: Sequence[a.Prompt], urls: Urls,
             source: PromptSource) -> None:
    for prompt in prompts:
        if isinstance(prompt, a.Play):
            audio = source.audio_url(prompt.prompt, prompt.language)
            if audio is not None:
                parent.play(urls.absolute(audio))
            else:
                parent.say(source.text(prompt.prompt, prompt.language),
                           language=twilio_language(prompt.language))
        elif isinstance(prompt, a.SayDigits):
            spaced = " ".join(ch for ch in prompt.digits if ch.isdigit() or ch in "*#")
            parent.say(spaced, language=twilio_language(prompt.language))
        else:
            parent.say(str(prompt.number), language=twilio_language(prompt.language))


def _seconds(value: float) -> int:
    return max(1, round(value))


def _gather_attributes(action: a.CollectDigits | a.CollectSpeech, urls: Urls) -> dict[str, object]:
    common: dict[str, object] = {"action": urls.gather(), "method": "POST", "timeout": _seconds(action.timeout)}
    if isinstance(action, a.CollectDigits):
        return {
            **common,
            "input": "dtmf",
            "num_digits": action.max_digits,
            "finish_on_key": action.terminator,
        }
    attributes: dict[str, object] = {
        **common,
        "input": "dtmf speech" if action.keys else "speech",
        "language": twilio_language(action.language),
        "speech_timeout": "auto",
    }
    if action.grammar:
        attributes["hints"] = ", ".join(action.grammar)
    if action.keys:
        attributes["num_digits"] = action.max_digits
        attributes["finish_on_key"] = action.terminator
    return attributes


def _hold(response: VoiceResponse, action: a.HoldMusic, pending: list[a.Prompt], urls: Urls,
          source: PromptSource, hold_music: str | None) -> None:
    """Music on hold for about ``action.seconds``, then back to /twilio/wait for a poll."""
    if action.keys:
        outside, inside = _split_barge_in(pending)
        _say_all(response, outside, urls, source)
        parent: VoiceResponse | Gather = response.gather(
            input="dtmf", num_digits=1, timeout=1, action=urls.gather(), method="POST")
        _say_all(parent, inside, urls, source)
    else:
        _say_all(response, pending, urls, source)
        parent = response
    if hold_music:
        parent.play(urls.absolute(hold_music))
    else:
        parent.pause(length=_seconds(action.seconds))
    response.redirect(urls.wait(), method="POST")
