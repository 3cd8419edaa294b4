"""The handoff's moves: an agent takes a conversation (it is theirs, the bot steps back), writes
to its user, hands it back to the assistant, or an owner or admin assigns it to an agent. Each
holds the conversation's row lock: two agents taking it at once cannot both get it."""

from datetime import datetime
from typing import Any

from asgiref.sync import async_to_sync
from django.db import transaction
from django.db.models import QuerySet, Value
from django.db.models.functions import Coalesce

from chat.frames import Frame, agent_message_frame, handoff_frame
from chat.history.working_memory import Remembered, get_working_memory
from chat.models import Conversation, Handoff, Message, Role
from chat.push import push_event_sync
from chat.selectors import agent_name
from chat.services import message_add
from tenants.models import AGENT_ROLES, Membership


class NotInInbox(Exception):
    """The conversation is not handed to a human (or no longer the caller's to move)."""


class NotAnAgent(Exception):
    """The user named is not an active agent (or owner, or admin) of the tenant."""


def _waiting_or_held(tenant_id: int, conversation_id: int) -> QuerySet[Conversation]:
    return Conversation.objects.for_tenant(tenant_id).filter(
        pk=conversation_id, handoff__in=(Handoff.WAITING, Handoff.HUMAN), deleted_at__isnull=True
    )


def _hold(tenant_id: int, conversation_id: int, agent: Any | None, now: datetime | None) -> None:
    """The conversation is ``agent``'s from now (None: the assistant's again), in one locked
    update; its user's sockets are told (``handoff``) once it is committed."""
    with transaction.atomic():
        conversation = _waiting_or_held(tenant_id, conversation_id).select_for_update().first()
        if conversation is None:
            raise NotInInbox(conversation_id)
        conversation.handoff = Handoff.BOT if agent is None else Handoff.HUMAN
        conversation.assignee, conversation.assigned_at = agent, now
        conversation.save(update_fields=["handoff", "assignee", "assigned_at"])
        frame = (
            handoff_frame(conversation_id=conversation_id, state="bot")
            if agent is None
            else handoff_frame(conversation_id=conversation_id, state="human", agent=agent_name(agent))
        )
        user_id = conversation.user_id
        transaction.on_commit(lambda: _tell(tenant_id, user_id, frame))


def conversation_take(*, tenant_id: int, conversation_id: int, agent: Any, now: datetime) -> None:
    """The agent holds the conversation: waiting, or held by another (taking over is allowed: a
    colleague who does not answer must not lock it)."""
    _hold(tenant_id, conversation_id, agent, now)


def conversation_assign(*, tenant_id: int, conversation_id: int, agent: Any, now: datetime) -> None:
    """An owner or admin gives the conversation to ``agent`` (``NotAnAgent`` unless that user
    works the tenant's inbox)."""
    if agent is None or not (
        Membership.objects.for_tenant(tenant_id)
        .filter(user_id=agent.pk, role__in=AGENT_ROLES, active=True, user__is_active=True)
        .exists()
    ):
        raise NotAnAgent()
    _hold(tenant_id, conversation_id, agent, now)


def conversation_hand_back(*, tenant_id: int, conversation_id: int) -> None:
    """Back to the assistant: the next message is the bot's to answer."""
    _hold(tenant_id, conversation_id, None, None)


class HeldByAnother(Exception):
    """Another agent holds the conversation: take it first."""


def conversation_reply(
    *, tenant_id: int, conversation_id: int, agent: Any, content: str, now: datetime
) -> Message:
    """The agent who holds the conversation writes to its user: stored (role ``agent``, its
    author), then, once committed, pushed to the user's sockets on every instance and kept in the
    bot's context for when the conversation is handed back."""
    with transaction.atomic():
        conversation = (
            _waiting_or_held(tenant_id, conversation_id)
            .select_for_update(of=("self",))
            .select_related("assignee")
            .first()
        )
        if conversation is None:
            raise NotInInbox(conversation_id)
        if conversation.handoff != Handoff.HUMAN or conversation.assignee_id != agent.pk:
            raise HeldByAnother(conversation.assignee.username if conversation.assignee else "nobody")
        message = message_add(
            tenant_id=tenant_id,
            conversation_id=conversation_id,
            now=now,
            counted={"first_human_reply_at": Coalesce("first_human_reply_at", Value(now))},
            role=Role.AGENT,
            author=agent,
            content=content,
        )
        frame = agent_message_frame(
            conversation_id=conversation_id, message_id=message.pk, content=content, agent=agent_name(agent)
        )
        user_id = conversation.user_id
        transaction.on_commit(
            lambda: _tell(tenant_id, user_id, frame, Remembered(message.pk, Role.AGENT, content))
        )
    return message


def _tell(tenant_id: int, user_id: int, frame: Frame, remembered: Remembered | None = None) -> None:
    """``frame`` to the user's sockets; ``remembered`` into the conversation's working memory."""
    push_event_sync(tenant_id=tenant_id, user_id=user_id, event={"type": "user.push", "frame": frame})
    if remembered is not None:
        async_to_sync(get_working_memory().append)(
            tenant_id=tenant_id, conversation_id=frame["conversation_id"], items=[remembered]
        )
