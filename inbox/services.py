"""The handoff's moves: an agent takes a conversation (it is theirs, the bot steps back), hands it
back to the assistant, or an owner or admin assigns it to an agent. Each is one conditional
update: two agents taking the same conversation at once cannot both get it."""

from datetime import datetime

from django.db.models import QuerySet

from chat.models import Conversation, Handoff
from tenants.models import AGENT_ROLES, Membership


class NotInInbox(Exception):
    """The conversation is not handed to a human (or no longer the caller's to move)."""


class NotAnAgent(Exception):
    """The user named is not an active agent (or owner, or admin) of the tenant."""


def _waiting_or_held(tenant_id: int, conversation_id: int) -> QuerySet[Conversation]:
    return Conversation.objects.for_tenant(tenant_id).filter(
        pk=conversation_id, handoff__in=(Handoff.WAITING, Handoff.HUMAN), deleted_at__isnull=True
    )


def conversation_take(*, tenant_id: int, conversation_id: int, agent_id: int, now: datetime) -> None:
    """The agent holds the conversation: waiting, or held by another (taking over is allowed: a
    colleague who does not answer must not lock it)."""
    taken = _waiting_or_held(tenant_id, conversation_id).update(
        handoff=Handoff.HUMAN, assignee_id=agent_id, assigned_at=now
    )
    if not taken:
        raise NotInInbox(conversation_id)


def conversation_assign(*, tenant_id: int, conversation_id: int, agent_id: int, now: datetime) -> None:
    """An owner or admin gives the conversation to ``agent_id`` (``NotAnAgent`` unless that
    user works the tenant's inbox)."""
    if not (
        Membership.objects.for_tenant(tenant_id)
        .filter(user_id=agent_id, role__in=AGENT_ROLES, active=True, user__is_active=True)
        .exists()
    ):
        raise NotAnAgent(agent_id)
    conversation_take(tenant_id=tenant_id, conversation_id=conversation_id, agent_id=agent_id, now=now)


def conversation_hand_back(*, tenant_id: int, conversation_id: int) -> None:
    """Back to the assistant: the next message is the bot's to answer."""
    if not _waiting_or_held(tenant_id, conversation_id).update(
        handoff=Handoff.BOT, assignee=None, assigned_at=None
    ):
        raise NotInInbox(conversation_id)
