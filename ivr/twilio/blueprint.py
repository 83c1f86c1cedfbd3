"""The Twilio webhooks as a Flask blueprint; each handler checks its input and calls
:class:`~ivr.twilio.calls.TwilioCalls`.

=======================================  ============================================
URL                                      what Twilio posts, what it gets
=======================================  ============================================
POST /twilio/voice                       a new call: the first step's TwiML
POST /twilio/gather?step=n[&timeout=1]   Digits / SpeechResult+Confidence / silence
POST /twilio/recorded?step=n&clip=...    a <Record> finished: Recorded
POST /twilio/wait?step=n                 hold music over: poll the routing engine
POST /twilio/status                      CallStatus; completed, busy, ...: HungUp
POST /twilio/recording-status?clip=...   a recording is ready: the recordings hook
POST /twilio/dialled?step=n&operator=o   <Dial action>: DialCallStatus; the bridge is over
POST /twilio/operator-leg?operator=o     the operator leg's status callback (answered)
POST /twilio/dialled?...&room=1          the caller's <Dial><Conference> is over
POST /twilio/back-in-line?step=n         a blind transfer's REST redirect: hold at the head
                                         of the line again
POST /twilio/room?call=<CallSid>         the conversation's conference: who joined
POST /twilio/consult-leg?call=<CallSid>  the next operator's call in a warm transfer ended
POST /twilio/callback/<callback_id>      an outbound callback answered: greet, <Dial>
POST /twilio/callback/<id>/status        the outbound callback call ended: routing told
GET  /twilio/prompts/<lang>/<id>.wav     rendered prompt audio for <Play>
=======================================  ============================================

Bad requests get 4xx with a plain-text reason; anything unexpected gets a
polite ``<Say>`` and ``<Hangup>`` (HTTP 200, so the caller hears it) and a log
line with the exception type only: no parameters, no personal data.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable

from flask import Blueprint, Response, abort, g, request, send_file
from werkzeug.exceptions import HTTPException

from ivr.call.runner import CallObserver
from ivr.call.services import CallServices
from ivr.flow import events as e
from ivr.ops.context import bind_call, unbind
from ivr.twilio import params
from ivr.twilio.calls import MenuSource, RecordingHook, TwilioCalls
from ivr.twilio.dialer import TwilioDialer
from ivr.twilio.errors import WebhookRejected
from ivr.twilio.handover import TwilioHandover
from ivr.twilio.live import LiveCalls
from ivr.twilio.prompts import FilePromptSource, PromptSource
from ivr.twilio.signature import require_twilio_signature
from ivr.twilio.state import CallStore
from ivr.twilio.twiml import polite_goodbye

log = logging.getLogger(__name__)
TWIML = "text/xml; charset=utf-8"


class TwilioBlueprint(Blueprint):
    """The blueprint, holding the calls service the background worker bridges through."""

    def __init__(self, name: str, import_name: str, *, calls: TwilioCalls) -> None:
        super().__init__(name, import_name)
        self.calls = calls


def _twiml(xml: str) -> Response:
    return Response(xml, status=200, content_type=TWIML)


def make_twilio_blueprint(
    *,
    menus: MenuSource,
    services_factory: Callable[[], CallServices],
    store: CallStore,
    prompts: PromptSource,
    dialer: TwilioDialer | None,
    auth_token: str | None,
    public_url: str | None,
    clock: Callable[[], float],
    speech: bool = True,
    hold_music: str | None = None,
    on_recording: RecordingHook | None = None,
    on_callback: Callable[[str, str], None] | None = None,
    observer: CallObserver | None = None,
    on_error: Callable[[str], None] | None = None,
    handover: TwilioHandover | None = None,
    ring_seconds: int | None = None,
    live: LiveCalls | None = None,
    on_consult_over: Callable[[str, str, str], None] | None = None,
) -> TwilioBlueprint:
    """``observer``: sees every call step (metrics); ``on_error``: told the kind of each
    rejected or failed webhook (``rejected_403``, ``failed_KeyError``) for metrics."""
    calls = TwilioCalls(
        menus=menus, services_factory=services_factory, store=store, prompts=prompts, clock=clock,
        dialer=dialer, public_url=public_url, speech=speech, hold_music=hold_music,
        on_recording=on_recording, on_callback=on_callback, observer=observer, handover=handover,
        ring_seconds=ring_seconds, live=live, on_consult_over=on_consult_over,
    )
    bp = TwilioBlueprint("twilio", __name__, calls=calls)
    signed = require_twilio_signature(auth_token=auth_token, public_url=public_url)

    def form() -> dict[str, str]:
        data = request.form.to_dict()
        params.check_lengths(data)
        params.check_lengths(request.args.to_dict())
        sid = data.get("CallSid", "")
        if params.CALL_SID.match(sid) and "ivr_call_scope" not in g:
            g.ivr_call_scope = bind_call(sid)  # every line of this request carries the call id
        return data

    @bp.teardown_request
    def unbind_call(_exc: BaseException | None) -> None:
        token = g.pop("ivr_call_scope", None)
        if token is not None:
            unbind(token)

    @bp.post("/twilio/voice")
    @signed
    def voice() -> Response:
        data = form()
        sid = params.call_sid(data)
        caller, dialled = params.address(data, "From"), params.address(data, "To")
        return _twiml(calls.incoming(sid, caller=caller, dialled=dialled))

    @bp.post("/twilio/gather")
    @signed
    def gather() -> Response:
        data = form()
        sid, step = params.call_sid(data), params.step(request.args)
        digits, speech_heard = params.digits(data), params.speech(data)
        timed_out = request.args.get("timeout") == "1"

        def event(at: float) -> e.Event:
            if timed_out:
                return e.NoInput(at)
            if speech_heard is not None and speech_heard.text:
                return e.SpeechHeard(speech_heard.text, speech_heard.confidence, at)
            if digits is not None:
                return e.DigitsEntered(digits, at)
            return e.NoInput(at)

        return _twiml(calls.advance(sid, step, event))

    @bp.post("/twilio/recorded")
    @signed
    def recorded() -> Response:
        data = form()
        sid, step, clip = params.call_sid(data), params.step(request.args), params.clip(request.args)
        info = params.recording(data)

        def event(at: float) -> e.Event:
            if info.url is None or info.duration <= 0:
                return e.NoInput(at)
            return e.Recorded(clip, at)

        return _twiml(calls.advance(sid, step, event))

    @bp.post("/twilio/wait")
    @signed
    def wait() -> Response:
        data = form()
        sid, step = params.call_sid(data), params.step(request.args)
        return _twiml(calls.advance(sid, step, e.NoInput))

    @bp.post("/twilio/status")
    @signed
    def status() -> Response:
        data = form()
        sid, call_status = params.call_sid(data), params.call_status(data)
        if call_status in params.ENDED_STATUSES:
            calls.ended(sid, call_status)
        return Response(status=204)

    @bp.post("/twilio/dialled")
    @signed
    def dialled() -> Response:
        data = form()
        sid, step = params.call_sid(data), params.step(request.args)
        operator, status = params.operator_id(request.args), params.dial_status(data)
        return _twiml(calls.dialled(sid, step, operator, status, room=request.args.get("room") == "1",
                                    call_status=data.get("CallStatus", "")))

    @bp.post("/twilio/back-in-line")
    @signed
    def back_in_line() -> Response:
        data = form()
        return _twiml(calls.back_in_line(params.call_sid(data), params.step(request.args)))

    @bp.post("/twilio/room")
    @signed
    def room() -> Response:
        caller, report = params.caller_of(request.args), params.conference_event(form())
        calls.room_event(caller, report.event, conference_sid=report.conference_sid,
                         participant=report.participant)
        return Response(status=204)

    @bp.post("/twilio/operator-leg")
    @signed
    def operator_leg() -> Response:
        data = form()
        parent, operator = params.parent_call_sid(data), params.operator_id(request.args)
        calls.operator_leg(parent, operator, params.call_status(data), leg_sid=params.call_sid(data))
        return Response(status=204)

    @bp.post("/twilio/consult-leg")
    @signed
    def consult_leg() -> Response:
        data = form()
        caller, leg, call_status = params.caller_of(request.args), params.call_sid(data), params.call_status(data)
        if call_status in params.ENDED_STATUSES:
            calls.consult_leg_over(caller, leg, call_status)
        return Response(status=204)

    @bp.post("/twilio/recording-status")
    @signed
    def recording_status() -> Response:
        data = form()
        # A conference's recording: the URL we gave names the caller's call (whatever CallSid,
        # if any, Twilio adds: the consent to look up is the caller's).
        sid = params.caller_of(request.args) if "call" in request.args else params.call_sid(data)
        clip, info = params.clip(request.args), params.recording(data)
        if data.get("RecordingStatus", "completed") == "completed" and info.url is not None:
            span = (info.started, float(info.duration)) if info.started is not None else None
            calls.recording_ready(sid, recording_url=info.url, clip=clip, span=span)
        return Response(status=204)

    @bp.post("/twilio/callback/<callback_id>")
    @signed
    def callback(callback_id: str) -> Response:
        params.call_sid(form())
        return _twiml(calls.callback_answered(params.callback_id(callback_id)))

    @bp.post("/twilio/callback/<callback_id>/status")
    @signed
    def callback_status(callback_id: str) -> Response:
        data = form()
        params.call_sid(data)
        call_status = params.call_status(data)
        if call_status in params.ENDED_STATUSES:
            calls.callback_status(params.callback_id(callback_id), call_status)
        return Response(status=204)

    @bp.get("/twilio/prompts/<language>/<prompt>.wav")
    def prompt_audio(language: str, prompt: str) -> Response:
        path = prompts.audio_path(prompt, language) if isinstance(prompts, FilePromptSource) else None
        if path is None:
            abort(404)
        return send_file(path, mimetype="audio/wav", max_age=300)

    @bp.errorhandler(WebhookRejected)
    def rejected(exc: WebhookRejected) -> Response:
        log.info("twilio webhook %s rejected: %s", request.path, exc.message)
        if on_error is not None:
            on_error(f"rejected_{exc.status}")
        return Response(exc.message + "\n", status=exc.status, content_type="text/plain; charset=utf-8")

    @bp.errorhandler(Exception)
    def unexpected(exc: Exception) -> Response | HTTPException:
        if isinstance(exc, HTTPException):
            return exc
        frames = "".join(traceback.format_tb(exc.__traceback__))
        log.error("twilio webhook %s failed: %s\n%s", request.path, type(exc).__name__, frames)
        if on_error is not None:
            on_error(f"failed_{type(exc).__name__}")
        return _twiml(str(polite_goodbye()))

    return bp
