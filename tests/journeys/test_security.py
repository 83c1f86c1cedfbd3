"""Security as people meet it (issue 20): the README's ``ivr serve``, its console over HTTP,
``ivr users`` beside it.

* An attacker sprays passwords at the log-in page: it stops answering them, while the real
  user, behind the same reverse proxy, logs in with the right password at once.
* An administrator resets a user's password: the session the user (or whoever stole it)
  had open ends at once.
* An operator keeps opening other operators' calls: blocked at once; the security officer
  sees it, a supervisor unblocks her (Chromium).
"""

from __future__ import annotations

import http.cookiejar
import re
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

from requests.structures import CaseInsensitiveDict

from tests.console.live import log_in
from tests.journeys.product import Product, Serving, until


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None  # a 302 is what the person's browser is told: the test looks at it


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    text: str


class Browser:
    """A browser's part of the console: cookies, the log-in form's token, no redirects followed.
    ``address``: the client address the reverse proxy in front reports (``X-Forwarded-For``)."""

    def __init__(self, serving: Serving, *, address: str | None = None) -> None:
        self.base = serving.base_url
        self.address = address
        self.cookies = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.cookies), _NoRedirects)

    def request(self, path: str, form: dict[str, str] | None = None) -> Answer:
        headers = {"X-Forwarded-For": self.address} if self.address else {}
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        req = urllib.request.Request(self.base + path, data=data, headers=headers)
        try:
            with self.opener.open(req, timeout=15) as reply:
                return Answer(reply.status, CaseInsensitiveDict(reply.headers.items()), reply.read().decode("utf-8", "replace"))
        except urllib.error.HTTPError as error:
            return Answer(error.code, CaseInsensitiveDict(error.headers.items()), error.read().decode("utf-8", "replace"))

    def log_in(self, name: str, password: str) -> Answer:
        page = self.request("/login").text
        token = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert token, page[:500]
        return self.request("/login", {"username": name, "password": password, "csrf_token": token.group(1)})


def add_user(product: Product, name: str, password: str, *, replace: bool = False,
             env: dict[str, str] | None = None, role: str = "supervisor", operator: str | None = None) -> None:
    args = ["users", "add", name, "--role", role, *(["--operator", operator] if operator else []),
            *(["--replace"] if replace else [])]
    done = product.ivr(*args, input=password + "\n", env=env)
    assert done.returncode == 0, done.stderr


def test_a_password_spray_is_stopped_and_the_real_user_still_logs_in(product: Product) -> None:
    config = product.root / "config.yaml"  # the README: behind a reverse proxy, name it
    text = config.read_text(encoding="utf-8")
    assert "  trusted_proxies: []" in text
    config.write_text(text.replace("  trusted_proxies: []", "  trusted_proxies: [127.0.0.1]"), encoding="utf-8")
    add_user(product, "petr", "petr's long secret")
    serving = product.serve()

    sprayer = "203.0.113.9"
    answers = [Browser(serving, address=sprayer).log_in(f"user{n:02d}", "Winter2026!") for n in range(25)]
    statuses = [a.status for a in answers]
    assert statuses[:19] == [401] * 19 and set(statuses[19:]) == {429}, statuses
    assert 0 < int(answers[-1].headers["Retry-After"]) <= 15 * 60
    assert "Слишком много неудачных попыток" in answers[-1].text
    guesser = "203.0.113.10"  # another address guesses petr's password until refused
    guesses = [Browser(serving, address=guesser).log_in("petr", f"guess {n}").status for n in range(6)]
    assert guesses[:4] == [401] * 4 and guesses[4:] == [429, 429], guesses

    petr = Browser(serving, address="198.51.100.4")  # petr, at his desk, behind the same proxy
    landed = petr.log_in("petr", "petr's long secret")
    assert (landed.status, landed.headers.get("Location")) == (302, "/supervisor")
    assert petr.request("/supervisor").status == 200
    assert serving.stop() < 15


def test_a_password_reset_ends_the_users_open_session(product: Product) -> None:
    add_user(product, "petr", "petr's long secret")
    serving = product.serve()
    petr = Browser(serving)
    assert petr.log_in("petr", "petr's long secret").headers.get("Location") == "/supervisor"
    assert petr.request("/supervisor/api/dashboard").status == 200

    add_user(product, "petr", "a brand new secret", replace=True)  # the administrator's reset, beside it
    assert petr.request("/supervisor/api/dashboard").status == 401
    assert petr.request("/supervisor").headers.get("Location", "").startswith("/login")
    assert Browser(serving).log_in("petr", "petr's long secret").status == 401
    again = Browser(serving)
    assert again.log_in("petr", "a brand new secret").headers.get("Location") == "/supervisor"
    until(lambda: again.request("/supervisor/api/dashboard").status == 200, 5, what="the new session works")
    assert serving.stop() < 15


def test_an_operator_opening_other_calls_is_blocked_and_a_supervisor_unblocks_her(
        product: Product, browser: Any) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    def wait(condition: Any) -> Any:
        return WebDriverWait(browser, 10, poll_frequency=0.05).until(condition)

    def log_out() -> None:
        browser.find_element(By.ID, "logout").click()
        wait(lambda d: d.current_url.endswith("/login"))

    add_user(product, "nina", "nina's long secret", role="operator", operator="op101")
    add_user(product, "vera", "vera's long secret", role="auditor")
    add_user(product, "petr", "petr's long secret")
    serving = product.serve()
    base = serving.base_url

    log_in(browser, base, "nina", "nina's long secret")
    wait(lambda d: d.current_url.endswith("/operator"))
    for n in range(10):  # the shipped console.block_after
        browser.get(f"{base}/operator/api/calls/1773824400.{n}")
        assert "not_your_call" in browser.page_source
    browser.get(base + "/operator")
    wait(lambda d: "/login" in d.current_url)  # her session ended at once
    log_in(browser, base, "nina", "nina's long secret")
    assert "заблокирована" in wait(lambda d: d.find_elements(By.ID, "login-error"))[0].text

    log_in(browser, base, "vera", "vera's long secret")  # the security officer
    wait(lambda d: "/auditor/" in d.current_url)
    browser.get(base + "/auditor/accounts")
    assert browser.find_elements(By.CSS_SELECTOR, '#blocked-accounts tr[data-user="nina"]')
    log_out()

    log_in(browser, base, "petr", "petr's long secret")  # a supervisor
    wait(lambda d: d.current_url.endswith("/supervisor"))
    browser.get(base + "/supervisor/accounts")
    browser.find_element(By.ID, "unblock-nina").click()
    wait(lambda d: d.find_elements(By.ID, "no-blocked-accounts"))
    log_out()

    log_in(browser, base, "nina", "nina's long secret")
    wait(lambda d: d.current_url.endswith("/operator"))
    assert serving.stop() < 15


def test_archive_certificate_without_a_trusted_proxy_is_refused_at_start(product: Product) -> None:
    """``archive_certificate: true`` with no ``trusted_proxies``: no certificate header could be
    believed (or any could be forged), so the administrator is told at once, with the line."""
    config = product.root / "config.yaml"
    text = config.read_text(encoding="utf-8")
    assert "  archive_certificate: false" in text and "  trusted_proxies: []" in text
    config.write_text(text.replace("  archive_certificate: false", "  archive_certificate: true"), encoding="utf-8")
    line = next(n for n, s in enumerate(config.read_text().splitlines(), 1) if s.startswith("  archive_certificate:"))
    for command in (("serve", "--http", "127.0.0.1:0", "--fastagi", "off"), ("validate",)):
        done = product.ivr(*command, timeout=30)
        assert done.returncode == 2, (command, done.stdout, done.stderr)
        assert f"config.yaml:{line}: archive_certificate needs console.trusted_proxies" in done.stderr, done.stderr
    config.write_text(text.replace("  archive_certificate: false", "  archive_certificate: true")
                      .replace("  trusted_proxies: []", "  trusted_proxies: [127.0.0.1]"), encoding="utf-8")
    assert product.ivr("validate", timeout=30).returncode == 0
