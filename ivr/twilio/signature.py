"""The one check every Twilio webhook passes first: ``X-Twilio-Signature``.

Twilio signs the full URL it requested plus the sorted POST parameters with the
account's auth token (HMAC-SHA1, base64).  Behind a proxy the URL Flask sees
(``http://127.0.0.1:8080/twilio/voice``) is not the one Twilio signed
(``https://ivr.example.ru/twilio/voice``), so the URL is rebuilt from
``engine.public_url`` when it is set.  No token configured: every request is
refused: an engine that cannot tell Twilio from anyone else must not act.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from flask import request
from twilio.request_validator import RequestValidator

from ivr.twilio.errors import WebhookRejected
from ivr.twilio.params import MAX_BODY

View = TypeVar("View", bound=Callable[..., Any])
FORM = "application/x-www-form-urlencoded"


def signed_url(public_url: str | None) -> str:
    """The URL Twilio requested, as Twilio saw it."""
    if not public_url:
        return request.url
    query = request.query_string.decode("latin-1")
    return f"{public_url.rstrip('/')}{request.path}" + (f"?{query}" if query else "")


def require_twilio_signature(*, auth_token: str | None, public_url: str | None) -> Callable[[View], View]:
    """A view decorator: 415/413 for a body Twilio would not send, 403 unless signed."""
    validator = RequestValidator(auth_token) if auth_token else None

    def decorator(view: View) -> View:
        @functools.wraps(view)
        def checked(*args: Any, **kwargs: Any) -> Any:
            if request.method == "POST":
                if request.mimetype != FORM:
                    raise WebhookRejected(415, f"Twilio webhooks are posted as {FORM}")
                if request.content_length is not None and request.content_length > MAX_BODY:
                    raise WebhookRejected(413, f"request body over {MAX_BODY} bytes")
                request.max_content_length = MAX_BODY  # a body streamed without a length, too
            if validator is None:
                raise WebhookRejected(403, "TWILIO_AUTH_TOKEN is not configured: refusing unsigned webhooks")
            signature = request.headers.get("X-Twilio-Signature", "")
            if not signature:
                raise WebhookRejected(403, "X-Twilio-Signature is missing")
            params = request.form if request.method == "POST" else {}
            if not validator.validate(signed_url(public_url), params, signature):
                raise WebhookRejected(403, "X-Twilio-Signature does not match this request")
            return view(*args, **kwargs)

        return checked  # type: ignore[return-value]

    return decorator
