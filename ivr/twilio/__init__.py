"""The Twilio front end: TwiML webhooks on the same flow engine, signed, with the
queue wait, REST bridging and callbacks.

Wire it with :func:`make_twilio_blueprint`; the REST side is :class:`TwilioDialer`.
"""

from ivr.twilio.blueprint import TwilioBlueprint, make_twilio_blueprint
from ivr.twilio.calls import Assignment, MenuSource, StaticMenus, TwilioCalls
from ivr.twilio.dialer import TwilioDialer, make_client
from ivr.twilio.errors import (
    TwilioFrontEndError,
    UnknownPrompt,
    UnsupportedEndpoint,
    WebhookRejected,
)
from ivr.twilio.prompts import FilePromptSource, PromptSource, load_prompt_texts
from ivr.twilio.signature import require_twilio_signature
from ivr.twilio.state import CallbackRecord, CallStore, StoredCall

__all__ = [
    "Assignment",
    "CallStore",
    "CallbackRecord",
    "FilePromptSource",
    "MenuSource",
    "PromptSource",
    "StaticMenus",
    "StoredCall",
    "TwilioBlueprint",
    "TwilioCalls",
    "TwilioDialer",
    "TwilioFrontEndError",
    "UnknownPrompt",
    "UnsupportedEndpoint",
    "WebhookRejected",
    "load_prompt_texts",
    "make_client",
    "make_twilio_blueprint",
    "require_twilio_signature",
]
