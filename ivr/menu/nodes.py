"""The kinds of menu node a supervisor can write in ``dialplans/*.yaml``.

Each kind is a frozen dataclass; its fields are the YAML keys (``-`` or ``_``).
Nodes that wait for the caller share :class:`Waits`: timeout, retries, the
"no input" and "no match" prompts and the fallback node; left out, they come
from the menu's ``defaults``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from ivr.prompts.numbers import NUMBER_PROMPTS

# 'identity': a ИНН (10 or 12 digits) or a СНИЛС (11 digits), told apart by length.
Validator = Literal["inn", "snils", "identity", "appeal_number", "phone", "none"]
Store = Literal["inn", "snils", "identity", "lookup", "callback_number", "none"]


@dataclass(frozen=True, kw_only=True)
class Waits:
    timeout: float | None = None
    retries: int | None = None
    no_input: str | None = None
    no_match: str | None = None
    fallback: str | None = None


@dataclass(frozen=True, kw_only=True)
class PlayNode:
    """Play prompts, then go on; a key pressed meanwhile goes to the next input."""

    kind: Literal["play"]
    prompts: tuple[str, ...]
    next: str
    barge_in: bool = True


@dataclass(frozen=True, kw_only=True)
class Option:
    next: str
    keywords: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class MenuNode(Waits):
    """Keys (and, with speech, spoken keywords) choose the next node."""

    kind: Literal["menu"]
    prompt: str
    options: Mapping[str, Option]


@dataclass(frozen=True, kw_only=True)
class LanguageNode(Waits):
    kind: Literal["language"]
    prompt: str
    options: Mapping[str, str]  # key -> language code
    next: str


@dataclass(frozen=True, kw_only=True)
class DigitsNode(Waits):
    """Collect a number; validate it, read it back and let the caller correct it."""

    kind: Literal["digits"]
    prompt: str
    next: str
    min_digits: int = 1
    max_digits: int = 20
    terminator: str = "#"
    inter_digit_timeout: float = 4.0
    validator: Validator = "none"
    store: Store = "none"
    readback: bool = True
    confirm: str = "common.confirm"
    # With speech recognition on, the caller may also say the digits.
    speech: bool = False
    # Where to go when the caller presses the terminator alone (skips the question).
    skip: str | None = None


@dataclass(frozen=True, kw_only=True)
class SpeechNode(Waits):
    """Free speech (ФИО); without recognition the clip is recorded for the operator."""

    kind: Literal["speech"]
    prompt: str
    next: str
    mode: Literal["name"] = "name"
    threshold: float = 0.6
    max_seconds: float = 6.0


@dataclass(frozen=True, kw_only=True)
class ConsentNode(Waits):
    """Ask consent to record the operator conversation; yes/no by voice or key."""

    kind: Literal["consent"]
    prompt: str
    next: str
    # The question where this call's speech is not recognised (recognition off, or a front
    # end without it): keys only, never "say yes".  Left out: ``prompt`` everywhere.
    keys_prompt: str | None = None
    yes_keys: str = "1"
    no_keys: str = "2"
    threshold: float = 0.5


@dataclass(frozen=True, kw_only=True)
class SetNode:
    """Set the topic, queue, skills and priority of the call."""

    kind: Literal["set"]
    next: str
    topic: str | None = None
    queue: str | None = None
    skills: tuple[str, ...] = ()
    priority: int = 0


@dataclass(frozen=True, kw_only=True)
class HoursNode:
    """Branch on the queue's opening hours (with holidays)."""

    kind: Literal["hours"]
    open: str
    closed: str
    queue: str | None = None  # default: the queue set on the call


@dataclass(frozen=True, kw_only=True)
class AppealStatusNode:
    """Look up the appeal number the caller entered and read its status out.

    The status is told only when a document the caller gave in this call (ИНН or СНИЛС)
    is the appeal's; otherwise the caller hears what a number that does not exist gets.
    ``document``: the digits node that asks for one when the call has none yet (its
    ``next`` leads back here).  After ``tries`` numbers not found in one call, the call
    goes to the menu's fallback (an operator) instead of ``not_found``.
    """

    kind: Literal["appeal_status"]
    next: str
    not_found: str
    document: str | None = None
    tries: int = 3


@dataclass(frozen=True, kw_only=True)
class EnqueueNode:
    """Queue the call for an operator; announce the wait; offer a callback."""

    kind: Literal["enqueue"]
    queue: str | None = None  # default: the queue set on the call
    callback: bool = True
    # Where the call goes if the routing engine gives it up (overflow, maximum wait).
    full: str = "operator_busy"
    announce_every: float = 45.0
    # Say the call's appeal number (номер обращения) before the first hold, so a caller who
    # waits, then gives up, can quote it next time (a caller put through at once is not
    # kept from the operator by it: the operator's screen-pop has it).
    say_appeal: bool = False
    # One hold (one WAIT FOR DIGIT under continuous music, one look at routing) lasts this
    # long: the longest a reserved operator waits for the caller to be put through.  With
    # AMI a hold lasts until the next announcement and is cut short by routing's news
    # (ivr/asterisk/wakes.py); this is then its shortest.
    poll_seconds: float = 5.0


@dataclass(frozen=True, kw_only=True)
class TransferNode:
    kind: Literal["transfer"]
    target: str
    prompt: str | None = None


@dataclass(frozen=True, kw_only=True)
class HangupNode:
    kind: Literal["hangup"]
    prompts: tuple[str, ...] = ()
    say_appeal: bool = False


Node = (
    PlayNode
    | MenuNode
    | LanguageNode
    | DigitsNode
    | SpeechNode
    | ConsentNode
    | SetNode
    | HoursNode
    | AppealStatusNode
    | EnqueueNode
    | TransferNode
    | HangupNode
)

KINDS: Mapping[str, type[Node]] = {
    "play": PlayNode,
    "menu": MenuNode,
    "language": LanguageNode,
    "digits": DigitsNode,
    "speech": SpeechNode,
    "consent": ConsentNode,
    "set": SetNode,
    "hours": HoursNode,
    "appeal_status": AppealStatusNode,
    "enqueue": EnqueueNode,
    "transfer": TransferNode,
    "hangup": HangupNode,
}

WAITING_KINDS = (MenuNode, LanguageNode, DigitsNode, SpeechNode, ConsentNode, EnqueueNode)


@dataclass(frozen=True, kw_only=True)
class Defaults:
    timeout: float = 6.0
    retries: int = 2
    no_input: str = "common.no_input"
    no_match: str = "common.no_match"
    fallback: str = "operator"
    # The queue an ``enqueue`` node uses when neither it nor a ``set`` node named one.
    queue: str = "general"


def successors(node: Node) -> dict[str, str]:
    """Every node this one can lead to, by the key that names it in YAML."""
    out: dict[str, str] = {}
    for key in ("next", "open", "closed", "not_found", "document", "full", "fallback", "skip"):
        target = getattr(node, key, None)
        if target:
            out[key] = target
    if isinstance(node, MenuNode):
        for key, option in node.options.items():
            out[f"options.{key}"] = option.next
    return out


def prompt_ids(node: Node) -> dict[str, str]:
    """Every prompt id this node plays, by the key that names it in YAML."""
    out: dict[str, str] = {}
    for key in ("prompt", "keys_prompt", "no_input", "no_match", "confirm"):
        value = getattr(node, key, None)
        if value:
            out[key] = value
    for index, prompt in enumerate(getattr(node, "prompts", ())):
        out[f"prompts.{index}"] = prompt
    return out


# Prompts the engine itself plays around the nodes (readback, queue, callback, status),
# and the parts every number is said with (ivr/prompts/numbers.py).
BUILTIN_PROMPTS = (
    *NUMBER_PROMPTS,
    "common.you_entered",
    "common.enter_again",
    "common.your_appeal",
    "common.goodbye",
    "invalid.length",
    "invalid.checksum",
    "invalid.format",
    "queue.position",
    "queue.wait_minutes",
    "queue.no_estimate",
    "queue.callback_offer",
    "queue.connecting",
    "callback.number_is",
    "callback.confirm_number",
    "callback.enter_number",
    "callback.booked",
    "callback.already",
    "status.intro",
    "status.not_found",
    "status.accepted",
    "status.in_progress",
    "status.awaiting_documents",
    "status.approved",
    "status.rejected",
    "status.completed",
    "consent.yes",
    "consent.no",
    "hours.closed_now",
    "hours.opens_today",
    "hours.opens_tomorrow",
    *(f"hours.opens_on.{day}" for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")),
    *(f"hours.{unit}.{form}" for unit in ("hour", "minute") for form in ("one", "few", "many")),
)
