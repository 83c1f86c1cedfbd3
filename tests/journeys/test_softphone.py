"""Citizens calling through the terminal softphone (``ivr call``) the README offers for
trying the hotline without Asterisk: what they hear, and that the engine keeps them."""

from __future__ import annotations

import re
import time
from typing import Any

from tests.journeys.product import Product, Serving, until

QUEUE = "general"


def reach_the_queue(phone: Any, *, consent: str) -> str:
    """A citizen who skips the name and the number and asks for an operator; the call id
    the softphone shows."""
    phone.expect(r"\(call (\d+\.\d+)\)")
    call_id = str(phone.match.group(1))
    phone.expect_exact("[language.choose]")
    phone.sendline("1")  # a key acts at once; Enter after keys only closes the line
    phone.expect_exact("● recording")
    phone.sendline("")  # says nothing: Enter on an empty line
    phone.expect_exact("[identity.enter_number]")
    phone.send("#")  # skips the number
    phone.expect_exact("[menu.main]")
    phone.send("0")  # an operator
    phone.expect_exact("[consent.ask_keys]")
    phone.send(consent)
    return call_id


def waiting(serving: Serving) -> dict[str, Any]:
    queues = serving.ops_get("/queues").json()["queues"]
    return next(q for q in queues if q["queue"] == QUEUE)


def test_two_citizens_one_after_another(product: Product) -> None:
    serving = product.serve()
    first = product.call(serving)
    first_id = reach_the_queue(first, consent="1")
    first.expect_exact("[queue.position]")
    first.expect_exact("♫ music on hold")
    first.send("h")
    first.expect_exact("Call ended.")
    until(lambda: waiting(serving)["waiting"] == 0, 10, what="the first call gone from the queue")

    second = product.call(serving)
    second_id = reach_the_queue(second, consent="2")
    heard = second.expect([re.escape("[queue.position]"), re.escape("[queue.full]")])
    assert heard == 0, "the second citizen is placed in line, not told that all operators are busy"
    second.expect_exact("♫ music on hold")
    assert waiting(serving)["waiting"] == 1
    second.send("h")
    second.expect_exact("Call ended.")

    assert first_id != second_id
    # Each call's consent answer is kept under its own call: the first citizen's "yes"
    # is not overwritten by the second one's "no".
    serving.wait_log(rf'"call_id": "{re.escape(first_id)}", "msg": "[^"]*consent record kept \(granted')
    serving.wait_log(rf'"call_id": "{re.escape(second_id)}", "msg": "[^"]*consent record kept \(refused')


def test_a_caller_who_waits_silently_stays_in_line_until_hanging_up(product: Product) -> None:
    serving = product.serve()
    phone = product.call(serving, timeout=60)
    reach_the_queue(phone, consent="1")
    phone.expect_exact("♫ music on hold")
    # Longer than any one command's time plus the engine's grace for a reply (30 s): a
    # softphone that waited for Enter was dropped as "stalled" by now.
    time.sleep(36)
    assert waiting(serving)["waiting"] == 1, "the silent caller is still in line"
    assert "stalled" not in serving.log()
    assert phone.isalive()
    phone.send("h")
    phone.expect_exact("Call ended.")
    line = until(lambda: waiting(serving)["waiting"] == 0 and waiting(serving), 10, what="the call left the line")
    assert line["abandoned"] == 1


def test_the_softphones_help_says_what_its_options_do(product: Product) -> None:
    """Found trying the softphone: `ivr call --help` listed --caller and --language with no word
    on what they are for."""
    shown = product.ivr("call", "--help")
    assert shown.returncode == 0, shown.stderr
    text = " ".join(shown.stdout.split())
    assert "the caller's number" in text and "callback" in text  # --caller
    assert "the channel's language" in text and "silence" in text  # --language
