"""What happens in a tenant's conversations and figures, told to whoever delivers it (the
webhooks: ``webhooks``), as ``tenants.changes`` tells what its people change.

The part where it happens calls ``emit`` inside its transaction when it has one (the event is
delivered only if the change is kept: deliveries are queued on commit); the webhooks app
listens. No part imports the webhooks.
"""

from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from django.dispatch import Signal


class Event(StrEnum):
    CONVERSATION_CREATED = "conversation.created"
    MESSAGE_ANSWERED = "message.answered"
    CONVERSATION_ESCALATED = "conversation.escalated"
    CONVERSATION_HANDOFF = "conversation.handoff"
    CONVERSATION_RESOLVED = "conversation.resolved"
    FEEDBACK_RECEIVED = "feedback.received"
    BUDGET_THRESHOLD = "budget.threshold"
    ALERT_OPENED = "alert.opened"
    ALERT_RESOLVED = "alert.resolved"


# Every event's name, in order: the choices of a webhook endpoint's events and of a delivery's.
EVENT_NAMES = [event.value for event in Event]

# Sent with ``tenant_id``, ``event`` (an ``Event``) and ``data`` (JSON: ids, states, figures).
event_happened = Signal()


def emit(*, tenant_id: int, event: Event, data: Mapping[str, Any]) -> None:
    event_happened.send(sender=Event, tenant_id=tenant_id, event=event, data=dict(data))
