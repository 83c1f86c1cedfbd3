"""Acting on a bridged Twilio call with the REST API: :class:`ivr.aftermenu.control.LiveControl`.

Strategy: a call is bridged with ``<Dial><Client>`` (:mod:`ivr.twilio.handover`), which is
all most calls need.  Warm transfer and supervision need a Twilio Conference (Twilio's
contact-centre guide puts every such call in one; "coach" and "hold" exist only there), so
the first of these actions moves the conversation into its own conference,
``hotline-<caller's CallSid>``, the way Twilio documents moving a ``<Dial>``-bridged call:

1. the operator's leg (the ``<Dial>``'s child) gets new TwiML, ``<Dial><Conference>``;
2. the caller's ``<Dial>`` is over, Twilio posts its ``action`` (``/twilio/dialled``), and
   the engine answers ``<Dial action=...&room=1><Conference>`` of the same name
   (:meth:`ivr.twilio.calls.TwilioCalls.dialled`);
3. the conference's status callback (``/twilio/room``) says who joined; once the caller
   and the operator are both in, the waiting action goes on (:class:`~ivr.twilio.live.LiveCalls`).

The conversation goes on unchanged for the two people; the recording, when the caller
consented, goes on as the conference's (``record-from-start``).  The REST requests, as
Twilio's API sees them (``{A}`` = ``/2010-04-01/Accounts/AC...``, ``CF`` the conference,
``CA_c`` the caller, ``CA_o`` the operator's leg, ``CA_n`` the next operator's)::

    move into the conference  POST {A}/Calls/CA_o.json  Twiml=<Response><Dial><Conference ...>
    blind transfer            POST {A}/Calls/CA_c.json  Url={public}/twilio/back-in-line?step=n
                                                        Method=POST
    consult (warm, step 1)    POST {A}/Conferences/CF/Participants/CA_c.json  Hold=true
                              POST {A}/Conferences/CF/Participants/CA_o.json  EndConferenceOnExit=false
                              POST {A}/Conferences/CF/Participants.json  From=<caller_id> To=<endpoint>
                                   EarlyMedia=true Beep=false StartConferenceOnEnter=true
                                   EndConferenceOnExit=false Timeout=<ring_seconds> Label=consult
                                   StatusCallback={public}/twilio/consult-leg?call=CA_c
                                   StatusCallbackMethod=POST StatusCallbackEvent=completed
    (the next operator's call ends before completion: as cancel_consult, minus the DELETE)
    complete_consult          POST .../Participants/CA_n.json  EndConferenceOnExit=true
                              POST .../Participants/CA_c.json  Hold=false
                              DELETE .../Participants/CA_o.json
    cancel_consult            DELETE .../Participants/CA_n.json
                              POST .../Participants/CA_c.json  Hold=false
                              POST .../Participants/CA_o.json  EndConferenceOnExit=true
    spy                       POST {A}/Conferences/CF/Participants.json  From=<caller_id>
                                   To=<supervisor> Beep=false EndConferenceOnExit=false Label=supervisor
                                   listen: Muted=true; whisper: Coaching=true CallSidToCoach=CA_o;
                                   barge: Muted=false
    stop_spying               DELETE {A}/Conferences/CF/Participants/<handle>.json
    pause / resume recording  POST {A}/Calls/CA_c/Recordings/Twilio.CURRENT.json (the <Dial>'s
                              recording) or {A}/Conferences/CF/Recordings/Twilio.CURRENT.json
                              Status=paused PauseBehavior=silence | Status=in-progress

``PauseBehavior=silence``: the paused stretch stays in the file as silence, so the paused
intervals kept with the recording line up with its timeline.  A call whose recording is
paused is not moved into a conference (its recording would start again unpaused):
:class:`Unsupported` "resume the recording first".

Errors: Twilio's 404 or "call not in progress" (21220): :class:`CallNotLive`; any other
refusal, a timeout or no answer: :class:`TelephonyFailed`, after undoing the steps already
made, so the caller stays with the operator and no participant is left behind.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Concatenate, ParamSpec, TypeVar

import requests
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.rest import Client

from ivr.aftermenu.control import CallNotLive, LiveCallError, SpyMode, TelephonyFailed, Unsupported
from ivr.aftermenu.legs import Legs
from ivr.twilio.errors import UnsupportedEndpoint
from ivr.twilio.live import LiveCall, LiveCalls, room_name
from ivr.twilio.params import CALL_SID
from ivr.twilio.state import CallStore, StoredCall
from ivr.twilio.twiml import Urls, conference, dial

log = logging.getLogger(__name__)
T = TypeVar("T")
P = ParamSpec("P")
CURRENT = "Twilio.CURRENT"  # the recording under way on a call or a conference
NOT_IN_PROGRESS = 21220  # "Call is not in-progress. Cannot redirect."


def one_at_a_time(
    action: Callable[Concatenate[TwilioControl, Legs, P], T],
) -> Callable[Concatenate[TwilioControl, Legs, P], T]:
    """One console action at a time on a call, across engine processes: a double click or a
    second supervisor gets :class:`LiveCallError` "under way" instead of a second transfer."""

    @functools.wraps(action)
    def alone(self: TwilioControl, legs: Legs, /, *args: P.args, **kwargs: P.kwargs) -> T:
        with self.live.action(legs.caller, self.busy_seconds) as held:
            if not held:
                raise LiveCallError("another action on this call is under way")
            return action(self, legs, *args, **kwargs)

    return alone


class TwilioControl:
    def __init__(self, *, client: Client, calls: CallStore, live: LiveCalls, base_url: str, caller_id: str,
                 ring_seconds: int | None = None, room_wait: float = 10.0) -> None:
        self.client = client
        self.calls = calls
        self.live = live
        self.base_url = base_url.rstrip("/")
        self.caller_id = caller_id
        self.ring_seconds = ring_seconds
        self.room_wait = room_wait  # how long the console waits for both to be in the conference
        self.busy_seconds = room_wait + 60.0  # an action's lease, should its process die midway

    # -- transfer (issue 18, section 2) --------------------------------------------------------

    @one_at_a_time
    def redirect_to_line(self, legs: Legs) -> None:
        stored = self._stored(legs)
        url = Urls(stored.step, self.base_url).back_in_line()
        self._rest("take the caller back to the line",
                   lambda: self.client.calls(legs.caller).update(url=url, method="POST"))
        self.live.drop(legs.caller)  # this bridge (and its conference, if any) is over

    @one_at_a_time
    def consult(self, legs: Legs, operator_id: str, endpoint: str) -> None:
        self._dialable(endpoint)
        live = self._room(legs)
        if live.consult_leg:
            if live.consult_operator == operator_id:
                return  # a second click on the same transfer
            raise LiveCallError(f"a consultation with {live.consult_operator} is under way")
        room = self.client.conferences(live.conference)
        undo: list[tuple[str, Callable[[], object]]] = []
        try:
            self._rest("hold the caller", lambda: room.participants(live.caller).update(hold=True))
            undo.append(("take the caller off hold", lambda: room.participants(live.caller).update(hold=False)))
            self._rest("keep the conference when the operator leaves",
                       lambda: room.participants(live.leg).update(end_conference_on_exit=False))
            undo.append(("restore the operator's end-on-exit",
                         lambda: room.participants(live.leg).update(end_conference_on_exit=True)))
            created = self._rest("call the next operator", lambda: room.participants.create(
                from_=self.caller_id, to=endpoint, label="consult", early_media=True, beep="false",
                start_conference_on_enter=True, end_conference_on_exit=False,
                status_callback=self._consult_status(legs), status_callback_method="POST",
                status_callback_event=["completed"],
                **({"timeout": self.ring_seconds} if self.ring_seconds else {})))
        except LiveCallError:
            self._undo(undo)
            raise
        self.live.update(legs.caller, consult_operator=operator_id, consult_leg=str(created.call_sid))

    @one_at_a_time
    def complete_consult(self, legs: Legs) -> None:
        live = self._consulting(legs)
        room = self.client.conferences(live.conference)
        undo: list[tuple[str, Callable[[], object]]] = []
        try:
            self._rest("let the next operator end the call",
                       lambda: room.participants(live.consult_leg).update(end_conference_on_exit=True))
            undo.append(("restore the next operator's end-on-exit",
                         lambda: room.participants(live.consult_leg).update(end_conference_on_exit=False)))
            self._rest("take the caller off hold", lambda: room.participants(live.caller).update(hold=False))
            undo.append(("hold the caller again", lambda: room.participants(live.caller).update(hold=True)))
            self._rest("let the operator leave", lambda: room.participants(live.leg).delete())
        except LiveCallError:
            self._undo(undo)
            raise
        self.live.update(legs.caller, operator=live.consult_operator, leg=live.consult_leg,
                         consult_operator="", consult_leg="")

    @one_at_a_time
    def cancel_consult(self, legs: Legs) -> None:
        live = self._consulting(legs)
        room = self.client.conferences(live.conference)
        self._gone_is_fine("hang up on the next operator", lambda: room.participants(live.consult_leg).delete())
        self._rest("take the caller off hold", lambda: room.participants(live.caller).update(hold=False))
        self._rest("let the operator end the call again",
                   lambda: room.participants(live.leg).update(end_conference_on_exit=True))
        self.live.update(legs.caller, consult_operator="", consult_leg="")  # a failure above: click again

    def consult_leg_over(self, caller: str, leg: str, status: str) -> None:
        """The next operator's call ended (``/twilio/consult-leg``: did not answer, busy,
        failed, or hung up) before the transfer was completed: the caller is taken off
        hold and the first operator may end the call again, as :meth:`cancel_consult`.
        After a completed transfer that leg is the operator's and this changes nothing."""
        live = self.live.get(caller)
        if live is None or live.consult_leg != leg or not live.conference:
            return
        log.info("call %s: the next operator's call ended (%s) before the transfer; the caller is back", caller, status)
        room = self.client.conferences(live.conference)
        try:
            self._rest("take the caller off hold", lambda: room.participants(caller).update(hold=False))
            self._rest("let the operator end the call again",
                       lambda: room.participants(live.leg).update(end_conference_on_exit=True))
        except CallNotLive:
            return  # the conversation is over anyway
        except LiveCallError as exc:
            log.error("call %s: could not bring the caller back from hold: %s", caller, exc)
            return
        self.live.update(caller, consult_operator="", consult_leg="")

    # -- supervision (section 3) -----------------------------------------------------------------

    @one_at_a_time
    def spy(self, legs: Legs, supervisor_endpoint: str, mode: SpyMode) -> str:
        if mode not in ("listen", "whisper", "barge"):
            raise Unsupported(f"supervision mode {mode!r}: listen, whisper or barge")
        self._dialable(supervisor_endpoint)
        live = self._room(legs)
        modes: dict[str, dict[str, object]] = {
            "listen": {"muted": True}, "barge": {"muted": False},
            "whisper": {"coaching": True, "call_sid_to_coach": live.leg}}  # only the operator hears
        how = modes[mode]
        created = self._rest(f"call the supervisor ({mode})", lambda: self.client.conferences(
            live.conference).participants.create(from_=self.caller_id, to=supervisor_endpoint, label="supervisor",
                                                 beep="false", end_conference_on_exit=False, **how))
        return str(created.call_sid)

    @one_at_a_time
    def stop_spying(self, legs: Legs, handle: str) -> None:
        if not CALL_SID.match(handle):
            raise LiveCallError("not a supervisor's call")
        live = self.live.get(legs.caller)
        if live is None or not live.conference:
            raise CallNotLive(legs.call_id)
        self._gone_is_fine("hang up on the supervisor",
                           lambda: self.client.conferences(live.conference).participants(handle).delete())

    # -- recording pause (section 4) -------------------------------------------------------------

    @one_at_a_time
    def pause_recording(self, legs: Legs) -> None:
        self._recording(legs, paused=True)

    @one_at_a_time
    def resume_recording(self, legs: Legs) -> None:
        self._recording(legs, paused=False)

    def _recording(self, legs: Legs, *, paused: bool) -> None:
        stored = self._stored(legs)
        recording = stored.state.context.recording
        if recording is None or recording.state != "recording":
            raise Unsupported("this call is not recorded (no consent, or no recording key)")
        live = self.live.get(legs.caller)
        if live is not None and live.room:
            live = self._room(legs)
        fields: dict[str, str] = {"status": "paused", "pause_behavior": "silence"} if paused \
            else {"status": "in-progress"}
        what = "pause the recording" if paused else "resume the recording"
        if live is not None and live.room:
            self._rest(what, lambda: self.client.conferences(live.conference).recordings(CURRENT).update(**fields))
        else:
            self._rest(what, lambda: self.client.calls(legs.caller).recordings(CURRENT).update(**fields))
        self.live.update(legs.caller, paused=paused)

    # -- the conference --------------------------------------------------------------------------

    def _room(self, legs: Legs) -> LiveCall:
        """The call in its conference, moving it there first (see the module's docstring)."""
        live = self.live.get(legs.caller)
        if live is None or not live.room:
            stored = self._stored(legs)
            if live is not None and live.paused:
                raise Unsupported("the recording is paused: resume the recording first")
            recording = stored.state.context.recording
            record = recording is not None and recording.state == "recording"
            if self.live.open_room(legs.caller, operator=legs.operator_id, leg=legs.operator, record=record):
                twiml = str(conference(room_name(legs.caller), status=Urls(0, self.base_url).room_status(
                    legs.caller), recording_status=self._recording_status(legs) if record else None))
                try:
                    self._rest("move the call into a conference",
                               lambda: self.client.calls(legs.operator).update(twiml=twiml))
                except LiveCallError:
                    self.live.close_room(legs.caller)
                    raise
        ready = self.live.wait_ready(legs.caller, self.room_wait)
        if ready is None or not ready.ready:
            raise TelephonyFailed(f"the call did not reach its conference in {self.room_wait:g} s")
        return ready

    def _recording_status(self, legs: Legs) -> str:
        return Urls(0, self.base_url).recording_status(f"operator-{legs.operator_id}-room", call=legs.caller)

    def _consult_status(self, legs: Legs) -> str:
        return Urls(0, self.base_url).consult_leg(legs.caller)

    def _consulting(self, legs: Legs) -> LiveCall:
        live = self.live.get(legs.caller)
        if live is None or not live.consult_leg or not live.ready:
            raise LiveCallError("no consultation is under way on this call")
        return live

    # -- helpers ---------------------------------------------------------------------------------

    def _stored(self, legs: Legs) -> StoredCall:
        stored = self.calls.load(legs.caller)
        if stored is None or legs.front != "twilio":
            raise CallNotLive(legs.call_id)
        return stored

    @staticmethod
    def _dialable(endpoint: str) -> None:
        try:
            dial(endpoint, record=False)
        except UnsupportedEndpoint as exc:
            raise Unsupported(str(exc)) from exc

    @staticmethod
    def _rest(what: str, request: Callable[[], T]) -> T:
        """One REST request; Twilio's refusal or silence as :class:`LiveCallError`."""
        try:
            return request()
        except TwilioRestException as exc:
            if exc.status == 404 or exc.code == NOT_IN_PROGRESS:
                raise CallNotLive(f"{what}: the call is over at Twilio ({exc.status}, {exc.code})") from exc
            raise TelephonyFailed(f"{what}: Twilio answered {exc.status} ({exc.code}: {exc.msg})") from exc
        except (TwilioException, requests.RequestException, OSError) as exc:
            raise TelephonyFailed(f"{what}: no answer from Twilio ({type(exc).__name__})") from exc

    def _gone_is_fine(self, what: str, request: Callable[[], object]) -> None:
        """A participant removed who had already left: done."""
        try:
            self._rest(what, request)
        except CallNotLive:
            log.info("%s: already gone", what)

    def _undo(self, steps: list[tuple[str, Callable[[], object]]]) -> None:
        for what, step in reversed(steps):
            try:
                self._rest(what, step)
            except LiveCallError as exc:
                log.error("twilio: could not undo (%s): %s", what, exc)
