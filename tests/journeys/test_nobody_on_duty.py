"""A supervisor looks at a queue nobody on duty can serve: no operator of its skill is
ready, on a call or wrapping up.  No expected wait would be true then (a caller is told
none either), so ``ivr queues`` and the live dashboard say nobody is on duty instead of a
number; once an operator of the queue is ready, the estimate is back."""

from __future__ import annotations

import json
import re
from typing import Any

from tests.console.live import log_in
from tests.journeys.citizen import PASSWORD, add_user, serve_ready
from tests.journeys.product import Product, Serving, until
from tests.journeys.test_asterisk_guide import Console


def general_line(product: Product) -> tuple[str, dict[str, Any]]:
    """``ivr queues``'s row of the general queue, and its entry in ``ivr queues --json``."""
    table = product.ivr("queues")
    assert table.returncode == 0, table.stderr
    row = next(line for line in table.stdout.splitlines() if line.startswith("general "))
    listed = product.ivr("queues", "--json")
    assert listed.returncode == 0, listed.stderr
    entry = next(q for q in json.loads(listed.stdout)["queues"] if q["queue"] == "general")
    return row, entry


def expected_on_dashboard(browser: Any) -> str:
    """The general queue's "expected wait" cell, read in one script: the dashboard redraws
    its rows as routing changes, and a cell found first and read after could be gone."""
    return str(browser.execute_script(
        "const cells = document.querySelectorAll('#queue-general td');"
        "return cells.length > 4 ? cells[4].innerText.trim() : '';"))


def test_a_queue_with_nobody_on_duty_shows_no_expected_wait(product: Product, browser: Any) -> None:
    add_user(product, "sveta", "supervisor")
    add_user(product, "olga", "operator", "--operator", "op101")
    serving: Serving = serve_ready(product)

    row, entry = general_line(product)
    assert "nobody on duty" in row, row
    assert entry["expected_wait"] is None

    log_in(browser, serving.base_url, "sveta")
    browser.get(serving.base_url + "/supervisor")
    until(lambda: expected_on_dashboard(browser) == "нет операторов на смене", 15,
          what="the dashboard to say nobody is on duty for the general queue")

    console = Console(serving.base_url)  # the operator's console, as its buttons use it
    console.log_in("olga", PASSWORD)
    console.set_state("ready")
    until(lambda: re.fullmatch(r"\d+:\d\d", expected_on_dashboard(browser)), 15,
          what="an expected wait once an operator of the queue is ready")
    row, entry = general_line(product)
    assert "nobody on duty" not in row and isinstance(entry["expected_wait"], float), (row, entry)
