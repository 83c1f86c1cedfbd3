"""Acting on a live conversation through its telephony: one interface, one per front end.

The console (the operator's screen-pop, the supervisors' dashboard) asks for an action on
a call; :class:`Controls` finds the call's :class:`~ivr.aftermenu.legs.Legs` and hands the
action to the front end that bridged it: AMI for Asterisk, Twilio's REST API for Twilio.
Routing's side of each action (who is reserved, where the call waits) stays in
:mod:`ivr.aftermenu.life`; these methods only move audio.

Errors: :class:`LiveCallError` and below.  :class:`CallNotLive` (no legs: the call ended,
or was never bridged by a telephony that can do this) and :class:`Unsupported` (the front
end cannot do it, e.g. the terminal softphone) are refusals the console shows as they are;
:class:`TelephonyFailed` (AMI or Twilio refused or did not answer) leaves the call as it was.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal, Protocol

from ivr.aftermenu.legs import Front, Legs, LiveLegs

SpyMode = Literal["listen", "whisper", "barge"]


class LiveCallError(Exception):
    """An action on a live call could not be carried out; the call is as it was."""


class CallNotLive(LiveCallError):
    """The call has no live legs: it ended, or it is not bridged yet."""


class Unsupported(LiveCallError):
    """This call's telephony cannot do the action."""


class TelephonyFailed(LiveCallError):
    """AMI or Twilio refused the action or did not answer in time."""


class LiveControl(Protocol):
    """What a front end does to a bridged call.  Each method returns once the telephony
    accepted the action, or raises :class:`LiveCallError`."""

    def redirect_to_line(self, legs: Legs) -> None:
        """Blind transfer: take the caller from the operator and back to the engine, which
        holds them at the head of the line routing now has them in (and hands them over)."""

    def consult(self, legs: Legs, operator_id: str, endpoint: str) -> None:
        """Warm transfer, first step: the caller holds; the operator talks to the next one."""

    def complete_consult(self, legs: Legs) -> None:
        """Warm transfer done: the caller and the next operator talk; this operator leaves."""

    def cancel_consult(self, legs: Legs) -> None:
        """Warm transfer called off: the next operator's leg ends; the caller is back."""

    def spy(self, legs: Legs, supervisor_endpoint: str, mode: SpyMode) -> str:
        """A supervisor joins: returns a handle for :meth:`stop_spying`."""

    def stop_spying(self, legs: Legs, handle: str) -> None: ...

    def pause_recording(self, legs: Legs) -> None: ...

    def resume_recording(self, legs: Legs) -> None: ...


class Controls:
    """The one place the console gets a live call's control from."""

    def __init__(self, *, legs: LiveLegs, fronts: Mapping[Front, LiveControl]) -> None:
        self.legs = legs
        self.fronts = dict(fronts)

    def of(self, call_id: str) -> tuple[Legs, LiveControl]:
        legs = self.legs.get(call_id)
        if legs is None:
            raise CallNotLive(call_id)
        front = self.fronts.get(legs.front)
        if front is None:
            raise Unsupported(legs.front)
        return legs, front
