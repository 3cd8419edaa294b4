"""The inbox's side of the chat's ``human_requested``: a conversation that starts waiting for a
human is routed (round robin, or left waiting for everyone) and, the first time, e-mailed."""

from typing import Any

from django.utils import timezone

from chat.support import human_requested
from inbox.services import conversation_route
from inbox.tasks import send_escalation_email


def _human_requested(
    sender: Any, *, tenant_id: int, conversation_id: int, first: bool, asking: str, **_: Any
) -> None:
    conversation_route(tenant_id=tenant_id, conversation_id=conversation_id, now=timezone.now())
    if first:
        send_escalation_email.delay(tenant_id, conversation_id, asking)


def connect() -> None:
    human_requested.connect(_human_requested, dispatch_uid="inbox.receivers.human_requested")
