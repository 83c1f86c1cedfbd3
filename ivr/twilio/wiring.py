"""How the engine builds its Twilio front end from the composition root's objects."""

from __future__ import annotations

import logging
from collections.abc import Callable

import requests
from twilio.http import HttpClient

from ivr.engine import Engine
from ivr.menu.model import Menu
from ivr.prompts.accepted import AcceptedTexts
from ivr.twilio.blueprint import TwilioBlueprint, make_twilio_blueprint
from ivr.twilio.callbacks import AssignmentBridge, TwilioCallbackDialer
from ivr.twilio.control import TwilioControl
from ivr.twilio.dialer import TwilioDialer, make_client
from ivr.twilio.handover import TwilioHandover
from ivr.twilio.live import LiveCalls
from ivr.twilio.prompts import FilePromptSource
from ivr.twilio.state import CallStore
from routing.errors import RoutingError

log = logging.getLogger(__name__)


class LiveMenuSource:
    """The engine's hot-reloaded menus, as the Twilio front end asks for them."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def entry(self, dialled: str) -> Menu:
        return self.engine.menus.for_number(dialled)

    def get(self, name: str) -> Menu | None:
        try:
            return self.engine.menus.get(name)
        except KeyError:
            return None

    def version(self, name: str, number: int) -> Menu | None:
        return self.engine.menus.version(name, number)


def twilio_dialer(engine: Engine, *, http_client: HttpClient | None = None) -> TwilioDialer | None:
    """The REST side, when an account and credentials are configured (else None)."""
    config, secrets = engine.config, engine.secrets
    has_credentials = secrets.twilio_auth_token or (secrets.twilio_api_key and secrets.twilio_api_secret)
    if not (config.twilio.account_sid and has_credentials and config.engine.public_url):
        return None
    client = make_client(
        account_sid=config.twilio.account_sid,
        auth_token=secrets.twilio_auth_token,
        api_key=secrets.twilio_api_key,
        api_secret=secrets.twilio_api_secret,
        http_client=http_client,
    )
    return TwilioDialer(client, base_url=config.engine.public_url, caller_id=config.twilio.caller_id or "")


def twilio_blueprint(
    engine: Engine, *, http_client: HttpClient | None = None, session: requests.Session | None = None
) -> TwilioBlueprint:
    """The webhooks; ``http_client`` (REST) and ``session`` (recording downloads) replace the network in tests."""
    from ivr.recordings.twilio import twilio_recording_hook

    config = engine.config
    dialer = twilio_dialer(engine, http_client=http_client)
    live = LiveCalls(redis=engine.redis, prefix=config.redis.prefix, ttl=config.twilio.state_ttl)
    store = CallStore(engine.redis, prefix=config.redis.prefix, ttl=config.twilio.state_ttl)
    # Transfer, supervision and recording pause on bridged calls (ivr.twilio.control).
    control = None if dialer is None else TwilioControl(
        client=dialer.client, calls=store, live=live, base_url=dialer.base_url, caller_id=dialer.caller_id,
        ring_seconds=config.routing.ring_seconds)
    blueprint = make_twilio_blueprint(
        menus=LiveMenuSource(engine),
        services_factory=engine.services,
        store=store,
        prompts=FilePromptSource(texts=AcceptedTexts(engine.menus), sounds_dir=config.path(config.prompts.sounds_dir)),
        dialer=dialer,
        auth_token=engine.secrets.twilio_auth_token,
        public_url=config.engine.public_url,
        clock=engine.clock,
        observer=engine.observer,
        on_error=engine.metrics.webhook_error,
        on_recording=twilio_recording_hook(engine, client=dialer.client if dialer else None, session=session),
        handover=TwilioHandover(life=engine.call_life),
        ring_seconds=engine.config.routing.ring_seconds,
        live=live,
        on_consult_over=consult_over(engine, control) if control is not None else None,
    )
    engine.answer_events.add("twilio")  # <Dial>'s reports move the call (ivr.twilio.handover)
    if dialer is not None:  # callbacks for Twilio calls are placed with the REST API
        callbacks = TwilioCallbackDialer(calls=blueprint.calls, router=engine.router, life=engine.call_life)
        blueprint.calls.on_callback = callbacks.outcome
        engine.dialers["twilio"] = callbacks
        engine.background.append(AssignmentBridge(calls=blueprint.calls, router=engine.router).poll)
    if control is not None:
        engine.live_controls["twilio"] = control
    return blueprint


def consult_over(engine: Engine, control: TwilioControl) -> Callable[[str, str, str], None]:
    """``/twilio/consult-leg``: the next operator's leg ended before the transfer was
    completed.  The caller comes off hold (the control), and routing releases the next
    operator (:meth:`ivr.aftermenu.life.CallLife.consult_not_answered`)."""

    def over(caller: str, leg: str, status: str) -> None:
        control.consult_leg_over(caller, leg, status)
        try:
            engine.call_life.consult_not_answered(caller)
        except RoutingError as exc:  # another engine process got there first
            log.info("call %s: consultation's end not recorded: %s", caller, exc)

    return over
