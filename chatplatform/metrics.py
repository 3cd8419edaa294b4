"""Prometheus metrics of this process, served at /metrics.

Label sets stay bounded: ``tenant`` is a tenant slug, ``model`` a configured model name,
``code`` one of the protocol's error codes.
"""

import hmac

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120)

WS_CONNECTIONS = Gauge("chat_ws_connections", "Open chat WebSocket connections")
MESSAGES = Counter("chat_messages_total", "User messages answered", ["tenant", "finish_reason"])
TTFT = Histogram(
    "chat_ttft_seconds",
    "Time from a message to its first token",
    ["tenant", "model"],
    buckets=_LATENCY_BUCKETS,
)
GENERATION = Histogram(
    "chat_generation_seconds",
    "Time from a message to the end of its answer",
    ["tenant", "model"],
    buckets=_LATENCY_BUCKETS,
)
TOKENS = Counter("chat_tokens_total", "LLM tokens by direction", ["tenant", "model", "direction"])
ERRORS = Counter("chat_errors_total", "Error frames sent, by code", ["code"])


def metrics_view(request: HttpRequest) -> HttpResponse:
    token = settings.METRICS_TOKEN
    if token:
        offered = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if not hmac.compare_digest(offered, token):
            return HttpResponse(status=401)
    return HttpResponse(generate_latest(), content_type=CONTENT_TYPE_LATEST)
