"""The webhooks deliver what the parts say happened (``tenants.events``), and forget what an
erasure asks them to (``privacy.services.subject_erasing``)."""

from typing import Any

from django.db.models import Q

from privacy.services import subject_erasing
from tenants.events import event_happened
from webhooks.models import Delivery
from webhooks.services import deliveries_queue


def _deliver(*, tenant_id: int, event: str, data: dict[str, Any], **_: Any) -> None:
    deliveries_queue(tenant_id=tenant_id, event=str(event), data=data)


def _erasing(*, tenant_id: int, user_id: int, conversation_ids: list[int], **_: Any) -> int:
    """The deliveries about the person: their conversations' events and their own."""
    about = Q(payload__user_id=user_id)
    if conversation_ids:
        about |= Q(payload__conversation_id__in=conversation_ids)
    return int(Delivery.objects.for_tenant(tenant_id).filter(about).delete()[0])


def connect() -> None:
    event_happened.connect(_deliver, dispatch_uid="webhooks.deliver")
    subject_erasing.connect(_erasing, dispatch_uid="webhooks.erasing")
