"""Errors of the Twilio front end: one tree, each carrying what a handler needs.

``WebhookRejected`` is a request Twilio (or someone pretending to be Twilio) must
not get through: it carries the HTTP status and a message that is safe to send
back and to log (it never echoes a parameter's value).  ``UnsupportedEndpoint``
is an operator endpoint Twilio cannot dial (``PJSIP/op101`` is Asterisk's).
"""

from __future__ import annotations


class TwilioFrontEndError(Exception):
    """Base of every error raised by :mod:`ivr.twilio`."""


class WebhookRejected(TwilioFrontEndError):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class UnsupportedEndpoint(TwilioFrontEndError):
    def __init__(self, endpoint: str, reason: str) -> None:
        super().__init__(f"Twilio cannot dial endpoint {endpoint!r}: {reason}")
        self.endpoint = endpoint
        self.reason = reason


class UnknownPrompt(TwilioFrontEndError):
    def __init__(self, prompt: str, language: str) -> None:
        super().__init__(f"no text for prompt {prompt!r} in language {language!r}")
        self.prompt = prompt
        self.language = language
