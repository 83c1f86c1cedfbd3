"""Twilio calls on the flow engine: one webhook in, one TwiML document out.

Every webhook of a call goes through :meth:`TwilioCalls.advance`:

1. take the call's lock (a concurrent retry waits, then gets the stored answer);
2. load the stored call; an unknown CallSid ends politely;
3. ``step`` in the URL is not the current step: a retry or a late request:
   answer the stored TwiML, change nothing;
4. otherwise resume a :class:`~ivr.call.runner.CallRunner`, give it the event,
   render its media actions as TwiML for step ``n+1``;
5. store state, step and TwiML with a compare-and-set, then answer.

Anything that fails before step 5 leaves Redis as it was.  (The routing
engine's own side effects, such as a call placed in a queue, are the routing
engine's to make idempotent.)
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from twilio.twiml.voice_response import VoiceResponse

from ivr.call.runner import CallObserver, CallRunner
from ivr.call.services import CallServices
from ivr.flow import actions as a
from ivr.flow import events as e
from ivr.menu.model import Menu
from ivr.ops.context import call_scope
from ivr.twilio.dialer import TwilioDialer
from ivr.twilio.handover import TwilioHandover
from ivr.twilio.live import LiveCall, LiveCalls
from ivr.twilio.prompts import PromptSource
from ivr.twilio.state import CallbackRecord, CallStore, StoredCall
from ivr.twilio.twiml import Urls, conference, dial, polite_goodbye, render, twilio_language

log = logging.getLogger(__name__)

EventAt = Callable[[float], e.Event]  # builds the event once the clock is read
HttpGet = Callable[[str], object]
RecordingHook = Callable[..., None]


class MenuSource(Protocol):
    def entry(self, dialled: str) -> Menu:
        """The menu a call to ``dialled`` starts in."""

    def get(self, name: str) -> Menu | None:
        """The current version of a menu, by name (None: it was removed)."""

    def version(self, name: str, number: int) -> Menu | None:
        """The menu as it was at version ``number`` (a call resumes on the version it began
        with); None when that version is no longer known."""


class StaticMenus:
    """Menus by name; the entry menu chosen by the dialled number."""

    def __init__(self, menus: Mapping[str, Menu], *, entry: str, numbers: Mapping[str, str] | None = None):
        self.menus = dict(menus)
        self.entry_name = entry
        self.numbers = dict(numbers or {})

    def entry(self, dialled: str) -> Menu:
        return self.menus[self.numbers.get(dialled, self.entry_name)]

    def get(self, name: str) -> Menu | None:
        return self.menus.get(name)

    def version(self, name: str, number: int) -> Menu | None:
        menu = self.menus.get(name)
        return menu if menu is not None and menu.version == number else None


@dataclass(frozen=True)
class Assignment:
    """The routing engine reserved an operator for a waiting call."""

    operator: str
    endpoint: str


class TwilioCalls:
    def __init__(
        self,
        *,
        menus: MenuSource,
        services_factory: Callable[[], CallServices],
        store: CallStore,
        prompts: PromptSource,
        clock: Callable[[], float],
        dialer: TwilioDialer | None = None,
        public_url: str | None = None,
        speech: bool = True,
        hold_music: str | None = None,
        on_recording: RecordingHook | None = None,
        on_callback: Callable[[str, str], None] | None = None,
        observer: CallObserver | None = None,
        handover: TwilioHandover | None = None,
        ring_seconds: int | None = None,
        live: LiveCalls | None = None,
        on_consult_over: Callable[[str, str, str], None] | None = None,
    ) -> None:
        self.menus = menus
        self.handover = handover
        self.live = live  # bridged calls the console acts on (ivr.twilio.control)
        # Told (caller's CallSid, leg, final CallStatus) when a warm transfer's next operator's
        # call ends: TwilioControl.consult_leg_over brings the caller back if it was not done.
        self.on_consult_over = on_consult_over
        self.ring_seconds = ring_seconds  # <Dial timeout>: routing.ring_seconds
        self.observer = observer
        self.services_factory = services_factory
        self.store = store
        self.prompts = prompts
        self.clock = clock
        self.dialer = dialer
        self.public_url = (public_url or "").rstrip("/")
        self.speech = speech
        self.hold_music = hold_music
        self.on_recording = on_recording
        # Told what became of an outbound callback: ("cb-...", "answered" or a final CallStatus).
        self.on_callback = on_callback

    # -- webhooks -----------------------------------------------------------------------

    def incoming(self, call_sid: str, *, caller: str, dialled: str) -> str:
        """POST /twilio/voice: a new call (or Twilio retrying the first webhook)."""
        with call_scope(call_sid), self.store.held(call_sid) as (_, stored):
            if stored is not None:
                return stored.twiml
            if self.store.has_ended(call_sid):
                return str(polite_goodbye())
            menu = self.menus.entry(dialled)
            services = self.services_factory()
            runner = CallRunner(menu=menu, services=services, clock=self.clock, observer=self.observer)
            media = runner.start(
                e.CallStarted(
                    call_id=call_sid,
                    caller=caller,
                    dialled=dialled,
                    at=self.clock(),
                    language=menu.languages[0],
                    appeal=services.allocate_appeal(),
                    speech=self.speech,
                    channel="twilio",
                    # No hook to fetch and encrypt recordings: Twilio must not record at all.
                    recording=self.on_recording is not None,
                    # Without REST credentials no call can be placed: no callback is offered.
                    callbacks=self.dialer is not None,
                )
            )
            return self._store(call_sid, menu, runner, media, expected_step=0)

    def advance(self, call_sid: str, step: int, event_at: EventAt) -> str:
        """Any webhook that answers step ``step`` of the call with an event."""
        with call_scope(call_sid), self.store.held(call_sid) as (held, stored):
            if stored is None:
                return str(polite_goodbye())
            if not held or step != stored.step or stored.state.done:
                return stored.twiml
            menu = self._menu(stored)
            runner = self._runner(menu, stored)
            media = runner.handle(event_at(self.clock()))
            if not media and not runner.done:
                return stored.twiml  # the engine ignored the event: ask the same again
            return self._store(call_sid, menu, runner, media, expected_step=stored.step)

    def ended(self, call_sid: str, status: str) -> None:
        """POST /twilio/status: the call is over; a menu left midway is an abandonment."""
        with call_scope(call_sid), self.store.held(call_sid) as (_, stored):
            if stored is None:
                return
            if not stored.state.done:
                runner = self._runner(self._menu(stored), stored)
                runner.handle(e.HungUp(self.clock()))
            self.store.end(call_sid)
        if self.live is not None:
            self.live.drop(call_sid)

    def operator_leg(self, call_sid: str, operator: str, status: str, *, leg_sid: str = "") -> None:
        """POST /twilio/operator-leg: the operator's leg (``leg_sid``) answered (or ended)."""
        if self.handover is not None:
            with call_scope(call_sid):
                self.handover.leg(call_sid, operator, status, leg_sid=leg_sid)

    def dialled(self, call_sid: str, step: int, operator: str, dial_status: str, *, room: bool = False,
                call_status: str = "") -> str:
        """POST /twilio/dialled (``<Dial action>``): the bridge is over.  A conversation held
        or a caller gone: hang up.  An operator who did not answer: the caller is back at
        the head of the line and holds again (the flow engine's ``BackInLine``).

        The operator's leg moved into the conversation's conference (warm transfer,
        supervision: :mod:`ivr.twilio.control`): the caller follows it there with
        ``<Dial action=...&room=1><Conference>``; that ``<Dial>``'s own end (``room``) is
        the conversation's, with whichever operator talks to the caller by then."""
        live = self.live.get(call_sid) if self.live is not None else None
        if live is not None and live.room and not room and dial_status in ("completed", "answered") \
                and call_status != "completed":
            return self._into_room(call_sid, step, live)
        if live is not None and room and live.operator:
            operator = live.operator
        back = self.handover is not None and self.handover.dial_over(call_sid, operator, dial_status)
        if self.live is not None and (room or not back):
            self.live.drop(call_sid)
        if not back:
            over = VoiceResponse()
            over.hangup()
            return str(over)
        return self.back_in_line(call_sid, step)

    def back_in_line(self, call_sid: str, step: int) -> str:
        """The caller is taken from the operator and holds at the head of the line again:
        after a missed operator (above) and after a blind transfer, whose REST redirect
        brings the caller to POST /twilio/back-in-line?step=n."""
        with call_scope(call_sid), self.store.held(call_sid) as (held, stored):
            if stored is None:
                return str(polite_goodbye())
            if not held or step != stored.step:
                return stored.twiml
            menu = self._menu(stored)
            runner = self._runner(menu, stored)
            media = runner.handle(e.BackInLine(self.clock()))
            if not media:
                return str(polite_goodbye())
            return self._store(call_sid, menu, runner, media, expected_step=stored.step)

    def _into_room(self, call_sid: str, step: int, live: LiveCall) -> str:
        urls = Urls(step)
        recording = urls.recording_status(f"operator-{live.operator}-room", call=call_sid) if live.record else None
        return str(conference(live.room, status=urls.room_status(call_sid),
                              action=urls.dialled(live.operator, room=True), recording_status=recording))

    def room_event(self, call_sid: str, event: str, *, conference_sid: str, participant: str | None) -> None:
        """POST /twilio/room?call=<caller>: the conversation's conference says who joined."""
        if self.live is not None and event == "participant-join" and participant:
            self.live.joined(call_sid, conference=conference_sid, participant=participant)

    def consult_leg_over(self, call_sid: str, leg: str, status: str) -> None:
        """POST /twilio/consult-leg?call=<caller>: the next operator's call ended."""
        if self.on_consult_over is not None:
            with call_scope(call_sid):
                self.on_consult_over(call_sid, leg, status)

    def recording_ready(self, call_sid: str, *, recording_url: str, clip: str,
                        span: tuple[float, float] | None = None) -> None:
        """POST /twilio/recording-status: hand the file to the recordings store (``span``:
        the recording's start and length, where Twilio says them)."""
        if self.on_recording is None:
            return
        if self.dialer is None:
            raise RuntimeError("fetching a recording needs the Twilio REST client (dialer)")
        self.on_recording(call_sid, recording_url, self.dialer.fetch, clip=clip, span=span)

    # -- the REST side ------------------------------------------------------------------

    def bridge_assigned(self, call_sid: str, assignment: Assignment) -> bool:
        """An operator was reserved while Twilio plays hold music: bridge through the API.

        Called by the engine's background worker.  The engine hears a
        ``QueueUpdate`` with the operator; its answer (``queue.connecting``, then
        ``Connect``) is sent with ``calls(sid).update(twiml=...)``.  False when the
        call is not waiting (gone, or busy with the callback offer).
        """
        if self.dialer is None:
            raise RuntimeError("bridging through the REST API needs a dialer")
        with call_scope(call_sid), self.store.held(call_sid) as (held, stored):
            if not held or stored is None or stored.state.done or stored.state.phase != "waiting":
                return False
            menu = self._menu(stored)
            runner = self._runner(menu, stored)
            media = runner.handle(
                e.QueueUpdate(position=None, expected_wait=None, at=self.clock(),
                              operator=assignment.operator, endpoint=assignment.endpoint)
            )
            if not any(isinstance(action, a.Connect) for action in media):
                return False
            twiml = self._render(media, stored.step + 1, base=self._base())
            self.dialer.update(call_sid, twiml)
            self._commit(call_sid, menu, runner, twiml, stored.step)
            return True

    def place_callback(self, callback_id: str, number: str, operator_endpoint: str, *,
                       language: str = "ru", record: bool = False, appeal: str | None = None) -> str:
        """Call the citizen back and bridge them to the reserved operator; the new CallSid."""
        if self.dialer is None:
            raise RuntimeError("placing a callback needs a dialer")
        self.store.save_callback(CallbackRecord(callback_id, number, operator_endpoint,
                                                language, record, appeal))
        return self.dialer.place_callback(callback_id, number, operator_endpoint)

    def callback_answered(self, callback_id: str) -> str:
        """POST /twilio/callback/<id>: greet the citizen, then <Dial> the operator."""
        record = self.store.load_callback(callback_id)
        if record is None:
            return str(polite_goodbye())
        if self.on_callback is not None:
            self.on_callback(callback_id, "answered")
        response = VoiceResponse()
        language = twilio_language(record.language)
        audio = self.prompts.audio_url("callback.greeting", record.language)
        if audio is not None:
            response.play(f"{self._base()}{audio}")
        else:
            response.say(self.prompts.text("callback.greeting", record.language), language=language)
        if record.appeal:
            response.say(self.prompts.text("common.your_appeal", record.language), language=language)
            response.say(" ".join(record.appeal), language=language)
        status = f"/twilio/recording-status?clip=callback-{callback_id}" if record.record else None
        response.append(dial(record.endpoint, record=record.record, recording_status=status))
        return str(response)

    def callback_status(self, callback_id: str, status: str) -> None:
        """POST /twilio/callback/<id>/status: the outbound callback call is over."""
        if self.on_callback is not None:
            self.on_callback(callback_id, status)

    # -- helpers ----------------------------------------------------------------------------

    def _base(self) -> str:
        if not self.public_url:
            raise RuntimeError("TwiML sent through the REST API needs engine.public_url")
        return self.public_url

    def _menu(self, stored: StoredCall) -> Menu:
        started = self.menus.version(stored.menu, stored.state.context.menu_version)
        if started is not None:
            return started
        menu = self.menus.get(stored.menu)
        return menu if menu is not None else self.menus.entry(stored.state.context.dialled)

    def _runner(self, menu: Menu, stored: StoredCall) -> CallRunner:
        return CallRunner.resume(menu=menu, services=self.services_factory(), clock=self.clock,
                                 state=stored.state, observer=self.observer)

    def _render(self, media: list[a.MediaAction], step: int, *, base: str = "") -> str:
        response = render(media, urls=Urls(step, base), prompts=self.prompts, hold_music=self.hold_music,
                          ring_seconds=self.ring_seconds)
        return str(response)

    def _store(self, call_sid: str, menu: Menu, runner: CallRunner, media: list[a.MediaAction], *,
               expected_step: int) -> str:
        twiml = self._render(media, expected_step + 1)
        return self._commit(call_sid, menu, runner, twiml, expected_step)

    def _commit(self, call_sid: str, menu: Menu, runner: CallRunner, twiml: str, expected_step: int) -> str:
        assert runner.state is not None
        new = StoredCall(step=expected_step + 1, menu=menu.name, state=runner.state, twiml=twiml)
        if self.store.advance(call_sid, expected_step=expected_step, new=new):
            return twiml
        log.warning("twilio call %s: step %d was applied concurrently", call_sid, expected_step)
        latest = self.store.load(call_sid)
        return latest.twiml if latest is not None else str(polite_goodbye())
