"""structlog set-up: JSON lines that carry the bound context (tenant, user, conversation, message).

Context is bound with ``structlog.contextvars.bind_contextvars`` once per WebSocket connection
or request, so every line logged while handling it, by us or by a library, carries the ids (and
the trace id, when tracing is on).
"""

import structlog

from infra.tracing import add_trace_ids

FOREIGN_PRE_CHAIN = [
    structlog.contextvars.merge_contextvars,
    add_trace_ids,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]

RENDER_JSON = structlog.processors.JSONRenderer()


def configure_structlog() -> None:
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            add_trace_ids,
            structlog.stdlib.filter_by_level,
            structlog.stdlib.add_log_level,
            structlog.stdlib.add_logger_name,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
