"""Logging: structlog renders every record, ours and the stdlib's, as one JSON line; tracing
(OpenTelemetry, off unless the OTEL_* variables choose an exporter)."""

from infra.env import env_str
from infra.logs import configure_structlog
from infra.tracing import configure_tracing

LOG_LEVEL = env_str("LOG_LEVEL") or "INFO"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "json": {
            "()": "structlog.stdlib.ProcessorFormatter",
            "processor": "ext://infra.logs.RENDER_JSON",
            "foreign_pre_chain": "ext://infra.logs.FOREIGN_PRE_CHAIN",
        }
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "json"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        # The openai SDK's HTTP stack logs every request at INFO.
        "httpx2": {"level": "WARNING"},
        "httpcore2": {"level": "WARNING"},
    },
}

configure_structlog()
configure_tracing()
