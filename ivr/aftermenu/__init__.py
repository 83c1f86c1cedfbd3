"""A call's life after the menu: what telephony and the console say, and where it moves.

:mod:`ivr.aftermenu.outcomes` names every outcome (frozen values); :mod:`ivr.aftermenu.life`
holds the one table from outcome to routing move.  The front ends (AMI watchers, Twilio
webhooks, the softphone dialer, the operator console, the instance reaper, the menu's
routed services) only translate their protocol's events into outcomes and hand them to
:class:`~ivr.aftermenu.life.CallLife`; nothing else calls the router's state-changing
methods (``tests/aftermenu/test_one_owner.py`` checks the source).
"""

from ivr.aftermenu.life import TABLE, Applied, CallLife
from ivr.aftermenu.outcomes import (
    CallbackAnswered,
    CallbackNotAnswered,
    CallbackRequested,
    CallerLeft,
    ConsultCancelled,
    ConsultCompleted,
    ConsultStarted,
    ConversationEnded,
    EngineDied,
    OperatorAnswered,
    OperatorMissed,
    Outcome,
    TransferFailed,
    TransferredToOperator,
    TransferredToQueue,
)

__all__ = [
    "TABLE",
    "Applied",
    "CallLife",
    "CallbackAnswered",
    "CallbackNotAnswered",
    "CallbackRequested",
    "CallerLeft",
    "ConsultCancelled",
    "ConsultCompleted",
    "ConsultStarted",
    "ConversationEnded",
    "EngineDied",
    "OperatorAnswered",
    "OperatorMissed",
    "Outcome",
    "TransferFailed",
    "TransferredToOperator",
    "TransferredToQueue",
]
