"""The support workflow: a user asking for a human (in words or with the frame), rating an
answer, saying it is solved, and typing while a human follows the conversation."""

import math
import re
import time
from datetime import datetime
from typing import Any

from django.dispatch import Signal
from django.utils import timezone

from chat.frames import RESOLVED, Frame, RatedFrame, ResolvedFrame, escalated_frame, rated_frame
from chat.gateway.moderation import PiiPolicy, scrubbed
from chat.history.pending import conversation_materialize
from chat.protocol import ErrorCode, FrameError, parse_feedback
from chat.push import tell_inbox
from chat.selectors import conversation_in_inbox
from chat.services import MessageNotFound, conversation_escalate, conversation_resolve, feedback_record
from chat.turn import ChatSession, TurnSink
from infra.db import in_db_thread
from tenants.selectors import ChatConfig, chat_config_get

REASON_MAX_CHARS = 500

# Sent (synchronously, in the escalating thread) each time a conversation starts waiting for a
# human, with ``tenant_id``, ``conversation_id``, ``first`` (its first escalation: the e-mail is
# due) and ``asking`` (the user's message that asked, redacted, when they asked in words: it is
# not stored until its answer is). The inbox (``inbox.receivers``) assigns it and tells the team:
# this app knows nothing of agents.
human_requested = Signal()

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


async def escalation_request(*, session: ChatSession, reason: str, sink: TurnSink, asking: str = "") -> None:
    """The user asks for a human (the ``escalate`` frame, or in words: ``asking``, their
    message): escalate, then tell them."""
    notified = await in_db_thread(escalate)(session=session, reason=reason, now=timezone.now(), asking=asking)
    await sink.emit(escalated_frame(notified=notified))


def escalate(*, session: ChatSession, reason: str, now: datetime, asking: str = "") -> bool:
    """Mark the conversation escalated and waiting for a human (``human_requested``: the inbox
    assigns it, tells the team and, the first time only, e-mails the transcript): True when the
    tenant has an escalation address (someone is or was notified), False when the request is only
    recorded. The reason is redacted before it is stored (the inbox shows it, the e-mail quotes
    it), then cut to ``REASON_MAX_CHARS``. A conversation with no message yet is written now: a
    human must see it."""
    tenant_id, conversation_id = session.tenant_id, session.conversation_id
    conversation_materialize(
        tenant_id=tenant_id,
        user_id=session.user_id,
        conversation_id=conversation_id,
        variant_id=session.overrides.variant_id if session.overrides is not None else None,
        site_id=session.site_id,
    )
    config = chat_config_get(tenant_id=tenant_id)
    pii = PiiPolicy.of(config)
    reason = scrubbed(pii=pii, text=reason)[:REASON_MAX_CHARS]
    escalated = conversation_escalate(
        tenant_id=tenant_id, conversation_id=conversation_id, reason=reason, now=now
    )
    if escalated.waiting:
        human_requested.send(
            sender=ChatSession,
            tenant_id=tenant_id,
            conversation_id=conversation_id,
            first=escalated.first,
            asking=scrubbed(pii=pii, text=asking) if asking else "",
        )
    return config.escalation_notifies


# A rating at most this is a thumbs down (the chat clients' 👎 sends 1).
THUMBS_DOWN_MAX = 2


class HandoverRules:
    """The tenant's rules that hand a conversation to a person unasked (issue 33), on one
    socket: a 👎 on an answer (``handoff_on_thumbs_down``), or ``handoff_after_failures``
    answers in a row that failed, came from the fallback model, or were refused for a blocked
    topic or a failing provider. The rules are the tenant's as the socket opened; the frames are
    those the socket is sent, so nothing is read per token."""

    def __init__(self, *, session: ChatSession, config: ChatConfig, sink: TurnSink) -> None:
        self._session, self._config, self._sink = session, config, sink
        self._failures = 0

    async def rated(self, rating: int) -> None:
        if self._config.handoff_on_thumbs_down and rating <= THUMBS_DOWN_MAX:
            await escalation_request(session=self._session, reason="rated an answer 👎", sink=self._sink)

    async def sent(self, frame: Frame) -> None:
        kind = frame.get("type")
        if kind == "done":
            fallback = self._config.fallback_model
            failed = frame.get("finish_reason") == "error" or bool(
                fallback and frame.get("model") == fallback
            )
        elif kind == "error" and (
            frame.get("code") == ErrorCode.BLOCKED_TOPIC
            or (frame.get("code") == ErrorCode.UPSTREAM_ERROR and "retry_after" in frame)  # failing fast
        ):
            failed = True
        else:
            return
        self._failures = self._failures + 1 if failed else 0
        most = self._config.handoff_after_failures
        if most and self._failures >= most:
            self._failures = 0
            reason = f"{most} answers in a row failed, came from the fallback model or were refused"
            await escalation_request(session=self._session, reason=reason, sink=self._sink)


# A user's ``typing`` frames reach the support team at most this often (a stop always does), and
# whether the conversation is in the inbox is read again at most this often.
TYPING_EVERY_S = 2.0
INBOX_CHECK_EVERY_S = 10.0


class TypingRelay:
    """One socket's ``typing`` frames, told to the tenant's inbox sockets while its conversation
    is in the inbox (waiting for or held by a human); dropped otherwise: the bot does not care."""

    def __init__(self, session: ChatSession) -> None:
        self._session = session
        self._checked_at = self._told_at = -math.inf
        self._in_inbox = False

    async def typing(self, active: bool) -> None:
        now = time.monotonic()
        if active and now - self._told_at < TYPING_EVERY_S:
            return
        session = self._session
        if now - self._checked_at >= INBOX_CHECK_EVERY_S:
            self._in_inbox = await in_db_thread(conversation_in_inbox)(
                tenant_id=session.tenant_id, conversation_id=session.conversation_id
            )
            self._checked_at = now
        if not self._in_inbox:
            return
        self._told_at = now if active else -math.inf
        event = {"type": "inbox.typing", "conversation_id": session.conversation_id, "active": active}
        await tell_inbox(tenant_id=session.tenant_id, event=event)
