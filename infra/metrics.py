"""Prometheus metrics of this process, served at /metrics.

Label sets stay bounded: ``tenant`` is a tenant slug, ``model`` a configured model name,
``code`` one of the protocol's error codes.

Several Daphne processes on one port (``DAPHNE_PROCESSES``) share their metrics through
``PROMETHEUS_MULTIPROC_DIR`` (prometheus_client's multiprocess mode): /metrics, whichever
process answers, sums the counters and histograms of all of them; each gauge says how its
processes' values combine (``multiprocess_mode``, ignored with one process).
"""

import atexit
import hmac
import os

import structlog
from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120)

WS_CONNECTIONS = Gauge(
    "chat_ws_connections", "Open chat WebSocket connections", ["tenant"], multiprocess_mode="livesum"
)
MESSAGES = Counter(
    "chat_messages_total",
    "User messages answered (rate() gives messages/s)",
    ["tenant", "model", "finish_reason"],
)
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
TOKENS = Counter(
    "chat_tokens_total",
    "LLM tokens; direction: input, output, cached_input (the part of input the provider cached)",
    ["tenant", "model", "direction"],
)
COST = Counter("chat_cost_usd_total", "What the answers cost, in USD", ["tenant", "model"])
OUTBOX = Counter(
    "chat_outbox_turns_total",
    "Turns put in the outbox while the database was down, and written from it once back",
    ["event"],
)
MIRROR_FAILURES = Counter(
    "chat_mirror_failed_frames_total",
    "Frames not written to the generation store (the answers went on; a resume elsewhere misses them)",
)
MEMORY_RELEASES = Counter(
    "process_memory_releases_total", "Garbage collected and free heap returned after sockets closed"
)
ERRORS = Counter("chat_errors_total", "Error frames sent, by code", ["tenant", "code"])
CONVERSATION_LENGTH = Histogram(
    "chat_conversation_messages",
    "Messages in a conversation when a chat session on it ends",
    ["tenant"],
    buckets=(2, 4, 8, 16, 32, 64, 128, 256, 512),
)
BUDGET_LEFT = Gauge(
    "chat_budget_tokens_left",
    "Tokens left in the tenant's monthly budget (net of reservations in flight), as of its last message",
    ["tenant"],
    multiprocess_mode="mostrecent",
)
BUDGET = Gauge(
    "chat_budget_tokens",
    "The tenant's monthly token budget, as of its last message",
    ["tenant"],
    multiprocess_mode="mostrecent",
)
CONVERSATIONS = Counter(
    "chat_conversations_total", "Conversations started (with their first message)", ["tenant"]
)
CACHE_LOOKUPS = Counter(
    "chat_cache_lookups_total",
    "Response cache lookups; cache: curated (answers the tenant wrote), exact, semantic",
    ["tenant", "cache", "result"],
)
TOOL_CALLS = Counter("chat_tool_calls_total", "Tool calls made for answers", ["tenant", "tool", "status"])
TOOL_LATENCY = Histogram(
    "chat_tool_seconds",
    "How long a tool call took",
    ["tenant", "tool"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
ROUTING = Counter("chat_routing_total", "Model routing decisions", ["tenant", "route", "model"])
FALLBACKS = Counter(
    "chat_fallbacks_total",
    "Turns sent to the fallback model by an open breaker",
    ["tenant", "model", "fallback"],
)
BREAKER_STATE = Gauge(
    "chat_breaker_state",
    "Circuit breaker per model, as last seen here: 0 closed, 1 half-open, 2 open",
    ["model"],
    multiprocess_mode="mostrecent",
)
CELERY_TASK_SECONDS = Histogram(
    "celery_task_seconds", "Celery task durations by final state", ["task", "state"], buckets=_LATENCY_BUCKETS
)
CELERY_TASK_FAILURES = Counter("celery_task_failures_total", "Celery tasks that raised", ["task"])


def metrics_view(request: HttpRequest) -> HttpResponse:
    """Every tenant's slug, usage and cost: with ``METRICS_TOKEN`` set, for its bearer only; with
    none set, open in development (``DEBUG``) and closed (403) otherwise."""
    token = settings.METRICS_TOKEN
    if not token and not settings.DEBUG:
        return JsonResponse(
            {"detail": "set METRICS_TOKEN to scrape /metrics", "code": "metrics_token_required"}, status=403
        )
    if token:
        scheme, _, offered = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(offered.encode(), token.encode()):
            return JsonResponse(
                {"detail": "a valid bearer token is required", "code": "not_authenticated"}, status=401
            )
    return HttpResponse(generate_latest(_registry()), content_type=CONTENT_TYPE_LATEST)


def _registry() -> CollectorRegistry:
    """Every process's metrics when several share the port, else this process's."""
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return REGISTRY
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    return registry


if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    # A process that stops takes its live gauges (open connections) with it.
    atexit.register(multiprocess.mark_process_dead, os.getpid())


def warn_if_unscrapable() -> None:
    """Said once at start: in production, /metrics answers 403 until a token is set."""
    if not settings.METRICS_TOKEN and not settings.DEBUG:
        structlog.stdlib.get_logger(__name__).warning(
            "metrics.closed", detail="METRICS_TOKEN is not set: /metrics answers 403"
        )
