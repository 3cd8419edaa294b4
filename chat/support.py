"""The support workflow: a user asking for a human (in words or with the frame)."""

import re
from datetime import datetime
from typing import Any

from django.utils import timezone

from chat.frames import RESOLVED, RatedFrame, ResolvedFrame, escalated_frame, rated_frame
from chat.gateway.moderation import PiiPolicy, scrubbed
from chat.history.pending import conversation_materialize
from chat.protocol import ErrorCode, FrameError, parse_feedback
from chat.services import MessageNotFound, conversation_escalate, conversation_resolve, feedback_record
from chat.tasks import send_escalation_email
from chat.turn import ChatSession, TurnSink
from infra.db import in_db_thread
from tenants.selectors import chat_config_get

REASON_MAX_CHARS = 500

_HUMAN = re.compile(
    r"\b(?:talk|speak|chat|connect me)\s+(?:to|with)\s+(?:a\s+|an\s+|some\s*one\s*|somebody\s*)?"
    r"(?:real\s+|live\s+)?(?:human|person|agent|representative|operator|someone|somebody)\b"
    r"|\b(?:human|real|live)\s+(?:agent|person|being|support)\b"
    r"|\bescalate\b",
    re.IGNORECASE,
)


def asks_for_human(text: str) -> bool:
    return _HUMAN.search(text) is not None


async def rating_request(*, session: ChatSession, frame: dict[str, Any]) -> RatedFrame:
    """The ``feedback`` frame: the rating of an answer of the user's own, and the ``rated`` frame
    that says it is recorded (``NOT_FOUND`` for anyone else's answer)."""
    message_id, rating, comment = parse_feedback(frame)
    try:
        await in_db_thread(feedback_record)(
            tenant_id=session.tenant_id,
            user_id=session.user_id,
            message_id=message_id,
            rating=rating,
            comment=comment,
        )
    except MessageNotFound:
        raise FrameError(ErrorCode.NOT_FOUND, "no such answer") from None
    return rated_frame(message_id=message_id, rating=rating)


async def resolution_request(*, session: ChatSession) -> ResolvedFrame:
    """The user says the problem is solved."""
    await in_db_thread(conversation_resolve)(
        tenant_id=session.tenant_id, conversation_id=session.conversation_id, now=timezone.now()
    )
    return RESOLVED


async def escalation_request(*, session: ChatSession, reason: str, sink: TurnSink) -> None:
    """The user asks for a human (the ``escalate`` frame, or in words): escalate, then tell them."""
    notified = await in_db_thread(escalate)(session=session, reason=reason, now=timezone.now())
    await sink.emit(escalated_frame(notified=notified))


def escalate(*, session: ChatSession, reason: str, now: datetime) -> bool:
    """Mark the conversation escalated and, the first time only, e-mail the tenant's escalation
    address (a Celery task, sent once the update is committed): True when the tenant has an
    address (someone is or was notified), False when the request is only recorded. The reason
    is redacted before it is stored (the admin shows it, the e-mail quotes it), then cut to
    ``REASON_MAX_CHARS``. A conversation with no message yet is written now: a human must see it."""
    tenant_id, conversation_id = session.tenant_id, session.conversation_id
    conversation_materialize(
        tenant_id=tenant_id,
        user_id=session.user_id,
        conversation_id=conversation_id,
        variant_id=session.overrides.variant_id if session.overrides is not None else None,
        site_id=session.site_id,
    )
    config = chat_config_get(tenant_id=tenant_id)
    reason = scrubbed(pii=PiiPolicy.of(config), text=reason)[:REASON_MAX_CHARS]
    if conversation_escalate(tenant_id=tenant_id, conversation_id=conversation_id, reason=reason, now=now):
        send_escalation_email.delay(tenant_id, conversation_id)
    return config.escalation_notifies
