"""A tenant's webhook, received: a local HTTP server that records each signed POST (alerts,
handoff moves, the webhook endpoints' events), checking the signature with the test tenant's
alert secret (``signed``) and keeping the raw body and headers for a check with another."""

import json
from http.server import BaseHTTPRequestHandler
from typing import Any

from tools.http import signature

SECRET = "webhook-secret-of-acme"


class Webhook(BaseHTTPRequestHandler):
    received: list[dict[str, Any]] = []
    # What it answers: set a 5xx to play a receiver that is down.
    status = 204

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        timestamp = self.headers["X-Chatplatform-Timestamp"]
        signed = self.headers["X-Chatplatform-Signature"] == signature(SECRET, timestamp, body)
        self.received.append(
            {**json.loads(body), "signed": signed, "raw": body, "headers": dict(self.headers.items())}
        )
        self.send_response(self.status)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def signed_with(secret: str, received: dict[str, Any]) -> bool:
    """Whether a received POST carries ``secret``'s signature of its timestamp and body."""
    headers = received["headers"]
    return bool(
        headers["X-Chatplatform-Signature"]
        == signature(secret, headers["X-Chatplatform-Timestamp"], received["raw"])
    )
