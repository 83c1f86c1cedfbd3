"""Acting on a bridged Asterisk call over AMI: :class:`ivr.aftermenu.control.LiveControl`.

The legs are the caller's channel (the one running ``Dial`` in ``[operator-handover]``)
and the operator's (Dial's ``DestChannel``), from :class:`ivr.aftermenu.legs.Legs`.
Each action is one or two AMI actions; an AMI error or silence raises
:class:`~ivr.aftermenu.control.TelephonyFailed` and leaves the call as it was.
"""

from __future__ import annotations

from ivr.aftermenu.control import CallNotLive, SpyMode, TelephonyFailed
from ivr.aftermenu.legs import Legs
from ivr.asterisk import spy, transfer
from ivr.asterisk.ami import AmiClient, AmiError, Message


class AsteriskControl:
    def __init__(self, *, ami: AmiClient, consult_events: transfer.ConsultEvents | None = None) -> None:
        self.ami = ami
        # the [operator-consult] context's UserEvents (ami_services feeds them from AMI's events)
        self.consult_events = consult_events or transfer.ConsultEvents()

    def _action(self, name: str, fields: dict[str, str]) -> Message:
        try:
            return self.ami.action(name, fields)
        except AmiError as exc:
            raise TelephonyFailed(f"{name}: {exc}") from exc

    # -- transfer (issue 18, section 2): ivr/asterisk/transfer.py -------------------------
    def redirect_to_line(self, legs: Legs) -> None:
        transfer.redirect(self.ami, legs)

    def consult(self, legs: Legs, operator_id: str, endpoint: str) -> None:
        transfer.consult(self.ami, self.consult_events, legs, operator_id, endpoint)

    def complete_consult(self, legs: Legs) -> None:
        transfer.complete(self.ami, legs)

    def cancel_consult(self, legs: Legs) -> None:
        transfer.cancel(self.ami, legs)

    # -- supervision (section 3) -----------------------------------------------------------
    def spy(self, legs: Legs, supervisor_endpoint: str, mode: SpyMode) -> str:
        """AMI Originate of the supervisor's phone into ChanSpy (:mod:`ivr.asterisk.spy`)."""
        return spy.spy(self.ami, legs, supervisor_endpoint, mode)

    def stop_spying(self, legs: Legs, handle: str) -> None:
        spy.stop_spying(self.ami, handle)

    # -- recording pause (section 4) -------------------------------------------------------
    def pause_recording(self, legs: Legs) -> None:
        """Mute the call's MixMonitor, both directions: the muted span is written as silence
        (the file keeps its timing).  MixMonitor runs on the caller's channel
        (``[operator-handover]``), which is ``legs.caller``."""
        self._mute_recording(legs, "1")

    def resume_recording(self, legs: Legs) -> None:
        self._mute_recording(legs, "0")

    def _mute_recording(self, legs: Legs, state: str) -> None:
        """``Action: MixMonitorMute`` / ``Channel`` / ``Direction: both`` / ``State: 1|0``.
        Asterisk 22 answers ``Response: Success``, or ``Response: Error`` with::

            Message: No such channel          the call has just ended
            Message: Cannot set mute flag     no MixMonitor on the channel (not recorded)
        """
        fields = {"Channel": legs.caller, "Direction": "both", "State": state}
        try:
            self.ami.action("MixMonitorMute", fields)
        except AmiError as exc:
            said = (exc.response or {}).get("Message", "")
            if said == "No such channel":
                raise CallNotLive(f"MixMonitorMute: {legs.caller}: {said}") from exc
            raise TelephonyFailed(f"MixMonitorMute: {exc}") from exc
