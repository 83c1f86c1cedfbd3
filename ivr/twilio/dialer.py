"""The REST side: bridge a waiting call to its operator, place a callback.

Both go through ``twilio.rest.Client``; the HTTP client is injected, so tests
record the requests and production uses the library's own.  The requests,
as Twilio's API sees them::

    POST https://api.twilio.com/2010-04-01/Accounts/AC.../Calls/CA....json
         Twiml=<Response><Dial>...</Dial></Response>
    POST https://api.twilio.com/2010-04-01/Accounts/AC.../Calls.json
         To=+79161234567&From=+78005553535&Url=https://ivr.example.ru/twilio/callback/cb-1
         &StatusCallback=https://ivr.example.ru/twilio/status
"""

from __future__ import annotations

from twilio.http import HttpClient
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from ivr.twilio.twiml import bridge_response, dial

# Seconds a REST request may take before it is given up (the library's default is none:
# a Twilio that stops answering would hold a console request, or the engine's tick, for ever).
REST_TIMEOUT = 10.0


def make_client(
    *,
    account_sid: str,
    auth_token: str | None = None,
    api_key: str | None = None,
    api_secret: str | None = None,
    http_client: HttpClient | None = None,
) -> Client:
    """An API key and secret when given (preferred), else the account's auth token."""
    if http_client is None:
        http_client = TwilioHttpClient(timeout=REST_TIMEOUT)
    if api_key and api_secret:
        return Client(api_key, api_secret, account_sid, http_client=http_client)
    if not auth_token:
        raise ValueError("Twilio REST calls need TWILIO_API_KEY/TWILIO_API_SECRET or TWILIO_AUTH_TOKEN")
    return Client(account_sid, auth_token, account_sid, http_client=http_client)


class TwilioDialer:
    def __init__(self, client: Client, *, base_url: str, caller_id: str) -> None:
        self.client = client
        self.base_url = base_url.rstrip("/")
        self.caller_id = caller_id

    def update(self, call_sid: str, twiml: str) -> None:
        """Replace what a live call is doing with ``twiml`` (it stops mid-<Play>)."""
        self.client.calls(call_sid).update(twiml=twiml)

    def bridge(self, call_sid: str, endpoint: str, *, record: bool = False) -> None:
        """Bridge a live call to ``endpoint`` (client:..., sip:..., +7...)."""
        status = f"{self.base_url}/twilio/recording-status?clip=operator" if record else None
        self.update(call_sid, str(bridge_response(endpoint, record=record, recording_status=status)))

    def place_callback(self, callback_id: str, number: str, operator_endpoint: str) -> str:
        """Call the citizen back; Twilio fetches the greeting and <Dial> from our callback URL.

        Returns the new call's SID.  ``operator_endpoint`` is checked here, so an
        endpoint Twilio cannot dial is refused before the citizen's phone rings.
        """
        dial(operator_endpoint, record=False)  # raises UnsupportedEndpoint
        call = self.client.calls.create(
            to=number,
            from_=self.caller_id,
            url=f"{self.base_url}/twilio/callback/{callback_id}",
            method="POST",
            status_callback=f"{self.base_url}/twilio/callback/{callback_id}/status",
            status_callback_method="POST",
            status_callback_event=["completed"],
        )
        return str(call.sid)

    def fetch(self, url: str) -> Response:
        """GET a Twilio resource (a recording) with the client's credentials."""
        http = self.client.http_client
        return http.request("GET", url, auth=(self.client.username, self.client.password))
