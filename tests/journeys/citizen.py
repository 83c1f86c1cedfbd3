"""A citizen at the softphone (``ivr call`` in a pty), and what a journey sets up before
``ivr serve``: console users, a recording key, a configuration edit an administrator makes."""

from __future__ import annotations

import datetime as dt
import inspect
import re
from typing import Any
from zoneinfo import ZoneInfo

import pexpect

from ivr.asterisk.softphone import run_softphone
from tests.console.live import PASSWORD
from tests.journeys.product import Product, Serving, until

KEYS_PROMPT = r"keys \(Enter = silence"


def add_user(product: Product, name: str, role: str, *extra: str) -> None:
    added = product.ivr("users", "add", name, "--role", role, *extra, input=PASSWORD + "\n")
    assert added.returncode == 0, added.stderr


def serve_ready(product: Product) -> Serving:
    """The README's ``ivr serve`` (its development recording key, its trial folders), ready."""
    serving = product.serve()
    until(lambda: serving.get("/readyz").status == 200, 20, what="ready")
    return serving


def dialled_call_id(call: Any) -> str:
    """The call's id as the softphone shows it ("Calling ... (call 1795312804.31)"); a
    softphone that does not show it dials with its one fixed id."""
    call.expect(r"Calling [^\n]*")
    shown = re.search(r"\(call ([A-Za-z0-9_.-]+)\)", str(call.after))
    return shown.group(1) if shown else str(inspect.signature(run_softphone).parameters["uniqueid"].default)


def edit_config(product: Product, old: str, new: str) -> None:
    path = product.root / "config.yaml"
    text = path.read_text("utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, 1), "utf-8")


def close_payments_for_now(product: Product) -> int:
    """The payments queue open half an hour a day, three hours from now (Moscow): closed now
    whatever the time of the run.  Returns the hour it opens."""
    opens = (dt.datetime.now(ZoneInfo("Europe/Moscow")) + dt.timedelta(hours=3)).hour
    edit_config(product, "    skills: [payments]\n    hours: *day_hours\n",
                f'    skills: [payments]\n    hours: {{weekly: {{daily: "{opens:02d}:00-{opens:02d}:30"}}}}\n')
    return opens


def to_topics(call: Any) -> None:
    """Russian (key 1), the name said, no ИНН (#): at the topics menu."""
    call.expect(r"\[language\.choose\]")
    call.expect(KEYS_PROMPT)
    call.sendline("1")
    call.expect(r"say \(type\) it>")
    call.sendline("Иванова Мария Петровна")
    call.expect(r"\[identity\.enter_number\]")
    call.expect(KEYS_PROMPT)
    call.sendline("#")
    call.expect(r"\[menu\.main\]")
    call.expect(KEYS_PROMPT)


def press(call: Any, keys: str, then: str) -> str:
    """Press ``keys`` and wait for ``then`` (a pattern); what was heard meanwhile."""
    call.sendline(keys)
    call.expect(then)
    return str(call.before) + str(call.after)


def hang_up(call: Any) -> None:
    call.sendline("h")
    call.expect(pexpect.EOF)
