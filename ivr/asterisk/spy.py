"""Supervisor listen / whisper / barge on Asterisk: AMI ``Originate`` into ``ChanSpy``.

The supervisor's phone is rung (``Channel: PJSIP/sup201``); when it answers, Asterisk runs
``ChanSpy`` on it, spying on the operator's channel (the legs' ``operator``, Dial's
``DestChannel``)::

    Action: Originate
    Channel: PJSIP/sup201
    Application: ChanSpy
    Data: PJSIP/op101-00000002,quESw
    ChannelId: ivr-spy-5f0c...          <- the handle: the supervisor's channel Uniqueid
    Async: true
    Timeout: 30000

ChanSpy's options (Asterisk 22, ``core show application ChanSpy``), the same in each mode:

* ``u`` - the argument is "a channel uniqueid or fully specified channel name": this
  operator's channel, never another whose name merely begins the same way;
* ``q`` - no beep, no channel name spoken: the call does not hear that someone joined;
* ``E`` - "exit when the spied-on channel hangs up": the call ends, the supervisor's leg
  ends (its ``Hangup`` event closes the supervision, :class:`SpyWatcher`);
* ``S`` - "stop when no more channels are left to spy on" (the operator's channel went
  between the check and the answer).

and the mode's own: listen - none (the supervisor only hears both sides); whisper -
``w`` ("the spying channel can talk to the spied-on channel": only the operator hears the
supervisor); barge - ``B`` ("barge in on both channels involved in the call": both hear).

Before ringing the supervisor the operator's channel is looked up (``Getvar`` of
``CHANNEL(name)``): a call that just ended is refused as :class:`CallNotLive` instead of
ringing the supervisor into nothing.  Asterisk 22 answers a channel that is gone with::

    Response: Error
    Message: No such channel

Stopping is ``Hangup`` of the handle (Asterisk finds a channel by name or by uniqueid);
"No such channel" there means the supervisor's leg is already gone, which is what stopping
wants.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable

from ivr.aftermenu.control import CallNotLive, SpyMode, TelephonyFailed
from ivr.aftermenu.legs import Legs
from ivr.asterisk.ami import AmiClient, AmiError, Message

log = logging.getLogger(__name__)

#: ChanSpy's options per mode (see the module's docstring).
SPY_OPTIONS: dict[SpyMode, str] = {"listen": "quES", "whisper": "quESw", "barge": "quESB"}
HANDLE_PREFIX = "ivr-spy-"
RING_MS = 30_000  # how long the supervisor's phone rings
CALLER_ID = "Hotline supervision <88005553535>"
# A dial string (PJSIP/sup201, PJSIP/sup201/sip:sup201@10.0.0.5) and a channel name
# (PJSIP/op101-00000002, Local/op101@ctx-00000003;1): no commas, spaces or line breaks,
# which would change ChanSpy's arguments.
_DIAL_STRING = re.compile(r"^[A-Za-z][A-Za-z0-9_]*/[^\s,|()\\]+$")
NO_SUCH_CHANNEL = "No such channel"


def new_handle() -> str:
    return HANDLE_PREFIX + uuid.uuid4().hex


def originate_fields(*, operator_channel: str, supervisor_endpoint: str, mode: SpyMode,
                     handle: str) -> dict[str, str]:
    """The ``Originate`` that rings the supervisor into ChanSpy on the operator's channel."""
    if mode not in SPY_OPTIONS:
        raise ValueError(f"unknown supervision mode {mode!r}")
    for what, value in (("operator channel", operator_channel), ("supervisor endpoint", supervisor_endpoint)):
        if not _DIAL_STRING.match(value):
            raise ValueError(f"{what} {value!r} is not an Asterisk channel or dial string")
    return {"Channel": supervisor_endpoint, "Application": "ChanSpy",
            "Data": f"{operator_channel},{SPY_OPTIONS[mode]}", "ChannelId": handle,
            "CallerID": CALLER_ID, "Timeout": str(RING_MS), "Async": "true"}


def _no_such_channel(exc: AmiError) -> bool:
    return exc.response is not None and exc.response.get("Message", "") == NO_SUCH_CHANNEL


def spy(ami: AmiClient, legs: Legs, supervisor_endpoint: str, mode: SpyMode) -> str:
    """Ring the supervisor into ChanSpy on the operator's channel; the handle is the
    supervisor's channel's Uniqueid (``ChannelId``)."""
    handle = new_handle()
    try:
        fields = originate_fields(operator_channel=legs.operator, supervisor_endpoint=supervisor_endpoint,
                                  mode=mode, handle=handle)
    except ValueError as exc:
        raise TelephonyFailed(str(exc)) from None
    try:
        ami.action("Getvar", {"Channel": legs.operator, "Variable": "CHANNEL(name)"})
    except AmiError as exc:
        if _no_such_channel(exc):
            raise CallNotLive(legs.call_id) from None
        raise TelephonyFailed(f"Getvar: {exc}") from exc
    try:
        ami.action("Originate", fields)
    except AmiError as exc:
        raise TelephonyFailed(f"Originate: {exc}") from exc
    log.info("call %s: supervisor %s on %s (%s), handle %s", legs.call_id, supervisor_endpoint,
             legs.operator, mode, handle)
    return handle


def stop_spying(ami: AmiClient, handle: str) -> None:
    """Hang up the supervisor's leg; gone already is stopped."""
    if not handle.startswith(HANDLE_PREFIX):
        raise TelephonyFailed(f"not a supervision handle: {handle!r}")
    try:
        ami.action("Hangup", {"Channel": handle})
    except AmiError as exc:
        if _no_such_channel(exc):
            return
        raise TelephonyFailed(f"Hangup: {exc}") from exc


class SpyWatcher:
    """AMI events about supervisors' legs: a ``Hangup`` of a handle we made (the supervisor
    hung up, did not answer, or the call ended and ChanSpy exited) is told to ``ended``::

        Event: Hangup
        Channel: PJSIP/sup201-00000007
        Uniqueid: ivr-spy-5f0c...
        Cause: 16
        Cause-txt: Normal Clearing
    """

    def __init__(self, *, ended: Callable[[str, str], object]) -> None:
        self.ended = ended

    def on_event(self, event: Message) -> None:
        if event.get("Event") != "Hangup":
            return
        handle = event.get("Uniqueid", "")
        if not handle.startswith(HANDLE_PREFIX):
            return
        try:
            self.ended(handle, event.get("Cause-txt", "") or event.get("Cause", ""))
        except Exception:  # the AMI reader thread must go on
            log.exception("supervision end of %s not recorded", handle)
