"""A citizen's appeal number (номер обращения), as callers meet it on the softphone.

Every number the menu says must be findable afterwards (issue 17, defect 5), and its status
is told only to the caller whose СНИЛС or ИНН matches the appeal; anyone else hears exactly
what a made-up number gets, and numbers minted one after another are not a sequence an
outsider could walk (defect 6).  Every caller is ``ivr call`` in a pseudo-terminal beside
``ivr serve`` with the README's defaults; what is asserted is what the caller sees.
"""

from __future__ import annotations

import io
import itertools
import re
from collections.abc import Sequence

from ivr.identity import make_appeal_number, validate_appeal_number
from ivr.identity.synthetic import synthetic_inn, synthetic_snils
from tests.journeys.product import Product, Serving

# A number is said digit by digit, one prompt of the product's own each: "♪ [number.7] семь".
_DIGIT_SAID = re.compile(r"\s*♪ \[number\.(\d)\][^\n]*\n")
_STATUS = re.compile(r"\[status\.(\w+)\]")

CITIZEN = synthetic_snils(1701)
STRANGER = synthetic_snils(1702)
CITIZEN_INN = synthetic_inn(1703)


def _digits(document: str) -> str:
    return "".join(ch for ch in document if ch.isdigit())


# One step of a call: the question the caller waits for (its prompt id, as the softphone
# shows it: "♪ [menu.main] Выберите тему..."; or the start of a recording), then the keys
# pressed (a recorded caller types what they say, then Enter).
Step = tuple[str, str]
RECORDING = "● recording"


def call(product: Product, serving: Serving, steps: Sequence[Step], *, caller: str) -> str:
    """One softphone call from ``caller``: at each step, once the softphone shows the
    question (its whole line), the keys are pressed; then the call ends by itself.
    Returns everything the caller saw."""
    import pexpect

    phone = product.call(serving, "--caller", caller, timeout=30)
    screen = phone.logfile_read = io.StringIO()
    try:
        for question, keys in steps:
            shown = question if question == RECORDING else f"[{question}]"
            phone.expect(re.escape(shown) + r"[^\r\n]*\r\n")
            phone.send(keys)
        phone.expect(pexpect.EOF)
    finally:
        phone.close(force=True)
    return screen.getvalue().replace("\r\n", "\n")


def ask_status(product: Product, serving: Serving, number: str, *, document: str, caller: str,
               at_start: bool = True) -> str:
    """A call asking for an appeal's status: the document at the menu's identity question
    (``at_start``) or only when the status question asks for it."""
    document_keys = _digits(document) + "#"
    steps: list[Step] = [("language.choose", "1"), (RECORDING, "Иванов Иван Иванович\r")]
    if at_start:
        steps += [("identity.enter_number", document_keys), ("common.confirm", "1")]
    else:
        steps += [("identity.enter_number", "#")]  # skipped
    steps += [("menu.main", "2"), ("menu.applications", "1"), ("appeal.enter_number", number + "#")]
    if not at_start:
        steps += [("appeal.enter_document", document_keys), ("common.confirm", "1")]
    steps += [("status.after", "2")]  # goodbye
    return call(product, serving, steps, caller=caller)


def heard_status(seen: str) -> list[str]:
    return [s for s in _STATUS.findall(seen) if s != "after"]


def digits_said_after(seen: str, prompt: str) -> list[str]:
    """Each number said right after ``prompt`` (``common.your_appeal``, ``status.intro``)."""
    said = []
    for part in seen.split(f"[{prompt}]")[1:]:
        rest, digits = part.split("\n", 1)[1] if "\n" in part else "", ""
        while (digit := _DIGIT_SAID.match(rest)) is not None:
            digits, rest = digits + digit[1], rest[digit.end():]
        said.append(digits)
    return said


def said_appeal(seen: str) -> str:
    found = digits_said_after(seen, "common.your_appeal")
    assert len(found) == 1 and len(found[0]) == 10, f"one appeal number said at the end of the call:\n{seen}"
    return found[0]


def made_up_number(*avoid: str) -> str:
    for sequence in (4242, 4243, 4244):
        number = make_appeal_number(sequence)
        if number not in avoid:
            return number
    raise AssertionError("unreachable")


def test_a_citizen_hears_the_status_of_the_appeal_they_were_told_and_nobody_else_does(product: Product) -> None:
    serving = product.serve()

    # The first call ends in self-service (a status question about a made-up number): the
    # number the caller is told at goodbye is the appeal of this call.
    first = ask_status(product, serving, made_up_number(), document=CITIZEN, caller="79990001701")
    number = said_appeal(first)
    assert validate_appeal_number(number) == number

    # The citizen calls again, with their own СНИЛС given at the identity question.
    own = ask_status(product, serving, number, document=CITIZEN, caller="79990001702")
    assert heard_status(own) == ["intro", "accepted"], own
    assert digits_said_after(own, "status.intro") == [number], own

    # Another caller, another СНИЛС, the same number: what a made-up number gets.
    other = ask_status(product, serving, number, document=STRANGER, caller="79990001703")
    invented = ask_status(product, serving, made_up_number(number), document=STRANGER, caller="79990001704")
    assert heard_status(other) == ["not_found"], other
    assert heard_status(invented) == ["not_found"], invented
    assert _after_the_number(other) == _after_the_number(invented)
    assert digits_said_after(other, "status.intro") == [], other

    serving.stop()
    for document in (CITIZEN, STRANGER):  # personal data never in the engine's log in clear
        assert _digits(document) not in serving.log() and document not in serving.log()


def test_the_status_question_asks_for_a_document_when_the_caller_gave_none(product: Product) -> None:
    serving = product.serve()
    first = ask_status(product, serving, made_up_number(), document=CITIZEN_INN, caller="79990001711")
    number = said_appeal(first)

    # No document at the start: the status question asks for one, and the ИНН the appeal
    # was opened with opens it.
    own = ask_status(product, serving, number, document=CITIZEN_INN, caller="79990001712", at_start=False)
    assert "[appeal.enter_document]" in own, own
    assert heard_status(own) == ["intro", "accepted"], own
    other = ask_status(product, serving, number, document=STRANGER, caller="79990001713", at_start=False)
    assert "[appeal.enter_document]" in other, other
    assert heard_status(other) == ["not_found"], other
    serving.stop()


def test_appeal_numbers_minted_one_after_another_are_not_a_sequence(product: Product) -> None:
    serving = product.serve()
    said = [said_appeal(ask_status(product, serving, made_up_number(), document=synthetic_snils(i),
                                   caller=f"799900017{i}"))
            for i in (21, 22, 23)]
    payloads = sorted(int(number[:9]) for number in said)
    assert len(set(said)) == 3, said
    gaps = [b - a for a, b in itertools.pairwise(payloads)]
    # A counter gives neighbours (0000000018, 0000000026, 0000000034: 1, 2, 3 and their
    # check digits); random payloads over 10^9 are about 3·10^8 apart, under 10^4 about once
    # in 16,000 runs.
    assert min(gaps) > 10_000, said
    assert all(p > 10**6 for p in payloads[1:]), said
    serving.stop()


def _after_the_number(seen: str) -> list[str]:
    """The prompts the caller heard from the appeal number's question on, in order."""
    heard = re.findall(r"\[([\w.]+)\]", seen.split("[appeal.enter_number]", 1)[1])
    return [prompt for prompt in heard if not prompt.startswith("number.")]  # each call's own appeal
