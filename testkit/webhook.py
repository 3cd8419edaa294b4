"""A tenant's webhook, received: a local HTTP server that records each signed POST (alerts,
handoff events), checking the signature with the test tenant's secret."""

import json
from http.server import BaseHTTPRequestHandler
from typing import Any

from tools.http import signature

SECRET = "webhook-secret-of-acme"


class Webhook(BaseHTTPRequestHandler):
    received: list[dict[str, Any]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        signed = self.headers["X-Chatplatform-Signature"] == signature(
            SECRET, self.headers["X-Chatplatform-Timestamp"], body
        )
        self.received.append({**json.loads(body), "signed": signed})
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass
