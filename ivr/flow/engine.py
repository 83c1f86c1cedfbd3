"""The flow engine: ``(menu, call state, event) -> (new call state, actions)``.

Pure: no sockets, files, clocks or Redis.  Every way a call moves through a menu
is in this module, in :data:`TRANSITIONS` (how each kind of node answers each
event in each phase) and :data:`ENTRIES` (what happens when a call arrives at a
node).  Nodes that do not wait for the caller (play, set, hours, ...) are passed
through within one step; a step ends at a node that waits for the caller or for a
service (the routing engine, the appeal book).

Phases of a node:
    input       waiting for keys or speech at the node's question
    confirm     a number was read back: "1 - верно, 2 - ввести заново"
    lookup      waiting for the appeal book
    enqueueing  waiting for the routing engine to place the call
    waiting     in the queue, music on hold, polling the routing engine
    cb_confirm  callback offer accepted: "we will call you back on ..., 1 - yes, 2 - other"
    cb_number   typing another callback number
    cb_booking  waiting for the routing engine to book the callback
    done        the engine has nothing more to do with the call
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple
from zoneinfo import ZoneInfo

from ivr.flow import actions as a
from ivr.flow import events as e
from ivr.flow.context import CallContext, Consent, SpokenName, StepExit, recording_for
from ivr.flow.values import evolve
from ivr.flow.words import PLURAL_FORMS, interpret_yes_no, match_keyword, plural_form, yes_no_words
from ivr.identity import (
    InvalidIdentity,
    normalize_fio,
    spoken_digits,
    validate_appeal_number,
    validate_inn,
    validate_phone,
    validate_snils,
)
from ivr.menu import nodes as n
from ivr.menu.model import Menu
from ivr.prompts.numbers import digit_prompts, minutes_prompts, number_prompts
from routing.hours import DAYS

Phase = Literal[
    "input", "confirm", "lookup", "enqueueing", "waiting",
    "cb_confirm", "cb_number", "cb_booking", "done",
]
MAX_HOPS = 64  # nodes passed through in one step; the validator rejects silent loops


@dataclass(frozen=True)
class CallState:
    context: CallContext
    node: str = ""
    phase: Phase = "input"
    attempts: int = 0  # failed tries at the current question
    candidate: str = ""  # a number read back, waiting for "1 - верно"
    speech: bool = False  # can this call's front end recognise speech?
    recording: bool = True  # can the engine keep recordings (CallStarted.recording)?
    recorder: bool = True  # does a recorder carry the conversation (CallStarted.recorder)?
    announced: float = 0.0  # when the queue position was last announced
    offer_callback: bool = False
    callbacks: bool = True  # can a callback be placed to this caller (CallStarted.callbacks)?

    @property
    def done(self) -> bool:
        return self.phase == "done"

    def to_dict(self) -> dict[str, Any]:
        """Every field as is but the context (its own ``to_dict``): the others are plain
        values, and ``dataclasses.asdict`` would deep-copy the context only to throw it away
        (a tenth of a Twilio webhook's CPU, which stores the state each time)."""
        data = {name: getattr(self, name) for name in _STATE_FIELDS}
        data["context"] = self.context.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CallState:
        return cls(**{**data, "context": CallContext.from_dict(data["context"])})


_STATE_FIELDS = tuple(f.name for f in dataclasses.fields(CallState))


class Turn(NamedTuple):
    state: CallState
    actions: tuple[a.Action, ...]


def start(menu: Menu, event: e.CallStarted) -> Turn:
    """A new call: the state at the menu's first node and what to play."""
    context = CallContext(
        call_id=event.call_id,
        caller=event.caller,
        dialled=event.dialled,
        started=event.at,
        language=event.language if event.language in menu.languages else menu.languages[0],
        channel=event.channel,
        appeal=event.appeal,
        recording=recording_for(None, can_record=event.recording),
        menu_version=menu.version,
    )
    state = CallState(context=context, speech=event.speech, recording=event.recording, recorder=event.recorder,
                      callbacks=event.callbacks)
    step = _Step(menu, state, event.at)
    if event.appeal:
        step.emit(a.SetVariable("IVR_APPEAL", event.appeal))
    step.goto(menu.start)
    return step.turn()


def step(menu: Menu, state: CallState, event: e.Event) -> Turn:
    """Apply one event to a call; unknown or late events change nothing."""
    if state.done and not (isinstance(event, e.BackInLine) and state.context.outcome == "connected"):
        return Turn(state, ())
    current = _Step(menu, state, event.at)
    if isinstance(event, e.HungUp):
        current.hang_up()
        return current.turn()
    node = menu.nodes.get(state.node)
    if node is None:  # the node vanished from a newer menu: hand the call to an operator
        current.goto(menu.defaults.fallback, "fallback", "missing_node")
        return current.turn()
    handler = TRANSITIONS.get((type(node), state.phase, type(event)))
    if handler is None:
        return Turn(state, ())
    handler(current, node, event)
    return current.turn()


class _Step:
    """The work of one step: the state so far and the actions gathered."""

    def __init__(self, menu: Menu, state: CallState, at: float) -> None:
        self.menu = menu
        self.state = state
        self.at = at
        self.actions: list[a.Action] = []

    # -- small helpers ----------------------------------------------------------------

    @property
    def ctx(self) -> CallContext:
        return self.state.context

    @property
    def language(self) -> str:
        return self.state.context.language

    def update(self, **changes: Any) -> None:
        self.state = evolve(self.state, **changes)

    def update_ctx(self, **changes: Any) -> None:
        self.update(context=evolve(self.ctx, **changes))

    def emit(self, *actions: a.Action) -> None:
        self.actions.extend(actions)

    def play(self, prompt: str, barge_in: bool = True) -> a.Play:
        return a.Play(prompt, self.language, barge_in)

    def say(self, prompts: tuple[str, ...], barge_in: bool = True) -> tuple[a.Play, ...]:
        """A number's parts (:mod:`ivr.prompts.numbers`), each a prompt of the product's own."""
        return tuple(self.play(p, barge_in) for p in prompts)

    def say_digits(self, digits: str, barge_in: bool = True) -> tuple[a.Play, ...]:
        return self.say(digit_prompts(digits), barge_in)

    def turn(self) -> Turn:
        return Turn(self.state, tuple(self.actions))

    # -- moving between nodes -----------------------------------------------------------

    def goto(self, node_id: str, exit: StepExit = "done", detail: str = "") -> None:
        """Leave the current node by ``exit`` and enter ``node_id`` (and beyond, if silent)."""
        hops = 0
        target: str | None = node_id
        while target is not None:
            hops += 1
            if hops > MAX_HOPS or target not in self.menu.nodes:
                detail, target = "loop" if hops > MAX_HOPS else "missing_node", None
                self.update_ctx(outcome="failed")
                self.update(phase="done")
                self.emit(a.Transfer(self.menu.defaults.fallback))
                return
            self.update_ctx(path=self.ctx.leave(exit, self.at, detail).path)
            self.update_ctx(path=self.ctx.enter(target, self.at).path)
            self.update(node=target, phase="input", attempts=0, candidate="")
            node = self.menu.nodes[target]
            target = ENTRIES[type(node)](self, node)
            exit, detail = "done", ""

    def leave(self, exit: StepExit, detail: str = "") -> None:
        self.update_ctx(path=self.ctx.leave(exit, self.at, detail).path)

    def retry(self, node: n.Node, reason: str, *, prompt: str | None = None, detail: str = "") -> None:
        """The caller's answer was missing or wrong: ask again, or go to the fallback."""
        assert isinstance(node, n.Waits)
        waits = self.menu.waits(node)
        self.update_ctx(path=self.ctx.fail(detail or reason).path)
        attempts = self.state.attempts + 1
        if attempts > waits.retries:
            self.goto(waits.fallback, "fallback", reason)
            return
        self.update(attempts=attempts, phase="input", candidate="")
        if prompt is None:
            prompt = waits.no_input if reason == "timeout" else waits.no_match
        self.emit(self.play(prompt))
        ASK[type(node)](self, node)

    def finish(self, outcome: str, exit: StepExit, detail: str = "") -> None:
        self.leave(exit, detail)
        self.update_ctx(outcome=outcome)
        self.update(phase="done")

    def hang_up(self) -> None:
        in_queue = self.state.phase in ("enqueueing", "waiting", "cb_confirm", "cb_number", "cb_booking")
        if in_queue:
            self.emit(a.LeaveQueue())
        self.finish("abandoned" if in_queue else "hangup", "hangup")


# -- entering nodes: returns the next node for silent nodes, None when the call waits ---


def _enter_play(s: _Step, node: n.PlayNode) -> str | None:
    s.emit(*(s.play(p, node.barge_in) for p in node.prompts))
    return node.next


def _enter_asking(s: _Step, node: n.Node) -> str | None:
    ASK[type(node)](s, node)
    return None


def _enter_consent(s: _Step, node: n.ConsentNode) -> str | None:
    """Asked only where the call can be recorded: with no recording key (or a front end that
    records nothing) the caller is not asked a question whose answer changes nothing, nor
    told that the conversation is recorded."""
    if not s.state.recording:
        return node.next
    _ask_consent(s, node)
    return None


def _enter_set(s: _Step, node: n.SetNode) -> str | None:
    changes: dict[str, Any] = {}
    if node.topic is not None:
        changes["topic"] = node.topic
    if node.queue is not None:
        changes["queue"] = node.queue
    if node.skills:
        changes["skills"] = node.skills
    if node.priority:
        changes["priority"] = node.priority
    s.update_ctx(**changes)
    return node.next


def _enter_hours(s: _Step, node: n.HoursNode) -> str | None:
    queue = node.queue or s.ctx.queue or s.menu.defaults.queue
    is_open = s.menu.is_open(queue, s.at)
    s.leave("open" if is_open else "closed", queue)
    if is_open:
        return node.open
    s.update_ctx(outcome="closed")  # until the caller goes on to the duty operator
    s.emit(s.play("hours.closed_now"), *_opening_time(s, queue))
    return node.closed


def _opening_time(s: _Step, queue: str) -> tuple[a.Action, ...]:
    """When the queue opens next, in its own time zone: "Они начнут работу завтра в 8 часов"."""
    hours = s.menu.hours.get(queue)
    opens = hours.next_open(s.at, s.menu.calendar) if hours is not None else None
    if hours is None or opens is None:
        return ()
    zone = ZoneInfo(hours.timezone)
    when = dt.datetime.fromtimestamp(opens, zone)
    days = (when.date() - dt.datetime.fromtimestamp(s.at, zone).date()).days
    day = {0: "hours.opens_today", 1: "hours.opens_tomorrow"}.get(days, f"hours.opens_on.{DAYS[when.weekday()]}")
    # The product's own number prompts, as for every other number said (not Asterisk's digits/*).
    said: list[a.Action] = [s.play(day), *s.say(number_prompts(when.hour, s.language)),
                            s.play(f"hours.hour.{PLURAL_FORMS[plural_form(when.hour, s.language)]}")]
    if when.minute:
        said += [*s.say(number_prompts(when.minute, s.language, feminine=True)),
                 s.play(f"hours.minute.{PLURAL_FORMS[plural_form(when.minute, s.language)]}")]
    return tuple(said)


def _enter_appeal_status(s: _Step, node: n.AppealStatusNode) -> str | None:
    if not s.ctx.looked_up:
        return node.not_found
    if node.document and not (s.ctx.inn or s.ctx.snils):
        return node.document  # the status needs the caller's document: ask for it first
    s.update(phase="lookup")
    s.emit(a.LookupAppeal(s.ctx.looked_up))
    return None


def _enter_enqueue(s: _Step, node: n.EnqueueNode) -> str | None:
    queue = node.queue or s.ctx.queue or s.menu.defaults.queue
    s.update_ctx(queue=queue, outcome="queued")
    s.update(phase="enqueueing")
    s.emit(
        a.SetVariable("IVR_QUEUE", queue),
        a.Enqueue(
            queue=queue,
            skills=s.ctx.skills,
            priority=s.ctx.priority,
            language=s.language,
            context=s.ctx,
        ),
    )
    return None


def _enter_transfer(s: _Step, node: n.TransferNode) -> str | None:
    if node.prompt:
        s.emit(s.play(node.prompt, barge_in=False))
    s.emit(a.SetVariable("IVR_TRANSFER", node.target), a.Transfer(node.target))
    s.finish("transferred", "transferred", node.target)
    return None


def _enter_hangup(s: _Step, node: n.HangupNode) -> str | None:
    # The appeal number first: a caller who hears "goodbye" hangs up.
    if node.say_appeal and s.ctx.appeal:
        s.emit(s.play("common.your_appeal", False), *s.say_digits(s.ctx.appeal, False))
    s.emit(*(s.play(p, barge_in=False) for p in node.prompts))
    s.emit(a.Hangup())
    # Ended by the menu: served by it (status told, goodbye), unless the call was given up
    # on (all_busy) or its topic was closed (closed): those keep their outcome.
    s.finish(s.ctx.outcome if s.ctx.outcome not in (None, "queued") else "self_service", "done")
    return None


# -- asking: the prompt and the collection of a waiting node ----------------------------


def _clip(s: _Step, what: str | None = None) -> str:
    """The name of a clip the front end records at this node: ``<call id>-<node>``.

    Every clip carries its call's id, so concurrent calls never share a file and the
    recordings feature finds, at the call's end, every clip the call left behind
    (:mod:`ivr.recordings.clips`).
    """
    return f"{s.ctx.call_id}-{what or s.state.node}"


def _ask_menu(s: _Step, node: n.MenuNode) -> None:
    waits = s.menu.waits(node)
    prompts = (s.play(node.prompt),)
    keywords = tuple(k for option in node.options.values() for k in option.keywords)
    if s.state.speech and keywords:
        s.emit(a.CollectSpeech(prompts, "keywords", s.language, waits.timeout, 4.0, keywords,
                               keys="".join(node.options), clip=_clip(s)))
    else:
        s.emit(a.CollectDigits(prompts, 1, 1, waits.timeout, waits.timeout, terminator="",
                               keys="".join(node.options) + "0123456789*#"))


def _ask_language(s: _Step, node: n.LanguageNode) -> None:
    waits = s.menu.waits(node)
    s.emit(a.CollectDigits((s.play(node.prompt),), 1, 1, waits.timeout, waits.timeout, terminator=""))


def _ask_digits(s: _Step, node: n.DigitsNode) -> None:
    waits = s.menu.waits(node)
    prompts = (s.play(node.prompt),)
    if node.speech and s.state.speech:
        s.emit(a.CollectSpeech(prompts, "digits", s.language, waits.timeout, 12.0,
                               keys="0123456789", clip=_clip(s),
                               max_digits=node.max_digits, terminator=node.terminator))
    else:
        s.emit(a.CollectDigits(prompts, node.min_digits, node.max_digits, waits.timeout,
                               node.inter_digit_timeout, node.terminator))


def _ask_speech(s: _Step, node: n.SpeechNode) -> None:
    waits = s.menu.waits(node)
    prompts = (s.play(node.prompt),)
    clip = _clip(s)
    if s.state.speech:
        s.emit(a.CollectSpeech(prompts, "name", s.language, waits.timeout, node.max_seconds, clip=clip))
    else:
        s.emit(a.Record(prompts, node.max_seconds, clip))


def _ask_consent(s: _Step, node: n.ConsentNode) -> None:
    waits = s.menu.waits(node)
    # "Say yes" only where what is said is understood: elsewhere the keys-only question.
    prompts = (s.play(node.prompt if s.state.speech or not node.keys_prompt else node.keys_prompt),)
    keys = node.yes_keys + node.no_keys
    if s.state.speech:
        s.emit(a.CollectSpeech(prompts, "yes_no", s.language, waits.timeout, 4.0,
                               yes_no_words(s.language), keys=keys, clip=_clip(s, "consent")))
    else:
        s.emit(a.CollectDigits(prompts, 1, 1, waits.timeout, waits.timeout, terminator=""))


# -- answers at each kind of node ---------------------------------------------------------


def _menu_key(s: _Step, node: n.MenuNode, event: e.DigitsEntered) -> None:
    key = event.digits[:1]
    if key in node.options:
        s.goto(node.options[key].next, "key", key)
    else:
        s.retry(node, "no_match", detail=f"key:{key}" if key else "no_match")


def _menu_speech(s: _Step, node: n.MenuNode, event: e.SpeechHeard) -> None:
    keyword_map = {kw: key for key, option in node.options.items() for kw in option.keywords}
    key = match_keyword(event.text, keyword_map)
    if key is None:
        s.retry(node, "no_match", detail="speech")
    else:
        s.goto(node.options[key].next, "speech", key)


def _no_input(s: _Step, node: n.Node, event: e.NoInput) -> None:
    s.retry(node, "timeout")


def _language_silence(s: _Step, node: n.LanguageNode, event: e.NoInput) -> None:
    """Silence at the language question is the designed way to choose the menu's first
    language ("для продолжения на русском языке оставайтесь на линии"): a choice, not a
    failure, whatever language the channel came in with."""
    language = s.menu.languages[0]
    if language != s.language:
        _speak(s, language)
    s.goto(node.next, "default", language)


def _language_key(s: _Step, node: n.LanguageNode, event: e.DigitsEntered) -> None:
    key = event.digits[:1]
    if key not in node.options:
        s.retry(node, "no_match", detail=f"key:{key}")
        return
    _speak(s, node.options[key])
    s.goto(node.next, "key", key)


def _speak(s: _Step, language: str) -> None:
    """The call goes on in ``language``, and so does what Asterisk itself says from now on
    (its sounds, a dialplan's Queue())."""
    s.update_ctx(language=language)
    s.emit(a.SetVariable("CHANNEL(language)", language))


def _validate_identity(text: str) -> str:
    """A ИНН or a СНИЛС, told apart by the number of digits (11 is a СНИЛС)."""
    digits = "".join(ch for ch in text if ch.isdigit())
    return validate_snils(text) if len(digits) == 11 else validate_inn(text)


_VALIDATORS: dict[str, Callable[[str], str]] = {
    "inn": validate_inn,
    "snils": validate_snils,
    "identity": _validate_identity,
    "appeal_number": validate_appeal_number,
    "phone": validate_phone,
}
_REASON_PROMPTS = {"length": "invalid.length", "checksum": "invalid.checksum"}


def _digits_entered(s: _Step, node: n.DigitsNode, event: e.DigitsEntered) -> None:
    _check_number(s, node, event.digits.rstrip(node.terminator or "#"))


def _digits_spoken(s: _Step, node: n.DigitsNode, event: e.SpeechHeard) -> None:
    try:
        digits = spoken_digits(event.text, s.language)
    except InvalidIdentity:
        s.retry(node, "no_match", detail="speech")
        return
    _check_number(s, node, digits)


def _check_number(s: _Step, node: n.DigitsNode, raw: str) -> None:
    if not raw:
        if node.skip:
            s.goto(node.skip, "key", "skipped")
        else:
            s.retry(node, "timeout")
        return
    validator = _VALIDATORS.get(node.validator)
    try:
        value = validator(raw) if validator else _plain_digits(raw, node)
    except InvalidIdentity as exc:
        prompt = _REASON_PROMPTS.get(exc.reason, "invalid.format")
        s.retry(node, "invalid", prompt=prompt, detail=exc.reason)
        return
    if not node.readback:
        _store(s, node, value)
        s.goto(node.next, "key")
        return
    s.update(phase="confirm", candidate=value)
    _ask_confirm(s, node)


def _plain_digits(raw: str, node: n.DigitsNode) -> str:
    if not raw.isdigit():
        raise InvalidIdentity("digits", "not_digits", "only digits are expected")
    if not node.min_digits <= len(raw) <= node.max_digits:
        raise InvalidIdentity("digits", "length", f"expected {node.min_digits}-{node.max_digits} digits")
    return raw


def _ask_confirm(s: _Step, node: n.DigitsNode) -> None:
    waits = s.menu.waits(node)
    digits = "".join(ch for ch in s.state.candidate if ch.isdigit())
    # The readback is heard whole: a terminator still arriving from the entry must not cut it.
    s.emit(s.play("common.you_entered", barge_in=False), *s.say_digits(digits))
    s.emit(a.CollectDigits((s.play(node.confirm),), 1, 1, waits.timeout, waits.timeout,
                           terminator="", keys="12"))


def _confirm_key(s: _Step, node: n.DigitsNode, event: e.DigitsEntered) -> None:
    key = event.digits[:1]
    if key == "1":
        _store(s, node, s.state.candidate)
        s.goto(node.next, "confirmed")
    elif key == "2":
        _correct(s, node)
    else:
        _confirm_again(s, node, f"key:{key}")


def _correct(s: _Step, node: n.DigitsNode) -> None:
    """"2 - ввести заново": the caller's own choice, not a failed try.  A number entered
    wrongly before it (and read back right) does not make the correction the last straw;
    corrections have their own bound (as many as the tries), so the node still ends."""
    waits = s.menu.waits(node)
    corrections = s.ctx.path[-1].failures.count("corrected") if s.ctx.path else 0
    if corrections >= waits.retries + 1:
        s.retry(node, "corrected", prompt="common.enter_again")  # the failed tries' bound decides
        return
    s.update_ctx(path=s.ctx.fail("corrected").path)
    s.update(phase="input", candidate="")
    s.emit(s.play("common.enter_again"))
    ASK[type(node)](s, node)


def _confirm_timeout(s: _Step, node: n.DigitsNode, event: e.NoInput) -> None:
    _confirm_again(s, node, "timeout")


def _confirm_again(s: _Step, node: n.DigitsNode, detail: str) -> None:
    waits = s.menu.waits(node)
    s.update_ctx(path=s.ctx.fail(detail).path)
    if s.state.attempts + 1 > waits.retries:
        s.goto(waits.fallback, "fallback", "unconfirmed")
        return
    s.update(attempts=s.state.attempts + 1)
    s.emit(s.play(waits.no_input if detail == "timeout" else waits.no_match))  # silence: "I cannot hear you"
    _ask_confirm(s, node)


def _store(s: _Step, node: n.DigitsNode, value: str) -> None:
    if node.store == "inn":
        s.update_ctx(inn=value, identity_confirmed=True)
    elif node.store == "snils" or (node.store == "identity" and "-" in value):
        s.update_ctx(snils=value, identity_confirmed=True)
    elif node.store == "identity":
        s.update_ctx(inn=value, identity_confirmed=True)
    elif node.store == "lookup":
        s.update_ctx(looked_up=value)
    elif node.store == "callback_number":
        s.update_ctx(callback_number=value)


def _speech_heard(s: _Step, node: n.SpeechNode, event: e.SpeechHeard) -> None:
    heard = SpokenName(text=None, confidence=event.confidence, clip=event.clip)
    if event.confidence >= node.threshold:
        try:
            heard = evolve(heard, text=str(normalize_fio(event.text)))
        except InvalidIdentity:
            pass
    s.update_ctx(name=heard)
    if heard.text is None:
        low = event.confidence < node.threshold
        s.retry(node, "no_match", detail="low_confidence" if low else "not_a_name")
    else:
        s.goto(node.next, "speech")


def _name_recorded(s: _Step, node: n.SpeechNode, event: e.Recorded) -> None:
    if event.clip is None:  # the caller skipped it ('#' at once): nothing was said, nothing kept
        s.goto(node.next, "key", "skipped")
        return
    s.update_ctx(name=SpokenName(text=None, confidence=0.0, clip=event.clip, recognised=False))
    s.goto(node.next, "done", "recorded")


def _consent_key(s: _Step, node: n.ConsentNode, event: e.DigitsEntered) -> None:
    key = event.digits[:1]
    if key and key in node.yes_keys:
        _consent(s, node, Consent(True, event.at, "key", heard=key))
    elif key and key in node.no_keys:
        _consent(s, node, Consent(False, event.at, "key", heard=key))
    else:
        s.retry(node, "no_match", detail=f"key:{key}")


def _consent_speech(s: _Step, node: n.ConsentNode, event: e.SpeechHeard) -> None:
    answer = interpret_yes_no(event.text, s.language)
    if answer is None or event.confidence < node.threshold:
        s.retry(node, "no_match", detail="speech")
        return
    _consent(s, node, Consent(answer, event.at, "voice", heard=event.text, clip=event.clip))


def _consent(s: _Step, node: n.ConsentNode, consent: Consent) -> None:
    recording = recording_for(consent, can_record=s.state.recording, recorder=s.state.recorder)
    s.update_ctx(consent=consent, recording=recording)
    s.emit(s.play("consent.yes" if consent.granted else "consent.no", barge_in=True))
    s.goto(node.next, "speech" if consent.method == "voice" else "key", "yes" if consent.granted else "no")


def _appeal_looked(s: _Step, node: n.AppealStatusNode, event: e.AppealLooked) -> None:
    s.update_ctx(looked_up_status=event.status)
    if event.status is None:
        # No such number and not the caller's appeal are one answer, word for word.
        s.update_ctx(appeals_not_found=s.ctx.appeals_not_found + 1)
        s.emit(s.play("status.not_found"))
        if s.ctx.appeals_not_found >= node.tries:  # numbers tried one after another: an operator
            s.goto(s.menu.defaults.fallback, "fallback", "not_found")
        else:
            s.goto(node.not_found, "done", "not_found")
        return
    s.emit(s.play("status.intro"), *s.say_digits(event.number), s.play(f"status.{event.status}"))
    s.goto(node.next, "done", event.status)


# -- the wait in queue and the callback offer ----------------------------------------------


def _announce(s: _Step, position: int | None, wait: float | None) -> None:
    if position:
        s.emit(s.play("queue.position"), *s.say(number_prompts(position, s.language)))
    if wait is not None:
        minutes = max(1, math.ceil(wait / 60))
        s.emit(s.play("queue.wait_minutes"), *s.say(minutes_prompts(minutes, s.language)))
    elif position:  # nobody on duty could take the call: no estimate would be true
        s.emit(s.play("queue.no_estimate"))
    if s.state.offer_callback:
        s.emit(s.play("queue.callback_offer"))
    s.update(announced=s.at)


def _hold(s: _Step, node: n.EnqueueNode) -> None:
    s.update(phase="waiting")
    due = max(node.poll_seconds, node.announce_every - (s.at - s.state.announced))
    s.emit(a.HoldMusic(node.poll_seconds, keys="1" if s.state.offer_callback else "", until_announcement=due))


def _queued(s: _Step, node: n.EnqueueNode, event: e.Queued) -> None:
    if event.operator and event.endpoint:  # an operator was free: no wait, nothing to announce
        _connect(s, event.operator, event.endpoint)
        return
    s.update(offer_callback=event.offer_callback and node.callback and s.state.callbacks)
    if node.say_appeal and s.ctx.appeal:
        s.emit(s.play("common.your_appeal", False), *s.say_digits(s.ctx.appeal, False))
    _announce(s, event.position, event.expected_wait)
    _hold(s, node)


def _hold_over(s: _Step, node: n.EnqueueNode, event: e.NoInput) -> None:
    s.emit(a.PollQueue())


def _connect(s: _Step, operator: str, endpoint: str) -> None:
    recording = recording_for(s.ctx.consent, can_record=s.state.recording, recorder=s.state.recorder)
    s.emit(
        s.play("queue.connecting", barge_in=False),
        a.SetVariable("IVR_OPERATOR", operator),
        a.Connect(operator, endpoint, record=recording.state == "recording"),
    )
    s.finish("connected", "connected", operator)


def _queue_update(s: _Step, node: n.EnqueueNode, event: e.QueueUpdate) -> None:
    if event.operator and event.endpoint:
        _connect(s, event.operator, event.endpoint)
        return
    if event.gone:
        s.update_ctx(outcome="all_busy")  # the queue gave the call up: not served
        s.goto(node.full, "fallback", "overflow")
        return
    if s.at - s.state.announced >= node.announce_every:
        _announce(s, event.position, event.expected_wait)
    _hold(s, node)


def _back_in_line(s: _Step, node: n.EnqueueNode, event: e.BackInLine) -> None:
    """Handed to an operator who did not answer: hold again at the head of the line."""
    s.leave("connected")  # a context kept since the enqueue has not left the node yet
    s.update_ctx(outcome="queued", path=s.ctx.enter(s.state.node, s.at).path)
    s.emit(s.play("queue.position"), *s.say(number_prompts(1, s.language)))
    if node.say_appeal and s.ctx.appeal:
        # A call put through at once never heard its appeal number (said only before a
        # hold): the caller whose operator missed them hears it now, while they wait.
        s.emit(s.play("common.your_appeal", False), *s.say_digits(s.ctx.appeal, False))
    s.update(announced=s.at)
    _hold(s, node)


def _waiting_key(s: _Step, node: n.EnqueueNode, event: e.DigitsEntered) -> None:
    if not (s.state.offer_callback and event.digits[:1] == "1"):
        _hold(s, node)
        return
    try:
        number = validate_phone(s.ctx.caller)
    except InvalidIdentity:
        _ask_callback_number(s, node)
        return
    s.update(phase="cb_confirm", candidate=number)
    _ask_callback_confirm(s, node)


def _ask_callback_confirm(s: _Step, node: n.EnqueueNode) -> None:
    s.emit(s.play("callback.number_is", barge_in=False), *s.say_digits(s.state.candidate))
    s.emit(a.CollectDigits((s.play("callback.confirm_number"),), 1, 1, 6.0, 6.0, terminator="", keys="12"))


def _ask_callback_number(s: _Step, node: n.EnqueueNode) -> None:
    s.update(phase="cb_number")
    s.emit(a.CollectDigits((s.play("callback.enter_number"),), 10, 12, 8.0, 4.0, "#"))


def _callback_confirm_key(s: _Step, node: n.EnqueueNode, event: e.DigitsEntered) -> None:
    key = event.digits[:1]
    if key == "1":
        s.update(phase="cb_booking")
        s.emit(a.BookCallback(s.state.candidate))
    elif key == "2":
        _ask_callback_number(s, node)
    else:
        _hold(s, node)


def _callback_number(s: _Step, node: n.EnqueueNode, event: e.DigitsEntered) -> None:
    try:
        number = validate_phone(event.digits.rstrip("#"))
    except InvalidIdentity as exc:
        s.update_ctx(path=s.ctx.fail(f"callback_number:{exc.reason}").path)
        s.emit(s.play("invalid.format"))
        _hold(s, node)
        return
    s.update(phase="cb_confirm", candidate=number)
    _ask_callback_confirm(s, node)


def _callback_abandoned(s: _Step, node: n.EnqueueNode, event: e.NoInput) -> None:
    _hold(s, node)


def _callback_booked(s: _Step, node: n.EnqueueNode, event: e.CallbackBooked) -> None:
    if not event.accepted and not event.still_waiting:
        s.update(phase="waiting", offer_callback=False)  # an operator is ready: no callback
        s.emit(a.PollQueue())
        return
    if not event.accepted:
        s.emit(s.play("callback.already"))
        s.update(offer_callback=False)
        _hold(s, node)
        return
    s.update_ctx(callback_number=s.state.candidate)
    s.emit(a.SetVariable("IVR_CALLBACK", s.state.candidate), s.play("callback.booked", False))
    if s.ctx.appeal:
        s.emit(s.play("common.your_appeal", False), *s.say_digits(s.ctx.appeal, False))
    s.emit(s.play("common.goodbye", False), a.Hangup())
    s.finish("callback", "callback")


# -- the tables ------------------------------------------------------------------------------

ENTRIES: dict[type, Callable[[_Step, Any], str | None]] = {
    n.PlayNode: _enter_play,
    n.MenuNode: _enter_asking,
    n.LanguageNode: _enter_asking,
    n.DigitsNode: _enter_asking,
    n.SpeechNode: _enter_asking,
    n.ConsentNode: _enter_consent,
    n.SetNode: _enter_set,
    n.HoursNode: _enter_hours,
    n.AppealStatusNode: _enter_appeal_status,
    n.EnqueueNode: _enter_enqueue,
    n.TransferNode: _enter_transfer,
    n.HangupNode: _enter_hangup,
}

ASK: dict[type, Callable[[_Step, Any], None]] = {
    n.MenuNode: _ask_menu,
    n.LanguageNode: _ask_language,
    n.DigitsNode: _ask_digits,
    n.SpeechNode: _ask_speech,
    n.ConsentNode: _ask_consent,
}

TRANSITIONS: dict[tuple[type, str, type], Callable[[_Step, Any, Any], None]] = {
    (n.MenuNode, "input", e.DigitsEntered): _menu_key,
    (n.MenuNode, "input", e.SpeechHeard): _menu_speech,
    (n.MenuNode, "input", e.NoInput): _no_input,
    (n.LanguageNode, "input", e.DigitsEntered): _language_key,
    (n.LanguageNode, "input", e.NoInput): _language_silence,
    (n.DigitsNode, "input", e.DigitsEntered): _digits_entered,
    (n.DigitsNode, "input", e.SpeechHeard): _digits_spoken,
    (n.DigitsNode, "input", e.NoInput): _no_input,
    (n.DigitsNode, "confirm", e.DigitsEntered): _confirm_key,
    (n.DigitsNode, "confirm", e.NoInput): _confirm_timeout,
    (n.SpeechNode, "input", e.SpeechHeard): _speech_heard,
    (n.SpeechNode, "input", e.Recorded): _name_recorded,
    (n.SpeechNode, "input", e.NoInput): _no_input,
    (n.ConsentNode, "input", e.DigitsEntered): _consent_key,
    (n.ConsentNode, "input", e.SpeechHeard): _consent_speech,
    (n.ConsentNode, "input", e.NoInput): _no_input,
    (n.AppealStatusNode, "lookup", e.AppealLooked): _appeal_looked,
    (n.EnqueueNode, "enqueueing", e.Queued): _queued,
    (n.EnqueueNode, "waiting", e.NoInput): _hold_over,
    (n.EnqueueNode, "waiting", e.QueueUpdate): _queue_update,
    (n.EnqueueNode, "waiting", e.DigitsEntered): _waiting_key,
    (n.EnqueueNode, "done", e.BackInLine): _back_in_line,
    (n.EnqueueNode, "cb_confirm", e.DigitsEntered): _callback_confirm_key,
    (n.EnqueueNode, "cb_confirm", e.NoInput): _callback_abandoned,
    (n.EnqueueNode, "cb_number", e.DigitsEntered): _callback_number,
    (n.EnqueueNode, "cb_number", e.NoInput): _callback_abandoned,
    (n.EnqueueNode, "cb_booking", e.CallbackBooked): _callback_booked,
}
