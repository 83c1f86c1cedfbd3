"""An AMI server on loopback that answers ``MixMonitorMute`` as Asterisk 22 does, and the
engine's :class:`~ivr.asterisk.control.AsteriskControl` over a real :class:`AmiClient` to it.

What the real Asterisk 22 answers (tests/integration/test_recording_pause_asterisk.py runs
the real one)::

    Action: MixMonitorMute          Response: Success
    Channel: PJSIP/trunk-00000001   ActionID: ivr-3
    Direction: both
    State: 1                        (no such channel: Response: Error / Message: No such channel;
    ActionID: ivr-3                  no MixMonitor on it: Message: Cannot set mute flag)

``answer`` says what this one does: ``success``, ``no_channel``, ``no_mixmonitor`` or
``silent`` (no answer at all: the client's timeout).  ``actions`` keeps every action received.
"""

from __future__ import annotations

from typing import Literal

from ivr.asterisk.ami import AmiClient
from ivr.asterisk.control import AsteriskControl
from ivr.engine import Engine
from tests.asterisk.ami_double import SILENT, AmiDouble

Answer = Literal["success", "no_channel", "no_mixmonitor", "silent"]
ERRORS = {"no_channel": "No such channel", "no_mixmonitor": "Cannot set mute flag"}


class MuteAmi(AmiDouble):
    def __init__(self) -> None:
        self.answer: Answer = "success"
        super().__init__(reply=self._answer)

    def _answer(self, action: dict[str, str]) -> str | None:
        if self.answer == "silent":
            return SILENT
        return ERRORS.get(self.answer)

    def mutes(self) -> list[tuple[str, str, str]]:
        return [(a["Channel"], a["Direction"], a["State"]) for a in self.actions
                if a.get("Action") == "MixMonitorMute"]


def asterisk_control(engine: Engine, ami: MuteAmi, *, timeout: float = 2.0) -> AmiClient:
    """The engine acts on Asterisk calls through this AMI (as ``ami_services`` wires it)."""
    client = AmiClient(*ami.address, username="ivr-engine", secret="x", timeout=timeout)
    engine.live_controls["asterisk"] = AsteriskControl(ami=client)
    return client
