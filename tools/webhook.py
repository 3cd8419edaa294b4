"""The tenant's webhook (``Tenant.alert_webhook_url``): a JSON event POSTed with the guarded
outbound client of the HTTP tools (``tools.http``: HTTPS, public addresses only), signed with the
tenant's secret (``X-Chatplatform-Signature``). Alerts and the inbox's handoff events use it."""

import asyncio
from typing import Any

import structlog

from tools.catalog import ToolSpec
from tools.http import ToolCallRefused, call_http_tool

log = structlog.stdlib.get_logger(__name__)

WEBHOOK_TIMEOUT_S = 10.0


def webhook_post(*, url: str, secret: str, payload: dict[str, Any]) -> bool:
    """POST ``payload`` to ``url`` (nothing when it is empty); False when it failed or was
    refused (logged: the event is not retried)."""
    if not url:
        return False
    spec = ToolSpec("webhook", "", {}, url, "POST", secret, WEBHOOK_TIMEOUT_S)
    try:
        asyncio.run(call_http_tool(spec, payload))
    except ToolCallRefused as refused:
        log.warning("webhook.failed", webhook_event=payload.get("event"), error=str(refused))
        return False
    return True
