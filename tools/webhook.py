"""A webhook's POST: a JSON event sent with the guarded outbound client of the HTTP tools
(``tools.http``: HTTPS, public addresses only, no redirect), signed with the receiver's secret
(``X-Chatplatform-Timestamp``, ``X-Chatplatform-Signature``). The webhooks app
(``webhooks.services``) sends every event through it, with its retries and log."""

import asyncio
from typing import Any

from django.conf import settings

from tools.catalog import ToolSpec
from tools.http import ToolCallRefused, call_http_tool


def webhook_send(*, url: str, secret: str, payload: dict[str, Any], headers: dict[str, str]) -> str | None:
    """POST ``payload`` to ``url``; None when the receiver answered 2xx, else why not."""
    spec = ToolSpec("webhook", "", {}, url, "POST", secret, settings.WEBHOOK_TIMEOUT_S)
    try:
        asyncio.run(call_http_tool(spec, payload, extra_headers=headers))
    except ToolCallRefused as refused:
        return str(refused)
    return None
