"""The webhooks deliver what the parts say happened (``tenants.events``)."""

from typing import Any

from tenants.events import event_happened
from webhooks.services import deliveries_queue


def _deliver(*, tenant_id: int, event: str, data: dict[str, Any], **_: Any) -> None:
    deliveries_queue(tenant_id=tenant_id, event=str(event), data=data)


def connect() -> None:
    event_happened.connect(_deliver, dispatch_uid="webhooks.deliver")
