"""A running hotline for the browser tests and the screen-pop benchmark, all on loopback.

The real engine on a real Redis, its Flask app served by the engine's HTTP server (ivr.web.server),
the FastAGI server built by :func:`ivr.asterisk.wiring.fastagi_server`, the engine's
background tick, and callers who dial the FastAGI port speaking AGI as Asterisk 22 does
(:class:`ivr.asterisk.peer.AsteriskPeer`).  Speech: a stand-in recogniser that "hears"
the name the test chose (no Russian Vosk model exists on these machines).  Chromium:
Debian's, through Debian's chromedriver (Selenium Manager never runs).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import logging
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from werkzeug.security import generate_password_hash

from ivr.asterisk.peer import AsteriskPeer, CallerHangsUp, default_env, dial
from ivr.asterisk.wiring import fastagi_server
from ivr.config import Config, Secrets
from ivr.config.schema import UserConfig
from ivr.engine import Engine, build_engine
from ivr.speech.recogniser import Recognition, nothing
from ivr.web.app import create_app
from ivr.web.server import HttpServer
from routing.redis_conn import connect

NOON = dt.datetime(2026, 3, 18, 12, 0, tzinfo=ZoneInfo("Europe/Moscow")).timestamp()
PASSWORD = "correct horse battery"
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


class HeardName:
    """Stands in for the Vosk recogniser: a spoken name is heard as ``text`` with
    ``confidence``; anything else is not recognised in time (the menu uses keys)."""

    available = True

    def __init__(self, text: str, confidence: float = 0.91) -> None:
        self.text = text
        self.confidence = confidence

    def recognise(self, audio: Any, *, mode: str, language: str, grammar: Sequence[str] | None = None,
                  **_: Any) -> Recognition:
        if mode == "free":
            return Recognition(self.text, self.confidence)
        return nothing("timeout", "the stand-in recognises names only")


class KeyCaller:
    """Presses ``keys`` one at a time when the menu waits for a key (or listens for speech
    that a key may end); listens to every prompt to its end; says their name when asked.
    Afterwards stays on the line (hold music) until the engine hands the call over."""

    def __init__(self, keys: str, *, step: float = 0.0, hold_step: float = 0.05) -> None:
        self.keys = list(keys)
        self.step = step
        self.hold_step = hold_step
        self.heard: list[str] = []
        self.events: list[str] = []

    def hear(self, kind: str, what: str, escape: str) -> str | None:
        self.heard.append(what)
        return None

    def wait_key(self, ms: int) -> str | None:
        if self.keys:
            if self.step:
                time.sleep(self.step)
            return self.keys.pop(0)
        time.sleep(min(ms / 1000, self.hold_step))
        return None

    def speak(self, max_ms: int, escape: str) -> str | None:
        """Recorded: a key the menu accepts ends the recording (the caller pressed it); else speech."""
        if self.keys and self.keys[0] in escape:
            return self.keys.pop(0)
        return None

    def event(self, text: str) -> None:
        self.events.append(text)


class HangsUp(KeyCaller):
    def wait_key(self, ms: int) -> str | None:
        if not self.keys:
            raise CallerHangsUp
        return super().wait_key(ms)


def hotline_keys(inn: str, topic: str = "4") -> str:
    """Russian, the ИНН and '#', "верно", the topic, consent."""
    return "1" + inn + "#" + "1" + topic + "1"


def live_config(config: Config, workdir: Path, *, prefix: str, wrap_up_seconds: int) -> Config:
    """The shipped configuration, with users, its own key prefix and files under ``workdir``."""
    digest = generate_password_hash(PASSWORD, method="pbkdf2:sha256:1000")
    users = {"olga": UserConfig(role="operator", password_hash=digest, operator="op102"),
             "sveta": UserConfig(role="supervisor", password_hash=digest),
             "anton": UserConfig(role="auditor", password_hash=digest)}
    (workdir / "clips").mkdir(parents=True, exist_ok=True)
    return dataclasses.replace(
        config,
        redis=dataclasses.replace(config.redis, prefix=prefix),
        recordings=dataclasses.replace(config.recordings, dir=str(workdir / "rec"),
                                       audit_log=str(workdir / "audit" / "rec.jsonl"),
                                       deletion_log=str(workdir / "audit" / "deleted.jsonl"),
                                       clip_dir=str(workdir / "clips"), spool_dir=None),
        console=dataclasses.replace(config.console, audit_log=str(workdir / "audit" / "console.jsonl")),
        routing=dataclasses.replace(config.routing, wrap_up_seconds=wrap_up_seconds),
        users=users,
    )


def noon_clock() -> Callable[[], float]:
    """Wednesday noon in Moscow (every queue open), moving with real time."""
    started = time.time()
    return lambda: NOON + (time.time() - started)


class LiveConsole:
    def __init__(self, config: Config, *, redis_url: str, workdir: str | None = None,
                 name: str = "Иванова Мария Петровна", wrap_up_seconds: int = 60,
                 prefix: str | None = None, recording_key: str | None = None) -> None:
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="ivr-console-"))
        config = live_config(config, self.workdir, prefix=prefix or "live" + uuid.uuid4().hex[:10],
                             wrap_up_seconds=wrap_up_seconds)
        self.engine: Engine = build_engine(
            config, Secrets(secret_key="live-test-key", recording_key=recording_key),
            redis=connect(redis_url, embedded_dir=str(self.workdir)), clock=noon_clock())
        self.engine.recogniser = HeardName(name)  # type: ignore[assignment]
        self.app = create_app(self.engine)
        self.web = HttpServer(self.app, address=("127.0.0.1", 0), settings=config.http)
        self.base_url = f"http://127.0.0.1:{self.web.address[1]}"
        self.fastagi = fastagi_server(self.engine, ("127.0.0.1", 0))
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._tick, name="tick", daemon=True)]
        self._calls = 0

    def _tick(self) -> None:
        while not self._stop.wait(0.2):
            try:
                self.engine.tick()
            except Exception:
                logging.getLogger(__name__).exception("background work failed")

    def start(self) -> LiveConsole:
        self.web.start()
        for thread in self._threads:
            thread.start()
        self.fastagi.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self.fastagi.shutdown(1.0)
        self.web.shutdown()
        for thread in self._threads:
            thread.join(timeout=5)

    def call(self, keys: str, *, caller: str = "79990000001", call_id: str | None = None,
             person: KeyCaller | None = None) -> tuple[str, KeyCaller, AsteriskPeer]:
        """Dial the FastAGI server and play the caller until the engine hands the call on."""
        self._calls += 1
        call_id = call_id or f"{int(time.time())}.{self._calls}"
        person = person or KeyCaller(keys)
        peer = AsteriskPeer(person)
        dial(*self.fastagi.address, peer, default_env(caller=caller, uniqueid=call_id), timeout=30)
        return call_id, person, peer

    def call_in_background(self, keys: str, **kw: Any) -> threading.Thread:
        thread = threading.Thread(target=self.call, args=(keys,), kwargs=kw, daemon=True)
        thread.start()
        return thread


def chromium(user_data_dir: str) -> Any:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--no-first-run", "--disable-dev-shm-usage",
                f"--user-data-dir={user_data_dir}", "--window-size=1400,1000"):
        options.add_argument(arg)
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


@contextlib.contextmanager
def headless_chromium() -> Iterator[Any]:
    """Real headless Chromium with a profile of its own, quit at the end."""
    with tempfile.TemporaryDirectory(prefix="ivr-chromium-") as profile:
        browser = chromium(profile)
        browser.implicitly_wait(0)
        try:
            yield browser
        finally:
            browser.quit()


def log_in(driver: Any, base_url: str, user: str, password: str = PASSWORD) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(base_url + "/login")
    driver.find_element(By.ID, "username").send_keys(user)
    driver.find_element(By.ID, "password").send_keys(password)
    driver.find_element(By.ID, "login-submit").click()
    # The answer has come (a page of the user's, or the refusal): a page asked for next cannot
    # cut the log-in short (ci25: the auditor's page came up as the log-in page, unlogged).
    WebDriverWait(driver, 15, poll_frequency=0.05).until(
        lambda d: "/login" not in d.current_url or d.find_elements(By.ID, "login-error"))
